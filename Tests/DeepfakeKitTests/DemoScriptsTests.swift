// The demo's helper scripts (pipelines/demo.mk): one record per face, and the held-out test videos' refusals.
import DFKRecords
import Foundation
import XCTest

final class DemoScriptsTests: XCTestCase {
    func script(_ name: String) -> String { Fixtures.repo.appendingPathComponent("scripts/" + name).path }

    func testSplitFacesGivesEveryFaceItsOwnRecordAndNamesABadLine() throws {
        let face = { (x: Int) in "{\"box\":[\(x),0,\(x + 10),10],\"landmarks\":[]}" }
        let input = "{\"image\":\"g.jpg\",\"keep\":1,\"faces\":[\(face(0)),\(face(50))]}\n{\"image\":\"s.jpg\",\"faces\":[\(face(5))]}\n"
        let run = try runTool("/usr/bin/python3", [script("split_faces.py")], stdin: input)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 3)
        let first = try XCTUnwrap(try JSON.parse(Array(run.lines[0].utf8)).objectValue)
        XCTAssertEqual(first["id"], .string("g.jpg#face0"))
        XCTAssertEqual(first["keep"], .int(1))   // other fields pass through
        XCTAssertEqual(first["faces"]?.arrayValue?.count, 1)
        XCTAssertTrue(run.lines[1].contains("\"id\":\"g.jpg#face1\""), run.lines[1])
        XCTAssertTrue(run.lines.allSatisfy { $0.contains("\"faces\":[{") })   // compact, as the demo's face filter expects
        XCTAssertEqual(run.lines[2], "{\"image\":\"s.jpg\",\"faces\":[\(face(5))]}")   // one face: unchanged
        let bad = try runTool("/usr/bin/python3", [script("split_faces.py")], stdin: input + "{oops\n")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("stdin:3: not a JSON record"), bad.stderr)
    }

    func testDemoTestVideosRefusesBadTargetsInOneLine() throws {
        let dir = Fixtures.tempDir("demo-test-videos")
        let still = try Fixtures.media("15-f13-anc-ph.jpg")
        let base = [script("demo_test_videos.py"), "--out", dir, "--bin", Fixtures.products.path]
        let missing = try runTool("/usr/bin/python3", base + ["--target", "a=\(dir)/none.mp4", "--source", "b=\(still)", "--source", "c=\(still)"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.mp4: no such file"), missing.stderr)
        let malformed = try runTool("/usr/bin/python3", base + ["--target", "a:\(still)", "--source", "b=\(still)", "--source", "c=\(still)"])
        XCTAssertEqual(malformed.status, 1)
        XCTAssertTrue(malformed.stderr.contains("bad --target"), malformed.stderr)
        let oneSource = try runTool("/usr/bin/python3", base + ["--target", "a=\(still)", "--source", "b=\(still)"])
        XCTAssertEqual(oneSource.status, 1)
        XCTAssertTrue(oneSource.stderr.contains("at least two --source identities"), oneSource.stderr)
        for r in [missing, malformed, oneSource] { XCTAssertEqual(r.stderrLines.count, 1, r.stderr) }
    }
}
