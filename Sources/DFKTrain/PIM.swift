// PIM: gradient regularization by perturbing the statistics of shallow features (pim-gradient-regularization.txt,
// eqs. 6-12, Algorithm 1), and DualFlat (eqs. 13-14), which adds SAM's weight perturbation as a third pass.
//
// After each chosen shallow tap, f' = (f - mu) / sigma * (sigma + d_sigma) + (mu + d_mu), with per-instance,
// per-channel mu and sigma = sqrt(var + eps) over H x W and d_mu, d_sigma of shape [C] shared across the batch.
// It is computed as the algebraically equal f + (f - mu) / sigma * d_sigma + d_mu, which at d = 0 returns f exactly
// (so the first pass is the plain network, bit for bit) and has the same gradients as eq. 7.
//
// A step: pass 1 with d = 0 (leaves that require grad) gives L1, the parameter gradients g1 and grad_d;
// d = r * grad_d / ||grad_d|| (one joint L2 norm over every PIM's d_mu and d_sigma), fixed; pass 2 with d gives g2,
// with BatchNorm running statistics restored afterwards (pass 2 does not update them); the update uses
// (1 - alpha) g1 + alpha g2. DualFlat's third pass runs at SAM-perturbed weights (r', PIM off) and gives g3; the
// update uses (1 - alpha - beta) g1 + alpha g2 + beta g3. Passes whose coefficient is 0 are skipped, so alpha = 0
// is plain ERM and DualFlat (0, 1) is SAM, bit for bit. At alpha = 1 (the default) g1 is not needed: pass 1 takes
// only grad_d (Autograd.grad), not the weight gradients.
import DFKCore
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public final class PIMHook: TrainingHook {
    public let name = "pim"
    public let tapNames: [String]
    public let eps: Double
    /// Detach mu and sigma in the perturbed pass (the MixStyle-like reading); the default follows eq. 7 literally.
    public let detachStatistics: Bool

    enum Mode { case off, probe, perturb }
    var mode: Mode = .off
    /// Per tap: (d_mu, d_sigma).
    var deltas: [String: (Tensor, Tensor)] = [:]

    public init(taps: [String], eps: Double = 1e-5, detachStatistics: Bool = false) {
        tapNames = taps; self.eps = eps; self.detachStatistics = detachStatistics
    }

    public var taps: Set<String> { Set(tapNames) }

    /// Where PIM sits by default (the paper: "shallow layers"; ConvNeXt-Base: the 3 blocks of stage 0).
    public static func defaultTaps(for b: Backbone) -> [String] {
        switch b.network {
        case is ConvNeXt: return b.stageTaps.filter { $0.hasPrefix("stage0.block") }
        case is ResNet: return ["stem", "layer1"]
        case is Xception: return ["entry", "block1"]
        case let e as EfficientNet:
            let first = e.config.lite ? 1 : e.config.repeats(1)
            return ["stem", "block\(first - 1)"]
        case is EfficientNetV2: return ["stem", "stage1"]
        default: return Array(b.stageTaps.prefix(2))
        }
    }

    /// f + (f - mu) / sigma * d_sigma + d_mu for a [N, C, H, W] feature map. With `constantStatistics` the
    /// normalised map is computed without a graph: right for the probe pass, where d_sigma = 0 makes every gradient
    /// through it exactly zero (so the parameter gradients are unchanged) and grad d_sigma = sum(g * normalised).
    public static func perturb(_ f: Tensor, dMu: Tensor, dSigma: Tensor, eps: Double, detach: Bool,
                               constantStatistics: Bool = false) throws -> Tensor {
        func normalised() throws -> Tensor {
            var mu = try f.mean(dims: [2, 3], keepDim: true)
            var sigma = try (try f.variance(dims: [2, 3], keepDim: true, biased: true) + eps).sqrt()
            if detach { mu = try mu.detach(); sigma = try sigma.detach() }
            return try (f - mu) / sigma
        }
        let c = f.shape[1]
        let normed = constantStatistics ? try Autograd.noGrad { try normalised() } : try normalised()
        return try (f + (try normed * (try dSigma.reshape([1, c, 1, 1])))) + (try dMu.reshape([1, c, 1, 1]))
    }

    public func transform(tap: String, _ t: Tensor, pass: Int, ctx: StepContext) throws -> Tensor {
        switch mode {
        case .off: return t
        case .probe:
            let c = t.shape[1]
            let dm = try Tensor.zeros([c], dtype: t.dtype, device: t.device).requiresGrad()
            let ds = try Tensor.zeros([c], dtype: t.dtype, device: t.device).requiresGrad()
            deltas[tap] = (dm, ds)
            return try PIMHook.perturb(t, dMu: dm, dSigma: ds, eps: eps, detach: detachStatistics, constantStatistics: true)
        case .perturb:
            guard let (dm, ds) = deltas[tap] else { return t }
            return try PIMHook.perturb(t, dMu: dm, dSigma: ds, eps: eps, detach: detachStatistics)
        }
    }

    /// Turns the probe leaves' gradients into the perturbation d = r grad_d / ||grad_d|| (joint norm); returns the norm.
    /// `grads` gives the gradients per tap when they were taken with `Autograd.grad` (else the leaves' `.grad`).
    /// The norm sums the taps in their configured order, so a run is bit-reproducible.
    /// The norm is a scalar tensor on the taps' device (nothing is read back to the host).
    @discardableResult
    func setPerturbation(radius r: Double, grads: [String: (Tensor?, Tensor?)]? = nil) throws -> Tensor? {
        try Autograd.noGrad {
            let present = tapNames.filter { deltas[$0] != nil }
            let g: [String: (Tensor?, Tensor?)] = grads ?? deltas.mapValues { ($0.0.grad, $0.1.grad) }
            let all = present.flatMap { k in [g[k]?.0, g[k]?.1].compactMap { $0 } }
            let norm = all.isEmpty ? nil : try Tensor.globalNorm(all)
            let scale = try norm.map { try SAM.scale(rho: r, norm: $0) }
            var next: [String: (Tensor, Tensor)] = [:]
            for k in present {
                let (dm, ds) = deltas[k]!
                func scaled(_ d: Tensor, _ grad: Tensor?) throws -> Tensor {
                    guard let grad, let scale else { return try Tensor.zeros(d.shape, dtype: d.dtype, device: d.device) }
                    return try grad * scale
                }
                next[k] = (try scaled(dm, g[k]?.0), try scaled(ds, g[k]?.1))
            }
            deltas = next
            return norm
        }
    }

    /// The probe leaves of the current pass, in tap order, flattened as (d_mu, d_sigma) pairs.
    var probeLeaves: [Tensor] { tapNames.compactMap { deltas[$0] }.flatMap { [$0.0, $0.1] } }
}

/// The PIM step, and DualFlat when `beta` > 0 (SAM's weight perturbation of radius `samRadius` as a third pass).
public final class PIMStep: TrainingStep {
    public var name: String { beta > 0 ? "dualflat" : "pim" }
    public let hook: PIMHook
    public let radius: Double, alpha: Double, beta: Double
    let sam: SAM
    /// At alpha = 1, take only grad_d in pass 1 (no weight gradients); off runs the general path (for tests).
    var gradientOnlyProbe = true

    public init(hook: PIMHook, optimizer: Optimizer, radius: Double, alpha: Double, beta: Double = 0, samRadius: Double = 0.05) {
        self.hook = hook; self.radius = radius; self.alpha = alpha; self.beta = beta
        sam = SAM(base: optimizer, rho: samRadius)
    }

    /// BatchNorm running statistics (and batch counts), to put back after a pass that must not update them.
    static func runningStatistics(_ m: Module) throws -> [(Tensor, Tensor)] {
        try m.namedBuffers().map { ($0.1, try $0.1.clone()) }
    }
    static func restore(_ saved: [(Tensor, Tensor)]) throws {
        try Autograd.noGrad { for (t, s) in saved { try t.copyInPlace(s) } }
    }

    public func step(_ b: Batch, _ ctx: StepContext) throws -> Double {
        let params = ctx.optimizer.parameters
        ctx.optimizer.zeroGrad()
        // Pass 1: the plain network (d = 0, leaves that require grad) -> g1 and grad_d.
        hook.mode = alpha > 0 ? .probe : .off
        let l1 = try ctx.loss(try ctx.forward(b), b)
        let value = try l1.item()
        let c1 = 1 - alpha - beta
        if c1 == 0 && beta == 0 && gradientOnlyProbe {
            // alpha = 1 (the paper's default): the update is g2 alone, so pass 1 needs only grad_d. Taking it with
            // Autograd.grad skips every weight gradient of pass 1 (about a third of a plain step's work).
            let leaves = hook.probeLeaves
            let g = try Autograd.grad([l1], wrt: leaves)
            var grads: [String: (Tensor?, Tensor?)] = [:]
            for (i, k) in hook.tapNames.filter({ hook.deltas[$0] != nil }).enumerated() { grads[k] = (g[2 * i], g[2 * i + 1]) }
            try hook.setPerturbation(radius: radius, grads: grads)
            hook.mode = .perturb
            let saved = try PIMStep.runningStatistics(ctx.model.module)
            ctx.optimizer.zeroGrad()
            try ctx.loss(try ctx.forward(b), b).backward()
            try PIMStep.restore(saved)
            hook.mode = .off
            hook.deltas = [:]
            try ctx.optimizer.step()
            return value
        }
        try l1.backward()
        if alpha == 0 && beta == 0 { hook.mode = .off; try ctx.optimizer.step(); return value }
        /// Pass 2: perturbed statistics, BatchNorm running statistics untouched; leaves g2 in the gradients.
        func perturbedPass() throws {
            try hook.setPerturbation(radius: radius)
            hook.mode = .perturb
            let saved = try PIMStep.runningStatistics(ctx.model.module)
            ctx.optimizer.zeroGrad()
            try ctx.loss(try ctx.forward(b), b).backward()
            try PIMStep.restore(saved)
        }
        let g1: [Tensor?] = try Autograd.noGrad { try params.map { try $0.grad?.clone() } }
        var combined: [Tensor?] = try Autograd.noGrad { try g1.map { try $0.map { try $0 * c1 } } }
        func accumulate(_ coefficient: Double) throws {
            try Autograd.noGrad {
                for (i, p) in params.enumerated() {
                    guard let g = p.grad else { continue }
                    if let c = combined[i] { try c.addInPlace(g, alpha: coefficient) } else { combined[i] = try g * coefficient }
                }
            }
        }
        if alpha > 0 {
            try perturbedPass()
            try accumulate(alpha)
        }
        hook.mode = .off
        hook.deltas = [:]
        if beta > 0 {
            // Pass 3 (DualFlat): at the SAM-perturbed weights along g1, PIM off; then restore the weights exactly.
            try Autograd.noGrad { for (p, g) in zip(params, g1) { if let g, let pg = p.grad { try pg.copyInPlace(g) } } }
            try sam.firstStep()
            ctx.optimizer.zeroGrad()
            try ctx.loss(try ctx.forward(b), b).backward()
            try sam.restore()
            try accumulate(beta)
        }
        // Install the combined gradient and update.
        try Autograd.noGrad {
            for (p, c) in zip(params, combined) {
                guard let c, let g = p.grad else { continue }
                try g.copyInPlace(c)
            }
        }
        try ctx.optimizer.step()
        return value
    }
}

// MARK: - The method

/// PIM's settings (recipe section `pim`; DualFlat reads it too).
public struct PIMOptions: RecipeSection, Equatable {
    /// Taps after which the statistics are perturbed ("auto": `PIMHook.defaultTaps`).
    public var taps: TapSelection = .auto
    /// Radius r of the statistics perturbation.
    public var radius = 0.1
    /// Weight of the perturbed pass's gradient (1 - alpha goes to the clean pass's).
    public var alpha = 1.0
    public var detachStatistics = false
    public init() {}
    public static let key = "pim"
    public static let fields: [RecipeField<PIMOptions>] = [
        .parsed("taps", \.taps, kind: "auto or comma-separated stage tap names", parse: { TapSelection($0) }, show: \.description),
        .double("radius", \.radius, min: 0),
        .double("alpha", \.alpha, min: 0, max: 1),
        .bool("detach_statistics", \.detachStatistics),
    ]

    /// The taps on a network: the defaults, or the named ones, each checked against the network's stage taps.
    public func resolvedTaps(for model: Backbone) throws -> [String] {
        let names: [String]
        switch taps {
        case .auto: names = PIMHook.defaultTaps(for: model)
        case .named(let n): names = n
        }
        let unknown = names.filter { !model.stageTaps.contains($0) }
        guard !names.isEmpty, unknown.isEmpty else {
            throw TrainError("pim.taps: \(unknown.joined(separator: ", ")) not a stage of \(model.name) (stages: \(model.stageTaps.joined(separator: ", ")))")
        }
        return names
    }

    /// Named taps are checked against the recipe's backbone when the recipe loads (the network is built for it).
    func validateTaps(backbone: String) throws {
        guard case .named = taps else { return }
        do { _ = try resolvedTaps(for: try Backbone.make(backbone, classes: 2)) } catch let e as TrainError {
            throw RecipeError(e.description)
        }
    }

    /// The PIM step over `optimizer` with DualFlat's third pass when `beta` > 0.
    func step(_ c: MethodContext, optimizer: Optimizer, beta: Double, samRadius: Double) throws -> (TrainingStep, [TrainingHook]) {
        let hook = PIMHook(taps: try resolvedTaps(for: c.model), detachStatistics: detachStatistics)
        return (PIMStep(hook: hook, optimizer: optimizer, radius: radius, alpha: alpha, beta: beta, samRadius: samRadius), [hook])
    }
}

public enum PIMMethod: TrainingMethod {
    public static let name = "pim"
    public static let summary = "PIM: shallow feature statistics perturbed along the loss gradient, a second pass"
    public static let role = MethodRole.step
    public static let sections: [any RecipeSection.Type] = [PIMOptions.self]
    public static let capabilities: MethodCapabilities = [.perSampleWeights]
    public static func validate(_ r: Recipe) throws { try r[PIMOptions.self].validateTaps(backbone: r.backbone) }
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        try c.recipe[PIMOptions.self].step(c, optimizer: optimizer, beta: 0, samRadius: 0.05)
    }
}
