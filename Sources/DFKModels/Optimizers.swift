// Optimizers with torch.optim's update rules (SGD with momentum/Nesterov/weight decay, Adam, AdamW), SAM as a
// wrapper over any of them, learning-rate schedules and gradient-norm clipping.
import DFKTensor
import Foundation

/// A set of parameters updated with its own learning rate and weight decay (torch.optim's param groups).
/// `initialLR` is what schedules scale (torch.optim's `initial_lr`); `lr` is the rate in force.
public struct ParamGroup {
    public var name: String
    public var parameters: [Tensor]
    public var lr: Double
    public let initialLR: Double
    public var weightDecay: Double
    public init(_ name: String, _ parameters: [Tensor], lr: Double, weightDecay: Double = 0) {
        self.name = name; self.parameters = parameters; self.lr = lr; initialLR = lr; self.weightDecay = weightDecay
    }
    public init(_ parameters: [Tensor], lr: Double, weightDecay: Double = 0) { self.init("params", parameters, lr: lr, weightDecay: weightDecay) }
}

public struct OptimizerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ m: String) { description = m }
}

/// Checks what torch.optim checks at construction: finite, non-negative rates and decays, no empty optimizer,
/// no parameter in two groups.
func checkGroups(_ groups: [ParamGroup], _ optimizer: String) throws {
    guard groups.contains(where: { !$0.parameters.isEmpty }) else { throw OptimizerError("\(optimizer): got an empty parameter list") }
    var seen = Set<ObjectIdentifier>()
    for g in groups {
        guard g.lr.isFinite, g.lr >= 0 else { throw OptimizerError("\(optimizer): group '\(g.name)': invalid learning rate \(g.lr)") }
        guard g.weightDecay.isFinite, g.weightDecay >= 0 else {
            throw OptimizerError("\(optimizer): group '\(g.name)': invalid weight decay \(g.weightDecay)")
        }
        for p in g.parameters where !seen.insert(ObjectIdentifier(p)).inserted {
            throw OptimizerError("\(optimizer): some parameters appear in more than one parameter group (group '\(g.name)')")
        }
    }
}

public protocol Optimizer: AnyObject {
    /// The parameter groups, in order; state keys number the parameters across them (torch.optim's state_dict).
    var groups: [ParamGroup] { get }
    /// Sets the learning rate in force for group `group`.
    func setLearningRate(_ lr: Double, group: Int)
    /// Applies one update from the parameters' current gradients (parameters without a gradient are skipped).
    func step() throws
    /// Named state tensors ("<index>.momentum_buffer", "<index>.exp_avg", ...) for checkpoints.
    func state() throws -> [(String, Tensor)]
    func loadState(_ s: [(String, Tensor)]) throws
}

extension Optimizer {
    /// Every parameter of every group, in order.
    public var parameters: [Tensor] { groups.flatMap(\.parameters) }
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
    /// Every group's rate from a schedule applied to its own initial rate.
    public func schedule(_ s: LRSchedule, epoch: Int) {
        for (i, g) in groups.enumerated() { setLearningRate(s.rate(base: g.initialLR, epoch: epoch), group: i) }
    }
}

/// Per-parameter state keys: "<index>.<name>" with the index across all groups. Files written before param groups
/// were typed numbered each group on its own ("g<group>.<index>.<name>"); they are read too.
func stateKey(_ key: String, groups: [ParamGroup]) -> (index: Int, name: String)? {
    var parts = key.split(separator: ".").map(String.init)
    var offset = 0
    if parts.count == 3, parts[0].hasPrefix("g"), let g = Int(parts[0].dropFirst()), g < groups.count {
        offset = groups.prefix(g).reduce(0) { $0 + $1.parameters.count }
        parts.removeFirst()
    }
    guard parts.count == 2, let i = Int(parts[0]), i >= 0, offset + i < groups.reduce(0, { $0 + $1.parameters.count }) else { return nil }
    return (offset + i, parts[1])
}

public final class SGD: Optimizer {
    public private(set) var groups: [ParamGroup]
    public let momentum: Double, dampening: Double, nesterov: Bool
    /// Typed state: the momentum buffer of each parameter (index across groups), made on its first update.
    private var momentumBuffers: [Tensor?]

    public init(_ groups: [ParamGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) throws {
        try checkGroups(groups, "SGD")
        guard momentum.isFinite, momentum >= 0 else { throw OptimizerError("SGD: invalid momentum \(momentum)") }
        guard dampening.isFinite, dampening >= 0 else { throw OptimizerError("SGD: invalid dampening \(dampening)") }
        if nesterov, momentum <= 0 || dampening != 0 { throw OptimizerError("SGD: Nesterov momentum requires a momentum and zero dampening") }
        self.groups = groups; self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        momentumBuffers = Array(repeating: nil, count: groups.reduce(0) { $0 + $1.parameters.count })
    }
    public convenience init(_ parameters: [Tensor], lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                            nesterov: Bool = false) throws {
        try self.init([ParamGroup(parameters, lr: lr, weightDecay: weightDecay)], momentum: momentum, dampening: dampening, nesterov: nesterov)
    }

    public func setLearningRate(_ lr: Double, group: Int) { groups[group].lr = lr }

    public func step() throws {
        try Autograd.noGrad {
            var i = 0
            for group in groups {
                for p in group.parameters {
                    defer { i += 1 }
                    guard var g = p.grad else { continue }
                    if group.weightDecay != 0 { g = try g + (try p * group.weightDecay) }
                    if momentum != 0 {
                        let buffer: Tensor
                        if let b = momentumBuffers[i] {
                            try b.mulInPlace(momentum)
                            try b.addInPlace(g, alpha: 1 - dampening)
                            buffer = b
                        } else {
                            buffer = try g.clone()
                            momentumBuffers[i] = buffer
                        }
                        g = nesterov ? try g + (try buffer * momentum) : buffer
                    }
                    try p.addInPlace(g, alpha: -group.lr)
                }
            }
        }
    }

    public func state() throws -> [(String, Tensor)] {
        momentumBuffers.enumerated().compactMap { i, b in b.map { ("\(i).momentum_buffer", $0) } }
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        let params = parameters
        for (k, t) in s {
            guard let (i, name) = stateKey(k, groups: groups), name == "momentum_buffer" else { throw OptimizerError("unknown SGD state \(k)") }
            guard t.shape == params[i].shape else { throw OptimizerError("SGD state \(k): shape \(t.shape), parameter \(params[i].shape)") }
            momentumBuffers[i] = try t.to(device: params[i].device).clone()
        }
    }
}

/// Adam, or AdamW with `decoupled` weight decay.
public final class Adam: Optimizer {
    public private(set) var groups: [ParamGroup]
    public let beta1: Double, beta2: Double, eps: Double, decoupled: Bool
    /// Typed state of one parameter: first and second moments and its step count.
    struct Moments { var expAvg: Tensor; var expAvgSq: Tensor; var step: Int }
    private var moments: [Moments?]

    public init(_ groups: [ParamGroup], betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, decoupled: Bool = false) throws {
        try checkGroups(groups, decoupled ? "AdamW" : "Adam")
        guard betas.0.isFinite, betas.1.isFinite, (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
            throw OptimizerError("\(decoupled ? "AdamW" : "Adam"): invalid betas (\(betas.0), \(betas.1)): each must be in [0, 1)")
        }
        guard eps.isFinite, eps >= 0 else { throw OptimizerError("Adam: invalid epsilon \(eps)") }
        self.groups = groups; beta1 = betas.0; beta2 = betas.1; self.eps = eps; self.decoupled = decoupled
        moments = Array(repeating: nil, count: groups.reduce(0) { $0 + $1.parameters.count })
    }
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 0, decoupled: Bool = false) throws {
        try self.init([ParamGroup(parameters, lr: lr, weightDecay: weightDecay)], betas: betas, eps: eps, decoupled: decoupled)
    }
    public static func adamW(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                             weightDecay: Double = 1e-2) throws -> Adam {
        try Adam(parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }

    public func setLearningRate(_ lr: Double, group: Int) { groups[group].lr = lr }

    public func step() throws {
        try Autograd.noGrad {
            var i = 0
            for group in groups {
                let lr = group.lr, wd = group.weightDecay
                for p in group.parameters {
                    defer { i += 1 }
                    guard var g = p.grad else { continue }
                    if wd != 0 {
                        if decoupled { try p.mulInPlace(1 - lr * wd) } else { g = try g + (try p * wd) }
                    }
                    var m = try moments[i] ?? {
                        let z = try Tensor.zeros(p.shape, dtype: p.dtype, device: p.device)
                        return Moments(expAvg: z, expAvgSq: try z.clone(), step: 0)
                    }()
                    m.step += 1
                    moments[i] = m
                    try m.expAvg.mulInPlace(beta1); try m.expAvg.addInPlace(g, alpha: 1 - beta1)
                    try m.expAvgSq.mulInPlace(beta2); try m.expAvgSq.addcmulInPlace(g, g, value: 1 - beta2)
                    let t = Double(m.step)
                    let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
                    let denom = try (try m.expAvgSq.sqrt() / bc2.squareRoot()) + eps
                    try p.addcdivInPlace(m.expAvg, denom, value: -lr / bc1)
                }
            }
        }
    }

    public func state() throws -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for (i, m) in moments.enumerated() {
            guard let m else { continue }
            out.append(("\(i).exp_avg", m.expAvg)); out.append(("\(i).exp_avg_sq", m.expAvgSq))
            out.append(("\(i).step", try Tensor(int64: [Int64(m.step)], shape: [])))
        }
        return out
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        let params = parameters
        var parts: [Int: (avg: Tensor?, sq: Tensor?, step: Int?)] = [:]
        for (k, t) in s {
            guard let (i, name) = stateKey(k, groups: groups) else { throw OptimizerError("unknown Adam state \(k)") }
            switch name {
            case "exp_avg", "exp_avg_sq":
                guard t.shape == params[i].shape else { throw OptimizerError("Adam state \(k): shape \(t.shape), parameter \(params[i].shape)") }
                let v = try t.to(device: params[i].device).clone()
                if name == "exp_avg" { parts[i, default: (nil, nil, nil)].avg = v } else { parts[i, default: (nil, nil, nil)].sq = v }
            case "step":
                let n = try t.item()
                guard n.isFinite, n >= 0, n < 1e15 else { throw OptimizerError("Adam state \(k): invalid step count \(n)") }
                parts[i, default: (nil, nil, nil)].step = Int(n)
            default: throw OptimizerError("unknown Adam state \(k)")
            }
        }
        for (i, p) in parts {
            guard let avg = p.avg, let sq = p.sq, let step = p.step else { throw OptimizerError("Adam state of parameter \(i) is incomplete") }
            moments[i] = Moments(expAvg: avg, expAvgSq: sq, step: step)
        }
    }
}

/// Sharpness-Aware Minimization (Foret et al.): ascend to w + rho * g / ||g||, take the gradient there, then update
/// the original weights with the base optimizer. The original weights are copied, not recomputed, so the
/// perturb-and-restore is exact. Batch norm: the reference SBI code runs both passes in training mode (running
/// statistics updated twice per step); that is what calling the model twice in train mode does.
public final class SAM {
    public let base: Optimizer
    public let rho: Double
    public let adaptive: Bool
    private var saved: [Tensor?] = []

    public init(base: Optimizer, rho: Double = 0.05, adaptive: Bool = false) {
        self.base = base; self.rho = rho; self.adaptive = adaptive
    }
    public var parameters: [Tensor] { base.parameters }

    /// Moves the weights to the worst-case neighbour using the current gradients; returns the gradient norm as a
    /// scalar tensor on the parameters' device (read it only when needed: reading waits for a GPU).
    @discardableResult
    public func firstStep() throws -> Tensor? {
        try Autograd.noGrad {
            let present = parameters.filter { $0.grad != nil }
            guard !present.isEmpty else { saved = parameters.map { _ in nil }; return nil }
            let scaledGrads = try present.map { p in adaptive ? try p.grad! * (try p.abs()) : p.grad! }
            let norm = try Tensor.globalNorm(scaledGrads)
            let scale = try SAM.scale(rho: rho, norm: norm)
            saved = try parameters.map { p in p.grad == nil ? nil : try p.clone() }
            for p in present {
                var e = try p.grad! * scale
                if adaptive { e = try e * (try p.square()) }
                try p.addInPlace(e)
            }
            return norm
        }
    }

    /// rho / (||g|| + 1e-12), as a scalar tensor on the norm's device: the perturbation's scale, with no host sync.
    public static func scale(rho: Double, norm: Tensor) throws -> Tensor {
        try (try norm + 1e-12).reciprocal() * rho
    }

    /// Restores the original weights exactly, then updates them with the base optimizer using the current
    /// gradients (those computed at the perturbed point).
    public func secondStep() throws {
        try restore()
        try base.step()
    }

    /// Restores the weights saved by `firstStep` exactly, without updating (for steps that combine gradients).
    public func restore() throws {
        try Autograd.noGrad {
            for (p, s) in zip(parameters, saved) { if let s { try p.copyInPlace(s) } }
        }
        saved = []
    }

    /// One full SAM step: `closure` computes the loss and calls backward (it runs twice).
    @discardableResult
    public func step(_ closure: () throws -> Double) throws -> Double {
        base.zeroGrad()
        let loss = try closure()
        try firstStep()
        base.zeroGrad()
        _ = try closure()
        try secondStep()
        return loss
    }
}

public enum LRSchedule: Sendable, Equatable {
    case constant
    /// SBI: constant until `decayStart` epochs (75 of 100), then linear to zero at `total`.
    case linearDecay(total: Int, decayStart: Int)
    case step(every: Int, gamma: Double)
    case cosine(total: Int, minimum: Double)

    /// Learning rate for a 0-based epoch.
    public func rate(base: Double, epoch: Int) -> Double {
        switch self {
        case .constant: return base
        case .linearDecay(let total, let start):
            guard epoch >= start else { return base }
            return base * Swift.max(0, Double(total - epoch)) / Double(Swift.max(1, total - start))
        case .step(let every, let gamma): return base * Foundation.pow(gamma, Double(epoch / Swift.max(1, every)))
        case .cosine(let total, let minimum):
            let t = Double(Swift.min(epoch, total)) / Double(Swift.max(1, total))
            return minimum + (base - minimum) * (1 + cos(Double.pi * t)) / 2
        }
    }
}

/// Scales the gradients so that their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_, with its
/// clamped coefficient, so nothing is read back to the host). Returns the norm before clipping, a scalar tensor.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double) throws -> Tensor? {
    try Autograd.noGrad {
        let grads = parameters.compactMap(\.grad)
        guard !grads.isEmpty else { return nil }
        let total = try Tensor.globalNorm(grads)
        let coef = try (try (try total + 1e-6).reciprocal() * maxNorm).clampMax(1)
        for g in grads { try g.mulInPlace(g.dtype == .float32 ? coef : try coef.to(g.dtype)) }
        return total
    }
}
