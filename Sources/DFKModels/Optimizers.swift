// Optimizers with torch.optim's update rules (SGD with momentum/Nesterov/weight decay, Adam, AdamW), SAM as a
// wrapper over any of them, learning-rate schedules and gradient-norm clipping.
import DFKTensor
import Foundation

public protocol Optimizer: AnyObject {
    var parameters: [Tensor] { get }
    var learningRate: Double { get set }
    /// Applies one update from the parameters' current gradients (parameters without a gradient are skipped).
    func step() throws
    /// Named state tensors (momentum buffers, moments, step counts) for checkpoints.
    func state() throws -> [(String, Tensor)]
    func loadState(_ s: [(String, Tensor)]) throws
}

extension Optimizer {
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public let momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool
    private var buffers: [Tensor?]

    public init(_ parameters: [Tensor], lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) {
        self.parameters = parameters; learningRate = lr; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    public func step() throws {
        try Autograd.noGrad {
            for (i, p) in parameters.enumerated() {
                guard var g = p.grad else { continue }
                if weightDecay != 0 { g = try g + (try p * weightDecay) }
                if momentum != 0 {
                    if let b = buffers[i] {
                        try b.mulInPlace(momentum)
                        try b.addInPlace(g, alpha: 1 - dampening)
                    } else {
                        buffers[i] = try g.clone()
                    }
                    g = nesterov ? try g + (try buffers[i]! * momentum) : buffers[i]!
                }
                try p.addInPlace(g, alpha: -learningRate)
            }
        }
    }

    public func state() throws -> [(String, Tensor)] {
        buffers.enumerated().compactMap { i, b in b.map { ("\(i).momentum_buffer", $0) } }
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        for (k, t) in s {
            guard k.hasSuffix(".momentum_buffer"), let i = Int(k.split(separator: ".")[0]), i < buffers.count else {
                throw TensorError("unknown SGD state \(k)")
            }
            buffers[i] = try t.to(device: parameters[i].device).clone()
        }
    }
}

/// Adam, or AdamW with `decoupled` weight decay.
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double, decoupled: Bool
    private var m: [Tensor?], v: [Tensor?]
    private var steps: [Int]

    public init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0, decoupled: Bool = false) {
        self.parameters = parameters; learningRate = lr; beta1 = betas.0; beta2 = betas.1; self.eps = eps
        self.weightDecay = weightDecay; self.decoupled = decoupled
        m = Array(repeating: nil, count: parameters.count); v = m
        steps = Array(repeating: 0, count: parameters.count)
    }
    public static func adamW(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                             weightDecay: Double = 1e-2) -> Adam {
        Adam(parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }

    public func step() throws {
        try Autograd.noGrad {
            for (i, p) in parameters.enumerated() {
                guard var g = p.grad else { continue }
                if weightDecay != 0 {
                    if decoupled { try p.mulInPlace(1 - learningRate * weightDecay) } else { g = try g + (try p * weightDecay) }
                }
                if m[i] == nil { m[i] = try Tensor.zeros(p.shape, dtype: p.dtype, device: p.device); v[i] = try m[i]!.clone() }
                steps[i] += 1
                let mi = m[i]!, vi = v[i]!
                try mi.mulInPlace(beta1); try mi.addInPlace(g, alpha: 1 - beta1)
                try vi.mulInPlace(beta2); try vi.addcmulInPlace(g, g, value: 1 - beta2)
                let t = Double(steps[i])
                let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
                let denom = try (try vi.sqrt() / bc2.squareRoot()) + eps
                try p.addcdivInPlace(mi, denom, value: -learningRate / bc1)
            }
        }
    }

    public func state() throws -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for i in parameters.indices {
            guard let mi = m[i], let vi = v[i] else { continue }
            out.append(("\(i).exp_avg", mi)); out.append(("\(i).exp_avg_sq", vi))
            out.append(("\(i).step", try Tensor(int64: [Int64(steps[i])], shape: [])))
        }
        return out
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        for (k, t) in s {
            let parts = k.split(separator: ".")
            guard parts.count == 2, let i = Int(parts[0]), i < parameters.count else { throw TensorError("unknown Adam state \(k)") }
            switch parts[1] {
            case "exp_avg": m[i] = try t.to(device: parameters[i].device).clone()
            case "exp_avg_sq": v[i] = try t.to(device: parameters[i].device).clone()
            case "step": steps[i] = Int(try t.item())
            default: throw TensorError("unknown Adam state \(k)")
            }
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
