// The training-method registry: every method registered by its file alone (the RegisterMethods plugin's generator
// on a new file), one field table from the methods' sections, rules checked when a recipe loads (so --print-recipe
// refuses what train would), capabilities enforced, and recipes of older versions still read.
import DFKModels
import DFKRecords
@testable import DFKTrain
import Foundation
import XCTest

final class MethodRegistryTests: XCTestCase {
    func testEveryMethodIsRegisteredWithItsRoleAndSections() throws {
        let steps = TrainingMethods.all.filter { $0.role == .step }.map { $0.name }
        let addOns = TrainingMethods.all.filter { $0.role == .addOn }.map { $0.name }
        XCTAssertEqual(steps, ["did", "dualflat", "erm", "pim", "roga", "sagm", "sam"])
        XCTAssertEqual(addOns, ["nrs", "prle"])
        XCTAssertEqual(TrainingMethods.stepNames, steps)
        for m in TrainingMethods.all { XCTAssertFalse(m.summary.isEmpty, m.name) }
        // One field per path; every registered section's fields are in the recipe's table.
        let paths = Recipe.fields.map(\.path)
        XCTAssertEqual(Set(paths).count, paths.count)
        for m in TrainingMethods.all {
            for s in m.sections {
                XCTAssertFalse(s.recipeFields.isEmpty, s.key)
                for f in s.recipeFields { XCTAssertTrue(paths.contains(f.path) && f.path.hasPrefix(s.key + "."), "\(m.name): \(f.path)") }
            }
        }
        XCTAssertTrue(paths.contains("sam.rho") && paths.contains("did.lr_scale") && paths.contains("nrs.enabled"))
        // Only the fp16-safe steps scale losses; RoGA and SAGM alone refuse per-sample weights.
        XCTAssertEqual(TrainingMethods.all.filter { $0.capabilities.contains(.lossScaling) }.map { $0.name }, ["erm", "sam"])
        XCTAssertEqual(TrainingMethods.all.filter { $0.role == .step && !$0.capabilities.contains(.perSampleWeights) }.map { $0.name },
                       ["did", "roga", "sagm"])
    }

    /// The plugin's generator lists every TrainingMethod type of the sources it is given: a new file is a new method.
    func testANewFileIsANewMethod() throws {
        let dir = Fixtures.tempDir()
        try """
        // a new method in its own file
        public enum MyNewMethod: TrainingMethod {
            public static let name = "mine"
        }
        struct NotAMethod: RecipeSection {}
        """.write(toFile: dir + "/Mine.swift", atomically: true, encoding: .utf8)
        let sources = Fixtures.repo.appendingPathComponent("Sources/DFKTrain")
        let files = try FileManager.default.subpathsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".swift") }
            .map { sources.appendingPathComponent($0).path }
        let out = dir + "/Registered.swift"
        let run = try runTool("register-methods", [out] + files + [dir + "/Mine.swift"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        for name in ["DIDMethod", "DualFlatMethod", "ERMMethod", "NRSMethod", "PIMMethod", "PRLEMethod", "RoGAMethod", "SAGMMethod",
                     "SAMMethod", "MyNewMethod"] {
            XCTAssertTrue(text.contains("        \(name).self,"), "\(name) missing from\n\(text)")
        }
        XCTAssertFalse(text.contains("NotAMethod"))
        // Without the file, the list is exactly what the target registers.
        let again = try runTool("register-methods", [out] + files)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(try String(contentsOfFile: out, encoding: .utf8).contains("MyNewMethod"))
    }

    /// Method rules run when the recipe resolves: --print-recipe refuses them, in one line naming the rule.
    func testPrintRecipeRefusesWhatTrainRefuses() throws {
        let cases: [([String], String)] = [
            (["--recipe", "pim", "--backbone", "resnet18", "--set", "pim.taps=stem,nowhere"], "nowhere not a stage of resnet18"),
            (["--recipe", "pim", "--set", "pim.taps=stem;layer1"], "pim.taps"),
            (["--recipe", "dualflat", "--set", "pim.alpha=0.8", "--set", "dualflat.beta=0.5"], "pim.alpha + dualflat.beta must be at most 1"),
            (["--recipe", "roga", "--nrs-start", "2"], "does not combine with nrs"),
            (["--recipe", "did", "--source", "pseudo-fakes", "--batch", "16"], "needs a domain per fake face"),
            (["--recipe", "sbi", "--set", "prle.enabled=true"], "needs labelled faces"),
            (["--recipe", "erm", "--step", "nope"], "'nope' is invalid"),
            (["--recipe", "erm", "--set", "step.name=nrs"], "'nrs' is not one of"),
        ]
        for (args, expected) in cases {
            let r = try runTool("train", args + ["--print-recipe"])
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), "\(args.joined(separator: " ")): \(r.stderr)")
        }
        // The step list of the error names every step method.
        let bad = try runTool("train", ["--step", "nope", "--print-recipe"])
        for s in TrainingMethods.stepNames { XCTAssertTrue(bad.stderr.contains(s), bad.stderr) }
        // A valid named tap list is accepted and printed as given.
        let ok = try runTool("train", ["--recipe", "pim", "--backbone", "resnet18", "--set", "pim.taps=stem, layer1", "--print-recipe"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("taps: \"stem,layer1\""), ok.stdout)
    }

    /// fp16 needs a step that applies loss scaling: the setup refuses the others before any training.
    func testFP16IsRefusedForStepsWithoutLossScaling() throws {
        var r = try Recipe.load("pim")
        r.backbone = "resnet18"; r.size = 32
        let face = Face(box: Box(left: 0, top: 0, right: 1, bottom: 1))
        let samples = [TrainSample(image: "a", face: face, label: 0), TrainSample(image: "b", face: face, label: 1, method: "x")]
        var fp16 = Execution.cpu
        fp16.precision = .fp16
        XCTAssertThrowsError(try TrainingSetup(recipe: r, seed: 1, train: samples, val: [], execution: fp16)) {
            XCTAssertTrue("\($0)".contains("step pim does not apply"), "\($0)")
        }
        r.method = "erm"
        XCTAssertNoThrow(try TrainingSetup(recipe: r, seed: 1, train: samples, val: []))
    }

    /// A recipe file or checkpoint of an older version (SAM's rho under `step:`) still reads, into `sam.rho`.
    func testOlderRecipeKeysStillRead() throws {
        let r = try Recipe.parse("base: sbi\nstep:\n  name: sam\n  rho: 0.07\n", source: "old.yaml")
        XCTAssertEqual(r[SAMOptions.self].rho, 0.07)
        XCTAssertTrue(r.yaml.contains("sam:\n  rho: 0.07"), r.yaml)
        var json = try Recipe.load("sbi").json
        json["sam.rho"] = nil
        json["step.rho"] = .double(0.03)
        XCTAssertEqual(try Recipe(json: json, source: "old checkpoint")[SAMOptions.self].rho, 0.03)
        // The resolved YAML groups every section once, and reads back to the same recipe.
        let full = try Recipe.load("bbmg-nrs")
        let sections = full.yaml.split(separator: "\n").filter { !$0.hasPrefix(" ") && !$0.hasPrefix("#") && $0.hasSuffix(":") }
        XCTAssertEqual(Set(sections).count, sections.count, full.yaml)
        XCTAssertEqual(try Recipe.parse(full.yaml, source: "resolved"), full)
    }
}
