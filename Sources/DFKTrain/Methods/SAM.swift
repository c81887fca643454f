// SAM (Foret et al.), the step of SBI's reference training: the gradient at the worst-case neighbour within rho,
// applied to the weights. Both passes run in training mode, as the SBI reference does.
import DFKModels

public final class SAMStep: TrainingStep {
    public let name = "sam"
    let sam: SAM
    public init(optimizer: Optimizer, rho: Double) { sam = SAM(base: optimizer, rho: rho) }
    public func step(_ b: Batch, _ ctx: StepContext) throws -> Double {
        try sam.step {
            let l = try ctx.loss(try ctx.forward(b), b)
            try ctx.backward(l)
            return try l.item()
        }
    }
}

/// SAM's settings (recipe section `sam`; older recipes wrote `step.rho`).
public struct SAMOptions: RecipeSection, Equatable {
    /// Radius of the weight perturbation.
    public var rho = 0.05
    public init() {}
    public static let key = "sam"
    public static let fields: [RecipeField<SAMOptions>] = [.double("rho", \.rho, min: 0)]
}

public enum SAMMethod: TrainingMethod {
    public static let name = "sam"
    public static let summary = "sharpness-aware minimisation (SBI's step): ascend to w + rho g/||g||, update with the gradient there"
    public static let role = MethodRole.step
    public static let sections: [any RecipeSection.Type] = [SAMOptions.self]
    public static let capabilities: MethodCapabilities = [.lossScaling, .perSampleWeights]
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        (SAMStep(optimizer: optimizer, rho: c.recipe[SAMOptions.self].rho), [])
    }
}
