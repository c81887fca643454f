// A safe reader for the pickles inside PyTorch weight files: the opcodes a state dict uses, and a short list of
// constructors (OrderedDict, tensor and parameter rebuilding, storage types). Any other global is refused
// before anything runs, so a file crafted to execute code cannot: there is no code to execute here.
import Foundation

/// What the pickle machine builds.
indirect enum PValue {
    case none, mark
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PValue])
    case list(PList)
    case dict(PDict)
    case global(String, String)
    case storage(StorageRef)
    case tensor(TensorRef)

    var intValue: Int? { if case .int(let i) = self { return i }; return nil }
    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    var tupleValue: [PValue]? {
        switch self {
        case .tuple(let t): return t
        case .list(let l): return l.items
        default: return nil
        }
    }
}

final class PList { var items: [PValue] = [] }
final class PDict {
    var keys: [String] = []
    var values: [String: PValue] = [:]
    func set(_ k: PValue, _ v: PValue) throws {
        guard let key = k.stringValue ?? k.intValue.map(String.init) else { throw TensorError("unsupported dictionary key in weight file") }
        if values.updateValue(v, forKey: key) == nil { keys.append(key) }
    }
}

struct StorageRef {
    var key: String
    var dtype: StorageType
    var count: Int
}
struct TensorRef {
    var storage: StorageRef
    var offset: Int
    var shape: [Int]
    var stride: [Int]
}

enum StorageType: String {
    case float = "FloatStorage", double = "DoubleStorage", half = "HalfStorage", bfloat16 = "BFloat16Storage"
    case long = "LongStorage", int = "IntStorage", short = "ShortStorage", char = "CharStorage", byte = "ByteStorage", bool = "BoolStorage"
    var size: Int {
        switch self {
        case .double, .long: return 8
        case .float, .int: return 4
        case .half, .bfloat16, .short: return 2
        case .char, .byte, .bool: return 1
        }
    }
}

struct PickleMachine {
    private let data: [UInt8]
    private(set) var pos: Int
    private var stack: [PValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PValue] = [:]
    let source: String

    init(_ data: [UInt8], at pos: Int = 0, source: String) { self.data = data; self.pos = pos; self.source = source }

    private func fail(_ m: String) -> TensorError { TensorError("\(source): \(m)") }
    private mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw fail("file is truncated (pickle ends early)") }
        defer { pos += 1 }
        return data[pos]
    }
    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, pos + n <= data.count else { throw fail("file is truncated (pickle ends early)") }
        defer { pos += n }
        return data[pos..<(pos + n)]
    }
    private mutating func uint(_ n: Int) throws -> Int {
        var v = 0
        for (i, b) in try take(n).enumerated() { v |= Int(b) << (8 * i) }
        return v
    }
    private mutating func line() throws -> String {
        guard let nl = data[pos...].firstIndex(of: 0x0A) else { throw fail("file is truncated (pickle ends early)") }
        defer { pos = nl + 1 }
        return String(decoding: data[pos..<nl], as: UTF8.self)
    }
    private mutating func pop() throws -> PValue {
        guard let v = stack.popLast() else { throw fail("malformed pickle (stack underflow)") }
        return v
    }
    private mutating func popMark() throws -> [PValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail("malformed pickle (no mark)") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    /// The globals a state dict needs. Everything else is refused.
    static let allowed: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch.nn.parameter.Parameter",
    ]
    private func global(_ module: String, _ name: String) throws -> PValue {
        let full = "\(module).\(name)"
        if module == "torch", StorageType(rawValue: name) != nil { return .global(module, name) }
        guard PickleMachine.allowed.contains(full) else {
            throw fail("refusing to load: the pickle calls \(full), which is not part of a weight file (a pickle that could run code)")
        }
        return .global(module, name)
    }

    private func reduce(_ callable: PValue, _ args: [PValue]) throws -> PValue {
        guard case .global(let m, let n) = callable else { throw fail("malformed pickle (call of a non-function)") }
        switch "\(m).\(n)" {
        case "collections.OrderedDict": return .dict(PDict())
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard args.count >= 4, case .storage(let s) = args[0], let off = args[1].intValue,
                  let size = args[2].tupleValue?.compactMap(\.intValue), let stride = args[3].tupleValue?.compactMap(\.intValue),
                  size.count == stride.count else { throw fail("malformed tensor record") }
            return .tensor(TensorRef(storage: s, offset: off, shape: size, stride: stride))
        case "torch._utils._rebuild_parameter", "torch.nn.parameter.Parameter":
            guard let t = args.first, case .tensor = t else { throw fail("malformed parameter record") }
            return t
        default: throw fail("refusing to load: call of \(m).\(n)")
        }
    }

    private func persistent(_ pid: PValue) throws -> PValue {
        guard let t = pid.tupleValue, t.count >= 5, t[0].stringValue == "storage",
              case .global(_, let typeName) = t[1], let type = StorageType(rawValue: typeName),
              let key = t[2].stringValue, let count = t[4].intValue else {
            throw fail("unsupported storage reference in weight file")
        }
        return .storage(StorageRef(key: key, dtype: type, count: count))
    }

    /// Runs until STOP and returns the top of the stack. Every opcode consumes at least one byte and builds at most
    /// one object, so the work here is linear in the file's size; walking what was built is bounded separately
    /// (PthLayout.storageRefs), since memo references can make a small pickle describe a huge tree.
    mutating func load() throws -> PValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try take(8)                                  // FRAME
            case 0x2E: return try pop()                                 // STOP
            case 0x28: marks.append(stack.count)                        // MARK
            case 0x7D: stack.append(.dict(PDict()))                     // EMPTY_DICT
            case 0x5D: stack.append(.list(PList()))                     // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                         // EMPTY_TUPLE
            case 0x4E: stack.append(.none)                              // NONE
            case 0x88: stack.append(.bool(true))                        // NEWTRUE
            case 0x89: stack.append(.bool(false))                       // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x4B: stack.append(.int(try uint(1)))                  // BININT1
            case 0x4D: stack.append(.int(try uint(2)))                  // BININT2
            case 0x8A:                                                  // LONG1
                let n = Int(try byte())
                let bytes = Array(try take(n))
                guard n <= 8 else { stack.append(.bytes(bytes)); continue }   // e.g. the legacy magic number
                var v: Int64 = 0
                for (i, b) in bytes.enumerated() { v |= Int64(b) << (8 * Int64(i)) }
                if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }
                stack.append(.int(Int(v)))
            case 0x47: stack.append(.float(Double(bitPattern: UInt64(bigEndian: (try take(8)).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))))  // BINFLOAT
            case 0x58: stack.append(.string(String(decoding: try take(try uint(4)), as: UTF8.self)))  // BINUNICODE
            case 0x8C: stack.append(.string(String(decoding: try take(Int(try byte())), as: UTF8.self)))  // SHORT_BINUNICODE
            case 0x54: stack.append(.string(String(decoding: try take(try uint(4)), as: UTF8.self)))  // BINSTRING
            case 0x55: stack.append(.string(String(decoding: try take(Int(try byte())), as: UTF8.self)))  // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(Array(try take(try uint(4)))))  // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
            case 0x74: stack.append(.tuple(try popMark()))             // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))               // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x71: memo[try uint(1)] = stack.last                  // BINPUT
            case 0x72: memo[try uint(4)] = stack.last                  // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                   // MEMOIZE
            case 0x68, 0x6A:                                           // BINGET, LONG_BINGET
                let k = try uint(op == 0x68 ? 1 : 4)
                guard let v = memo[k] else { throw fail("malformed pickle (unknown memo \(k))") }
                stack.append(v)
            case 0x63:                                                  // GLOBAL
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:                                                  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.stringValue, let n = name.stringValue else { throw fail("malformed pickle (global)") }
                stack.append(try global(m, n))
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args.tupleValue ?? []))
            case 0x81:                                                  // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(try reduce(cls, args.tupleValue ?? []))
            case 0x62: _ = try pop()                                    // BUILD: state of an OrderedDict etc., not needed
            case 0x51: stack.append(try persistent(try pop()))          // BINPERSID
            case 0x73:                                                  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = stack.last else { throw fail("malformed pickle (setitem)") }
                do { try d.set(k, v) } catch { throw fail("unsupported dictionary key in weight file") }
            case 0x75:                                                  // SETITEMS
                let items = try popMark()
                guard case .dict(let d) = stack.last, items.count % 2 == 0 else { throw fail("malformed pickle (setitems)") }
                for i in stride(from: 0, to: items.count, by: 2) {
                    do { try d.set(items[i], items[i + 1]) } catch { throw fail("unsupported dictionary key in weight file") }
                }
            case 0x61:                                                  // APPEND
                let v = try pop()
                guard case .list(let l) = stack.last else { throw fail("malformed pickle (append)") }
                l.items.append(v)
            case 0x65:                                                  // APPENDS
                let items = try popMark()
                guard case .list(let l) = stack.last else { throw fail("malformed pickle (appends)") }
                l.items += items
            default:
                throw fail(String(format: "unsupported pickle opcode 0x%02x (not a plain state dict)", op))
            }
        }
    }
}
