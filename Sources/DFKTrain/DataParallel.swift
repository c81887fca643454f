// Data-parallel training over c10d (docs/scale-out.md): the launch contract (torchrun's variables, Slurm's as a
// fallback), each rank's share of every global batch, and what the trainer synchronises: weights at the start,
// gradients after every backward pass (ProcessGroup.synchronizeGradients: DDP's bucketed, averaged all-reduce),
// BatchNorm buffers before validation, epoch statistics and validation scores.
import DFKCore
import DFKModels
import DFKTensor
import Foundation

/// Who this process is in a data-parallel run, from the environment a launcher sets.
public struct LaunchEnvironment: Equatable, Sendable {
    public var rank: Int
    public var world: Int
    public var localRank: Int
    public var masterAddress: String
    public var masterPort: Int

    public init(rank: Int, world: Int, localRank: Int, masterAddress: String = "127.0.0.1", masterPort: Int = 29500) {
        self.rank = rank; self.world = world; self.localRank = localRank
        self.masterAddress = masterAddress; self.masterPort = masterPort
    }

    /// torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (also Kubernetes PyTorchJob's); without
    /// them Slurm's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (MASTER_ADDR then defaults to the first host of
    /// SLURM_JOB_NODELIST when it is a plain name, MASTER_PORT to 29500). nil: not launched for data parallelism
    /// (no variables, or a world of 1 outside torchrun). Inconsistent values are an error naming the variable.
    public static func from(_ env: [String: String]) throws -> LaunchEnvironment? {
        func int(_ k: String) throws -> Int? {
            guard let v = env[k], !v.isEmpty else { return nil }
            guard let i = Int(v.trimmingCharacters(in: .whitespaces)) else { throw TrainError("\(k)=\(v) is not an integer") }
            return i
        }
        var e: LaunchEnvironment
        if let world = try int("WORLD_SIZE") {
            guard let rank = try int("RANK") else { throw TrainError("WORLD_SIZE is set but RANK is not (torchrun sets both)") }
            e = LaunchEnvironment(rank: rank, world: world, localRank: try int("LOCAL_RANK") ?? rank)
        } else if let world = try int("SLURM_NTASKS"), let rank = try int("SLURM_PROCID") {
            guard world > 1 else { return nil }
            e = LaunchEnvironment(rank: rank, world: world, localRank: try int("SLURM_LOCALID") ?? 0)
            if let nodes = env["SLURM_JOB_NODELIST"], !nodes.contains("["), let first = nodes.split(separator: ",").first {
                e.masterAddress = String(first)
            }
        } else {
            return nil
        }
        if let a = env["MASTER_ADDR"], !a.isEmpty { e.masterAddress = a }
        if let p = try int("MASTER_PORT") { e.masterPort = p }
        guard e.world >= 1 else { throw TrainError("WORLD_SIZE must be at least 1 (got \(e.world))") }
        guard (0..<e.world).contains(e.rank) else { throw TrainError("RANK \(e.rank) is not within 0..<\(e.world)") }
        guard (1...65535).contains(e.masterPort) else { throw TrainError("MASTER_PORT \(e.masterPort) is not a port") }
        return e
    }
}

public final class DataParallel {
    public let group: ProcessGroup
    public var rank: Int { group.rank }
    public var world: Int { group.world }
    /// Rank 0 writes logs and checkpoints.
    public var isMain: Bool { rank == 0 }

    public init(group: ProcessGroup) { self.group = group }

    /// Every global batch must split evenly: each kind of item (SBI pairs, labelled faces) into `world` equal shares.
    public static func check(recipe: Recipe, world: Int) throws {
        let kinds: [(String, Int)]
        switch recipe.source {
        case .pseudoFakes: kinds = [("pairs", max(1, recipe.batch / 2))]
        case .labelled: kinds = [("faces", recipe.batch)]
        case .both: kinds = [("pairs", max(1, recipe.batch / 4)), ("labelled faces", max(2, recipe.batch / 2))]
        }
        for (what, n) in kinds where n % world != 0 {
            throw TrainError("batch \(recipe.batch) has \(n) \(what) per step, not divisible by \(world) ranks: choose a world size that divides it")
        }
    }

    /// This rank's share of a global batch: of each kind of item, the rank-th of `world` contiguous equal parts
    /// (a distributed sampler over the same seeded order). nil when a kind does not split evenly (the last short
    /// batch of an epoch): every rank then skips it, as DistributedSampler's drop_last.
    public static func share(_ items: [BatchItem], rank: Int, world: Int) -> [BatchItem]? {
        let pairs = items.filter { if case .pair = $0 { return true }; return false }
        let singles = items.filter { if case .single = $0 { return true }; return false }
        var out: [BatchItem] = []
        for part in [pairs, singles] where !part.isEmpty {
            guard part.count % world == 0 else { return nil }
            let n = part.count / world
            out += part[(rank * n)..<((rank + 1) * n)]
        }
        return out.isEmpty ? nil : out
    }

    public func shares(_ batches: [[BatchItem]]) -> [[BatchItem]] {
        batches.compactMap { DataParallel.share($0, rank: rank, world: world) }
    }

    /// Before training: every rank takes rank 0's weights and buffers (as DDP's constructor does), and gradients
    /// of the optimizer's parameters are all-reduced after every backward pass from now on.
    public func begin(model: Module, parameters: [Tensor]) throws {
        // The model's tensors, then parameters only the optimizer knows (heads and discriminators of hooks).
        var seen = Set<ObjectIdentifier>()
        let tensors = (model.parameters + model.namedBuffers().map(\.1) + parameters).filter { seen.insert(ObjectIdentifier($0)).inserted }
        try group.broadcast(tensors)
        try group.synchronizeGradients(of: parameters)
    }

    /// BatchNorm statistics are local to each rank during an epoch (as DDP's); before validation and checkpoints
    /// every rank takes rank 0's.
    public func syncBuffers(_ model: Module) throws {
        try group.broadcast(model.namedBuffers().map(\.1))
    }

    public func sum(_ v: [Double]) throws -> [Double] { try group.sum(v) }
    public func gather(_ v: [Double]) throws -> [Double] { try group.gather(v) }
}
