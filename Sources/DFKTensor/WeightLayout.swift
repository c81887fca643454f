// What a weight file says before any tensor is made: the `.pth` (zip and legacy) and safetensors layouts parsed and
// checked against the file's own size. Every size read from a file goes through checked arithmetic, and every tensor
// must lie inside the bytes it claims to come from, so a crafted header is a one-line error, never a trap or a
// terabyte allocation. Nothing here needs libtorch (the fuzz targets in Fuzz/ build this file on its own).
import Foundation
import ZIPFoundation

/// Checked arithmetic on sizes read from files: nil instead of an overflow trap.
public enum SizeMath {
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (v, o) = a.addingReportingOverflow(b)
        return o ? nil : v
    }
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (v, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : v
    }
    /// The element count of a shape: nil when a dimension is negative or the product overflows.
    public static func product(_ dims: [Int]) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0, let m = multiply(n, d) else { return nil }
            n = m
        }
        return n
    }
}

/// The most dimensions a tensor in a weight file may have (PyTorch itself allows 64).
let maxTensorDims = 64

/// Where a tensor's elements lie in its storage, checked against the storage's size.
struct TensorSpan {
    /// Number of elements.
    var count: Int
    /// Row-major and dense from `offset`.
    var contiguous: Bool

    /// Checks `ref` against a storage of `storageBytes` bytes: dimensions, strides and offset non-negative, every
    /// element inside the storage, and no more elements than the storage holds (a broadcast view that would expand
    /// a small storage into a huge tensor is refused: loading it would allocate far more than the file).
    init(_ ref: TensorRef, storageBytes: Int, name: String, path: String) throws {
        func corrupt(_ why: String) -> TensorError { TensorError("\(path): tensor \(name) \(why) (corrupt file)") }
        guard ref.shape.count == ref.stride.count, ref.shape.count <= maxTensorDims else { throw corrupt("has a malformed shape") }
        guard ref.offset >= 0, ref.stride.allSatisfy({ $0 >= 0 }) else { throw corrupt("has a negative offset or stride") }
        guard let count = SizeMath.product(ref.shape) else { throw corrupt("has a negative or overflowing shape \(ref.shape)") }
        let size = ref.storage.dtype.size
        self.count = count
        var contiguous = true
        var expect = 1
        for (d, s) in zip(ref.shape, ref.stride).reversed() where d > 1 {
            if s != expect { contiguous = false }
            expect = SizeMath.multiply(expect, d) ?? Int.max
        }
        self.contiguous = contiguous
        guard count > 0 else { return }
        guard let bytes = SizeMath.multiply(count, size), bytes <= storageBytes else {
            throw corrupt("has \(count) elements, more than its storage of \(storageBytes) bytes holds")
        }
        var last = ref.offset
        for (d, s) in zip(ref.shape, ref.stride) {
            guard let step = SizeMath.multiply(d - 1, s), let l = SizeMath.add(last, step) else { throw corrupt("lies outside its storage") }
            last = l
        }
        guard let end = SizeMath.add(last, 1).flatMap({ SizeMath.multiply($0, size) }), end <= storageBytes else {
            throw corrupt("lies outside its storage")
        }
    }
}

/// A `.pth` file parsed: its root object, the raw bytes of each storage, and the tensors of its state dict, every
/// one checked to lie inside its storage.
struct PthLayout {
    var format: String
    var root: PValue
    var storages: [String: ArraySlice<UInt8>]
    var tensors: [(name: String, ref: TensorRef, raw: ArraySlice<UInt8>, span: TensorSpan)]

    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    /// `bytes` are the contents of the file at `path` (a zip archive is read from the file itself).
    static func parse(_ bytes: [UInt8], path: String) throws -> PthLayout {
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try zip(bytes, path: path) }
        guard bytes.starts(with: [0x80, 0x02, 0x8a, 0x0a]) else {
            throw TensorError("\(path): not a PyTorch weight file (neither a zip archive nor a legacy torch.save stream)")
        }
        return try legacy(bytes, path: path)
    }

    static func legacy(_ bytes: [UInt8], path: String) throws -> PthLayout {
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
        var types: [String: StorageType] = [:]
        for r in try storageRefs(root, budget: bytes.count, path: path) where types[r.key] == nil { types[r.key] = r.dtype }
        var pos = keysM.pos
        var storages: [String: ArraySlice<UInt8>] = [:]
        for key in keys {
            guard bytes.count - pos >= 8 else { throw TensorError("\(path): file is truncated (storage \(key) missing)") }
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            pos += 8
            let size = (types[key] ?? .byte).size
            // The element count is a file's word: it must fit in what is left of the file.
            guard let count = Int(exactly: n), let length = SizeMath.multiply(count, size), length <= bytes.count - pos else {
                throw TensorError("\(path): file is truncated (storage \(key) of \(n) elements is cut short)")
            }
            storages[key] = bytes[pos..<(pos + length)]
            pos += length
        }
        return try PthLayout(format: "legacy", root: root, storages: storages, path: path)
    }

    static func zip(_ bytes: [UInt8], path: String) throws -> PthLayout {
        let archive: Archive
        // From the file: ZIPFoundation's in-memory archives trap on some corrupt inputs (found by Fuzz/ pth), and
        // so does its directory walk on offsets beyond the file: the directory is checked here first.
        try ZipDirectory.check(bytes, path: path)
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw TensorError("\(path): unreadable zip archive (truncated or corrupt)")
        }
        guard let pkl = archive.first(where: { $0.path.hasSuffix("data.pkl") }) else {
            throw TensorError("\(path): zip archive without data.pkl (not a torch.save file)")
        }
        let prefix = String(pkl.path.dropLast("data.pkl".count))
        // torch.save stores entries uncompressed, so none can be larger than the file; a larger claim (a zip bomb,
        // or a corrupt header) is refused before anything is extracted, and extraction stops at the claimed size.
        func extract(_ e: Entry) throws -> [UInt8] {
            guard let claimed = Int(exactly: e.uncompressedSize), claimed <= bytes.count else {
                throw TensorError("\(path): \(e.path) claims \(e.uncompressedSize) bytes, more than the file holds (corrupt archive)")
            }
            var out: [UInt8] = []
            out.reserveCapacity(claimed)
            var over = false
            do {
                _ = try archive.extract(e, skipCRC32: true) { chunk in
                    guard out.count + chunk.count <= claimed else { over = true; throw TensorError("entry larger than claimed") }
                    out += chunk
                }
            } catch {
                throw TensorError("\(path): cannot read \(e.path) from the archive (\(over ? "larger than its header says" : "truncated or corrupt"))")
            }
            return out
        }
        var m = PickleMachine(try extract(pkl), source: path)
        let root = try m.load()
        var storages: [String: ArraySlice<UInt8>] = [:]
        for ref in try storageRefs(root, budget: bytes.count, path: path) where storages[ref.key] == nil {
            guard let e = archive[prefix + "data/" + ref.key] else { throw TensorError("\(path): storage \(ref.key) missing from the archive") }
            let b = try extract(e)
            guard ref.count >= 0, let need = SizeMath.multiply(ref.count, ref.dtype.size), b.count >= need else {
                throw TensorError("\(path): storage \(ref.key) is cut short")
            }
            storages[ref.key] = b[...]
        }
        return try PthLayout(format: "zip", root: root, storages: storages, path: path)
    }

    init(format: String, root: PValue, storages: [String: ArraySlice<UInt8>], path: String) throws {
        self.format = format; self.root = root; self.storages = storages
        let dict = try PthLayout.stateDict(root, path: path)
        tensors = []
        for key in dict.keys {
            guard case .tensor(let ref)? = dict.values[key] else { continue }   // skip non-tensor entries (e.g. epochs)
            guard let raw = storages[ref.storage.key] else { throw TensorError("\(path): storage of \(key) missing") }
            tensors.append((key, ref, raw, try TensorSpan(ref, storageBytes: raw.count, name: key, path: path)))
        }
        guard !tensors.isEmpty else { throw TensorError("\(path): no tensors in the file") }
    }

    /// The state dict inside the root object: the root itself, or the usual checkpoint wrappers.
    static func stateDict(_ root: PValue, path: String) throws -> PDict {
        guard case .dict(let d) = root else { throw TensorError("\(path): the file holds no dictionary of tensors") }
        for k in ["state_dict", "model", "model_state_dict", "net"] {
            if case .dict(let inner)? = d.values[k] { return inner }
        }
        return d
    }

    /// Every storage reference under `root`, in order. Lists and dictionaries are visited once each (a pickle can
    /// make them contain themselves), and the whole walk is bounded by the file's size: a pickle that shares
    /// tuples through its memo to describe an exponentially large tree (a "pickle bomb") is refused.
    static func storageRefs(_ root: PValue, budget bytes: Int, path: String) throws -> [StorageRef] {
        var out: [StorageRef] = []
        var seen = Set<ObjectIdentifier>()
        var todo: [PValue] = [root]
        var visits = 0
        let budget = 4 * bytes + 1024
        while let v = todo.popLast() {
            visits += 1
            guard visits <= budget else {
                throw TensorError("\(path): the pickle describes far more objects than its \(bytes) bytes can hold (a pickle bomb?)")
            }
            switch v {
            case .tensor(let t): out.append(t.storage)
            case .dict(let d):
                guard seen.insert(ObjectIdentifier(d)).inserted else { continue }
                for k in d.keys.reversed() { todo.append(d.values[k]!) }
            case .list(let l):
                guard seen.insert(ObjectIdentifier(l)).inserted else { continue }
                todo += l.items.reversed()
            case .tuple(let t): todo += t.reversed()
            default: break
            }
        }
        return out
    }
}

/// A safetensors file parsed: metadata, and each tensor's dtype code, shape and byte range in the file, checked.
public struct SafetensorsLayout {
    public struct Entry {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        public var count: Int
        /// Byte range in the file.
        public var range: Range<Int>
    }
    public var metadata: [String: String]
    /// In file order.
    public var entries: [Entry]

    /// Bytes per element of the dtype codes DeepfakeKit reads.
    public static let itemSizes: [String: Int] = ["F32": 4, "F64": 8, "I64": 8, "U8": 1, "BOOL": 1]

    public static func parse(_ bytes: [UInt8], path: String) throws -> SafetensorsLayout {
        guard bytes.count >= 8 else { throw TensorError("\(path): not a checkpoint (file too short)") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n > 1, n < 100 << 20, Int(n) <= bytes.count - 8,
              let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + Int(n))])) as? [String: Any] else {
            throw TensorError("\(path): not a checkpoint or corrupt header")
        }
        let base = 8 + Int(n)
        let dataBytes = bytes.count - base
        var meta: [String: String] = [:]
        var entries: [Entry] = []
        for (name, v) in header {
            if name == "__metadata__" {
                guard let m = v as? [String: String] else { throw TensorError("\(path): corrupt __metadata__ (not a map of strings)") }
                meta = m
                continue
            }
            func corrupt(_ why: String) -> TensorError { TensorError("\(path): corrupt entry \(name): \(why)") }
            guard let d = v as? [String: Any], let code = d["dtype"] as? String, let shapeV = d["shape"] as? [Any],
                  let offV = d["data_offsets"] as? [Any], offV.count == 2 else { throw corrupt("needs dtype, shape and data_offsets") }
            guard let size = itemSizes[code] else { throw TensorError("\(path): unknown dtype \(code) for \(name)") }
            guard shapeV.count <= maxTensorDims, let shape = integers(shapeV), let off = integers(offV) else {
                throw corrupt("shape and data_offsets must be lists of integers")
            }
            guard let count = SizeMath.product(shape), let length = SizeMath.multiply(count, size) else {
                throw corrupt("shape \(shape) is negative or overflows")
            }
            let (a, b) = (off[0], off[1])
            guard a >= 0, b >= a, b <= dataBytes, b - a == length else {
                throw TensorError("\(path): file is truncated or corrupt (tensor \(name): \(length) bytes at [\(a), \(b)) of \(dataBytes))")
            }
            entries.append(Entry(name: name, dtype: code, shape: shape, count: count, range: (base + a)..<(base + b)))
        }
        entries.sort { ($0.range.lowerBound, $0.name) < ($1.range.lowerBound, $1.name) }   // file order
        return SafetensorsLayout(metadata: meta, entries: entries)
    }

    /// JSON numbers that are exact integers (no fractions, nothing beyond Int's range).
    static func integers(_ a: [Any]) -> [Int]? {
        let v = a.compactMap { $0 as? Int }
        return v.count == a.count ? v : nil
    }
}

/// The zip directory checked before ZIPFoundation walks it: the end record (and its ZIP64 form), and every central
/// directory entry's sizes and local header offset (ZIP64 extra fields included) inside the file. ZIPFoundation
/// converts such numbers to file offsets unchecked and traps on values beyond Int64.
enum ZipDirectory {
    static func check(_ b: [UInt8], path: String) throws {
        func corrupt(_ why: String) -> TensorError { TensorError("\(path): corrupt zip archive (\(why))") }
        func u(_ at: Int, _ n: Int) -> UInt64? {
            guard at >= 0, n <= b.count, at <= b.count - n else { return nil }
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
            return v
        }
        let size = UInt64(b.count)
        // End of central directory: the last signature within the final 64 KiB + 22 bytes.
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 65_557) {
            if u(i, 4) == 0x0605_4b50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0, var entries = u(eocd + 10, 2), var cdSize = u(eocd + 12, 4), var cdOffset = u(eocd + 16, 4) else {
            throw corrupt("no end of central directory")
        }
        if entries == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF || u(eocd - 20, 4) == 0x0706_4b50 {
            guard u(eocd - 20, 4) == 0x0706_4b50, let z = u(eocd - 12, 8), z <= size, let zi = Int(exactly: z),
                  u(zi, 4) == 0x0606_4b50, let e = u(zi + 32, 8), let s = u(zi + 40, 8), let o = u(zi + 48, 8) else {
                throw corrupt("bad ZIP64 end record")
            }
            (entries, cdSize, cdOffset) = (e, s, o)
        }
        guard cdOffset <= size, cdSize <= size - cdOffset, entries <= cdSize / 46 + 1 else { throw corrupt("central directory outside the file") }
        var at = Int(cdOffset)
        for _ in 0..<entries {
            guard u(at, 4) == 0x0201_4b50, var compressed = u(at + 20, 4), var uncompressed = u(at + 24, 4),
                  let nameLength = u(at + 28, 2), let extraLength = u(at + 30, 2), let commentLength = u(at + 32, 2),
                  var local = u(at + 42, 4) else { throw corrupt("bad central directory entry") }
            // ZIP64 extra field (id 1): the 64-bit values of the fields set to 0xFFFFFFFF, in this order.
            var x = at + 46 + Int(nameLength)
            let xEnd = x + Int(extraLength)
            while x + 4 <= xEnd, let id = u(x, 2), let n = u(x + 2, 2) {
                if id == 1 {
                    var p = x + 4
                    for field in [0, 1, 2] {
                        let current = [uncompressed, compressed, local][field]
                        guard current == 0xFFFF_FFFF else { continue }
                        guard p + 8 <= x + 4 + Int(n), let v = u(p, 8) else { throw corrupt("bad ZIP64 extra field") }
                        if field == 0 { uncompressed = v } else if field == 1 { compressed = v } else { local = v }
                        p += 8
                    }
                }
                x += 4 + Int(n)
            }
            guard compressed <= size, uncompressed <= size, local <= size, let li = Int(exactly: local),
                  u(li, 4) == 0x0403_4b50, let ln = u(li + 26, 2), let le = u(li + 28, 2),
                  compressed <= size - min(size, local + 30 + ln + le) else {
                throw corrupt("an entry lies outside the file")
            }
            at += 46 + Int(nameLength) + Int(extraLength) + Int(commentLength)
            guard at <= b.count else { throw corrupt("central directory outside the file") }
        }
    }
}
