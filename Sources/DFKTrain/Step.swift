// The open training core: a training step (forward passes, losses, backward, optimizer update) is a type that
// conforms to `TrainingStep`; what a method adds around the network (feature taps, modules inserted after a named
// stage, extra parameters with their own learning rates, per-sample loss weights, state in checkpoints) is a
// `TrainingHook`. Methods (Method.swift) build them: ERM and SAM (Methods/) are the first two steps; NRS is a hook
// (NRSHook.swift). docs/architecture.md walks through adding a method.
import DFKCore
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

/// One batch as the network sees it.
public struct Batch {
    /// Images, [B, 3, S, S], normalised.
    public var input: Tensor
    /// Class targets, int64 [B] (0 real, 1 fake).
    public var target: Tensor
    public var labels: [Int]
    /// Domain of each row: 0 real, then one index per manipulation method (`EpochPlan.domains`).
    public var domains: [Int]
    /// Rows that are self-blended pseudo-fakes made in this batch.
    public var isPseudoFake: [Bool]
    /// The samples the rows came from (a pair's real and fake share one).
    public var samples: [Int]
    public var count: Int { labels.count }
    public init(input: Tensor, target: Tensor, labels: [Int], domains: [Int], isPseudoFake: [Bool], samples: [Int]) {
        self.input = input; self.target = target; self.labels = labels; self.domains = domains
        self.isPseudoFake = isPseudoFake; self.samples = samples
    }
}

/// The outputs of one forward pass: logits and every tapped tensor a hook asked for.
public struct ForwardPass {
    public let logits: Tensor
    public let taps: [String: Tensor]
    /// 0 for the first (unperturbed) pass of a step, 1, 2... for the passes after it.
    public let index: Int
}

/// What a step works with: the model, the optimizer, the hooks, the epoch.
public final class StepContext {
    public let model: Backbone
    public let optimizer: Optimizer
    public let hooks: [TrainingHook]
    public internal(set) var epoch = 0
    /// Passes run in the current step.
    public private(set) var passes = 0
    /// Per-sample weights of the current step, decided on its first pass and kept for the others.
    private var weights: Tensor?
    /// The first pass of the current step (what hooks see after the step).
    public private(set) var firstPass: ForwardPass?
    /// The device and precision the model runs in (batches arrive there already).
    public let execution: Execution
    /// fp16's loss scaler (nil otherwise): `backward` scales the loss, the optimizer (a `ScaledOptimizer`) unscales.
    public let scaler: LossScaler?

    public init(model: Backbone, optimizer: Optimizer, hooks: [TrainingHook], execution: Execution = .cpu, scaler: LossScaler? = nil) {
        self.model = model; self.optimizer = optimizer; self.hooks = hooks; self.execution = execution; self.scaler = scaler
    }

    /// Backpropagates a loss (scaled first under fp16 loss scaling). Steps that support fp16 call this.
    public func backward(_ loss: Tensor) throws {
        if let scaler { try (try loss * scaler.scale).backward() } else { try loss.backward() }
    }

    /// Called by the trainer before each step.
    public func beginStep() { passes = 0; weights = nil; firstPass = nil }

    /// Runs the network on the batch in training mode, recording the taps hooks read and letting hooks replace
    /// tapped tensors (e.g. a module inserted after a stage).
    public func forward(_ b: Batch) throws -> ForwardPass {
        let index = passes
        passes += 1
        var recorded: [String: Tensor] = [:]
        let wanted = hooks.reduce(into: Set<String>()) { $0.formUnion($1.taps) }
        var logits = try execution.forward {
            try model.forward(b.input) { name, t in
                var t = t
                for h in self.hooks where h.taps.contains(name) { t = try h.transform(tap: name, t, pass: index, ctx: self) }
                if wanted.contains(name) { recorded[name] = t }
                return t
            }
        }
        // Losses are computed in float32 (what autocast does for them inside its region).
        if logits.dtype != .float32 { logits = try logits.to(.float32) }
        let f = ForwardPass(logits: logits, taps: recorded, index: index)
        if index == 0 { firstPass = f }
        return f
    }

    /// The training loss of a pass: cross-entropy per sample, times the hooks' per-sample weights (decided on the
    /// step's first pass), averaged (eq. 9 of the BBMG/NRS paper when NRS weights are on).
    public func loss(_ f: ForwardPass, _ b: Batch) throws -> Tensor {
        let per = try F.crossEntropy(f.logits, b.target, reduction: .none)
        if f.index == 0 {
            var w: [Float]?
            for h in hooks {
                guard let hw = try h.weights(f, b, ctx: self) else { continue }
                w = w.map { zip($0, hw).map { $0 * $1 } } ?? hw
            }
            weights = try w.map { try execution.place(try Tensor($0, shape: [b.count])) }
        }
        guard let weights else { return try per.mean() }
        return try (per * weights).mean()
    }
}

/// One optimisation step. Implementations call `ctx.forward` / `ctx.loss` as many times as their method needs,
/// run backward, and update with `ctx.optimizer`; they return the loss of the first (unperturbed) pass.
public protocol TrainingStep: AnyObject {
    var name: String { get }
    func step(_ b: Batch, _ ctx: StepContext) throws -> Double
}

/// What a method adds around the network. Every requirement has a default that does nothing.
public protocol TrainingHook: AnyObject {
    /// Prefix of this hook's state in checkpoints.
    var name: String { get }
    /// Tap names this hook reads or replaces (see `ClassifierNetwork`: stage taps, the map tap, "features").
    var taps: Set<String> { get }
    /// Replaces a tapped tensor (a module inserted after a named stage); the default returns it unchanged.
    func transform(tap: String, _ t: Tensor, pass: Int, ctx: StepContext) throws -> Tensor
    /// Per-sample loss weights, asked on the first pass of each step; nil leaves every weight at 1.
    func weights(_ f: ForwardPass, _ b: Batch, ctx: StepContext) throws -> [Float]?
    /// Extra trainable parameters (heads, discriminators) and the factor applied to the recipe's learning rate.
    /// A group may claim backbone parameters (e.g. the classifier head): they then leave the backbone's group.
    var parameterGroups: [(parameters: [Tensor], lrScale: Double)] { get }
    /// Modules this hook inserts at taps that stay in the network at inference: validation and checkpoints (and
    /// so scoring) run them.
    var inserts: [InferenceInsert] { get }
    func beginEpoch(_ epoch: Int) throws
    /// After each step, with the step's first pass.
    func afterStep(_ first: ForwardPass, _ b: Batch, ctx: StepContext) throws
    func endEpoch(_ epoch: Int) throws
    /// Fields added to the epoch's log line.
    var epochLog: [(String, JSONValue)] { get }
    /// State saved in checkpoints (names are prefixed by the trainer) and restored on resume.
    func state() throws -> [(String, Tensor)]
    func loadState(_ s: [(String, Tensor)]) throws
    /// Moves the modules this hook owns (heads, inserts, estimators) to where the model runs.
    func prepare(_ execution: Execution) throws
}

extension TrainingHook {
    public var taps: Set<String> { [] }
    public func transform(tap: String, _ t: Tensor, pass: Int, ctx: StepContext) throws -> Tensor { t }
    public func weights(_ f: ForwardPass, _ b: Batch, ctx: StepContext) throws -> [Float]? { nil }
    public var parameterGroups: [(parameters: [Tensor], lrScale: Double)] { [] }
    public var inserts: [InferenceInsert] { [] }
    public func beginEpoch(_ epoch: Int) throws {}
    public func afterStep(_ first: ForwardPass, _ b: Batch, ctx: StepContext) throws {}
    public func endEpoch(_ epoch: Int) throws {}
    public var epochLog: [(String, JSONValue)] { [] }
    public func state() throws -> [(String, Tensor)] { [] }
    public func loadState(_ s: [(String, Tensor)]) throws {}
    public func prepare(_ execution: Execution) throws {}
}
