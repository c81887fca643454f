// PyTorch weight files (`torch.save`), both on-disk formats, read without executing any pickled code:
//  - zip (PyTorch >= 1.6): <archive>/data.pkl plus one raw file per storage under <archive>/data/;
//  - legacy: five consecutive pickles (magic number, protocol 1001, system info, the object, storage keys)
//    followed by each storage as an 8-byte element count and its raw little-endian data.
// libtorch 1.13's C++ API reads neither a legacy file nor a zip whose top object is an OrderedDict.
import Foundation
import ZIPFoundation

public struct WeightFile {
    /// Tensors in file order.
    public let tensors: [(name: String, tensor: Tensor)]
    public let format: String

    public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    public var names: [String] { tensors.map(\.name) }

    public static func read(_ path: String) throws -> WeightFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("\(path): cannot open file")
        }
        let layout = try PthLayout.parse([UInt8](data), path: path)
        return WeightFile(tensors: try layout.tensors.map { ($0.name, try tensor($0.ref, $0.raw, span: $0.span)) }, format: layout.format)
    }

    // MARK: -

    /// The tensor `ref` describes, from its storage's bytes; `span` has checked that it lies inside them.
    static func tensor(_ ref: TensorRef, _ raw: ArraySlice<UInt8>, span: TensorSpan) throws -> Tensor {
        let size = ref.storage.dtype.size
        let (count, contiguous) = (span.count, span.contiguous)
        // Element indices in the storage, row-major over the tensor's shape (at most the storage's element count).
        var index: [Int] = []
        if !contiguous && count > 0 {
            index.reserveCapacity(count)
            var pos = [Int](repeating: 0, count: ref.shape.count)
            var k = ref.offset
            for _ in 0..<count {
                index.append(k)
                var d = ref.shape.count - 1
                while d >= 0 {
                    pos[d] += 1; k += ref.stride[d]
                    if pos[d] < ref.shape[d] { break }
                    k -= pos[d] * ref.stride[d]; pos[d] = 0; d -= 1
                }
            }
        }
        // Fast path: a contiguous tensor of a type libtorch takes as is is copied in one go.
        let direct: [StorageType: DType] = [.float: .float32, .double: .float64, .long: .int64]
        if contiguous, let dt = direct[ref.storage.dtype] {
            let start = raw.startIndex + ref.offset * size
            return try raw[start..<(start + count * size)].withUnsafeBytes { try Tensor(bytes: $0, dtype: dt, shape: ref.shape) }
        }
        let base = raw.startIndex
        func element<T>(_ i: Int, _: T.Type) -> T {
            let k = contiguous ? ref.offset + i : index[i]
            return raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base - raw.startIndex + k * size, as: T.self) }
        }
        let shape = ref.shape
        switch ref.storage.dtype {
        case .float: return try Tensor((0..<count).map { element($0, Float.self) }, shape: shape)
        case .double: return try Tensor((0..<count).map { element($0, Double.self) }, shape: shape)
        case .half: return try Tensor((0..<count).map { Float(Float16(bitPattern: element($0, UInt16.self))) }, shape: shape)
        case .bfloat16: return try Tensor((0..<count).map { Float(bitPattern: UInt32(element($0, UInt16.self)) << 16) }, shape: shape)
        case .long: return try Tensor(int64: (0..<count).map { element($0, Int64.self) }, shape: shape)
        case .int: return try Tensor(int64: (0..<count).map { Int64(element($0, Int32.self)) }, shape: shape)
        case .short: return try Tensor(int64: (0..<count).map { Int64(element($0, Int16.self)) }, shape: shape)
        case .char: return try Tensor(int64: (0..<count).map { Int64(element($0, Int8.self)) }, shape: shape)
        case .byte, .bool: return try Tensor(int64: (0..<count).map { Int64(element($0, UInt8.self)) }, shape: shape)
        }
    }
}
