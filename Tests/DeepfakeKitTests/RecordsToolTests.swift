// The `records` tool's filters: split-faces (one record per face), merge-shards (shards back in input order),
// faces-summary (per-video face counts); keys, number text and non-ASCII text pass through as read.
import DFKRecords
import Foundation
import XCTest

final class RecordsToolTests: XCTestCase {
    func testSplitFacesGivesEveryFaceItsOwnRecordAndNamesABadLine() throws {
        let face = { (x: Int) in "{\"box\":[\(x),0,\(x + 10),10],\"landmarks\":[]}" }
        let single = "{\"image\":\"s.jpg\", \"score\":1.50,\"faces\":[\(face(5))]}"   // not compact: passes byte for byte
        let input = "{\"image\":\"gé.jpg\",\"keep\":1.50,\"note\":\"\\u00e9\",\"faces\":[\(face(0)),\(face(50))],\"label\":0}\n\(single)\n"
        let run = try runTool("records", ["split-faces"], stdin: input)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 3)
        // Keys in their places, "id" last; number text (1.50) and the escaped é kept as read; compact.
        XCTAssertEqual(run.lines[0], "{\"image\":\"gé.jpg\",\"keep\":1.50,\"note\":\"é\",\"faces\":[\(face(0))],\"label\":0,\"id\":\"gé.jpg#face0\"}")
        XCTAssertEqual(run.lines[1], "{\"image\":\"gé.jpg\",\"keep\":1.50,\"note\":\"é\",\"faces\":[\(face(50))],\"label\":0,\"id\":\"gé.jpg#face1\"}")
        XCTAssertEqual(run.lines[2], single)
        // A file argument reads the same; a bad line is named, the rest still comes out, the exit status is 1.
        let dir = Fixtures.tempDir()
        try (input.replacingOccurrences(of: "\n\(single)", with: "\n{oops\n\(single)")).write(toFile: dir + "/in.ndjson", atomically: true, encoding: .utf8)
        let bad = try runTool("records", ["split-faces", dir + "/in.ndjson"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.lines, run.lines)
        XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("records: error: \(dir)/in.ndjson:2: malformed JSON"), bad.stderr)
        let missing = try runTool("records", ["split-faces", dir + "/none.ndjson"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.ndjson: cannot open"), missing.stderr)
    }

    func testMergeShardsRestoresInputOrderAndRefusesOverlap() throws {
        let dir = Fixtures.tempDir()
        let input = ["{\"video\":\"a\"}", "{\"video\":\"b\"}", "{\"video\":\"c\"}", "{\"video\":7}"].joined(separator: "\n") + "\n"
        try input.write(toFile: dir + "/in.ndjson", atomically: true, encoding: .utf8)
        // Shard outputs with several lines per input, odd spacing and number text kept, one line with no key.
        let s0 = "{\"video\":\"c\",\"frame\":0}\n{\"video\":\"c\",\"frame\":1, \"t\":1.50}\n{\"video\":7,\"frame\":0}\n{\"other\":1}\n"
        let s1 = "{\"video\":\"b\",\"frame\":0}\n{\"video\":\"z\",\"frame\":0}\n{\"video\":\"a\",\"frame\":0}\n"
        try s0.write(toFile: dir + "/s0.ndjson", atomically: true, encoding: .utf8)
        try s1.write(toFile: dir + "/s1.ndjson", atomically: true, encoding: .utf8)
        let run = try runTool("records", ["merge-shards", "--key", "video", dir + "/in.ndjson", dir + "/s0.ndjson", dir + "/s1.ndjson"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines, ["{\"video\":\"a\",\"frame\":0}", "{\"video\":\"b\",\"frame\":0}", "{\"video\":\"c\",\"frame\":0}",
                                   "{\"video\":\"c\",\"frame\":1, \"t\":1.50}", "{\"video\":7,\"frame\":0}",
                                   "{\"video\":\"z\",\"frame\":0}", "{\"other\":1}"])
        let overlap = try runTool("records", ["merge-shards", "--key", "video", dir + "/in.ndjson", dir + "/s0.ndjson", dir + "/s0.ndjson"])
        XCTAssertEqual(overlap.status, 1)
        XCTAssertTrue(overlap.stderr.contains("s0.ndjson:1: video c is also in") && overlap.stderr.contains("(shards overlap)"), overlap.stderr)
        let noShards = try runTool("records", ["merge-shards", "--key", "video", dir + "/in.ndjson"])
        XCTAssertEqual(noShards.status, 64)
        XCTAssertEqual(noShards.stderrLines.count, 1, noShards.stderr)
    }

    func testFacesSummaryCountsFramesFacesCropsAndErrors() throws {
        let face = { (x0: String, x1: String, crop: Bool) in "{\"box\":[\(x0),0,\(x1),10]\(crop ? ",\"crop\":\"c.png\"" : "")}" }
        let lines = [
            "{\"video\":\"/d/a.mp4\",\"frame\":0,\"faces\":[\(face("0", "40", true)),\(face("50", "60", true))]}",
            "{\"video\":\"/d/a.mp4\",\"frame\":1,\"faces\":[]}",
            "{\"video\":\"/d/a.mp4\",\"frame\":2,\"faces\":[\(face("0", "30", false))]}",
            "{\"video\":\"/d/a.mp4\",\"frame\":3,\"error\":\"unreadable\"}",
            "{\"image\":\"/d/still.jpg\",\"faces\":[\(face("1.5", "12", true))]}",
        ]
        let run = try runTool("records", ["faces-summary"], stdin: lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines, [
            "| video     | frames | with face | largest face (px, median) | crops | errors |",
            "|-----------|--------|-----------|---------------------------|-------|--------|",
            "| a.mp4     | 4      | 2 (50%)   | 40                        | 2     | 1      |",
            "| still.jpg | 1      | 1 (100%)  | 10.5                      | 1     | 0      |",
            "frame level: 5 sampled frames; records in <stdin>",
        ])
    }
}
