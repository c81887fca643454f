// The training-method registry. A method is one type conforming to `TrainingMethod`, in one file: its name, its
// typed recipe sections, the rules `validate` checks when a recipe loads, its capabilities, and what it builds
// (hooks and sample transforms before the optimizer exists, then the step). The build tool plugin
// RegisterMethods lists every such type of this target (RegisteredMethods.swift, generated), so adding a method
// is adding its file and its recipe YAML; nothing else names it. docs/architecture.md walks through one.
//
// Two roles: a step method (erm, sam, pim, dualflat, roga, sagm, did) is chosen by `step.name` and makes the
// optimisation step; an add-on (nrs, prle) is turned on by its own section and adds hooks or sample transforms
// around whichever step runs.
import DFKCore
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public enum MethodRole: Sendable { case step, addOn }

public struct MethodCapabilities: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Runs under fp16: its step backpropagates through `StepContext.backward` and updates once through the
    /// (scaled) optimizer, so loss scaling applies.
    public static let lossScaling = MethodCapabilities(rawValue: 1)
    /// Honours per-sample loss weights decided on the whole batch's first pass (what NRS sets).
    public static let perSampleWeights = MethodCapabilities(rawValue: 2)
    /// Needs a domain per fake face (the manipulation method of labelled data: data.source labelled or both).
    public static let domainLabels = MethodCapabilities(rawValue: 4)
}

/// What a method builds from: the resolved recipe, the network (head already replaced), the seed, the training
/// set and what the method read from the training records.
public struct MethodContext {
    public let recipe: Recipe
    public let model: Backbone
    public let seed: UInt64
    /// Domain classes: real + one per manipulation method (`EpochPlan.domains.count`).
    public let domains: Int
    public let samples: [TrainSample]
    /// Per method name, what `TrainingMethod.data(from:recipe:)` read from the training records.
    public let data: [String: any Sendable]
}

/// Hooks and sample transforms a method adds.
public struct MethodParts {
    public var hooks: [TrainingHook] = []
    public var transforms: [SampleTransform] = []
    public init(hooks: [TrainingHook] = [], transforms: [SampleTransform] = []) { self.hooks = hooks; self.transforms = transforms }
}

public protocol TrainingMethod {
    /// `step.name` of a step method; the section that turns an add-on on.
    static var name: String { get }
    static var summary: String { get }
    static var role: MethodRole { get }
    /// The recipe sections this method reads (declared by it, or by a method it builds on).
    static var sections: [any RecipeSection.Type] { get }
    static var capabilities: MethodCapabilities { get }
    /// Whether an add-on is on (step methods: chosen by `step.name`).
    static func enabled(in recipe: Recipe) -> Bool
    /// Rules on the resolved recipe, run when it loads (with the shared rules; `Recipe.validate`).
    static func validate(_ recipe: Recipe) throws
    /// What the method needs of the training records beyond faces (PRLE: each face's map); nil: nothing.
    static func data(from records: [(source: String, record: Record)], recipe: Recipe) -> (any Sendable)?
    /// The part of the run's identity that this data adds (compared when a run resumes); nil: none.
    static func identity(_ context: MethodContext) -> String?
    /// Hooks and transforms made before the optimizer: the hooks' parameter groups join it.
    static func prepare(_ context: MethodContext) throws -> MethodParts
    /// The step and the hooks it adds (step methods), given the optimizer and what `prepare` made.
    static func makeStep(_ context: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook])
}

extension TrainingMethod {
    public static var sections: [any RecipeSection.Type] { [] }
    public static var capabilities: MethodCapabilities { [] }
    public static func enabled(in recipe: Recipe) -> Bool { role == .step && recipe.method.rawValue == name }
    public static func validate(_ recipe: Recipe) throws {}
    public static func data(from records: [(source: String, record: Record)], recipe: Recipe) -> (any Sendable)? { nil }
    public static func identity(_ context: MethodContext) -> String? { nil }
    public static func prepare(_ context: MethodContext) throws -> MethodParts { MethodParts() }
    public static func makeStep(_ context: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        throw TrainError("\(name) is an add-on (turned on by its section), not a step: choose a step with step.name")
    }
}

/// Every registered method, by name.
public enum TrainingMethods {
    /// The registered methods (the plugin's list), by name.
    public static let all: [any TrainingMethod.Type] = registered.sorted { $0.name < $1.name }

    public static func named(_ name: String) -> (any TrainingMethod.Type)? { all.first { $0.name == name } }

    /// The names `step.name` takes.
    public static var stepNames: [String] { all.filter { $0.role == .step }.map { $0.name } }

    /// The recipe's step method.
    public static func step(for recipe: Recipe) throws -> any TrainingMethod.Type {
        guard let m = named(recipe.method.rawValue), m.role == .step else {
            throw RecipeError("step.name: '\(recipe.method)' is not a training step (known: \(stepNames.joined(separator: ", ")))")
        }
        return m
    }

    /// The step method, then every add-on the recipe turns on (by name).
    public static func active(_ recipe: Recipe) throws -> [any TrainingMethod.Type] {
        [try step(for: recipe)] + all.filter { $0.role == .addOn && $0.enabled(in: recipe) }
    }

    /// The rules of the recipe's methods, and the rules between a step and the add-ons it runs with.
    public static func validate(_ recipe: Recipe) throws {
        let methods = try active(recipe)
        let step = methods[0]
        if step.capabilities.contains(.domainLabels), recipe.source == .pseudoFakes {
            throw RecipeError("step \(step.name) needs a domain per fake face (the manipulation method of labelled faces): "
                              + "use data.source labelled or both, not pseudo-fakes")
        }
        for m in methods { try m.validate(recipe) }
    }

    /// What every active method reads from the training records, by method name.
    public static func data(from records: [(source: String, record: Record)], recipe: Recipe) -> [String: any Sendable] {
        var out: [String: any Sendable] = [:]
        for m in (try? active(recipe)) ?? [] { if let d = m.data(from: records, recipe: recipe) { out[m.name] = d } }
        return out
    }
}
