// scripts/demo_test_videos.py, the demo's held-out face-swap test videos (pipelines/demo.mk): its refusals of bad targets.
import DFKRecords
import Foundation
import XCTest

final class DemoTestVideosTests: XCTestCase {
    func script(_ name: String) -> String { Fixtures.repo.appendingPathComponent("scripts/" + name).path }

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
