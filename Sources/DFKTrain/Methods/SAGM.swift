// SAGM (Wang et al.), RoGA's baseline: RoGA's update with the whole batch as one domain (RoGA.swift).
import DFKModels

public enum SAGMMethod: TrainingMethod {
    public static let name = "sagm"
    public static let summary = "SAGM: RoGA's update with the whole batch as one domain"
    public static let role = MethodRole.step
    public static let sections: [any RecipeSection.Type] = [RoGAOptions.self]
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        (c.recipe[RoGAOptions.self].step(singleDomain: true), [])
    }
}
