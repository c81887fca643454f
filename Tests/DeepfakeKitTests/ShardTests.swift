// `--shard K/N` (DFKTool/Shard.swift): parsing, the hash's stability and balance, and on every per-record tool that
// the shards of N = 1, 2, 3 are disjoint and together give exactly the records of an unsharded run.
import DFKRecords
import DFKTool
import Foundation
import XCTest

final class ShardTests: XCTestCase {
    func testParsingAndBadValues() {
        XCTAssertEqual(Shard(argument: "0/1"), Shard(index: 0, count: 1))
        XCTAssertEqual(Shard(argument: "2/3")?.index, 2)
        for bad in ["3/3", "-1/2", "1/0", "1", "a/b", "1/2/3", "", "/2"] { XCTAssertNil(Shard(argument: bad), bad) }
        XCTAssertEqual(Shard(argument: "1/4")?.description, "1/4")
    }

    func testStableBalancedAndDisjoint() throws {
        // Pinned buckets: the hash must never change, or a resumed fan-out would redo or skip records.
        XCTAssertEqual(Shard.bucket(of: "", count: 1_000_003), Int(Self.reference("") % 1_000_003))
        XCTAssertEqual(Shard.bucket(of: "ffpp/000.mp4", count: 7), Int(Self.reference("ffpp/000.mp4") % 7))
        let ids = (0..<3000).map { "videos/\($0 % 10)/\($0).mp4" }
        for n in 1...5 {
            var seen = Set<String>()
            for k in 0..<n {
                let shard = try XCTUnwrap(Shard(index: k, count: n))
                let mine = ids.filter { shard.contains(identity: $0) }
                XCTAssertTrue(seen.isDisjoint(with: mine))
                seen.formUnion(mine)
                // Balanced within 10 % of the even share.
                XCTAssertLessThan(abs(Double(mine.count) - Double(ids.count) / Double(n)), 0.1 * Double(ids.count) / Double(n), "\(k)/\(n)")
            }
            XCTAssertEqual(seen.count, ids.count)
        }
        // Identity: the first key present; a record with none is identified by its JSON text; unreadable lines go to
        // every shard.
        var r = Record(); r["video"] = .string("a.mp4"); r["frame"] = .int(3)
        XCTAssertEqual(Shard.identity(of: r, keys: ["image", "video"]), "a.mp4")
        XCTAssertEqual(Shard.identity(of: r, keys: ["frame"]), "3")
        XCTAssertEqual(Shard.identity(of: r, keys: ["image"]), #"{"video":"a.mp4","frame":3}"#)
        let bad: Result<Record, RecordError> = .failure(RecordError(source: "x", line: 1, message: "bad"))
        for k in 0..<3 { XCTAssertTrue(Shard(index: k, count: 3)!.admits(bad, keys: ["image"])) }
    }

    /// FNV-1a 64 + MurmurHash3 fmix64, written out independently.
    static func reference(_ s: String) -> UInt64 {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in Array(s.utf8) { h ^= UInt64(b); h = h &* 1_099_511_628_211 }
        h = (h ^ (h >> 33)) &* 0xff51afd7ed558ccd
        h = (h ^ (h >> 33)) &* 0xc4ceb9fe1a85ec53
        return h ^ (h >> 33)
    }

    /// Runs `tool` unsharded and as N = 1, 2, 3 shards: every shard succeeds, no record (by `key`) is in two shards,
    /// and the shards' lines together are the unsharded run's lines. Returns the unsharded lines.
    @discardableResult
    func checkShards(_ tool: String, _ args: [String], stdin: String? = nil, key: String,
                     file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let whole = try runTool(tool, args, stdin: stdin)
        XCTAssertEqual(whole.status, 0, "\(tool): \(whole.stderr)", file: file, line: line)
        XCTAssertFalse(whole.lines.isEmpty, tool, file: file, line: line)
        for n in 1...3 {
            var union: [String] = []
            var owner: [String: Int] = [:]
            for k in 0..<n {
                let run = try runTool(tool, args + ["--shard", "\(k)/\(n)"], stdin: stdin)
                XCTAssertEqual(run.status, 0, "\(tool) --shard \(k)/\(n): \(run.stderr)", file: file, line: line)
                for l in run.lines {
                    guard case .object(let o)? = try? JSON.parse(Array(l.utf8)), let id = o[key].map({ $0.stringValue ?? JSON.serialize($0) }) else {
                        XCTFail("\(tool): line without \(key): \(l)", file: file, line: line); continue
                    }
                    if let other = owner[id], other != k { XCTFail("\(tool): \(id) in shards \(other) and \(k) of \(n)", file: file, line: line) }
                    owner[id] = k
                }
                union += run.lines
            }
            XCTAssertEqual(union.sorted(), whole.lines.sorted(), "\(tool) with \(n) shards", file: file, line: line)
        }
        return whole.lines
    }

    func testEveryPerRecordToolShardsDisjointlyAndCompletely() throws {
        let dir = Fixtures.tempDir()
        let videos = try ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4", "face_noface.mov", "noface_face.mov"].map { try Fixtures.media($0) }
        // extract-frames: positional videos and video records on stdin.
        try checkShards("extract-frames", ["-q", "--frames", "2", "--out", dir + "/frames"] + videos, key: "video")
        let videoRecords = videos.enumerated().map { #"{"video":"\#($1)","label":\#($0 % 2)}"# }.joined(separator: "\n")
        let frames = try checkShards("extract-frames", ["-q", "--frames", "2", "--out", dir + "/frames"], stdin: videoRecords, key: "video")
        // records merge-shards puts the shards back into the input's order: byte for byte the unsharded output.
        let input = dir + "/videos.ndjson"
        try (videoRecords + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        var shardFiles: [String] = []
        for k in 0..<3 {
            let run = try runTool("extract-frames", ["-q", "--frames", "2", "--out", dir + "/frames", "--shard", "\(k)/3"], stdin: videoRecords)
            shardFiles.append(dir + "/shard\(k).ndjson")
            try run.stdout.write(toFile: shardFiles[k], atomically: true, encoding: .utf8)
        }
        let merged = try runTool("records", ["merge-shards", "--key", "video", input] + shardFiles)
        XCTAssertEqual(merged.status, 0, merged.stderr)
        XCTAssertEqual(merged.stdout, frames.joined(separator: "\n") + "\n")
        let biggest = try shardFiles.max { try String(contentsOfFile: $0, encoding: .utf8).count < String(contentsOfFile: $1, encoding: .utf8).count }!
        try FileManager.default.copyItem(atPath: biggest, toPath: dir + "/copy.ndjson")
        let overlap = try runTool("records", ["merge-shards", "--key", "video", input] + shardFiles + [dir + "/copy.ndjson"])
        XCTAssertNotEqual(overlap.status, 0)
        XCTAssertTrue(overlap.stderr.contains("shards overlap"), overlap.stderr)
        // landmarks on the frames and on two photos.
        let images = frames.joined(separator: "\n") + "\n" + (try ["0-f15-hao-ph.jpg", "multi_face.jpg"].map {
            #"{"image":"\#(try Fixtures.media($0))","label":0}"# }.joined(separator: "\n"))
        let faces = try checkShards("landmarks", ["-q"], stdin: images, key: "image").joined(separator: "\n")
        try checkShards("synth-sbi", ["-q", "--seed", "3", "--out", dir + "/sbi", "--size", "64"], stdin: faces, key: "source_image")
        try checkShards("bbmg-mask", ["-q", "--seed", "3", "--out", dir + "/bbmg"], stdin: faces, key: "image")
        let ck = try ScoreVideoTests.checkpoint()
        try checkShards("score-frames", ["-q", "--checkpoint", ck, "--faces", "records"], stdin: faces, key: "image")
        try checkShards("score-video", ["-q", "--checkpoint", ck, "--frames", "2"], stdin: videoRecords, key: "video")
        try checkShards("prle-cam-fuse", ["-q", "--zoo", ck, "--out", dir + "/maps", "--size", "32", "--batch", "4"], stdin: faces, key: "image")
    }

    func testBadShardIsAUsageError() throws {
        let run = try runTool("landmarks", ["--shard", "2/2"], stdin: "")
        XCTAssertEqual(run.status, 64)
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("--shard"), run.stderr)
    }
}
