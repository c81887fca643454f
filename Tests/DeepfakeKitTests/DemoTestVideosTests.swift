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
        let methods = try runTool("/usr/bin/python3", base + ["--target", "a=\(still)", "--source", "b=\(still)", "--source", "c=\(still)",
                                                              "--methods", "face-swap,morph"])
        XCTAssertEqual(methods.status, 1)
        XCTAssertTrue(methods.stderr.contains("bad --methods"), methods.stderr)
        let codecs = try runTool("/usr/bin/python3", base + ["--target", "a=\(still)", "--source", "b=\(still)", "--source", "c=\(still)",
                                                             "--codecs", "avi,mkv"])
        XCTAssertEqual(codecs.status, 1)
        XCTAssertTrue(codecs.stderr.contains("bad --codecs"), codecs.stderr)
        let noDriver = try runTool("/usr/bin/python3", base + ["--target", "a=\(still)", "--source", "b=\(still)", "--source", "c=\(still)",
                                                               "--methods", "reenact"])
        XCTAssertEqual(noDriver.status, 1)
        XCTAssertTrue(noDriver.stderr.contains("reenact needs a driving video"), noDriver.stderr)
        for r in [missing, malformed, oneSource, methods, codecs, noDriver] { XCTAssertEqual(r.stderrLines.count, 1, r.stderr) }
    }
}
