// TensorBoard event files (train --tensorboard DIR): scalar summaries that TensorBoard reads.
//
// Written by hand because there is no maintained Swift TensorBoard writer, and the part needed is small:
// a file of TFRecords (uint64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data, all
// little-endian), each holding one protobuf `Event` (tensorflow/core/util/event.proto):
//   Event   { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
// The first event carries file_version "brain.Event:2". Every event goes to the file at once (no buffer), so a crash
// loses nothing; a resumed run appends to a new file in the same directory, as TensorBoard's own writers do
// (TensorBoard drops the orphaned steps of the interrupted run when a step goes backwards).
import DFKCore
import Foundation

extension String { fileprivate var nonEmpty: String? { isEmpty ? nil : self } }

public enum CRC32C {
    /// Castagnoli polynomial, reflected.
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }
    /// CRC-32C (iSCSI) of `bytes`: crc32c("123456789") = 0xE3069283.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
    /// The masked form TFRecord stores: rotate right by 15 and add 0xa282ead8.
    public static func masked(_ bytes: [UInt8]) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

public enum TensorBoardEvent {
    static func varint(_ v: UInt64, into out: inout [UInt8]) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    static func lengthDelimited(field: UInt64, _ bytes: [UInt8], into out: inout [UInt8]) {
        varint(field << 3 | 2, into: &out)
        varint(UInt64(bytes.count), into: &out)
        out += bytes
    }
    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// An encoded Event: wall time, step and either the file version or scalar summaries (tag, value).
    public static func encode(wallTime: Double, step: Int64, fileVersion: String? = nil, scalars: [(String, Float)] = []) -> [UInt8] {
        var out: [UInt8] = [0x09]                       // field 1, fixed64
        out += littleEndian(wallTime.bitPattern)
        if step != 0 { varint(2 << 3 | 0, into: &out); varint(UInt64(bitPattern: step), into: &out) }
        if let fileVersion { lengthDelimited(field: 3, Array(fileVersion.utf8), into: &out) }
        if !scalars.isEmpty {
            var summary: [UInt8] = []
            for (tag, value) in scalars {
                var v: [UInt8] = []
                lengthDelimited(field: 1, Array(tag.utf8), into: &v)
                v.append(0x15)                          // field 2, fixed32
                v += littleEndian(value.bitPattern)
                lengthDelimited(field: 1, v, into: &summary)
            }
            lengthDelimited(field: 5, summary, into: &out)
        }
        return out
    }

    /// A TFRecord: length, masked CRC of the length, data, masked CRC of the data.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        let len = littleEndian(UInt64(data.count))
        return len + littleEndian(CRC32C.masked(len)) + data + littleEndian(CRC32C.masked(data))
    }
}

/// Appends scalar events to `DIR/events.out.tfevents.<seconds>.<host>.<pid>` (a new file per writer).
public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    public init(directory: String, now: Date = Date()) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ToolError("\(directory): cannot create directory: \(error.localizedDescription)")
        }
        // gethostname(2), not ProcessInfo.hostName (which may wait on a DNS lookup); only file-name-safe characters.
        var buf = [CChar](repeating: 0, count: 256)
        let raw = gethostname(&buf, buf.count - 1) == 0 ? String(cString: buf) : ""
        let host = String(raw.split(separator: ".").first.map(String.init)?.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" } ?? [])
            .nonEmpty ?? "localhost"
        var name = "events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(host).\(getpid())"
        var k = 0
        while FileManager.default.fileExists(atPath: directory + "/" + name) { k += 1; name += ".\(k)" }
        path = directory + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw ToolError("\(path): cannot create file: \(String(cString: strerror(errno)))")
        }
        handle = h
        try write(TensorBoardEvent.encode(wallTime: now.timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2"))
    }
    deinit { try? handle.close() }

    private func write(_ event: [UInt8]) throws {
        do {
            // One write(2) per event, unbuffered: a crash of the process loses nothing already written.
            try handle.write(contentsOf: TensorBoardEvent.record(event))
        } catch { throw ToolError("\(path): write failed: \(error.localizedDescription)") }
    }

    /// Writes scalars (tag, value) for one step; non-finite values are written as they are (TensorBoard shows NaN).
    public func scalars(_ values: [(String, Double)], step: Int, wallTime: Date = Date()) throws {
        guard !values.isEmpty else { return }
        try write(TensorBoardEvent.encode(wallTime: wallTime.timeIntervalSince1970, step: Int64(step),
                                          scalars: values.map { ($0.0, Float($0.1)) }))
    }
}
