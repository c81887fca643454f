// DualFlat (pim-gradient-regularization.txt, eqs. 13-14): PIM's two passes plus a third at SAM-perturbed weights;
// the update mixes the three gradients with (1 - alpha - beta, alpha, beta). The step is PIMStep (PIM.swift).
import DFKModels

/// DualFlat's own settings (recipe section `dualflat`); PIM's section gives the taps, r and alpha.
public struct DualFlatOptions: RecipeSection, Equatable {
    /// Weight of the SAM pass's gradient.
    public var beta = 0.0
    /// Radius r' of the weight perturbation.
    public var radius = 0.05
    public init() {}
    public static let key = "dualflat"
    public static let fields: [RecipeField<DualFlatOptions>] = [
        .double("beta", \.beta, min: 0, max: 1),
        .double("radius", \.radius, min: 0),
    ]
}

public enum DualFlatMethod: TrainingMethod {
    public static let name = "dualflat"
    public static let summary = "DualFlat: PIM plus a third pass at SAM-perturbed weights"
    public static let role = MethodRole.step
    public static let sections: [any RecipeSection.Type] = [PIMOptions.self, DualFlatOptions.self]
    public static let capabilities: MethodCapabilities = [.perSampleWeights]
    public static func validate(_ r: Recipe) throws {
        guard r[PIMOptions.self].alpha + r[DualFlatOptions.self].beta <= 1 + 1e-12 else {
            throw RecipeError("pim.alpha + dualflat.beta must be at most 1, found \(r[PIMOptions.self].alpha) + \(r[DualFlatOptions.self].beta)")
        }
        try r[PIMOptions.self].validateTaps(backbone: r.backbone)
    }
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        let d = c.recipe[DualFlatOptions.self]
        return try c.recipe[PIMOptions.self].step(c, optimizer: optimizer, beta: d.beta, samRadius: d.radius)
    }
}
