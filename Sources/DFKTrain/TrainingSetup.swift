// A training run put together and checked, with no I/O: the network (initialised from the seed, ImageNet weights
// loaded if given, head replaced), the epoch plan, the methods' hooks and sample transforms, the optimizer over
// param groups, the step, and the run's identity. `Trainer` runs it; dfk-bench times its steps.
import DFKCore
import DFKDetect
import DFKImaging
import DFKModels
import DFKSynthesis
import DFKTensor
import Foundation

/// ImageNet (or any) weights to start from, already read: `read(_:)` does the file I/O.
public struct PretrainedWeights {
    /// The file's name, recorded in checkpoints ("pretrained:<name>").
    public let name: String
    public let tensors: [(String, Tensor)]
    public init(name: String, tensors: [(String, Tensor)]) { self.name = name; self.tensors = tensors }
    public static func read(_ path: String) throws -> PretrainedWeights {
        PretrainedWeights(name: URL(fileURLWithPath: path).lastPathComponent, tensors: WeightLayout.native(try WeightFile.read(path).tensors))
    }
}

public struct TrainingSetup {
    public let recipe: Recipe
    public let seed: UInt64
    public let train: [TrainSample]
    public let val: [TrainSample]
    public let backbone: Backbone
    public let plan: EpochPlan
    /// The recipe's step method and the add-ons it turns on.
    public let methods: [any TrainingMethod.Type]
    public let optimizer: Optimizer
    public let step: TrainingStep
    public let hooks: [TrainingHook]
    /// Applied to training faces in order: the add-ons' (PRLE masks the crop its maps were made on), the recipe's
    /// augmentation, then the caller's.
    public let transforms: [SampleTransform]
    public let context: StepContext
    public let execution: Execution
    /// How the weights started, recorded in every checkpoint: "pretrained:<file name>" or "random".
    public let initialization: String
    /// The training records' identity (and what the methods add, e.g. PRLE's maps), compared when a run resumes.
    public let recordsHash: String
    /// What checkpoints say of the detector: backbone, input, test crop, recipe, seed, records.
    public let spec: DetectorSpec

    /// - Parameters:
    ///   - data: what the methods read from the training records (`TrainingMethods.data(from:recipe:)`), by method.
    ///   - hooks, transforms: the caller's own, after the methods'.
    public init(recipe: Recipe, seed: UInt64, train: [TrainSample], val: [TrainSample], pretrained: PretrainedWeights? = nil,
                execution: Execution = .cpu, data: [String: any Sendable] = [:], hooks extraHooks: [TrainingHook] = [],
                transforms extraTransforms: [SampleTransform] = []) throws {
        do { try recipe.validate() } catch let e as RecipeError { throw TrainError("recipe '\(recipe.name)': \(e.description)") }
        guard !train.isEmpty else { throw TrainError("no usable training faces (records need an image and 68/81 landmarks)") }
        if recipe.source != .labelled, !train.contains(where: { $0.label == 0 }) {
            throw TrainError("recipe '\(recipe.name)' makes pseudo-fakes from real faces, but no training record is real (label 0)")
        }
        if recipe.source == .labelled, Set(train.map(\.label)).count < 2 {
            throw TrainError("recipe '\(recipe.name)' trains on labelled faces, but the training records hold only \(train[0].label == 0 ? "real" : "fake") faces")
        }
        let methods = try TrainingMethods.active(recipe)
        let stepMethod = methods[0]
        // fp16 needs loss scaling, which only some steps apply (StepContext.backward); bf16 needs none.
        if execution.precision == .fp16, !stepMethod.capabilities.contains(.lossScaling) {
            throw TrainError("--precision fp16 needs loss scaling, which step \(stepMethod.name) does not apply; use --precision bf16 (or fp32)")
        }
        self.recipe = recipe; self.seed = seed; self.train = train; self.val = val; self.execution = execution; self.methods = methods

        Init.reset(seed: seed)
        backbone = try Backbone.make(recipe.backbone, classes: 1000, imageSize: recipe.size)
        initialization = pretrained.map { "pretrained:" + $0.name } ?? "random"
        if let pretrained {
            let report = try backbone.module.load(pretrained.tensors, strict: false)
            if !report.mismatched.isEmpty || report.loaded.isEmpty { throw TrainError("\(pretrained.name): \(report)") }
        }
        try backbone.replaceHead(classes: 2)
        plan = EpochPlan(recipe: recipe, seed: seed, samples: train)
        let context = MethodContext(recipe: recipe, model: backbone, seed: seed, domains: plan.domains.count, samples: train, data: data)

        // Add-ons first (their hooks weigh the loss, their transforms see the crop first), then the caller's, then
        // what the step prepares (hooks that own parameters: they join the optimizer).
        let addOns = try methods.dropFirst().map { try $0.prepare(context) }
        let prepared = try stepMethod.prepare(context)
        var hooks = addOns.flatMap(\.hooks) + extraHooks + prepared.hooks
        var transforms = addOns.flatMap(\.transforms)
        if let a = AugmentTransform(recipe.augment) { transforms.append(a) }
        self.transforms = transforms + prepared.transforms + extraTransforms

        // The model and the hooks' modules move to the device before anything holds their tensors' data.
        try execution.prepare(backbone.module)
        for h in hooks { try h.prepare(execution) }
        let plain = try TrainingSetup.optimizer(recipe, model: backbone, hooks: hooks)
        let scaler = execution.precision == .fp16 ? LossScaler() : nil
        optimizer = scaler.map { ScaledOptimizer(plain, scaler: $0) } ?? plain
        let (step, stepHooks) = try stepMethod.makeStep(context, optimizer: optimizer, prepared: prepared)
        self.step = step
        hooks += stepHooks
        self.hooks = hooks
        self.context = StepContext(model: backbone, optimizer: optimizer, hooks: hooks, execution: execution, scaler: scaler)

        recordsHash = ([TrainSample.hash(train)] + methods.compactMap { $0.identity(context) }).joined(separator: "-")
        var s = DetectorSpec(backbone: backbone.name, size: recipe.size, mean: recipe.mean, std: recipe.std, testCrop: recipe.testCrop.name)
        s.grayscale = recipe.grayscale
        s.recipe = recipe.name; s.seed = String(seed); s.recordsHash = recordsHash
        spec = s
    }

    /// The recipe's optimizer over param groups: the backbone's parameters at the recipe's rate, then each hook's
    /// group at its factor of it. Backbone parameters a hook's group claims (a head trained at another rate) leave
    /// the backbone's group.
    public static func optimizer(_ recipe: Recipe, model: Backbone, hooks: [TrainingHook]) throws -> Optimizer {
        let hookGroups = hooks.flatMap { h in h.parameterGroups.map { (h.name, $0.parameters, $0.lrScale) } }
        let claimed = Set(hookGroups.flatMap { $0.1.map(ObjectIdentifier.init) })
        let own = model.module.parameters.filter { !claimed.contains(ObjectIdentifier($0)) }
        let groups = [ParamGroup("backbone", own, lr: recipe.lr, weightDecay: recipe.weightDecay)]
            + hookGroups.map { ParamGroup($0.0, $0.1, lr: recipe.lr * $0.2, weightDecay: recipe.weightDecay) }
        let betas = (recipe.betas.first ?? 0.9, recipe.betas.last ?? 0.999)
        do {
            switch recipe.optimizer {
            case .sgd: return try SGD(groups, momentum: recipe.momentum)
            case .adam: return try Adam(groups, betas: betas)
            case .adamw: return try Adam(groups, betas: betas, decoupled: true)
            }
        } catch let e as OptimizerError { throw TrainError("recipe '\(recipe.name)': \(e.description)") }
    }
}

/// The recipe's augmentation as a sample transform (DFKSynthesis/Augment.swift; docs/training.md, Augmentations).
struct AugmentTransform: SampleTransform {
    let name = "augment"
    let kind: Recipe.Augmentation
    init?(_ kind: Recipe.Augmentation) {
        guard kind != .none else { return nil }
        self.kind = kind
    }
    func apply(_ image: Image, sample: TrainSample, rng: inout SampleRNG) throws -> Image {
        switch kind {
        case .none: return image
        case .deepfakebench: return try Augment.apply(image, landmarks: nil, options: .deepfakeBench, rng: &rng).image
        case .pim: return try PIMAugment.apply(image, rng: &rng).image
        }
    }
}
