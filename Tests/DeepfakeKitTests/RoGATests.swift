// RoGA (roga-robust-gradient-alignment.txt, the reading in RoGA.swift) and Meso4: one domain with alpha = 0 is
// SAM's perturbation and perturbed gradient bit for bit; the perturbation has norm |rho - alpha ||g_k|||; the weights
// come back exactly after each domain; the domain sub-batches hold what they claim; Meso4's shapes.
import DFKCore
import DFKRecords
import DFKTensor
@testable import DFKModels
@testable import DFKTrain
import Foundation
import XCTest

/// An optimizer that records the gradients it is asked to apply and leaves the weights alone.
final class RecordingOptimizer: Optimizer {
    let groups: [ParamGroup]
    var recorded: [[Tensor?]] = []
    init(_ p: [Tensor]) { groups = [ParamGroup(p, lr: 0)] }
    func setLearningRate(_ lr: Double, group: Int) {}
    func step() throws { recorded.append(try Autograd.noGrad { try parameters.map { try $0.grad?.clone() } }) }
    func state() throws -> [(String, Tensor)] { [] }
    func loadState(_ s: [(String, Tensor)]) throws {}
}

final class RoGATests: XCTestCase {
    func model(seed: UInt64 = 4, name: String = "resnet18") throws -> Backbone {
        Init.reset(seed: seed)
        let m = try Backbone.make(name, classes: 1000, imageSize: 32)
        try m.replaceHead(classes: 2)
        return m
    }
    /// A batch of `labels.count` rows with the given domains (0 real).
    func batch(labels: [Int], domains: [Int], seed: UInt64 = 10, size: Int = 32) throws -> Batch {
        Batch(input: try Tensor.randn([labels.count, 3, size, size], seed: seed),
              target: try Tensor(int64: labels.map { Int64($0) }, shape: [labels.count]), labels: labels, domains: domains,
              isPseudoFake: labels.map { _ in false }, samples: Array(labels.indices))
    }
    func weights(_ m: Backbone) throws -> [[Float]] { try m.module.parameters.map { try $0.floats() } }
    func buffers(_ m: Backbone) throws -> [[Float]] {
        try m.module.namedBuffers().filter { $0.1.dtype == .float32 }.map { try $0.1.floats() }
    }
    func run(_ step: TrainingStep, _ m: Backbone, _ opt: Optimizer, _ b: Batch) throws -> Double {
        let ctx = StepContext(model: m, optimizer: opt, hooks: [])
        ctx.beginStep()
        return try step.step(b, ctx)
    }

    func testOneDomainWithAlphaZeroIsSAMBitForBit() throws {
        let b = try batch(labels: [0, 1, 0, 1], domains: [0, 1, 0, 1])
        // SAM's two gradients, from the project's SAMStep: g at theta (an ERM pass) and g~ at SAM's neighbour.
        let ermModel = try model(), erm = RecordingOptimizer(ermModel.module.parameters)
        _ = try run(ERMStep(), ermModel, erm, b)
        let samModel = try model(), sam = RecordingOptimizer(samModel.module.parameters)
        _ = try run(SAMStep(optimizer: sam, rho: 0.1), samModel, sam, b)
        XCTAssertEqual(try weights(samModel), try weights(ermModel), "SAM restored the weights exactly")
        let (g, gt) = (erm.recorded[0], sam.recorded[0])
        // The update RoGA makes: SGD on (g + g~) / 2.
        let expected = try model(), sgd = try SGD(expected.module.parameters, lr: 0.05, momentum: 0.9, weightDecay: 5e-4)
        for p in expected.module.parameters { try (try p * 0.0).sum().backward() }
        try Autograd.noGrad {
            for (i, p) in expected.module.parameters.enumerated() {
                guard let a = g[i], let c = gt[i] else { XCTFail("parameter \(i) without a gradient"); continue }
                try p.grad!.copyInPlace(try (try a + c) * 0.5)
            }
        }
        try sgd.step()
        // RoGA with one domain, alpha = 0: the same weights bit for bit, and BatchNorm statistics of one (ERM) pass.
        let roga = try model(), rogaSGD = try SGD(roga.module.parameters, lr: 0.05, momentum: 0.9, weightDecay: 5e-4)
        let step = RoGAStep(rho: 0.1, alpha: 0)
        _ = try run(step, roga, rogaSGD, b)
        XCTAssertEqual(step.lastSubBatches, [DomainSubBatch(domain: 1, rows: [0, 1, 2, 3])])
        XCTAssertEqual(try weights(roga), try weights(expected))
        XCTAssertEqual(try buffers(roga), try buffers(ermModel), "perturbed pass left the running statistics alone")
        XCTAssertNotEqual(try buffers(samModel), try buffers(ermModel), "SAM's second pass updates them (the test can fail)")
        // SAGM (one domain by construction) is the same step; the penalty variant at alpha = 0 too; alpha > 0 differs.
        for s in [RoGAStep(rho: 0.1, alpha: 0, singleDomain: true), RoGAStep(rho: 0.1, alpha: 0, variant: .penalty)] {
            let m = try model()
            _ = try run(s, m, try SGD(m.module.parameters, lr: 0.05, momentum: 0.9, weightDecay: 5e-4), b)
            XCTAssertEqual(try weights(m), try weights(expected), s.name)
        }
        let other = try model()
        _ = try run(RoGAStep(rho: 0.1, alpha: 0.001), other, try SGD(other.module.parameters, lr: 0.05, momentum: 0.9, weightDecay: 5e-4), b)
        XCTAssertNotEqual(try weights(other), try weights(expected))
    }

    func testPerturbationNormAndExactRestoreForEachDomain() throws {
        let labels = [0, 1, 1, 1, 0, 1, 1, 1], domains = [0, 1, 2, 3, 0, 1, 2, 3]
        let b = try batch(labels: labels, domains: domains, seed: 20)
        let (rho, alpha) = (0.1, 0.01)
        // Each domain's own gradient norm, computed independently at theta.
        let ref = try model(seed: 7)
        var expectedNorms: [Double] = []
        for sub in RoGAStep.subBatches(b, reals: .shared) {
            let sb = try RoGAStep.select(b, rows: sub.rows)
            ref.module.parameters.forEach { $0.zeroGrad() }
            try F.crossEntropy(try ref(sb.input), sb.target).backward()
            expectedNorms.append(try RoGAStep.norm(ref.module.parameters.map(\.grad)).item())
        }
        let m = try model(seed: 7)
        let params = m.module.parameters
        let start = try params.map { try $0.floats() }
        var events: [(Int, Double, Double, Double)] = []   // index, measured displacement, reported norm, ||g||
        var restored: [Int] = []
        let step = RoGAStep(rho: rho, alpha: alpha)
        step.observer = { e in
            switch e {
            case .perturbed(let i, _, let norm, let g):
                var sq = 0.0
                for (p, s) in zip(params, start) { for (a, b) in zip(try! p.floats(), s) { sq += Double(a - b) * Double(a - b) } }
                events.append((i, sq.squareRoot(), norm, g))
            case .restored(let i, _):
                if (try? params.map { try $0.floats() }) == start { restored.append(i) }
            }
        }
        _ = try run(step, m, try SGD(params, lr: 0.05, momentum: 0.9), b)
        XCTAssertEqual(step.lastSubBatches.map(\.domain), [1, 2, 3])
        XCTAssertEqual(restored, [0, 1, 2], "weights restored bit for bit after every domain")
        XCTAssertEqual(events.count, 3)
        for (i, measured, reported, g) in events {
            XCTAssertEqual(g, expectedNorms[i], accuracy: 1e-6 * expectedNorms[i], "||g_k|| of domain \(i)")
            let stated = abs(rho - alpha * g)
            XCTAssertEqual(reported, stated, accuracy: 1e-5 * stated)
            XCTAssertEqual(measured, stated, accuracy: 2e-3 * stated, "the displacement actually applied")
            XCTAssertGreaterThan(abs(stated - rho), 1e-4, "alpha visibly shortens the step")
        }
        XCTAssertNotEqual(try params.map { try $0.floats() }, start, "the step updated the weights")
    }

    func testDomainSubBatchesHoldWhatTheyClaim() throws {
        // Rows from a domain-balanced plan: 3 methods, 2 fakes each, 2 reals.
        var s: [TrainSample] = []
        for v in 0..<6 { s.append(TrainSample(image: "r\(v).png", face: SamplerTests.face, video: "r\(v)")) }
        for m in ["DF", "F2F", "FS"] {
            for v in 0..<6 { s.append(TrainSample(image: "\(m)\(v).png", face: SamplerTests.face, label: 1, method: m, video: "\(m)\(v)")) }
        }
        var r = Recipe(); r.source = .labelled; r.sampler = .domainBalanced; r.batch = 8
        let plan = EpochPlan(recipe: r, seed: 3, samples: s)
        let items = plan.batches(epoch: 0)[0].map { item -> Int in if case .single(let i) = item { return i }; return -1 }
        let labels = items.map { s[$0].label }, domains = items.map { plan.domains[s[$0].method]! }
        // Row i's pixels are all i, so a selected row can be recognised.
        let n = items.count
        let input = try Tensor((0..<n).flatMap { i in [Float](repeating: Float(i), count: 3 * 4 * 4) }, shape: [n, 3, 4, 4])
        let b = Batch(input: input, target: try Tensor(int64: labels.map { Int64($0) }, shape: [n]), labels: labels, domains: domains,
                      isPseudoFake: Array(repeating: false, count: n), samples: items)
        let reals = Set(labels.indices.filter { labels[$0] == 0 })
        XCTAssertEqual(reals.count, 2)
        let shared = RoGAStep.subBatches(b, reals: .shared)
        XCTAssertEqual(shared.map(\.domain), [1, 2, 3])
        var fakesSeen: [Int] = []
        for sub in shared {
            XCTAssertTrue(reals.isSubset(of: sub.rows), "every real in every domain's sub-batch")
            let fakes = sub.rows.filter { !reals.contains($0) }
            XCTAssertEqual(fakes.count, 2)
            XCTAssertTrue(fakes.allSatisfy { domains[$0] == sub.domain && labels[$0] == 1 })
            fakesSeen += fakes
            let sb = try RoGAStep.select(b, rows: sub.rows)
            XCTAssertEqual(try sb.input.mean(dims: [1, 2, 3]).floats(), sub.rows.map { Float($0) })
            XCTAssertEqual(try sb.target.doubles().map { Int($0) }, sub.rows.map { labels[$0] })
            XCTAssertEqual(sb.labels, sub.rows.map { labels[$0] }); XCTAssertEqual(sb.domains, sub.rows.map { domains[$0] })
            XCTAssertEqual(sb.samples, sub.rows.map { items[$0] })
            XCTAssertEqual(Set(sb.samples.filter { s[$0].label == 1 }.map { s[$0].method }).count, 1, "one method per sub-batch")
        }
        XCTAssertEqual(fakesSeen.sorted(), labels.indices.filter { labels[$0] == 1 }, "each fake in exactly one sub-batch")
        // Split: the reals dealt out, disjoint, covering all of them (3 domains, 2 reals: one domain gets none).
        let split = RoGAStep.subBatches(b, reals: .split)
        let shares = split.map { $0.rows.filter { reals.contains($0) } }
        XCTAssertEqual(shares.flatMap { $0 }.sorted(), reals.sorted())
        XCTAssertEqual(Set(shares.flatMap { $0 }).count, shares.flatMap { $0 }.count)
        XCTAssertEqual(split.map { $0.rows.filter { !reals.contains($0) } }, shared.map { $0.rows.filter { !reals.contains($0) } })
        // One fake domain, or none (reals only, pseudo-fakes): the whole batch is one sub-batch, taken as is.
        let one = try batch(labels: [0, 1, 1], domains: [0, 2, 2], size: 4)
        XCTAssertEqual(RoGAStep.subBatches(one, reals: .split), [DomainSubBatch(domain: 2, rows: [0, 1, 2])])
        XCTAssertEqual(RoGAStep.subBatches(try batch(labels: [0, 0], domains: [0, 0], size: 4), reals: .shared), [DomainSubBatch(domain: 0, rows: [0, 1])])
        XCTAssertTrue(try RoGAStep.select(one, rows: [0, 1, 2]).input === one.input)
    }

    func testGlobalAndPenaltyVariantsTrain() throws {
        let b = try batch(labels: [0, 1, 1, 0, 1, 1], domains: [0, 1, 2, 0, 1, 2], seed: 30)
        var results: [[[Float]]] = []
        for v in Recipe.RoGAVariant.allCases {
            let m = try model(seed: 5)
            let l = try run(RoGAStep(rho: 0.1, alpha: 0.05, variant: v), m, try SGD(m.module.parameters, lr: 0.05), b)
            XCTAssertTrue(l.isFinite, v.rawValue)
            let w = try weights(m)
            XCTAssertTrue(w.allSatisfy { $0.allSatisfy(\.isFinite) }, v.rawValue)
            results.append(w)
        }
        XCTAssertNotEqual(results[0], results[1]); XCTAssertNotEqual(results[0], results[2]); XCTAssertNotEqual(results[1], results[2])
    }

    func testPenaltyVariantHessianVectorProductsMatchFiniteDifferences() throws {
        // One domain: G(alpha) = (g + g~) / 2 - alpha (H~ g + H g~), so (G(0) - G(alpha)) / alpha is the pair of
        // Hessian-vector products the double backward computed. Checked against central differences of the gradient,
        // on a smooth network (conv, batch norm, tanh): ReLU and max-pool kinks make differences of the gradient
        // disagree with the Hessian there, which double backward takes as zero curvature.
        func meso() throws -> Backbone {
            Init.reset(seed: 3)
            return Backbone(name: "smooth", network: try SmoothNet(classes: 2), resolution: 32)
        }
        let b = try batch(labels: [0, 1, 0, 1, 0, 1, 0, 1], domains: [0, 1, 0, 1, 0, 1, 0, 1], seed: 40)
        let (rho, alpha) = (0.05, 0.01)
        func update(_ a: Double) throws -> [Tensor?] {
            let m = try meso(), rec = RecordingOptimizer(m.module.parameters)
            _ = try run(RoGAStep(rho: rho, alpha: a, variant: .penalty), m, rec, b)
            return rec.recorded[0]
        }
        let g0 = try update(0), ga = try update(alpha)
        let hvp = try zip(g0, ga).map { try ((try $0! - $1!) * (1 / alpha)).doubles() }.flatMap { $0 }
        // The same products from the plain gradient at displaced weights.
        let m = try meso()
        let params = m.module.parameters
        func gradient(at offsets: [(direction: [Tensor?], scale: Double)]) throws -> [Tensor?] {
            let saved = try params.map { try $0.clone() }
            try Autograd.noGrad {
                for (d, c) in offsets { for (p, t) in zip(params, d) { if let t { try p.addInPlace(t, alpha: c) } } }
            }
            params.forEach { $0.zeroGrad() }
            try F.crossEntropy(try m(b.input), b.target).backward()
            let g = try params.map { try $0.grad!.clone() }
            try Autograd.noGrad { for (p, s) in zip(params, saved) { try p.copyInPlace(s) } }
            return g
        }
        let g = try gradient(at: [])
        let gNorm = try RoGAStep.norm(g).item()
        let e = try g.map { try $0! * (rho / (gNorm + 1e-12)) }
        let gt = try gradient(at: [(e, 1)])
        let h = 1e-3
        func difference(_ base: [(direction: [Tensor?], scale: Double)], _ v: [Tensor?]) throws -> [Double] {
            let s = h / (try RoGAStep.norm(v).item())
            let plus = try gradient(at: base + [(v, s)]), minus = try gradient(at: base + [(v, -s)])
            return try zip(plus, minus).map { try ((try $0! - $1!) * (1 / (2 * s))).doubles() }.flatMap { $0 }
        }
        let fd = zip(try difference([(e, 1)], g), try difference([], gt)).map { $0 + $1 }
        let dot = zip(hvp, fd).reduce(0) { $0 + $1.0 * $1.1 }
        let n1 = hvp.reduce(0) { $0 + $1 * $1 }.squareRoot(), n2 = fd.reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertGreaterThan(n1, 0)
        XCTAssertGreaterThan(dot / (n1 * n2), 0.99, "direction")
        XCTAssertEqual(n1 / n2, 1, accuracy: 0.05, "size")
    }

    func testRecipesAndStepNames() throws {
        var r = try Recipe.load("roga")
        let o = r[RoGAOptions.self]
        XCTAssertEqual(r.method, "roga"); XCTAssertEqual(r.backbone, "resnet34"); XCTAssertEqual(r.sampler, .domainBalanced)
        XCTAssertEqual(o.rho, 0.1); XCTAssertEqual(o.alpha, 0.001); XCTAssertEqual(o.variant, .decoupled)
        XCTAssertEqual(r.lr, 0.005); XCTAssertEqual(r.weightDecay, 5e-4); XCTAssertEqual(r.size, 256); XCTAssertEqual(r.batch, 32)
        XCTAssertEqual(r.epochs, 10); XCTAssertEqual(r.framesPerVideo, 32); XCTAssertEqual(r.mean, [127.5, 127.5, 127.5])
        XCTAssertEqual(try Recipe.load("roga-sagm").differences(from: r).count, 3)
        XCTAssertEqual(try Recipe.load("roga-meso4").backbone, "meso4")
        var bad = r
        XCTAssertThrowsError(try bad.set("roga.variant", "orthogonal", source: "cli")) { e in
            XCTAssertTrue("\(e)".contains("decoupled|penalty|global") || "\(e)".contains("decoupled, penalty, global"), "\(e)")
        }
        // RoGA's passes are per domain: per-sample weights (NRS) are refused when the recipe loads.
        bad[NRSSettings.self].enabled = true
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("does not combine with nrs"), "\($0)") }
        let m = try model()
        r.method = "sagm"
        let c = MethodContext(recipe: r, model: m, seed: 1, domains: 3, samples: [], data: [:])
        let (s, hooks) = try SAGMMethod.makeStep(c, optimizer: try SGD(m.module.parameters, lr: 0.1), prepared: MethodParts())
        XCTAssertEqual(s.name, "sagm"); XCTAssertTrue(hooks.isEmpty)
    }

    func testMeso4ShapesTapsAndParameterCount() throws {
        Init.reset(seed: 1)
        let m = try Backbone.make("meso4", classes: 1, imageSize: nil)
        XCTAssertEqual(m.resolution, 256)
        // The published Meso4 (one sigmoid output) has 27,977 trainable parameters.
        XCTAssertEqual(m.module.parameters.reduce(0) { $0 + $1.shape.reduce(1, *) }, 27_977)
        try m.replaceHead(classes: 2)
        var shapes: [String: [Int]] = [:]
        let x = try Tensor.randn([2, 3, 256, 256], seed: 2)
        let out = try m.forward(x) { n, t in shapes[n] = t.shape; return t }
        XCTAssertEqual(out.shape, [2, 2])
        XCTAssertEqual(shapes, ["block1": [2, 8, 128, 128], "block2": [2, 8, 64, 64], "block3": [2, 16, 32, 32],
                                "block4": [2, 16, 8, 8], "features": [2, 16]])
        XCTAssertEqual(m.stageTaps, ["block1", "block2", "block3", "block4"]); XCTAssertEqual(m.mapTap, "block4")
        XCTAssertEqual(m.featureChannels, 16)
        try F.crossEntropy(out, try Tensor(int64: [0, 1], shape: [2])).backward()
        for p in m.module.parameters {
            XCTAssertEqual(p.grad?.shape, p.shape)
            XCTAssertGreaterThan(try p.grad!.abs().sum().item(), 0)
        }
        // Other sizes (the CPU demo's 128 px) keep the 1024-wide dense layer; eval mode is deterministic (no dropout).
        m.module.eval()
        let small = try Tensor.randn([3, 3, 128, 128], seed: 3)
        let a = try Autograd.noGrad { try m(small) }, b = try Autograd.noGrad { try m(small) }
        XCTAssertEqual(a.shape, [3, 2]); XCTAssertEqual(try a.floats(), try b.floats())
    }
}

/// A small network without kinks (its Hessian is what differences of its gradient measure).
final class SmoothNet: Module, ClassifierNetwork {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    var fc: Linear
    let featureChannels = 6
    init(classes: Int = 2) throws {
        conv1 = try Conv2d(3, 4, kernel: 3, stride: 2, padding: .explicit(1, 1)); bn1 = try BatchNorm2d(4)
        conv2 = try Conv2d(4, 6, kernel: 3, stride: 2, padding: .explicit(1, 1)); bn2 = try BatchNorm2d(6)
        fc = try Linear(6, classes)
        super.init()
        child("conv1", conv1); child("bn1", bn1); child("conv2", conv2); child("bn2", bn2); child("fc", fc)
    }
    var stageTaps: [String] { ["s1", "s2"] }
    var mapTap: String { "s2" }
    func replaceHead(classes: Int) throws { fc = try Linear(6, classes); try replaceChild("fc", fc) }
    func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)?) throws -> Tensor {
        let h1 = try bn1(try conv1(x)).tanh()
        let h2 = try bn2(try conv2(h1)).tanh()
        return try fc(try F.adaptiveAvgPool2d(h2, (1, 1)).flatten(from: 1))
    }
}
