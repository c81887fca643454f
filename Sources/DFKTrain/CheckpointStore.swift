// A run's checkpoints in its output folder: last.safetensors every epoch (model, optimizer, hook state, the resolved
// recipe, seed, records' identity), the best `keep` epochs by validation AUC and best.safetensors (never selected
// on a test set), each written atomically; and resuming from last.safetensors when it belongs to the same run.
import DFKCore
import DFKDetect
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public struct CheckpointStore {
    public let out: String
    /// Best epochs kept by validation AUC.
    public let keep: Int
    public var lastPath: String { out + "/last.safetensors" }

    public init(out: String, keep: Int = 5) { self.out = out; self.keep = keep }

    /// The resolved recipe, as stored in checkpoints.
    static func recipeJSON(_ r: Recipe) -> String { JSON.serialize(.object(r.json)) }

    func metadata(_ setup: TrainingSetup, valAUC: Double?) -> [String: String] {
        let e = setup.execution
        return ["val_auc": valAUC.map { String($0) } ?? "", "recipe_json": CheckpointStore.recipeJSON(setup.recipe),
                "init": setup.initialization, "precision": e.precision.rawValue, "device": e.device.description,
                "memory_format": e.channelsLast ? "channels_last" : "contiguous"]
    }

    /// Writes last.safetensors (with optimizer and hook state), and with a validation AUC the epoch's best-epoch
    /// file, pruning to the `keep` best, and best.safetensors when this epoch is the best so far.
    public func save(_ setup: TrainingSetup, epoch: Int, valAUC: Double?) throws {
        var s = setup.spec
        s.epoch = String(epoch)
        var extra = try setup.optimizer.state().map { ("optim." + $0.0, $0.1) }
        for h in setup.hooks { extra += try h.state().map { ("\(h.name).\($0.0)", $0.1) } }
        let meta = metadata(setup, valAUC: valAUC)
        let inserts = setup.hooks.flatMap(\.inserts)
        let model = setup.backbone.module
        try Detector.save(model, spec: s, inserts: inserts, extra: extra, metadata: meta, to: lastPath)
        guard let auc = valAUC else { return }
        let best = out + String(format: "/best-epoch%03d.safetensors", epoch)
        try Detector.save(model, spec: s, inserts: inserts, metadata: meta, to: best)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0.hasPrefix("best-epoch") } ?? []
        let ranked = files.compactMap { f -> (String, Double)? in
            guard let ck = try? Checkpoint.read(out + "/" + f), let a = Double(ck.metadata["val_auc"] ?? "") else { return nil }
            return (f, a)
        }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 > $1.0 }
        for (f, _) in ranked.dropFirst(keep) { unlink(out + "/" + f) }
        // best.safetensors: the checkpoint with the highest validation AUC so far (what evaluation uses).
        if ranked.first?.0 == (best as NSString).lastPathComponent || ranked.first?.1 == auc {
            try Detector.save(model, spec: s, inserts: inserts, metadata: meta, to: out + "/best.safetensors")
        }
    }

    /// Continues from last.safetensors when it belongs to the same run: the same resolved recipe (every setting),
    /// seed and training records; returns the first epoch still to train (0 without a checkpoint). Anything else
    /// is refused, naming what differs.
    public func resume(_ setup: TrainingSetup) throws -> Int {
        guard Paths.exists(lastPath) else { return 0 }
        let ck: Checkpoint
        do { ck = try Checkpoint.read(lastPath) } catch { throw TrainError("\(lastPath): \(error)") }
        var differences: [String] = []
        if let stored = ck.metadata["recipe_json"], case .object(let o)? = try? JSON.parse(stored),
           let old = try? Recipe(json: o, source: lastPath) {
            differences = setup.recipe.differences(from: old)
        } else {
            differences = ["the checkpoint has no resolved recipe (written by an older version)"]
        }
        if ck.metadata["seed"] != String(setup.seed) { differences.append("seed: \(ck.metadata["seed"] ?? "?") -> \(setup.seed)") }
        if ck.metadata["records_hash"] != setup.recordsHash { differences.append("training records differ") }
        guard differences.isEmpty else {
            throw TrainError("\(lastPath) belongs to another run (\(differences.prefix(4).joined(separator: "; "))); use another --out")
        }
        do {
            try setup.backbone.module.load(ck.group("model."), strict: true)
            try setup.optimizer.loadState(ck.group("optim."))
            for h in setup.hooks { try h.loadState(ck.group(h.name + ".")) }
        } catch { throw TrainError("\(lastPath): \(error)") }
        guard let last = Int(ck.metadata["epoch"] ?? ""), last >= 0 else { throw TrainError("\(lastPath): no valid epoch in its metadata") }
        return last + 1
    }
}
