// CrossDF / DID (crossdf-deep-information-decomposition.txt): gradient reversal and its beta schedule, the JSD
// bound, the AUC loss, the step, and the inference path G -> A_df -> C through a checkpoint.
import DFKDetect
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
@testable import DFKTrain
import Foundation
import XCTest

final class DIDTests: XCTestCase {
    func testGradientReversalFlipsAndScalesByBeta() throws {
        XCTAssertEqual(DID.beta(epoch: 0, epochs: 20), 0)
        XCTAssertEqual(DID.beta(epoch: 10, epochs: 20), 2 / (1 + exp(-2.5)) - 1, accuracy: 1e-12)
        let betas = (0..<20).map { DID.beta(epoch: $0, epochs: 20) }
        XCTAssertEqual(betas, betas.sorted())
        XCTAssertLessThan(betas.last!, 1)
        for beta in [0.0, 0.3, betas[7]] {
            let x = try Tensor.randn([2, 3, 2, 2], seed: 4).to(.float64).requiresGrad()
            let w = try Tensor.randn([2, 3, 2, 2], seed: 5).to(.float64)
            let y = try F.gradientReversal(x, alpha: beta)
            XCTAssertEqual(try y.doubles(), try x.doubles())   // identity forward
            try (try y * w).sum().backward()
            let g = try x.grad!.doubles(), expected = try w.doubles().map { -beta * $0 }
            for (a, b) in zip(g, expected) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        }
        // Through T: the features' gradient of the decorrelation loss is -beta times the unreversed one, while
        // T's own gradient is unchanged.
        Init.reset(seed: 3)
        let t = try MIEstimator(channels: 2, width: 4)
        func grads(_ beta: Double?) throws -> ([Float], [Float]) {
            try Autograd.noGrad { for p in t.parameters { if let g = p.grad { try g.copyInPlace(try Tensor.zeros(g.shape)) } } }
            let df = try Tensor.randn([3, 2, 3, 3], seed: 8).requiresGrad(), os = try Tensor.randn([3, 2, 3, 3], seed: 9)
            let a = try beta.map { try F.gradientReversal(df, alpha: $0) } ?? df
            let perm = try Tensor(int64: [1, 2, 0], shape: [3])
            try (-(try DID.jsdBound(joint: try t(a, os), marginal: try t(a, try os.indexSelect(0, perm))))).backward()
            return (try df.grad!.floats(), try t.parameters[0].grad!.floats())
        }
        let (plain, tPlain) = try grads(nil), (reversed, tReversed) = try grads(0.4)
        for (r, p) in zip(reversed, plain) { XCTAssertEqual(r, -0.4 * p, accuracy: 1e-6) }
        XCTAssertEqual(tReversed, tPlain)
        XCTAssertGreaterThan(plain.map(abs).max()!, 0)
        // The hook follows the schedule epoch by epoch.
        let hook = try DIDHook(options: DIDOptions(), model: try Backbone.make("resnet18", classes: 2), domains: 3, epochs: 20)
        try hook.beginEpoch(7)
        XCTAssertEqual(hook.beta, betas[7])
    }

    func testJSDBoundIsMaximalForASeparatingT() throws {
        func bound(_ j: [Float], _ m: [Float]) throws -> Double {
            try DID.jsdBound(joint: try Tensor(j, shape: [j.count]), marginal: try Tensor(m, shape: [m.count])).item()
        }
        let separating = try bound([12, 9, 15], [-10, -14, -9])
        let blind = try bound([0, 0, 0], [0, 0, 0])
        let partial = try bound([1, -0.5, 2], [0.5, -1, 0])
        let reversed = try bound([-10, -14, -9], [12, 9, 15])
        XCTAssertEqual(separating, 0, accuracy: 1e-3)
        XCTAssertEqual(blind, 2 * log(0.5), accuracy: 1e-6)
        XCTAssertLessThan(blind, separating)
        XCTAssertLessThan(partial, separating)
        XCTAssertLessThan(reversed, partial)
        // A T trained to maximise the bound on dependent pairs (I_os = I_df) approaches the maximum; on independent
        // pairs it cannot separate joint from marginal.
        func trained(dependent: Bool) throws -> Double {
            Init.reset(seed: 11)
            let t = try MIEstimator(channels: 2, width: 8)
            let opt = try Adam(t.parameters, lr: 1e-2, betas: (0.9, 0.999), weightDecay: 0)
            var last = 0.0
            for i in 0..<150 {
                let df = try Tensor.randn([16, 2, 2, 2], seed: UInt64(100 + i))
                let os = dependent ? df : try Tensor.randn([16, 2, 2, 2], seed: UInt64(900 + i))
                let perm = try Tensor(int64: DID.derangement(16, uniforms: (0..<16).map { Float(($0 * 7 + i) % 16) / 16 }).map(Int64.init), shape: [16])
                opt.zeroGrad()
                let b = try DID.jsdBound(joint: try t(df, os), marginal: try t(df, try os.indexSelect(0, perm)))
                try (-b).backward()
                try opt.step()
                last = try b.item()
            }
            return last
        }
        let dependent = try trained(dependent: true), independent = try trained(dependent: false)
        XCTAssertGreaterThan(dependent, -0.35)
        XCTAssertLessThan(independent, -1.0)
    }

    func testDerangementMovesEveryElement() {
        for n in 2...9 {
            let u = (0..<n).map { Float(($0 * 5 + n) % 11) / 11 }
            let p = DID.derangement(n, uniforms: u)
            XCTAssertEqual(p.sorted(), Array(0..<n))
            for i in 0..<n { XCTAssertNotEqual(p[i], i) }
        }
    }

    func testAUCLossByHand() throws {
        func loss(_ s: [Float], _ y: [Int], gamma: Double = 0.15, power: Double = 2) throws -> Double {
            try DID.aucLoss(try Tensor(s, shape: [s.count]).to(.float64), labels: y, gamma: gamma, power: power).item()
        }
        // Fakes 0.5, 0.1; reals 0.3, 0.0. Pairs (f - r): 0.2, 0.5, -0.2, 0.1 -> max(0, 0.15 - d)^2 = 0, 0, 0.1225, 0.0025.
        XCTAssertEqual(try loss([0.5, 0.3, 0.1, 0.0], [1, 0, 1, 0]), (0.1225 + 0.0025) / 4, accuracy: 1e-7)
        // p = 3, gamma = 0.5: (0.3)^3, 0, (0.7)^3, (0.4)^3 over 4.
        XCTAssertEqual(try loss([0.5, 0.3, 0.1, 0.0], [1, 0, 1, 0], gamma: 0.5, power: 3),
                       (0.027 + 0 + 0.343 + 0.064) / 4, accuracy: 1e-7)
        // Every fake above every real by at least gamma: 0.
        XCTAssertEqual(try loss([1.0, 0.5, 0.9, 0.25], [1, 0, 1, 0]), 0)
        // A batch without reals (or fakes): 0.
        XCTAssertEqual(try loss([0.1, 0.2], [1, 1]), 0)
        XCTAssertEqual(try loss([0.1, 0.2], [0, 0]), 0)
        // Fake logits of two-class logits are z1 - z0.
        let z = try Tensor([0.2, 1.0, 0.5, -0.5] as [Float], shape: [2, 2])
        let s = try DID.fakeLogit(z).floats()
        XCTAssertEqual(s[0], 0.8, accuracy: 1e-6); XCTAssertEqual(s[1], -1.0, accuracy: 1e-6)
    }

    /// A small DID setup: ResNet-18, its hook and a grouped optimizer as the trainer builds it.
    func setup(options: DIDOptions = DIDOptions()) throws -> (Backbone, DIDHook, DIDStep, StepContext) {
        Init.reset(seed: 1)
        let b = try Backbone.make("resnet18", classes: 2)
        var r = Recipe()
        r.method = "did"; r[DIDOptions.self] = options; r.epochs = 4
        r.source = .labelled; r.optimizer = .adam; r.lr = 1e-5; r.weightDecay = 5e-4
        let c = MethodContext(recipe: r, model: b, seed: 1, domains: 3, samples: [], data: [:])
        let prepared = try DIDMethod.prepare(c)
        let hook = try XCTUnwrap(prepared.hooks.first as? DIDHook)
        let opt = try TrainingSetup.optimizer(r, model: b, hooks: prepared.hooks)
        // Two groups: the backbone without C at 1e-5, the DID modules and C (fc.weight, fc.bias) at did.lr_scale x.
        XCTAssertEqual(opt.groups.map(\.name), ["backbone", "did"])
        XCTAssertEqual(opt.groups[0].parameters.count + hook.head.count, b.module.parameters.count)
        XCTAssertEqual(hook.head.count, 2)
        XCTAssertEqual(opt.groups[1].lr, 1e-4, accuracy: 1e-12)
        let (step, _) = try DIDMethod.makeStep(c, optimizer: opt, prepared: prepared)
        return (b, hook, try XCTUnwrap(step as? DIDStep), StepContext(model: b, optimizer: opt, hooks: prepared.hooks))
    }

    func batch(_ n: Int = 6, size: Int = 64) throws -> Batch {
        let labels = (0..<n).map { $0 % 2 }
        return Batch(input: try Tensor.randn([n, 3, size, size], seed: 21), target: try Tensor(int64: labels.map(Int64.init), shape: [n]),
                     labels: labels, domains: labels.indices.map { labels[$0] == 0 ? 0 : 1 + ($0 / 2) % 2 },
                     isPseudoFake: labels.map { _ in false }, samples: Array(0..<n))
    }

    func testStepTrainsEveryModuleAndLogsTheTerms() throws {
        let (b, hook, step, ctx) = try setup()
        try hook.beginEpoch(2)
        // The AUC term is eq. 2 on the fake probabilities sigma(z_fake - z_real); the BCE term is the 2-class CE.
        ctx.beginStep()
        let f = try ctx.forward(try batch())
        let terms = try hook.terms(logits: f.logits, try batch())
        let p = try DID.fakeLogit(f.logits).sigmoid()
        XCTAssertEqual(terms.auc, try DID.aucLoss(p, labels: try batch().labels, gamma: 0.15, power: 2).item(), accuracy: 1e-6)
        XCTAssertEqual(terms.bce, try F.crossEntropy(f.logits, try batch().target).item(), accuracy: 1e-5)
        XCTAssertLessThanOrEqual(terms.auc, pow(1.15, 2))
        hook.current = nil
        let before = try hook.modules.map { ($0.0, try $0.1.parameters[0].clone()) }
        let backboneBefore = try b.module.parameters[0].clone()
        ctx.beginStep()
        let l = try step.step(try batch(), ctx)
        XCTAssertTrue(l.isFinite)
        for (name, p0) in before {
            let p1 = hook.modules.first { $0.0 == name }!.1.parameters[0]
            XCTAssertNotEqual(try p1.floats(), try p0.floats(), "\(name) did not train")
        }
        XCTAssertNotEqual(try b.module.parameters[0].floats(), try backboneBefore.floats())
        let log = Dictionary(uniqueKeysWithValues: hook.epochLog.map { ($0.0, $0.1) })
        XCTAssertEqual(Set(log.keys), ["did_beta", "did_bce", "did_auc", "did_dom", "did_jsd"])
        // Ablations: without A_dom and T those modules do not exist, and there is no JSD term.
        var o = DIDOptions(); o.domainAttention = false; o.decorrelation = false
        let (_, h2, s2, c2) = try setup(options: o)
        XCTAssertEqual(Set(h2.modules.map(\.0)), ["adf", "cdom"])
        c2.beginStep()
        XCTAssertTrue(try s2.step(try batch(), c2).isFinite)
        XCTAssertNil(h2.sums["jsd"])
    }

    func testInferencePathIgnoresDomainModulesAndEstimator() throws {
        let (b, hook, step, ctx) = try setup()
        ctx.beginStep()
        _ = try step.step(try batch(), ctx)   // trained weights, not the initial ones
        let dir = Fixtures.tempDir()
        var spec = DetectorSpec(backbone: b.name, size: 64, mean: [127.5, 127.5, 127.5], std: [64, 64, 64], testCrop: "margin:0.125:retina-approx")
        spec.grayscale = true
        func save(_ name: String) throws -> Detector {
            let path = dir + "/" + name
            let extra = try hook.state().map { ("did." + $0.0, $0.1) }
            try Detector.save(b.module, spec: spec, inserts: hook.inserts, extra: extra, to: path)
            return try Detector(checkpoint: path)
        }
        var bytes = [UInt8](repeating: 0, count: 64 * 64 * 3)
        var rng = SystemRandomNumberGenerator()
        let crops = try (0..<4).map { _ -> Image in
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
            return try bytes.withUnsafeBytes { try Image(width: 64, height: 64, channels: 3, data: $0.baseAddress) }
        }
        let d1 = try save("a.safetensors")
        XCTAssertTrue(d1.spec.grayscale)
        XCTAssertEqual(d1.inserts.map(\.tap), [b.mapTap])
        let s1 = try d1.fakeProbabilities(crops)
        // The round trip scores as the in-memory network G -> A_df -> C does.
        b.module.eval(); hook.gate.eval()
        let x = try d1.batch(crops)
        let direct = try Autograd.noGrad { try F.softmax(try b(x, inserts: hook.inserts), dim: 1).doubles() }
        for k in 0..<crops.count { XCTAssertEqual(s1[k], direct[k * 2 + 1], accuracy: 1e-6) }
        let plain = try Autograd.noGrad { try F.softmax(try b(x), dim: 1).doubles() }
        XCTAssertGreaterThan((0..<crops.count).map { abs(plain[$0 * 2 + 1] - s1[$0]) }.max()!, 1e-6)   // A_df is applied
        // Grayscale input: the three channels are equal.
        let ch = try x.narrow(0, start: 0, length: 1).floats(), plane = 64 * 64
        XCTAssertEqual(Array(ch[0..<plane]), Array(ch[plane..<(2 * plane)]))
        // Changing A_dom, C_dom and T changes no score.
        func perturb(_ m: Module) throws {
            try Autograd.noGrad { for p in m.parameters { try p.copyInPlace(try p + (try Tensor.randn(p.shape, seed: 77))) } }
        }
        for (name, m) in hook.modules where name != "adf" { try perturb(m) }
        XCTAssertEqual(try save("b.safetensors").fakeProbabilities(crops), s1)
        // Changing A_df does.
        try perturb(hook.gate)
        XCTAssertNotEqual(try save("c.safetensors").fakeProbabilities(crops), s1)
        // A checkpoint naming an unknown inserted module is refused with a clear error.
        var ck = try Checkpoint.read(dir + "/a.safetensors")
        ck.metadata["inserts"] = "\(b.mapTap)=mystery:1"
        try ck.write(to: dir + "/d.safetensors")
        XCTAssertThrowsError(try Detector(checkpoint: dir + "/d.safetensors")) {
            XCTAssertTrue("\($0)".contains("unknown inserted module 'mystery'"), "\($0)")
        }
    }

    /// The `train` tool with recipe `did` on labelled faces (two "methods"): a run killed after its first epoch
    /// resumes to the weights (backbone and every DID module) of an uninterrupted run; its checkpoint carries A_df and
    /// the grayscale flag, and score-video scores with it.
    func testTrainingResumesExactlyAndTheCheckpointScores() throws {
        let faces = try TrainTests.faces()
        let dir = Fixtures.tempDir("did-train")
        var lines: [String] = []
        for (i, line) in try String(contentsOfFile: faces.train, encoding: .utf8).split(separator: "\n").enumerated() {
            var o = try JSON.parse(String(line)).objectValue!
            o["label"] = .int(i % 2)
            o["method"] = .string(i % 2 == 0 ? "real" : (i % 4 == 1 ? "m1" : "m2"))
            lines.append(JSON.serialize(.object(o)))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/train.ndjson", atomically: true, encoding: .utf8)
        let lite0 = Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path
        func args(_ out: String) -> [String] {
            [dir + "/train.ndjson", "-q", "--recipe", "did", "--backbone", "efficientnet-lite0", "--pretrained", lite0, "--out", out,
             "--epochs", "3", "--size", "64", "--batch", "6", "--seed", "7", "--val", dir + "/train.ndjson"]
        }
        let a = dir + "/a", b = dir + "/b"
        let full = try runTool("train", args(a))
        XCTAssertEqual(full.status, 0, full.stderr)
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent("train")
        p.arguments = args(b)
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        while !FileManager.default.fileExists(atPath: b + "/last.safetensors") && p.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let done = (try? String(contentsOfFile: b + "/train-log.ndjson"))?.split(separator: "\n").count ?? 0
        XCTAssertLessThan(done, 3, "the run finished before it could be killed")
        let resumed = try runTool("train", args(b))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let ca = try Checkpoint.read(a + "/last.safetensors"), cb = try Checkpoint.read(b + "/last.safetensors")
        for prefix in ["model.", "insert.", "did."] {
            let x = ca.group(prefix), y = cb.group(prefix)
            XCTAssertFalse(x.isEmpty, prefix)
            XCTAssertEqual(x.map(\.name), y.map(\.name))
            for (u, v) in zip(x, y) where u.tensor.dtype == .float32 { XCTAssertEqual(try u.tensor.floats(), try v.tensor.floats(), u.name) }
        }
        XCTAssertFalse(ca.group("did.adom.").isEmpty); XCTAssertFalse(ca.group("did.t.").isEmpty)
        let log = try String(contentsOfFile: a + "/train-log.ndjson").split(separator: "\n").map { try JSON.parse(String($0)).objectValue! }
        XCTAssertEqual(log.map { $0["did_beta"]!.doubleValue! }, (0..<3).map { (DID.beta(epoch: $0, epochs: 3) * 1e6).rounded() / 1e6 })
        let best = try Checkpoint.read(a + "/best.safetensors")
        XCTAssertEqual(best.metadata["grayscale"], "true")
        XCTAssertEqual(best.metadata["inserts"], "head=did-attention:1280:16")
        XCTAssertTrue(best.group("did.").isEmpty)   // A_dom, C_dom and T are not part of the detector
        let s = try runTool("score-video", ["-q", "--checkpoint", a + "/best.safetensors", "--frames", "2", try Fixtures.media("single_face.mp4")])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stdout.contains("score"), s.stdout)
    }
}
