// Noise-Robust Sample weighting (the BBMG/NRS paper, eqs. 5-9, Algorithm 1) as a training hook.
// From epoch T_k, each pseudo-fake whose pooled feature lies within lambda of the nearest of k real-feature
// centres has its loss down-weighted. The centres come from a memory of real features collected during the
// previous epoch (the k_s most confidently real ones, or random ones) and clustered by k-means after it.
// Weights and the memory come from a step's first pass (with SAM: at the unperturbed weights).
// Epochs as the paper counts them (Algorithm 1: t = 1 ... T_max): the trainer's 0-based epoch e is t = e + 1, so NRS
// weighs from t >= T_k (`nrs.start_epoch`), collects the memory from t >= T_k - 1, and eq. 6 uses t.
import DFKCore
import DFKEval
import DFKRecords
import DFKSynthesis
import DFKTensor
import Foundation

public final class NRSHook: TrainingHook {
    public let name = "nrs"
    public let options: NRSOptions
    let seed: UInt64
    var centres: [[Float]] = []
    var epoch = 0
    var memFeatures: [[Float]] = [], memProbs: [Double] = []
    var downweighted = 0

    public init(options: NRSOptions, seed: UInt64) { self.options = options; self.seed = seed }

    public var taps: Set<String> { ["features"] }
    /// The paper's epoch t (counting from 1).
    var t: Int { epoch + 1 }
    var weighting: Bool { t >= options.startEpoch && !centres.isEmpty }
    var collecting: Bool { t >= options.startEpoch - 1 }

    public func beginEpoch(_ epoch: Int) throws {
        self.epoch = epoch
        memFeatures = []; memProbs = []; downweighted = 0
    }

    public func weights(_ f: ForwardPass, _ b: Batch, ctx: StepContext) throws -> [Float]? {
        guard weighting, let feats = f.taps["features"] else { return nil }
        let fv = try feats.detach().floats(), d = feats.shape[1]
        var w = [Float](repeating: 1, count: b.count)
        for i in 0..<b.count where b.isPseudoFake[i] {
            let dist = NRS.nearest(Array(fv[(i * d)..<((i + 1) * d)]), centres: centres, distance: options.distance)
            w[i] = Float(NRS.weight(distance: dist, isPseudoFake: true, epoch: t, options: options))
        }
        downweighted += w.filter { $0 < 1 }.count
        return w
    }

    public func afterStep(_ first: ForwardPass, _ b: Batch, ctx: StepContext) throws {
        guard collecting, let feats = first.taps["features"] else { return }
        // Real features and their predicted real probability (the next epoch's memory).
        let fv = try feats.detach().floats(), d = feats.shape[1]
        let pv = try Autograd.noGrad { try F.softmax(try first.logits.detach(), dim: 1).floats() }
        let classes = first.logits.shape[1]
        for i in 0..<b.count where b.labels[i] == 0 {
            memFeatures.append(Array(fv[(i * d)..<((i + 1) * d)]))
            memProbs.append(Double(pv[i * classes]))
        }
    }

    public func endEpoch(_ epoch: Int) throws {
        guard collecting, !memFeatures.isEmpty else { return }
        var r = SampleRNG(seed: seed, key: "memory#\(epoch)")
        let memory = NRS.selectMemory(features: memFeatures, realProbability: memProbs, count: options.memory, selection: options.selection, rng: &r)
        var kr = SampleRNG(seed: seed, key: "kmeans#\(epoch)")
        centres = KMeans.fit(memory, k: options.k, normalise: options.distance == .cosine, rng: &kr)
        memFeatures = []; memProbs = []
    }

    public var epochLog: [(String, JSONValue)] { [("nrs_downweighted", .int(downweighted))] }

    public func state() throws -> [(String, Tensor)] {
        guard !centres.isEmpty else { return [] }
        return [("centres", try Tensor(centres.flatMap { $0 }, shape: [centres.count, centres[0].count]))]
    }

    public func loadState(_ s: [(String, Tensor)]) throws {
        guard let c = s.first(where: { $0.0 == "centres" })?.1 else { return }
        let v = try c.floats(), d = c.shape[1]
        centres = (0..<c.shape[0]).map { Array(v[($0 * d)..<(($0 + 1) * d)]) }
    }
}

// MARK: - The method

/// NRS's settings (recipe section `nrs`): off unless `enabled`.
public struct NRSSettings: RecipeSection, Equatable {
    public var enabled = false
    public var options = NRSOptions()
    public init() {}
    public static let key = "nrs"
    public static let fields: [RecipeField<NRSSettings>] = [
        .bool("enabled", \.enabled),
        .int("start_epoch", \.options.startEpoch, min: 0),
        .double("lambda", \.options.lambda, min: 0),
        .double("beta", \.options.beta, min: 1e-9),
        .int("k", \.options.k, min: 1),
        .int("memory", \.options.memory, min: 1),
        .choice("selection", \.options.selection),
        .choice("distance", \.options.distance),
    ]
}

public enum NRSMethod: TrainingMethod {
    public static let name = "nrs"
    public static let summary = "noise-robust sample weighting (BBMG/NRS paper): pseudo-fakes too close to real features weigh less"
    public static let role = MethodRole.addOn
    public static let sections: [any RecipeSection.Type] = [NRSSettings.self]
    public static func enabled(in r: Recipe) -> Bool { r[NRSSettings.self].enabled }
    public static func validate(_ r: Recipe) throws {
        let step = try TrainingMethods.step(for: r)
        guard step.capabilities.contains(.perSampleWeights) else {
            throw RecipeError("step \(step.name) does not combine with nrs (per-sample weights of the whole batch's first pass)")
        }
    }
    public static func prepare(_ c: MethodContext) throws -> MethodParts {
        MethodParts(hooks: [NRSHook(options: c.recipe[NRSSettings.self].options, seed: c.seed)])
    }
}
