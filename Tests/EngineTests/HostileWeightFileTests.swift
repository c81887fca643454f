// Crafted weight files: sizes that overflow, tensors that claim more than their file holds,
// and a pickle bomb. Each must end in a one-line error naming the file, quickly, without a trap or a huge allocation.
import DFKModels
@testable import DFKTensor
import Foundation
import XCTest

/// Pickle opcodes for hand-built streams.
enum P {
    static func str(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }     // SHORT_BINUNICODE
    static func int(_ v: Int) -> [UInt8] {                                                         // LONG1, 8 bytes
        var out: [UInt8] = [0x8A, 8]
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
        return out
    }
    static func tuple(_ items: [[UInt8]]) -> [UInt8] { [0x28] + items.flatMap { $0 } + [0x74] }  // MARK ... TUPLE
    static func global(_ m: String, _ n: String) -> [UInt8] { [0x63] + Array("\(m)\n\(n)\n".utf8) }
    /// torch._utils._rebuild_tensor_v2 of FloatStorage "0" holding `count` elements.
    static func tensor(count: Int, offset: Int = 0, shape: [Int], stride: [Int]) -> [UInt8] {
        let storage = tuple([str("storage"), global("torch", "FloatStorage"), str("0"), str("cpu"), int(count)]) + [0x51]
        return global("torch._utils", "_rebuild_tensor_v2")
            + tuple([storage, int(offset), tuple(shape.map(int)), tuple(stride.map(int)), [0x89], [0x7D]]) + [0x52]
    }
    /// A dict pickle {name: value, ...}.
    static func dict(_ items: [(String, [UInt8])]) -> [UInt8] {
        [0x80, 0x02, 0x7D] + items.flatMap { str($0.0) + $0.1 + [0x73] } + [0x2E]
    }
    /// A legacy torch.save stream around `root` with one float storage "0" of `declared` elements and `data` bytes.
    static func legacy(root: [UInt8], declared: UInt64, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2E]
        out += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]
        out += [0x80, 0x02, 0x7D, 0x2E]
        out += root
        out += [0x80, 0x02] + tuple([str("0")]) + [0x2E]
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: declared >> (8 * UInt64(i)))) }
        return out + data
    }
}

final class HostileWeightFileTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dfk-hostile-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = "\(dir!)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func refused(_ path: String, _ words: [String], file: StaticString = #filePath, line: UInt = #line) {
        let t0 = Date()
        XCTAssertThrowsError(try WeightFile.read(path), file: file, line: line) { e in
            let m = "\(e)"
            XCTAssertTrue(m.hasPrefix(path) && !m.contains("\n"), m, file: file, line: line)
            for w in words { XCTAssertTrue(m.contains(w), "\(m) lacks '\(w)'", file: file, line: line) }
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "took too long", file: file, line: line)
    }

    func testAWellFormedHandBuiltFileReads() throws {
        let floats: [Float] = [1, 2, 3, 4, 5, 6]
        let data = floats.withUnsafeBytes { Array($0) }
        let p = try write(P.legacy(root: P.dict([("w", P.tensor(count: 6, shape: [2, 3], stride: [3, 1])),
                                                 ("t", P.tensor(count: 6, offset: 0, shape: [3, 2], stride: [1, 3]))]),
                                   declared: 6, data: data), "ok.pth")
        let w = try WeightFile.read(p)
        XCTAssertEqual(try w["w"]!.floats(), floats)
        XCTAssertEqual(try w["t"]!.floats(), [1, 4, 2, 5, 3, 6])
    }

    func testLegacyStorageCountThatOverflowsIsRefused() throws {
        let root = P.dict([("w", P.tensor(count: 4, shape: [4], stride: [1]))])
        for n: UInt64 in [1 << 62, UInt64.max, 1 << 40] {
            refused(try write(P.legacy(root: root, declared: n, data: [UInt8](repeating: 0, count: 16)), "count\(n).pth"), ["storage 0"])
        }
    }

    func testShapesThatOverflowOrExceedTheirStorageAreRefused() throws {
        let data = [UInt8](repeating: 0, count: 16)
        let cases: [(String, [Int], [Int], Int)] = [
            ("overflow", [1 << 32, 1 << 32], [1, 1], 0),            // element count overflows
            ("huge-view", [1 << 20, 1 << 20], [0, 0], 0),           // 2^40 elements of a 4-element storage
            ("strided-out", [2, 2], [1 << 61, 1], 0),               // last element far outside
            ("negative", [-2, -2], [1, 1], 0),
            ("offset", [4], [1], 1),                                // one past the end
            ("neg-offset", [4], [1], -1),
        ]
        for (name, shape, stride, offset) in cases {
            let root = P.dict([("w", P.tensor(count: 4, offset: offset, shape: shape, stride: stride))])
            refused(try write(P.legacy(root: root, declared: 4, data: data), "\(name).pth"), ["tensor w", "corrupt"])
        }
    }

    func testZipStorageOverflowIsRefused() throws {
        let pkl = P.dict([("w", P.tensor(count: 1 << 62, shape: [4], stride: [1]))])
        let p = "\(dir!)/overflow_zip.pth"
        try Data(pkl).write(to: URL(fileURLWithPath: p + ".pkl"))
        try python("""
        import zipfile
        with zipfile.ZipFile('\(p)', 'w') as z:
            z.write('\(p).pkl', 'archive/data.pkl')
            z.writestr('archive/data/0', bytes(16))
        """)
        refused(p, ["storage 0"])
        let shape = P.dict([("w", P.tensor(count: 4, shape: [1 << 40, 1 << 40], stride: [1, 1]))])
        try Data(shape).write(to: URL(fileURLWithPath: p + ".pkl"))
        try python("""
        import zipfile
        with zipfile.ZipFile('\(p)', 'w') as z:
            z.write('\(p).pkl', 'archive/data.pkl')
            z.writestr('archive/data/0', bytes(16))
        """)
        refused(p, ["tensor w"])
    }

    /// 451 bytes whose memo shares one tuple into a tree of 2^80 nodes: the reader's work is bounded by the file.
    func testPickleBombIsRefusedQuickly() throws {
        var bomb: [UInt8] = [0x29, 0x71, 0x00]                                 // EMPTY_TUPLE, BINPUT 0
        for _ in 0..<80 { bomb += [0x68, 0x00, 0x86, 0x71, 0x00] }            // BINGET 0, TUPLE2, BINPUT 0
        let root = P.dict([("w", P.tensor(count: 4, shape: [4], stride: [1])), ("x", bomb)])
        let file = P.legacy(root: root, declared: 4, data: [UInt8](repeating: 0, count: 16))
        refused(try write(file, "bomb.pth"), ["pickle bomb"])
        // A list or dict that contains itself is walked once.
        let selfList: [UInt8] = [0x5D, 0x71, 0x01, 0x68, 0x01, 0x61]          // EMPTY_LIST, BINPUT 1, BINGET 1, APPEND
        let ok = P.legacy(root: P.dict([("w", P.tensor(count: 4, shape: [4], stride: [1])), ("l", selfList)]),
                          declared: 4, data: [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(try WeightFile.read(try write(ok, "selfref.pth")).names, ["w"])
    }

    // MARK: safetensors

    func safetensors(_ header: String, data: Int) throws -> String {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: h.count >> (8 * i))) }
        let p = "\(dir!)/st-\(abs(header.hashValue)).safetensors"
        try Data(out + h + [UInt8](repeating: 0, count: data)).write(to: URL(fileURLWithPath: p))
        return p
    }

    func testSafetensorsHeadersWithOverflowingSizesAreRefused() throws {
        let headers = [
            #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#,
            #"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}}"#,
            #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,9223372036854775792]}}"#,
            #"{"w":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}}"#,
            #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}}"#,
            #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}"#,
            #"{"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#,
            #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,16]}}"#,
            #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1e300]}}"#,
        ]
        for h in headers {
            let p = try safetensors(h, data: 16)
            XCTAssertThrowsError(try Checkpoint.read(p), h) { e in
                let m = "\(e)"
                XCTAssertTrue(m.hasPrefix(p) && !m.contains("\n") && (m.contains("corrupt") || m.contains("truncated")), "\(h): \(m)")
            }
        }
        let p = try safetensors(#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, data: 16)
        XCTAssertEqual(try Checkpoint.read(p)["w"]?.shape, [2, 2])
    }
}
