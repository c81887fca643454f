// The open training core: recipe files (round trip, inheritance, one-line errors), samplers (the balance they
// promise), the step protocol (NRS under SAM runs once per step, on the first pass), the schedule, the backbone
// registry's heads.
import DFKEval
import DFKModels
import DFKRecords
import DFKTensor
@testable import DFKTrain
import DFKImaging
import DFKSynthesis
import Foundation
import XCTest

final class RecipeFileTests: XCTestCase {
    func testShippedRecipesLoadAndRoundTrip() throws {
        XCTAssertEqual(Set(Recipe.shippedNames).intersection(["sbi", "bbmg-nrs", "cpu-demo", "erm"]).count, 4, "\(Recipe.shippedNames)")
        for name in Recipe.shippedNames {
            let r = try Recipe.load(name)
            XCTAssertEqual(r.name, name)
            // The resolved YAML is itself a recipe file that gives the same recipe.
            let again = try Recipe.parse(r.yaml, source: "resolved-\(name)")
            XCTAssertEqual(again, r, again.differences(from: r).joined(separator: "; "))
            // And so is the flat JSON stored in checkpoints.
            XCTAssertEqual(try Recipe(json: r.json, source: "json"), r)
        }
        let sbi = try Recipe.load("sbi"), nrs = try Recipe.load("bbmg-nrs"), erm = try Recipe.load("erm")
        XCTAssertEqual(sbi.method, "sam"); XCTAssertEqual(sbi.framesPerVideo, 8); XCTAssertEqual(sbi.size, 380)
        // bbmg-nrs extends sbi: same optimiser, its own mask and NRS.
        XCTAssertEqual(nrs.mask, .bbmg); XCTAssertTrue(nrs[NRSSettings.self].enabled); XCTAssertEqual(nrs[NRSSettings.self].options.startEpoch, 20)
        XCTAssertEqual(nrs.differences(from: sbi).count, 4, nrs.differences(from: sbi).joined(separator: "; "))
        XCTAssertEqual(erm.source, .labelled); XCTAssertEqual(erm.optimizer, .adam); XCTAssertEqual(erm.lr, 2e-4)
        XCTAssertEqual(erm.weightDecay, 5e-4); XCTAssertEqual(erm.size, 256); XCTAssertEqual(erm.epochs, 10); XCTAssertEqual(erm.framesPerVideo, 32)
    }

    func write(_ text: String, _ name: String = "r.yaml") throws -> String {
        let p = Fixtures.tempDir("recipe-\(name)") + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func assertError(_ text: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try write(text)
        XCTAssertThrowsError(try Recipe.load(p), file: file, line: line) { e in
            let m = "\(e)"
            XCTAssertFalse(m.contains("\n"), "not one line: \(m)", file: file, line: line)
            XCTAssertTrue(m.hasPrefix(p), m, file: file, line: line)
            for s in parts { XCTAssertTrue(m.contains(s), "'\(s)' not in: \(m)", file: file, line: line) }
        }
    }

    func testBadRecipeFilesGiveOneLineErrorsNamingFileLineAndKey() throws {
        try assertError("base: sbi\noptimizer:\n  lr: 0.1\n  lrr: 2\n", contains: [":4:", "optimizer.lrr", "known here", "lr"])
        try assertError("base: sbi\nepochs: ten\n", contains: [":2:", "epochs", "integer"])
        try assertError("base: sbi\ninput:\n  mean: 0.5\n", contains: [":3:", "input.mean", "list of 3"])
        try assertError("base: sbi\nstep:\n  name: adamw\n", contains: [":3:", "step.name", "did, dualflat, erm, pim, roga, sagm, sam"])
        try assertError("base: sbi\nbatch: 1\n", contains: [":2:", "batch", "at least 2"])
        try assertError("base: nope\n", contains: [":1:", "unknown recipe 'nope'"])
        try assertError("epochs: 3\nepochs: 4\n", contains: ["epochs"])
        try assertError("- a\n- b\n", contains: ["mapping"])
        try assertError("a: [\n", contains: [])
        XCTAssertThrowsError(try Recipe.load("no-such-recipe")) { XCTAssertTrue("\($0)".contains("shipped: "), "\($0)") }
        var r = try Recipe.load("sbi")
        XCTAssertThrowsError(try r.set("optimizer.lrr", "1", source: "--set optimizer.lrr")) { XCTAssertTrue("\($0)".contains("unknown recipe key"), "\($0)") }
        XCTAssertThrowsError(try r.set("optimizer.lr", "nan", source: "--set optimizer.lr")) { XCTAssertTrue("\($0)".contains("finite"), "\($0)") }
        XCTAssertThrowsError(try r.set("backbone", "resnet-9000", source: "--backbone")) { XCTAssertTrue("\($0)".contains("known: efficientnet-b0"), "\($0)") }
        try r.set("backbone", "efficientnet_b4", source: "--backbone")
        XCTAssertEqual(r.backbone, "efficientnet-b4", "aliases resolve to the canonical name (the run's identity)")
        try r.set("input.mean", "[0.5, 0.5, 0.5]", source: "--set")
        XCTAssertEqual(r.mean, [0.5, 0.5, 0.5])
    }

    func testTrainPrintsTheResolvedRecipeWithOverrides() throws {
        let run = try runTool("train", ["--recipe", "bbmg-nrs", "--print-recipe", "--epochs", "12", "--set", "optimizer.weight_decay=0.001"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let r = try Recipe.parse(run.stdout, source: "printed")
        XCTAssertEqual(r.epochs, 12); XCTAssertEqual(r.weightDecay, 0.001); XCTAssertEqual(r.mask, .bbmg)
        let bad = try runTool("train", ["--recipe", "sbi", "--print-recipe", "--set", "optimizer.lrr=1"])
        XCTAssertEqual(bad.status, 64); XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr); XCTAssertTrue(bad.stderr.contains("optimizer.lrr"))
        let badEnum = try runTool("train", ["--recipe", "sbi", "--print-recipe", "--mask", "round"])
        XCTAssertEqual(badEnum.status, 64); XCTAssertTrue(badEnum.stderr.contains("sbi"), badEnum.stderr)
        let file = try write("base: erm\nbackbone: resnet34\n", "mine.yaml")
        let own = try runTool("train", ["--recipe", file, "--print-recipe"])
        XCTAssertEqual(own.status, 0, own.stderr); XCTAssertTrue(own.stdout.contains("backbone: \"resnet34\""), own.stdout)
    }

    /// The linear decay follows the run's length: constant, then linear to 0 over the last quarter.
    func testScheduleFollowsTheRunsEpochs() throws {
        var r = try Recipe.load("sbi")
        r.epochs = 8
        let rates = (0..<8).map { r.lrSchedule.rate(base: r.lr, epoch: $0) }
        XCTAssertEqual(rates[0], 1e-3); XCTAssertEqual(rates[5], 1e-3)
        XCTAssertEqual(rates[6], 1e-3, accuracy: 1e-12); XCTAssertEqual(rates[7], 0.5e-3, accuracy: 1e-12)
        r.epochs = 100
        XCTAssertEqual(r.lrSchedule.rate(base: r.lr, epoch: 74), 1e-3); XCTAssertEqual(r.lrSchedule.rate(base: r.lr, epoch: 90), 1e-3 * 10 / 25, accuracy: 1e-12)
    }
}

final class SamplerTests: XCTestCase {
    static let face = Face(json: JSONObject([("box", .array([0, 0, 10, 10].map { .int($0) }))]))

    func samples(reals: Int, fakes: [String: Int], framesPerVideo: Int = 1) -> [TrainSample] {
        var s: [TrainSample] = []
        for v in 0..<reals { for f in 0..<framesPerVideo { s.append(TrainSample(image: "r\(v)_\(f).png", face: Self.face, video: "r\(v)", frame: f)) } }
        for (m, n) in fakes.sorted(by: { $0.key < $1.key }) {
            for v in 0..<n { for f in 0..<framesPerVideo { s.append(TrainSample(image: "\(m)\(v)_\(f).png", face: Self.face, label: 1, method: m, video: "\(m)\(v)", frame: f)) } }
        }
        return s
    }

    func recipe(_ sampler: Recipe.Sampler, batch: Int) -> Recipe {
        var r = Recipe(); r.source = .labelled; r.sampler = sampler; r.batch = batch; return r
    }

    func testLabelBalancedBatchesAreHalfRealHalfFake() {
        let s = samples(reals: 20, fakes: ["DF": 30, "F2F": 30, "FS": 20])   // 1 real : 4 fakes
        let plan = EpochPlan(recipe: recipe(.labelBalanced, batch: 16), seed: 1, samples: s)
        let batches = plan.batches(epoch: 0)
        XCTAssertEqual(batches.count, 80 / 8)
        var seenFakes = Set<Int>()
        for b in batches {
            let idx = b.map { if case .single(let i) = $0 { return i }; return -1 }
            XCTAssertEqual(idx.filter { s[$0].label == 0 }.count, 8)
            XCTAssertEqual(idx.filter { s[$0].label == 1 }.count, 8)
            seenFakes.formUnion(idx.filter { s[$0].label == 1 })
        }
        XCTAssertEqual(seenFakes.count, 80, "an epoch covers every fake once")
        XCTAssertEqual(plan.batches(epoch: 0), batches, "deterministic")
        XCTAssertNotEqual(plan.batches(epoch: 1), batches, "reshuffled each epoch")
        // Shuffle keeps the data's own ratio.
        let plain = EpochPlan(recipe: recipe(.shuffle, batch: 16), seed: 1, samples: s).batches(epoch: 0)
        XCTAssertEqual(plain.count, 100 / 16)
    }

    func testDomainBalancedBatchesHaveOneSubBatchPerMethodWithSharedReals() {
        let s = samples(reals: 10, fakes: ["DF": 12, "F2F": 12, "FS": 12, "NT": 6])
        let plan = EpochPlan(recipe: recipe(.domainBalanced, batch: 20), seed: 2, samples: s)
        XCTAssertEqual(plan.domains, ["real": 0, "DF": 1, "F2F": 2, "FS": 3, "NT": 4])
        let batches = plan.batches(epoch: 3)
        XCTAssertEqual(batches.count, 12 / 4)
        for b in batches {
            let idx = b.map { if case .single(let i) = $0 { return i }; return -1 }
            XCTAssertEqual(idx.count, 20)
            XCTAssertEqual(idx.filter { s[$0].label == 0 }.count, 4)
            for m in ["DF", "F2F", "FS", "NT"] { XCTAssertEqual(idx.filter { s[$0].method == m }.count, 4, m) }
        }
    }

    func testFramesPerVideoEvenOrRandomEachEpoch() {
        var r = recipe(.shuffle, batch: 2)
        r.framesPerVideo = 3; r.frameSelection = .random
        let s = samples(reals: 4, fakes: ["DF": 4], framesPerVideo: 10)
        let plan = EpochPlan(recipe: r, seed: 7, samples: s)
        func used(_ e: Int) -> [Int] { plan.batches(epoch: e).flatMap { $0 }.map { if case .single(let i) = $0 { return i }; return -1 }.sorted() }
        XCTAssertEqual(used(0).count, 8 * 3)
        for v in Set(s.map(\.video)) { XCTAssertEqual(used(0).filter { s[$0].video == v }.count, 3) }
        XCTAssertNotEqual(used(0), used(1), "other frames next epoch")
        XCTAssertEqual(used(1), used(1))
        XCTAssertEqual(TrainSample.evenFrames(s, perVideo: 3).filter { $0.video == "r0" }.map(\.frame), [0, 4, 9])
    }

    func testPairsAndBothSources() {
        var r = Recipe(); r.batch = 8
        let s = samples(reals: 9, fakes: ["DF": 9])
        let pairs = EpochPlan(recipe: r, seed: 1, samples: s).batches(epoch: 0)
        XCTAssertEqual(pairs.count, 2)   // 9 reals, 4 per batch, drop-last
        XCTAssertTrue(pairs.joined().allSatisfy { if case .pair(let i) = $0 { return s[i].label == 0 }; return false })
        r.source = .both
        let both = EpochPlan(recipe: r, seed: 1, samples: s).batches(epoch: 0)
        for b in both {
            XCTAssertEqual(b.filter { if case .pair = $0 { return true }; return false }.count, 2)
            XCTAssertEqual(b.filter { if case .single = $0 { return true }; return false }.count, 4)
        }
    }

    /// A real-faces-only recipe never turns a fake record into a "real" face for its pseudo-fakes.
    func testPseudoFakeRecipesTakeOnlyRealRecords() {
        func rec(_ label: Int?) -> (source: String, record: Record) {
            var r = Record(); r.image = "x.png"; r.label = label
            r.faces = [Face(json: JSONObject([("box", .array([0, 0, 10, 10].map { .int($0) })),
                                              ("landmarks", .array((0..<68).map { _ in .array([.int(1), .int(2)]) }))]))]
            return ("t", r)
        }
        let loaded = TrainSample.from(records: [rec(0), rec(1), rec(nil), rec(1)], labelled: false)
        XCTAssertEqual(loaded.samples.count, 2); XCTAssertEqual(loaded.fakesIgnored, 2)
        let labelled = TrainSample.from(records: [rec(0), rec(1), rec(nil)], labelled: true)
        XCTAssertEqual(labelled.samples.map(\.label), [0, 1]); XCTAssertEqual(labelled.problems.count, 1)
    }

    /// Draws are keyed on the record's identity, never on where the frames were written.
    func testIdentityIgnoresOutputPaths() {
        let a = TrainSample.identity(video: "data/v.mp4", image: "/tmp/clone-a/out/frames/v-1234/000003.png", frame: 3, faceIndex: 0)
        let b = TrainSample.identity(video: "data/v.mp4", image: "/home/x/clone-b/out/frames/v-9876/000003.png", frame: 3, faceIndex: 0)
        XCTAssertEqual(a, b)
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertEqual(TrainSample.identity(video: cwd + "/data/v.mp4", image: "x", frame: 3, faceIndex: 0), a)
    }
}

final class StepProtocolTests: XCTestCase {
    /// Counts what the core asks of a hook, and checks which pass it sees.
    final class Probe: TrainingHook {
        let name = "probe"
        var weightCalls = 0, afterCalls = 0, transformPasses: [Int] = [], afterPass = -1
        var taps: Set<String> { ["features", "stem"] }
        func transform(tap: String, _ t: Tensor, pass: Int, ctx: StepContext) throws -> Tensor {
            if tap == "stem" { transformPasses.append(pass) }
            return t
        }
        func weights(_ f: ForwardPass, _ b: Batch, ctx: StepContext) throws -> [Float]? {
            weightCalls += 1
            XCTAssertNotNil(f.taps["features"])
            return [Float](repeating: 1, count: b.count)
        }
        func afterStep(_ first: ForwardPass, _ b: Batch, ctx: StepContext) throws { afterCalls += 1; afterPass = first.index }
    }

    func testSAMRunsTwoPassesButHooksWeighAndCollectOnceFromTheFirst() throws {
        Init.reset(seed: 1)
        let model = try Backbone.make("efficientnet-lite0", classes: 1000, imageSize: 32)
        try model.replaceHead(classes: 2)
        XCTAssertEqual(try model(try Tensor.zeros([1, 3, 32, 32])).shape, [1, 2])
        let opt = try SGD(model.module.parameters, lr: 0.01, momentum: 0.9)
        let probe = Probe()
        let ctx = StepContext(model: model, optimizer: opt, hooks: [probe])
        let b = Batch(input: try Tensor.randn([4, 3, 32, 32], seed: 3), target: try Tensor(int64: [0, 0, 1, 1], shape: [4]),
                      labels: [0, 0, 1, 1], domains: [0, 0, 1, 1], isPseudoFake: [false, false, true, true], samples: [0, 1, 0, 1])
        let sam = SAMStep(optimizer: opt, rho: 0.05)
        ctx.beginStep()
        _ = try sam.step(b, ctx)
        XCTAssertEqual(ctx.passes, 2)
        XCTAssertEqual(probe.transformPasses, [0, 1])
        XCTAssertEqual(probe.weightCalls, 1, "weights are decided once per step, on the first pass")
        try probe.afterStep(ctx.firstPass!, b, ctx: ctx)
        XCTAssertEqual(probe.afterPass, 0, "hooks collect from the unperturbed pass")
    }

    func testEveryRegisteredBackboneHasAReplaceableHead() throws {
        XCTAssertThrowsError(try Backbone.make("resnet-9000", classes: 2)) { e in
            XCTAssertTrue("\(e)".contains("known: "), "\(e)"); XCTAssertTrue("\(e)".contains("xception"), "\(e)")
        }
        for name in ["efficientnet-lite0", "resnet18"] {
            let b = try Backbone.make(name, classes: 1000, imageSize: 64)
            try b.replaceHead(classes: 2)
            XCTAssertEqual(try Autograd.noGrad { try b(try Tensor.zeros([1, 3, 64, 64])) }.shape, [1, 2], name)
            XCTAssertFalse(b.stageTaps.isEmpty)
            var seen: [String] = []
            _ = try Autograd.noGrad { try b.forward(try Tensor.zeros([1, 3, 64, 64])) { n, t in seen.append(n); return t } }
            XCTAssertEqual(Array(seen.prefix(b.stageTaps.count)), b.stageTaps, name)
            XCTAssertTrue(seen.contains(b.mapTap)); XCTAssertEqual(seen.last, "features")
        }
    }
}

final class TrainTransformTests: XCTestCase {
    /// The recipe's `data.augment` reaches the images: none adds no transform, deepfakebench changes them.
    func testRecipeAugmentationIsAppliedToTrainingImages() throws {
        XCTAssertNil(AugmentTransform(.none))
        let t = try XCTUnwrap(AugmentTransform(.deepfakebench))
        let img = try Image.read(try Fixtures.media("single_face.jpg")).resized(width: 64, height: 64, interpolation: .linear)
        let s = TrainSample(image: "x.png", face: SamplerTests.face)
        var changed = 0
        for k in 0..<8 {
            var rng = SampleRNG(seed: 1, key: "k\(k)")
            let out = try t.apply(img, sample: s, rng: &rng)
            if try out.withBytes({ Array($0) }) != (try img.withBytes { Array($0) }) { changed += 1 }
        }
        XCTAssertGreaterThan(changed, 4)
    }
}

// docs/training.md's worked example, verbatim: if it stops compiling or working, this test says so.
final class StatsPerturbation: TrainingHook {
    let name = "stats"
    let stage: String            // e.g. backbone.stageTaps[1]
    var delta: Tensor?           // [C], set by the step between passes
    init(stage: String) { self.stage = stage }
    var taps: Set<String> { [stage] }
    func transform(tap: String, _ t: Tensor, pass: Int, ctx: StepContext) throws -> Tensor {
        guard pass == 1, let d = delta else { return t }
        return try t * (try d.reshape([1, d.shape[0], 1, 1]) + 1)
    }
}

final class TwoPassStep: TrainingStep {
    let name = "two-pass"
    let hook: StatsPerturbation
    let scale: Double
    init(hook: StatsPerturbation, scale: Double = 0.1) { self.hook = hook; self.scale = scale }
    func step(_ b: Batch, _ ctx: StepContext) throws -> Double {
        ctx.optimizer.zeroGrad()
        let clean = try ctx.loss(try ctx.forward(b), b)        // pass 0: decides per-sample weights
        try (clean * 0.5).backward()
        hook.delta = try Tensor.randn([ctx.firstPass!.taps[hook.stage]!.shape[1]], seed: 1) * scale
        let perturbed = try ctx.loss(try ctx.forward(b), b)    // pass 1: the hook perturbs the stage
        try (perturbed * 0.5).backward()                       // gradients accumulate: the average
        hook.delta = nil
        try ctx.optimizer.step()
        return try clean.item()
    }
}

/// The method's settings: recipe section `two_pass`.
struct TwoPassOptions: RecipeSection, Equatable {
    var scale = 0.1
    static let key = "two_pass"
    static let fields: [RecipeField<TwoPassOptions>] = [.double("scale", \.scale, min: 0)]
}

enum TwoPassMethod: TrainingMethod {
    static let name = "two-pass"                  // step.name: two-pass
    static let summary = "clean and stage-perturbed passes, gradients averaged"
    static let role = MethodRole.step
    static let sections: [any RecipeSection.Type] = [TwoPassOptions.self]
    static let capabilities: MethodCapabilities = [.perSampleWeights]
    static func validate(_ r: Recipe) throws {
        guard r[TwoPassOptions.self].scale <= 1 else { throw RecipeError("two_pass.scale must be at most 1") }
    }
    static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        let hook = StatsPerturbation(stage: c.model.stageTaps[1])
        return (TwoPassStep(hook: hook, scale: c.recipe[TwoPassOptions.self].scale), [hook])
    }
}

final class WorkedExampleTests: XCTestCase {
    func testTheDocumentedTwoPassObjectiveTrains() throws {
        Init.reset(seed: 2)
        let model = try Backbone.make("resnet18", classes: 1000, imageSize: 32)
        try model.replaceHead(classes: 2)
        let hook = StatsPerturbation(stage: model.stageTaps[1])
        let opt = try SGD(model.module.parameters, lr: 0.05)
        let ctx = StepContext(model: model, optimizer: opt, hooks: [hook])
        let b = Batch(input: try Tensor.randn([4, 3, 32, 32], seed: 5), target: try Tensor(int64: [0, 1, 0, 1], shape: [4]),
                      labels: [0, 1, 0, 1], domains: [0, 1, 0, 1], isPseudoFake: [false, false, false, false], samples: [0, 1, 2, 3])
        let before = try model.module.parameters[0].floats()
        ctx.beginStep()
        let loss = try TwoPassStep(hook: hook).step(b, ctx)
        XCTAssertTrue(loss.isFinite)
        XCTAssertEqual(ctx.passes, 2)
        XCTAssertNotEqual(try model.module.parameters[0].floats(), before)
        XCTAssertNil(hook.delta)
    }

    /// The method type builds the step from its section, and its rules refuse a bad value. (In the package it would
    /// be registered by its file alone: MethodRegistryTests shows the plugin finding a new file's method.)
    func testTheDocumentedMethodBuildsItsStepFromItsSection() throws {
        Init.reset(seed: 2)
        let model = try Backbone.make("resnet18", classes: 2, imageSize: 32)
        var r = Recipe()
        r[TwoPassOptions.self].scale = 0.2
        let c = MethodContext(recipe: r, model: model, seed: 2, domains: 2, samples: [], data: [:])
        let (step, hooks) = try TwoPassMethod.makeStep(c, optimizer: try SGD(model.module.parameters, lr: 0.05), prepared: MethodParts())
        XCTAssertEqual((step as? TwoPassStep)?.scale, 0.2)
        XCTAssertEqual(hooks.map(\.name), ["stats"])
        r[TwoPassOptions.self].scale = 2
        XCTAssertThrowsError(try TwoPassMethod.validate(r))
        // Its fields read and write the section through the recipe, as a registered method's do.
        let fields = TwoPassOptions.recipeFields
        XCTAssertEqual(fields.map(\.path), ["two_pass.scale"])
        XCTAssertThrowsError(try fields[0].assign(&r, try fields[0].kind.read(Scalar(text: "-1", list: nil))))
        try fields[0].assign(&r, try fields[0].kind.read(Scalar(text: "0.5", list: nil)))
        XCTAssertEqual(r[TwoPassOptions.self].scale, 0.5)
    }
}

final class ParameterGroupTests: XCTestCase {
    /// Param groups train with their own learning rate (a schedule scales each group's initial rate), and their
    /// state, numbered across groups as torch.optim's state_dict does, round-trips through a checkpoint; state written
    /// per group by older versions ("g1.0...") is read too.
    func testParamGroupsTrainAtTheirOwnRatesAndTheirStateRoundTrips() throws {
        let a = try Tensor([1, 1] as [Float], shape: [2]).requiresGrad(), b = try Tensor([1, 1] as [Float], shape: [2]).requiresGrad()
        func make() throws -> SGD { try SGD([ParamGroup("a", [a], lr: 0.1), ParamGroup("b", [b], lr: 0.01)], momentum: 0.9) }
        let g = try make()
        g.schedule(.step(every: 1, gamma: 2), epoch: 1)
        XCTAssertEqual(g.groups[0].lr, 0.2, accuracy: 1e-12); XCTAssertEqual(g.groups[1].lr, 0.02, accuracy: 1e-12)
        try ((a * b).sum()).backward()
        try g.step()
        XCTAssertEqual(try a.floats(), [0.8, 0.8])
        XCTAssertEqual(try b.floats()[0], 0.98, accuracy: 1e-6)
        let state = try g.state()
        XCTAssertEqual(state.map(\.0).sorted(), ["0.momentum_buffer", "1.momentum_buffer"])
        let fresh = try make()
        try fresh.loadState(state)
        XCTAssertEqual(try fresh.state().map { try $0.1.floats() }, try state.map { try $0.1.floats() })
        let legacy = try make()
        try legacy.loadState([("g0.0.momentum_buffer", state[0].1), ("g1.0.momentum_buffer", state[1].1)])
        XCTAssertEqual(try legacy.state().map { try $0.1.floats() }, try state.map { try $0.1.floats() })
    }

    /// Construction checks what torch.optim checks, each refusal naming what is wrong.
    func testOptimizersRefuseBadGroupsAtConstruction() throws {
        let a = try Tensor([1, 1] as [Float], shape: [2]).requiresGrad()
        func refuses(_ what: String, _ make: () throws -> Optimizer) {
            XCTAssertThrowsError(try make()) { XCTAssertTrue("\($0)".contains(what), "\($0)") }
        }
        refuses("empty parameter list") { try SGD([], lr: 0.1) }
        refuses("invalid learning rate") { try SGD([a], lr: -1) }
        refuses("invalid learning rate") { try Adam([a], lr: .nan) }
        refuses("invalid momentum") { try SGD([a], lr: 0.1, momentum: -0.5) }
        refuses("invalid weight decay") { try SGD([a], lr: 0.1, weightDecay: -1) }
        refuses("Nesterov") { try SGD([a], lr: 0.1, nesterov: true) }
        refuses("invalid betas") { try Adam([a], betas: (0.9, 1.0)) }
        refuses("more than one parameter group") { try SGD([ParamGroup("x", [a], lr: 0.1), ParamGroup("y", [a], lr: 0.1)]) }
        // State for a parameter the optimizer does not have, or of the wrong shape, is refused.
        let opt = try SGD([a], lr: 0.1, momentum: 0.9)
        XCTAssertThrowsError(try opt.loadState([("3.momentum_buffer", try Tensor([0, 0] as [Float], shape: [2]))]))
        XCTAssertThrowsError(try opt.loadState([("0.momentum_buffer", try Tensor([0] as [Float], shape: [1]))]))
    }
}
