// Training throughput of a trainer (dfk-bench train, `make bench`): images/s of its steps with batches assembled
// online, as `run` does, or made beforehand (the engine's own rate).
import DFKCore
import DFKTensor
import Foundation

extension Trainer {
    /// Training throughput in images/s over `batches` batches of epoch 0: with batches assembled online on
    /// background threads (as `run` does), or from tensors made beforehand (the engine's own rate).
    public func throughput(batches count: Int, pregenerated: Bool) throws -> Double {
        Torch.setThreads(threads)
        backbone.module.train()
        var plans = plan.batches(epoch: 0)
        guard !plans.isEmpty else { throw TrainError("too few faces for one batch") }
        while plans.count < count + 1 { plans += plans }
        plans = Array(plans.prefix(count + 1))
        func run(_ a: BatchAssembler.Assembled) throws -> Int {
            let b = try assembler.batch(a, set: train)
            context.beginStep()
            _ = try step.step(b, context)
            return b.count
        }
        _ = try run(assembler.assemble(plans[0], from: train, tag: "e0", train: true))   // warm-up
        var images = 0
        let rest = Array(plans.dropFirst())
        if pregenerated {
            let all = rest.map { assembler.assemble($0, from: train, tag: "e0", train: true) }
            let t0 = Date()
            for a in all { images += try run(a) }
            try execution.device.synchronize()
            return Double(images) / Date().timeIntervalSince(t0)
        }
        let t0 = Date()
        for (a, _) in Prefetch(rest, depth: 2, transform: { self.assembler.prepare($0, from: self.train, tag: "e0") }) { images += try run(a) }
        try execution.device.synchronize()
        return Double(images) / Date().timeIntervalSince(t0)
    }
}
