// RoGA: robust gradient alignment (roga-robust-gradient-alignment.txt), and SAGM as its single-domain case.
//
// The paper's copy has lost its equations; the reading implemented (issue 12, docs/training.md "RoGA") is SAGM
// applied per domain, with the perturbation decoupled (a stop-gradient constant, "we decoupled ... by first
// estimating the value with the current [parameters]"):
//
//   for each domain k (the manipulation methods present in the batch, each with its share of the reals):
//     g_k  = grad L_k(theta)
//     e_k  = (rho / (||g_k|| + 1e-12) - alpha) g_k            (||e_k|| = |rho - alpha ||g_k|||)
//     g~_k = grad L_k(theta + e_k)                            (BatchNorm running statistics frozen in this pass)
//     theta restored exactly (copied back, not recomputed)
//   update with G = mean_k (g_k + g~_k) / 2 through the recipe's optimizer (SGD, lr 0.005).
//
// Variants (`roga.variant`):
//   decoupled (default)  as above.
//   global               e_k = rho g_k / (||g_k|| + 1e-12) - alpha g, g = mean_k g_k (the ERM gradient of the
//                        domain-balanced batch): each domain's ascent is pulled back along the global ERM gradient
//                        instead of its own. Needs every g_k before the first perturbed pass.
//   penalty              an explicit alignment term: per domain J_k = (L_k(theta) + L_k(theta + e_k)) / 2
//                        - alpha <g~_k, g_k>, e_k = rho g_k / (||g_k|| + 1e-12) held constant; its gradient
//                        (g_k + g~_k) / 2 - alpha (H~_k g_k + H_k g~_k) needs two Hessian-vector products (double
//                        backward), one at theta + e_k and one from a third pass at theta. alpha = 0 skips them.
//
// Domains come from `Batch.domains` (0 real, then one per manipulation method): a domain's sub-batch is its fakes
// plus the reals (`roga.reals`: shared - every real row in every sub-batch, as the domain-balanced sampler intends,
// so each sub-batch is its method's real-vs-fake task, balanced; split - the reals dealt out in contiguous, disjoint
// shares). A batch without fakes (or with pseudo-fakes only) is one domain. Unperturbed passes run in training
// mode and update BatchNorm running statistics, as an ERM pass does; perturbed passes put them back afterwards.
// With one domain and alpha = 0, e and g~ are SAM's bit for bit (SAM.firstStep's arithmetic) and the update
// applies (g + g~) / 2 (tested against SAMStep).
import DFKCore
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

extension Recipe {
    public enum RoGAVariant: String, Sendable, CaseIterable {
        /// SAGM per domain, perturbation a stop-gradient constant (the reading, the default).
        case decoupled
        /// Explicit -alpha <g~_k, g_k> alignment penalty, differentiated by double backward.
        case penalty
        /// Each domain's perturbation aligned with the global ERM gradient instead of its own.
        case global
    }
    public enum RoGAReals: String, Sendable, CaseIterable {
        /// Every real row is in every domain's sub-batch.
        case shared
        /// The reals are dealt out: each domain gets a contiguous, disjoint share.
        case split
    }
}

/// One domain's rows of a batch.
public struct DomainSubBatch: Equatable, Sendable {
    /// The domain (a manipulation method's index from `EpochPlan.domains`; 0 when the batch is one domain).
    public let domain: Int
    /// Rows of the batch, in batch order.
    public let rows: [Int]
}

/// What a step reports while it runs (tests and diagnostics); called with the weights in the state named.
public enum RoGAEvent {
    /// The weights are at theta + e_k for sub-batch `index`; `norm` is ||e_k|| as applied, `gradientNorm` ||g_k||.
    case perturbed(index: Int, domain: Int, norm: Double, gradientNorm: Double)
    /// The weights have been put back after sub-batch `index`'s perturbed pass.
    case restored(index: Int, domain: Int)
}

public final class RoGAStep: TrainingStep {
    public var name: String { singleDomain ? "sagm" : "roga" }
    public let rho: Double, alpha: Double
    public let variant: Recipe.RoGAVariant
    public let reals: Recipe.RoGAReals
    /// SAGM: the whole batch is one domain.
    public let singleDomain: Bool
    /// Called at each perturbation and restore (nil in training).
    public var observer: ((RoGAEvent) -> Void)?
    /// The sub-batches of the last step.
    public private(set) var lastSubBatches: [DomainSubBatch] = []

    public init(rho: Double, alpha: Double, variant: Recipe.RoGAVariant = .decoupled, reals: Recipe.RoGAReals = .shared,
                singleDomain: Bool = false) {
        self.rho = rho; self.alpha = alpha; self.variant = variant; self.reals = reals; self.singleDomain = singleDomain
    }

    /// The domain sub-batches of a batch: one per fake domain present (in domain order), each with its fakes and its
    /// reals (all of them when shared, a contiguous share when split); the whole batch when it has no fake domain.
    public static func subBatches(_ b: Batch, reals policy: Recipe.RoGAReals) -> [DomainSubBatch] {
        let realRows = b.labels.indices.filter { b.labels[$0] == 0 }
        var fakes: [Int: [Int]] = [:]
        for i in b.labels.indices where b.labels[i] != 0 { fakes[b.domains[i], default: []].append(i) }
        let domains = fakes.keys.sorted()
        guard domains.count > 1 else { return [DomainSubBatch(domain: domains.first ?? 0, rows: Array(b.labels.indices))] }
        let k = domains.count
        return domains.enumerated().map { j, d in
            let share: [Int]
            switch policy {
            case .shared: share = realRows
            case .split: share = Array(realRows[(j * realRows.count / k)..<((j + 1) * realRows.count / k)])
            }
            return DomainSubBatch(domain: d, rows: (share + (fakes[d] ?? [])).sorted())
        }
    }

    /// The rows of a batch as a batch of their own (the batch itself when it holds every row, in order).
    public static func select(_ b: Batch, rows: [Int]) throws -> Batch {
        if rows == Array(b.labels.indices) { return b }
        let index = try Tensor(int64: rows.map { Int64($0) }, shape: [rows.count]).to(device: b.input.device)
        return Batch(input: try b.input.indexSelect(0, index), target: try b.target.indexSelect(0, index),
                     labels: rows.map { b.labels[$0] }, domains: rows.map { b.domains[$0] },
                     isPseudoFake: rows.map { b.isPseudoFake[$0] }, samples: rows.map { b.samples[$0] })
    }

    /// The L2 norm of a set of gradients, a scalar tensor on their device, as SAM.firstStep computes it.
    static func norm(_ g: [Tensor?]) throws -> Tensor {
        try Autograd.noGrad {
            let present = g.compactMap { $0 }
            return present.isEmpty ? try Tensor.zeros([]) : try Tensor.globalNorm(present)
        }
    }

    public func step(_ b: Batch, _ ctx: StepContext) throws -> Double {
        let params = ctx.optimizer.parameters
        let subs = singleDomain ? [DomainSubBatch(domain: 0, rows: Array(b.labels.indices))] : RoGAStep.subBatches(b, reals: reals)
        lastSubBatches = subs
        let batches = try subs.map { try RoGAStep.select(b, rows: $0.rows) }
        var total: [Tensor?] = Array(repeating: nil, count: params.count)
        /// Adds c g to the total. `owned`: g's tensors are used by nothing else once added (a gradient the parameters
        /// have dropped), so the first can become the total without a copy.
        func accumulate(_ g: [Tensor?], _ c: Double = 1, owned: Bool = false) throws {
            try Autograd.noGrad {
                for (i, t) in g.enumerated() {
                    guard let t else { continue }
                    if let a = total[i] { try a.addInPlace(t, alpha: c) } else { total[i] = c == 1 ? (owned ? t : try t.clone()) : try t * c }
                }
            }
        }
        // zeroGrad drops the gradient tensors (a later backward makes new ones), so holding them is enough.
        func grads() -> [Tensor?] { params.map(\.grad) }
        /// Pass at theta: the domain's loss and its gradient, left in the parameters' gradients.
        func plainPass(_ sb: Batch) throws -> Double {
            ctx.optimizer.zeroGrad()
            let l = try ctx.loss(try ctx.forward(sb), sb)
            try l.backward()
            return try l.item()
        }
        var losses: [Double] = []

        // The global variant needs the mean gradient before any perturbation.
        var perDomain: [[Tensor?]] = []
        var anchor: [Tensor?]?
        if variant == .global && alpha != 0 {
            for sb in batches { losses.append(try plainPass(sb)); perDomain.append(grads()) }
            anchor = try Autograd.noGrad {
                try params.indices.map { i -> Tensor? in
                    let gs = perDomain.compactMap { $0[i] }
                    guard var s = try gs.first?.clone() else { return nil }
                    for g in gs.dropFirst() { try s.addInPlace(g) }
                    s = try s * (1 / Double(batches.count))
                    return s
                }
            }
        }

        for (j, sb) in batches.enumerated() {
            // g_k: recomputed only when not kept from the global variant's first loop.
            let g: [Tensor?]
            if perDomain.isEmpty { losses.append(try plainPass(sb)); g = grads() } else { g = perDomain[j] }
            let gNorm = try RoGAStep.norm(g)
            // g is only read (the perturbation, the penalty's products) before the total is next added to.
            try accumulate(g, owned: true)
            // Perturb: e_k, applied in place; the weights are copied to be restored exactly.
            let saved: [Tensor?] = try Autograd.noGrad { try zip(params, g).map { p, gi in gi == nil ? nil : try p.clone() } }
            let ownAlpha = variant == .decoupled ? alpha : 0
            // rho / (||g|| + 1e-12) - alpha as a scalar tensor: nothing is read back to the host.
            let scale = try Autograd.noGrad { try SAM.scale(rho: rho, norm: gNorm) - ownAlpha }
            var applied: [Tensor] = []
            try Autograd.noGrad {
                for (i, p) in params.enumerated() {
                    guard let gi = g[i] else { continue }
                    var e = try gi * scale
                    if let a = anchor?[i] { e = try e - (try a * alpha) }
                    if observer != nil { applied.append(e) }
                    try p.addInPlace(e)
                }
            }
            if let observer {
                let n = try applied.isEmpty ? 0 : Tensor.globalNorm(applied).item()
                observer(.perturbed(index: j, domain: subs[j].domain, norm: n, gradientNorm: try gNorm.item()))
            }
            // g~_k at theta + e_k, BatchNorm running statistics put back afterwards.
            let stats = try PIMStep.runningStatistics(ctx.model.module)
            ctx.optimizer.zeroGrad()
            let lp = try ctx.loss(try ctx.forward(sb), sb)
            var perturbedGrad: [Tensor?] = []
            if variant == .penalty && alpha != 0 {
                // g~ with its graph; H~ g = grad <g~, g> with g constant.
                let gt = try Autograd.grad([lp], wrt: params, retainGraph: true, createGraph: true)
                perturbedGrad = try Autograd.noGrad { try gt.map { try $0?.detach().clone() } }
                try backwardDot(gt, g, params: params, ctx: ctx)
                try accumulate(grads(), -2 * alpha)
            } else {
                try lp.backward()
                perturbedGrad = grads()
            }
            try PIMStep.restore(stats)
            try Autograd.noGrad { for (p, s) in zip(params, saved) { if let s { try p.copyInPlace(s) } } }
            observer?(.restored(index: j, domain: subs[j].domain))
            try accumulate(perturbedGrad)
            if variant == .penalty && alpha != 0 {
                // Third pass at theta: H g~ = grad <g, g~> with g~ constant; statistics frozen (a repeated pass).
                let stats = try PIMStep.runningStatistics(ctx.model.module)
                let l = try ctx.loss(try ctx.forward(sb), sb)
                let gc = try Autograd.grad([l], wrt: params, retainGraph: true, createGraph: true)
                try backwardDot(gc, perturbedGrad, params: params, ctx: ctx)
                try PIMStep.restore(stats)
                try accumulate(grads(), -2 * alpha)
            }
        }
        // Install G = mean_k (g_k + g~_k) / 2 (penalty: minus alpha times the two Hessian-vector products) and update.
        // Every parameter with a total needs a gradient tensor to receive it; a parameter the last backward did not
        // reach gets one from a graph-only zero (no network pass).
        if zip(params, total).contains(where: { $0.grad == nil && $1 != nil }) {
            var z: Tensor?
            for p in params where p.requiresGrad { let t = try (p * 0.0).sum(); z = try z.map { try $0 + t } ?? t }
            try z?.backward()
        }
        let factor = 0.5 / Double(batches.count)
        try Autograd.noGrad {
            for (p, t) in zip(params, total) {
                guard let pg = p.grad else { continue }
                if let t { try t.mulInPlace(factor); try pg.copyInPlace(t) } else { try pg.mulInPlace(0) }
            }
        }
        try ctx.optimizer.step()
        return losses.reduce(0, +) / Double(max(1, losses.count))
    }

    /// Backpropagates <a, c> (a with its graph, c constant) into the parameters' gradients, zeroed first.
    private func backwardDot(_ a: [Tensor?], _ c: [Tensor?], params: [Tensor], ctx: StepContext) throws {
        var dot: Tensor?
        for (x, y) in zip(a, c) {
            guard let x, let y else { continue }
            let term = try (x * y).sum()
            dot = try dot.map { try $0 + term } ?? term
        }
        ctx.optimizer.zeroGrad()
        guard let dot, dot.requiresGrad else { return }
        try dot.backward()
    }
}

// MARK: - The method

/// RoGA's settings (recipe section `roga`; SAGM reads them too).
public struct RoGAOptions: RecipeSection, Equatable {
    public var variant: Recipe.RoGAVariant = .decoupled
    public var reals: Recipe.RoGAReals = .shared
    public var rho = 0.1
    /// The paper's "optimal" 0.001 (Sec. V-C4); its training details say 0.0002 (docs/training.md, RoGA).
    public var alpha = 0.001
    public init() {}
    public static let key = "roga"
    public static let fields: [RecipeField<RoGAOptions>] = [
        .choice("variant", \.variant),
        .choice("reals", \.reals),
        .double("rho", \.rho, min: 0),
        .double("alpha", \.alpha, min: 0),
    ]
    func step(singleDomain: Bool) -> RoGAStep {
        RoGAStep(rho: rho, alpha: alpha, variant: variant, reals: reals, singleDomain: singleDomain)
    }
}

public enum RoGAMethod: TrainingMethod {
    public static let name = "roga"
    public static let summary = "RoGA: SAGM per domain (manipulation method), gradients averaged over the domains"
    public static let role = MethodRole.step
    public static let sections: [any RecipeSection.Type] = [RoGAOptions.self]
    /// Its passes run per domain sub-batch, so per-sample weights of the whole batch's first pass (NRS) do not apply.
    public static let capabilities: MethodCapabilities = [.domainLabels]
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        (c.recipe[RoGAOptions.self].step(singleDomain: false), [])
    }
}
