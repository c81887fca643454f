// ERM: empirical risk minimisation, one pass and one update per batch (the supervised baseline, DeepfakeBench's).
import DFKModels

public final class ERMStep: TrainingStep {
    public let name = "erm"
    public init() {}
    public func step(_ b: Batch, _ ctx: StepContext) throws -> Double {
        ctx.optimizer.zeroGrad()
        let l = try ctx.loss(try ctx.forward(b), b)
        try ctx.backward(l)
        try ctx.optimizer.step()
        return try l.item()
    }
}

public enum ERMMethod: TrainingMethod {
    public static let name = "erm"
    public static let summary = "empirical risk minimisation: one pass, one update"
    public static let role = MethodRole.step
    public static let capabilities: MethodCapabilities = [.lossScaling, .perSampleWeights]
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        (ERMStep(), [])
    }
}
