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

    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    public static func read(_ path: String) throws -> WeightFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("\(path): cannot open file")
        }
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try readZip(path) }
        guard bytes.starts(with: [0x80, 0x02, 0x8a, 0x0a]) else {
            throw TensorError("\(path): not a PyTorch weight file (neither a zip archive nor a legacy torch.save stream)")
        }
        var m = PickleMachine(bytes, source: path)
        guard case .bytes(let magic) = try m.load(), magic == legacyMagic else { throw TensorError("\(path): bad legacy magic number") }
        var next = PickleMachine(bytes, at: m.pos, source: path)
        guard try next.load().intValue == 1001 else { throw TensorError("\(path): unsupported legacy protocol version") }
        var info = PickleMachine(bytes, at: next.pos, source: path)
        if case .dict(let d) = try info.load(), case .bool(false)? = d.values["little_endian"] {
            throw TensorError("\(path): big-endian weight files are not supported")
        }
        var obj = PickleMachine(bytes, at: info.pos, source: path)
        let root = try obj.load()
        var keysM = PickleMachine(bytes, at: obj.pos, source: path)
        guard let keys = try keysM.load().tupleValue?.compactMap(\.stringValue) else { throw TensorError("\(path): malformed storage key list") }
        var pos = keysM.pos
        var storages: [String: ArraySlice<UInt8>] = [:]
        for key in keys {
            guard pos + 8 <= bytes.count else { throw TensorError("\(path): file is truncated (storage \(key) missing)") }
            var n = 0
            for i in 0..<8 { n |= Int(bytes[pos + i]) << (8 * i) }
            pos += 8
            let size = try storageType(of: key, in: root, path: path).size
            guard n >= 0, pos + n * size <= bytes.count else { throw TensorError("\(path): file is truncated (storage \(key) is cut short)") }
            storages[key] = bytes[pos..<(pos + n * size)]
            pos += n * size
        }
        return WeightFile(tensors: try materialize(root, storages: storages, path: path), format: "legacy")
    }

    static func readZip(_ path: String) throws -> WeightFile {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw TensorError("\(path): unreadable zip archive (truncated or corrupt)")
        }
        guard let pkl = archive.first(where: { $0.path.hasSuffix("data.pkl") }) else {
            throw TensorError("\(path): zip archive without data.pkl (not a torch.save file)")
        }
        let prefix = String(pkl.path.dropLast("data.pkl".count))
        func extract(_ e: Entry) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(Int(e.uncompressedSize))
            do { _ = try archive.extract(e, skipCRC32: true) { out += $0 } } catch {
                throw TensorError("\(path): cannot read \(e.path) from the archive (truncated or corrupt)")
            }
            return out
        }
        var m = PickleMachine(try extract(pkl), source: path)
        let root = try m.load()
        var storages: [String: ArraySlice<UInt8>] = [:]
        for ref in storageRefs(root) where storages[ref.key] == nil {
            guard let e = archive[prefix + "data/" + ref.key] else { throw TensorError("\(path): storage \(ref.key) missing from the archive") }
            let b = try extract(e)
            guard b.count >= ref.count * ref.dtype.size else { throw TensorError("\(path): storage \(ref.key) is cut short") }
            storages[ref.key] = b[...]
        }
        return WeightFile(tensors: try materialize(root, storages: storages, path: path), format: "zip")
    }

    // MARK: -

    /// The state dict inside the root object: the root itself, or the usual checkpoint wrappers.
    static func stateDict(_ root: PValue, path: String) throws -> PDict {
        guard case .dict(let d) = root else { throw TensorError("\(path): the file holds no dictionary of tensors") }
        for k in ["state_dict", "model", "model_state_dict", "net"] {
            if case .dict(let inner)? = d.values[k] { return inner }
        }
        return d
    }
    static func storageRefs(_ v: PValue) -> [StorageRef] {
        switch v {
        case .tensor(let t): return [t.storage]
        case .dict(let d): return d.keys.flatMap { storageRefs(d.values[$0]!) }
        case .list(let l): return l.items.flatMap(storageRefs)
        case .tuple(let t): return t.flatMap(storageRefs)
        default: return []
        }
    }
    static func storageType(of key: String, in root: PValue, path: String) throws -> StorageType {
        guard let r = storageRefs(root).first(where: { $0.key == key }) else { return .byte }
        return r.dtype
    }

    static func materialize(_ root: PValue, storages: [String: ArraySlice<UInt8>], path: String) throws -> [(name: String, tensor: Tensor)] {
        let dict = try stateDict(root, path: path)
        var out: [(name: String, tensor: Tensor)] = []
        for key in dict.keys {
            guard case .tensor(let ref)? = dict.values[key] else { continue }   // skip non-tensor entries (e.g. epochs)
            guard let raw = storages[ref.storage.key] else { throw TensorError("\(path): storage of \(key) missing") }
            out.append((key, try tensor(ref, raw, name: key, path: path)))
        }
        guard !out.isEmpty else { throw TensorError("\(path): no tensors in the file") }
        return out
    }

    static func tensor(_ ref: TensorRef, _ raw: ArraySlice<UInt8>, name: String, path: String) throws -> Tensor {
        let size = ref.storage.dtype.size
        let count = ref.shape.reduce(1, *)
        // Element indices in the storage, row-major over the tensor's shape.
        var contiguous = true
        var expect = 1
        for (d, s) in zip(ref.shape, ref.stride).reversed() where d > 1 {
            if s != expect { contiguous = false }
            expect *= d
        }
        var index: [Int] = []
        if !contiguous {
            index.reserveCapacity(count)
            func walk(_ dim: Int, _ base: Int) {
                if dim == ref.shape.count { index.append(base); return }
                for i in 0..<ref.shape[dim] { walk(dim + 1, base + i * ref.stride[dim]) }
            }
            walk(0, ref.offset)
        }
        let maxIndex = contiguous ? ref.offset + count - 1 : (index.max() ?? 0)
        guard count == 0 || (ref.offset >= 0 && (maxIndex + 1) * size <= raw.count) else {
            throw TensorError("\(path): tensor \(name) lies outside its storage (corrupt file)")
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
