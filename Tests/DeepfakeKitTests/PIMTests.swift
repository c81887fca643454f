// PIM (pim-gradient-regularization.txt) and DualFlat: the module, its gradient, the joint-norm perturbation, and
// the steps' limiting cases (alpha = 0 is ERM, DualFlat (0, 1) is SAM, bit for bit).
import DFKModels
import DFKTensor
@testable import DFKTrain
import Foundation
import XCTest

final class PIMTests: XCTestCase {
    func testModuleIsTheIdentityAtZero() throws {
        let f = try Tensor.randn([2, 3, 5, 5], seed: 1) * 3.0
        let z = try Tensor.zeros([3])
        XCTAssertEqual(try PIMHook.perturb(f, dMu: z, dSigma: z, eps: 1e-5, detach: false).floats(), try f.floats())
        // A mean shift moves every channel's mean by d_mu; a sigma shift scales the spread by (sigma + d) / sigma.
        let dm = try Tensor([0.5, -1, 2] as [Float], shape: [3])
        let moved = try PIMHook.perturb(f, dMu: dm, dSigma: z, eps: 1e-5, detach: false)
        let shift = try (try moved.mean(dims: [2, 3]) - (try f.mean(dims: [2, 3]))).floats()
        for n in 0..<2 { for c in 0..<3 { XCTAssertEqual(shift[n * 3 + c], [0.5, -1, 2][c], accuracy: 1e-5) } }
    }

    func testGradientWithRespectToTheStatisticsMatchesFiniteDifferences() throws {
        let f = try Tensor.randn([2, 3, 4, 4], seed: 2).to(.float64)
        let w = try Tensor.randn([2, 3, 4, 4], seed: 3).to(.float64)
        let dm0 = [0.1, -0.2, 0.05], ds0 = [0.3, 0.0, -0.1]
        func loss(_ dm: [Double], _ ds: [Double], grad: Bool = false) throws -> (Double, [Double], [Double]) {
            let a = try Tensor(dm, shape: [3]).requiresGrad(), b = try Tensor(ds, shape: [3]).requiresGrad()
            let l = try (try PIMHook.perturb(f, dMu: a, dSigma: b, eps: 1e-5, detach: false) * w).sum()
            if grad { try l.backward(); return (try l.item(), try a.grad!.doubles(), try b.grad!.doubles()) }
            return (try l.item(), [], [])
        }
        let (_, gm, gs) = try loss(dm0, ds0, grad: true)
        // The probe pass (d_sigma = 0, statistics as constants) gives the same grad_d as the full graph.
        let a = try Tensor([0, 0, 0] as [Double], shape: [3]).requiresGrad(), b = try Tensor([0, 0, 0] as [Double], shape: [3]).requiresGrad()
        let a2 = try Tensor([0, 0, 0] as [Double], shape: [3]).requiresGrad(), b2 = try Tensor([0, 0, 0] as [Double], shape: [3]).requiresGrad()
        let ff = try f.detach().requiresGrad(), ff2 = try f.detach().requiresGrad()
        try (try PIMHook.perturb(ff, dMu: a, dSigma: b, eps: 1e-5, detach: false) * w).sum().backward()
        try (try PIMHook.perturb(ff2, dMu: a2, dSigma: b2, eps: 1e-5, detach: false, constantStatistics: true) * w).sum().backward()
        XCTAssertEqual(try b.grad!.doubles(), try b2.grad!.doubles())
        XCTAssertEqual(try a.grad!.doubles(), try a2.grad!.doubles())
        XCTAssertEqual(try ff.grad!.doubles(), try ff2.grad!.doubles())
        let h = 1e-5
        for i in 0..<3 {
            var p = dm0, m = dm0; p[i] += h; m[i] -= h
            XCTAssertEqual(gm[i], (try loss(p, ds0).0 - (try loss(m, ds0).0)) / (2 * h), accuracy: 1e-6)
            var ps = ds0, ms = ds0; ps[i] += h; ms[i] -= h
            XCTAssertEqual(gs[i], (try loss(dm0, ps).0 - (try loss(dm0, ms).0)) / (2 * h), accuracy: 1e-6)
        }
    }

    func testPerturbationHasTheJointNormR() throws {
        let hook = PIMHook(taps: ["a", "b"])
        var leaves: [Tensor] = []
        for (k, c) in [("a", 3), ("b", 5)] {
            let dm = try Tensor.zeros([c]).requiresGrad(), ds = try Tensor.zeros([c]).requiresGrad()
            hook.deltas[k] = (dm, ds); leaves += [dm, ds]
        }
        var l = try Tensor.zeros([])
        for (i, t) in leaves.enumerated() { l = try l + (try (t * (try Tensor.randn(t.shape, seed: UInt64(i)))).sum()) }
        try l.backward()
        try hook.setPerturbation(radius: 0.1)
        let sq = try hook.deltas.values.reduce(0.0) { $0 + (try $1.0.square().sum().item()) + (try $1.1.square().sum().item()) }
        XCTAssertEqual(sq.squareRoot(), 0.1, accuracy: 1e-6)
    }

    func model(seed: UInt64) throws -> (Backbone, SGD) {
        Init.reset(seed: seed)
        let m = try Backbone.make("resnet18", classes: 1000, imageSize: 32)
        try m.replaceHead(classes: 2)
        return (m, try SGD(m.module.parameters, lr: 0.05, momentum: 0.9))
    }
    func batch(_ k: UInt64) throws -> Batch {
        Batch(input: try Tensor.randn([4, 3, 32, 32], seed: 10 + k), target: try Tensor(int64: [0, 1, 0, 1], shape: [4]),
              labels: [0, 1, 0, 1], domains: [0, 1, 0, 1], isPseudoFake: [false, true, false, true], samples: [0, 1, 2, 3])
    }
    /// Trains two steps with `make`, from the same initial weights; returns every state tensor.
    func train(_ make: (Backbone, SGD) -> (TrainingStep, [TrainingHook])) throws -> [[Float]] {
        let (m, opt) = try model(seed: 4)
        let (step, hooks) = make(m, opt)
        let ctx = StepContext(model: m, optimizer: opt, hooks: hooks)
        for k in 0..<2 { ctx.beginStep(); _ = try step.step(try batch(UInt64(k)), ctx) }
        return try m.module.stateDict().map { $0.1.dtype == .float32 ? try $0.1.floats() : [] }
    }
    func pim(alpha: Double, beta: Double = 0) -> (Backbone, SGD) -> (TrainingStep, [TrainingHook]) {
        { m, opt in
            let h = PIMHook(taps: PIMHook.defaultTaps(for: m))
            return (PIMStep(hook: h, optimizer: opt, radius: 0.1, alpha: alpha, beta: beta, samRadius: 0.05), [h])
        }
    }

    func testAlphaZeroIsERMAndDualFlatZeroOneIsSAMBitForBit() throws {
        let erm = try train { _, _ in (ERMStep(), []) }
        XCTAssertEqual(try train(pim(alpha: 0)), erm)
        let sam = try train { _, opt in (SAMStep(optimizer: opt, rho: 0.05), []) }
        XCTAssertEqual(try train(pim(alpha: 0, beta: 1)), sam)
        // The real thing differs from both (the tests above can fail).
        let full = try train(pim(alpha: 1))
        XCTAssertNotEqual(full, erm)
        XCTAssertNotEqual(try train(pim(alpha: 0.5, beta: 0.5)), full)
    }

    func testAlphaOneShortcutGivesTheGeneralPathsUpdate() throws {
        // At alpha = 1 pass 1 takes only grad_d; the general path (all gradients of pass 1, g = 0 g1 + 1 g2) must agree.
        let general = try train { m, opt in
            let h = PIMHook(taps: PIMHook.defaultTaps(for: m))
            let s = PIMStep(hook: h, optimizer: opt, radius: 0.1, alpha: 1)
            s.gradientOnlyProbe = false
            return (s, [h])
        }
        let fast = try train(pim(alpha: 1))
        XCTAssertEqual(fast.count, general.count)
        for (a, b) in zip(fast, general) { XCTAssertEqual(a, b) }
    }

    func testPerturbedPassLeavesBatchNormStatisticsAlone() throws {
        // One step each: the PIM step's running statistics are those of its first (plain) pass, i.e. ERM's.
        func stats(_ make: (Backbone, SGD) -> (TrainingStep, [TrainingHook])) throws -> [[Float]] {
            let (m, opt) = try model(seed: 9)
            let (step, hooks) = make(m, opt)
            let ctx = StepContext(model: m, optimizer: opt, hooks: hooks)
            ctx.beginStep(); _ = try step.step(try batch(0), ctx)
            return try m.module.namedBuffers().filter { $0.0.hasSuffix("running_mean") }.map { try $0.1.floats() }
        }
        XCTAssertEqual(try stats(pim(alpha: 1)), try stats { _, _ in (ERMStep(), []) })
        XCTAssertEqual(PIMHook.defaultTaps(for: try Backbone.make("convnext_tiny", classes: 2)), ["stage0.block0", "stage0.block1", "stage0.block2"])
        XCTAssertEqual(PIMHook.defaultTaps(for: try Backbone.make("efficientnet-b4", classes: 2)), ["stem", "block1"])
    }
}
