// Checkpoints in the safetensors layout (an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw data), so Python users can open them with the
// `safetensors` package. String metadata (model config, recipe, epoch, seed, RNG state, preprocessing spec)
// travels in the header's "__metadata__". Written atomically (temporary file, then rename).
import DFKCore
import DFKTensor
import Foundation

public struct Checkpoint {
    public var tensors: [(name: String, tensor: Tensor)]
    public var metadata: [String: String]

    public init(tensors: [(name: String, tensor: Tensor)] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
    }
    public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

    /// The tensors whose names start with `prefix`, with the prefix removed.
    public func group(_ prefix: String) -> [(name: String, tensor: Tensor)] {
        tensors.filter { $0.name.hasPrefix(prefix) }.map { (String($0.name.dropFirst(prefix.count)), $0.tensor) }
    }

    static let codes: [DType: (String, Int)] = [.float32: ("F32", 4), .float64: ("F64", 8), .int64: ("I64", 8), .uint8: ("U8", 1), .bool: ("BOOL", 1)]

    public func write(to path: String) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var blobs: [[UInt8]] = []
        var offset = 0
        for (name, t0) in tensors {
            let t = t0.dtype == .float16 ? try t0.to(.float32) : t0
            guard let (code, size) = Checkpoint.codes[t.dtype] else { throw TensorError("cannot store \(name) of type \(t.dtype)") }
            let bytes: [UInt8]
            switch t.dtype {
            case .float64: bytes = try t.doubles().withUnsafeBytes { Array($0) }
            case .int64: bytes = try t.int64s().withUnsafeBytes { Array($0) }
            case .uint8, .bool: bytes = try t.uint8s()   // U8 / BOOL: one byte per value, as safetensors stores them
            default: bytes = try t.floats().withUnsafeBytes { Array($0) }
            }
            guard bytes.count == t.count * size else { throw TensorError("cannot store \(name): \(bytes.count) bytes for \(t.count) values of \(code)") }
            header[name] = ["dtype": code, "shape": t.shape, "data_offsets": [offset, offset + bytes.count]]
            offset += bytes.count
            blobs.append(bytes)
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out += $0 }
        out += json
        for b in blobs { out += b }
        try AtomicFile.write(out, to: path)
    }

    /// Reads a checkpoint. Its header is checked against the file first (SafetensorsLayout): sizes that overflow,
    /// ranges outside the file and shapes that do not match their byte ranges are one-line errors.
    /// `checkMetadata` sees the metadata before any tensor is made (a caller refuses a bad spec before allocating).
    public static func read(_ path: String, checkMetadata: (([String: String]) throws -> Void)? = nil) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else { throw TensorError("\(path): cannot open file") }
        let bytes = [UInt8](data)
        let layout = try SafetensorsLayout.parse(bytes, path: path)
        try checkMetadata?(layout.metadata)
        var tensors: [(name: String, tensor: Tensor)] = []
        for e in layout.entries {
            guard let (dtype, (_, size)) = codes.first(where: { $0.value.0 == e.dtype }) else { throw TensorError("\(path): unknown dtype \(e.dtype) for \(e.name)") }
            let slice = bytes[e.range]
            let (count, shape) = (e.count, e.shape)
            let t: Tensor
            func values<T>(_: T.Type) -> [T] {
                slice.withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self) } }
            }
            switch dtype {
            case .float64: t = try Tensor(values(Double.self), shape: shape)
            case .int64: t = try Tensor(int64: values(Int64.self), shape: shape)
            // One byte per value; a BOOL byte other than 0 or 1 reads as true.
            case .uint8, .bool: t = try Array(slice).withUnsafeBytes { try Tensor(bytes: $0, dtype: .uint8, shape: shape) }.to(dtype)
            default: t = try Tensor(values(Float.self), shape: shape)
            }
            tensors.append((e.name, t))
        }
        return Checkpoint(tensors: tensors, metadata: layout.metadata)
    }
}
