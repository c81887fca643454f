// The method demos (pipelines/demo-recipe.mk, demo-prle.mk) as `make -n` would run them, and the comparison table
// (scripts/demo_compare.py): every network starts from ImageNet weights, each row beside its baseline trained the same
// way, run folders keyed by the settings that change a run, and the paired interval computed on matched videos.
import Foundation
import XCTest

final class DemoPipelineTests: XCTestCase {
    /// An empty stand-in for the demo set (make -n only checks that the files exist).
    func fakeSet() throws -> String {
        let dir = Fixtures.tempDir("demo-pipeline-set")
        for f in ["train", "val", "test-videos"] { FileManager.default.createFile(atPath: "\(dir)/\(f).ndjson", contents: Data()) }
        return dir
    }

    func dryRun(_ file: String, _ args: [String]) throws -> ToolRun {
        try runTool("/usr/bin/make", ["-C", Fixtures.repo.path, "--no-print-directory", "-n", "-f", file, "BIN=\(Fixtures.products.path)",
                                      "SET=\(try fakeSet())", "RUNS=/tmp/dfk-demo-runs-test"] + args)
    }

    /// The `train` commands of a dry run, continuation lines joined, as token lists.
    func trainCommands(_ run: ToolRun) -> [[String]] {
        run.stdout.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n")
            .flatMap { $0.split(separator: ";") }
            .map { $0.split(separator: " ").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "'")) } }
            .filter { $0.first?.hasSuffix("/train") ?? false }
    }

    func value(_ cmd: [String], _ flag: String) -> String? { cmd.firstIndex(of: flag).flatMap { $0 + 1 < cmd.count ? cmd[$0 + 1] : nil } }

    func testEveryRecipeDemoStartsFromImageNetBesideItsBaseline() throws {
        for (recipe, rows) in [("erm", ["erm"]), ("pim", ["pim+erm", "pim"]), ("roga", ["roga+erm", "roga"]), ("did", ["did+erm", "did"]),
                               ("pim-sbi", ["pim+erm", "pim", "pim-sbi+erm", "pim-sbi"])] {
            let run = try dryRun("pipelines/demo-recipe.mk", ["RECIPE=\(recipe)"])
            XCTAssertEqual(run.status, 0, "\(recipe): \(run.stderr)")
            let cmds = trainCommands(run)
            XCTAssertEqual(cmds.count, rows.count, "\(recipe): \(run.stdout)")
            for (cmd, row) in zip(cmds, rows) {
                let base = String(row.split(separator: "+")[0])
                XCTAssertEqual(value(cmd, "--recipe"), base)
                XCTAssertEqual(value(cmd, "--pretrained"), ".cache/models/efficientnet-lite0-57934424.pth", "\(row): not from ImageNet")
                XCTAssertFalse(cmd.contains("--from-scratch"), row)
                XCTAssertEqual(cmd.contains("step.name=erm"), row.hasSuffix("+erm"), "\(row): the baseline differs by the step alone")
                XCTAssertEqual(value(cmd, "--out"), "/tmp/dfk-demo-runs-test/\(row)/efficientnet-lite0-224px-b16-e12-s5/model")
                // Same settings for every row of a table.
                for flag in ["--epochs", "--size", "--batch", "--seed", "--optimizer", "--lr", "--backbone"] {
                    XCTAssertEqual(value(cmd, flag), value(cmds[0], flag), "\(row): \(flag)")
                }
            }
            XCTAssertTrue(run.stdout.contains("scripts/demo_compare.py"), recipe)
        }
    }

    func testChangingASettingStartsAnotherRunFolder() throws {
        let one = trainCommands(try dryRun("pipelines/demo-recipe.mk", ["RECIPE=erm", "EPOCHS=1"]))
        let three = trainCommands(try dryRun("pipelines/demo-recipe.mk", ["RECIPE=erm", "EPOCHS=3", "SEED=6"]))
        XCTAssertEqual(one.first.flatMap { value($0, "--out") }, "/tmp/dfk-demo-runs-test/erm/efficientnet-lite0-224px-b16-e1-s5/model")
        XCTAssertEqual(three.first.flatMap { value($0, "--out") }, "/tmp/dfk-demo-runs-test/erm/efficientnet-lite0-224px-b16-e3-s6/model")
    }

    func testABackboneWithoutShippedWeightsIsRefused() throws {
        let run = try dryRun("pipelines/demo-recipe.mk", ["RECIPE=erm", "BACKBONE=resnet18"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("BACKBONE=resnet18 has no ImageNet weights that make setup fetches"), run.stderr)
    }

    func testPRLEDemoZooAndRowsStartFromImageNet() throws {
        let run = try dryRun("pipelines/demo-prle.mk", [])
        XCTAssertEqual(run.status, 0, run.stderr)
        let cmds = trainCommands(run)
        XCTAssertEqual(cmds.count, 5, run.stdout)   // three zoo members, the baseline, PRLE
        let weights = Set(cmds.compactMap { value($0, "--pretrained") })
        XCTAssertEqual(weights, [".cache/models/efficientnet-lite0-57934424.pth", ".cache/models/efficientnet-lite1-77cc7160.pth",
                                 ".cache/models/efficientnet-lite2-9656183e.pth"])
        XCTAssertFalse(cmds.contains { $0.contains("--from-scratch") })
        XCTAssertTrue(cmds.contains { $0.contains("prle.enabled=false") }, "the baseline row is PRLE with the masking off")
    }

    func testPairedDifferenceIsComputedOnMatchedVideos() throws {
        let dir = Fixtures.tempDir("demo-compare")
        // 6 real and 6 fake videos: the baseline ranks them at random, the other row perfectly.
        func write(_ name: String, _ score: (Int, Int) -> Double) throws -> String {
            var lines: [String] = []
            for k in 0..<12 {
                let label = k < 6 ? 0 : 1
                lines.append("{\"video\":\"v\(k).avi\",\"label\":\(label),\"method\":\"\(label == 0 ? "real" : "blend")\",\"score\":\(score(k, label))}")
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: "\(dir)/\(name).ndjson", atomically: true, encoding: .utf8)
            let m = try runTool("metrics", ["--per-method", "--bootstrap", "200", "--csv", "\(dir)/\(name).csv", "\(dir)/\(name).ndjson"])
            XCTAssertEqual(m.status, 0, m.stderr)
            return "\(name)|\(dir)/\(name).ndjson|\(dir)/\(name).csv"
        }
        let base = try write("base") { k, _ in [0.2, 0.7, 0.4, 0.9, 0.1, 0.6, 0.3, 0.8, 0.5, 0.65, 0.35, 0.75][k] }
        let good = try write("good") { _, label in label == 0 ? 0.2 : 0.8 }
        let run = try runTool("/usr/bin/python3", [Fixtures.repo.appendingPathComponent("scripts/demo_compare.py").path,
                                                   "--row", base, "--row", good, "--row", base.replacingOccurrences(of: "base|", with: "same|"),
                                                   "--bootstrap", "500"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("Test: 12 videos"), run.stdout)
        let rows = run.lines.filter { $0.hasPrefix("| good") || $0.hasPrefix("| same") }
        XCTAssertEqual(rows.count, 2, run.stdout)
        XCTAssertTrue(rows[0].contains("| 100.00 ["), rows[0])
        XCTAssertTrue(rows[0].contains("(above)"), rows[0])
        XCTAssertTrue(rows[1].contains("+0.00 [+0.00, +0.00] (within noise)"), rows[1])
        let bad = try runTool("/usr/bin/python3", [Fixtures.repo.appendingPathComponent("scripts/demo_compare.py").path, "--row", "x|y"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("bad --row"), bad.stderr)
    }
}
