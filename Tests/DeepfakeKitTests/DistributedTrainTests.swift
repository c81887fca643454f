// Data-parallel `train` over c10d/Gloo on 127.0.0.1 (DataParallel.swift, CTorch/dist.cpp): two ranks end with the
// weights of a one-process reference that computes the same per-rank half-batches (BatchNorm statistics per half)
// and averages their gradients in every pass (plain SGD, SAM); a killed rank ends the other with an error; a
// two-rank run resumes with one rank. Also the launch contract and the per-rank batch shares.
import DFKModels
import DFKRecords
import DFKTensor
@testable import DFKTrain
import Foundation
import XCTest

final class DistributedTrainTests: XCTestCase {
    func testLaunchEnvironmentTorchrunSlurmAndErrors() throws {
        XCTAssertNil(try LaunchEnvironment.from([:]))
        let t = try XCTUnwrap(try LaunchEnvironment.from(["RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node7", "MASTER_PORT": "1234"]))
        XCTAssertEqual(t, LaunchEnvironment(rank: 1, world: 4, localRank: 1, masterAddress: "node7", masterPort: 1234))
        let s = try XCTUnwrap(try LaunchEnvironment.from(["SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu01,gpu02"]))
        XCTAssertEqual(s, LaunchEnvironment(rank: 3, world: 8, localRank: 1, masterAddress: "gpu01", masterPort: 29500))
        // torchrun's variables win over Slurm's; a one-task Slurm job is not data-parallel.
        XCTAssertEqual(try LaunchEnvironment.from(["RANK": "0", "WORLD_SIZE": "2", "SLURM_PROCID": "5", "SLURM_NTASKS": "8"])?.world, 2)
        XCTAssertNil(try LaunchEnvironment.from(["SLURM_PROCID": "0", "SLURM_NTASKS": "1"]))
        XCTAssertThrowsError(try LaunchEnvironment.from(["RANK": "2", "WORLD_SIZE": "2"]))
        XCTAssertThrowsError(try LaunchEnvironment.from(["WORLD_SIZE": "2"]))
        XCTAssertThrowsError(try LaunchEnvironment.from(["RANK": "x", "WORLD_SIZE": "2"]))
    }

    func testSharesAreDisjointAndCoverEachKind() {
        let items: [BatchItem] = [.pair(4), .pair(9), .pair(1), .pair(7), .single(3), .single(5)]
        let a = DataParallel.share(items, rank: 0, world: 2), b = DataParallel.share(items, rank: 1, world: 2)
        XCTAssertEqual(a, [.pair(4), .pair(9), .single(3)])
        XCTAssertEqual(b, [.pair(1), .pair(7), .single(5)])
        XCTAssertNil(DataParallel.share([.pair(1), .pair(2), .pair(3)], rank: 0, world: 2))   // uneven: dropped by all
    }

    static var data: (train: String, val: String)?
    func faces() throws -> (train: String, val: String) {
        if let d = Self.data { return d }
        let d = try TrainTests.faces()
        Self.data = d
        return d
    }

    func args(_ out: String, step: String, epochs: Int = 2, val: Bool = true) throws -> [String] {
        let d = try faces()
        return [d.train, "-q", "--recipe", "cpu-demo", "--backbone", "resnet18", "--size", "64", "--batch", "8", "--epochs", String(epochs),
                "--seed", "7", "--lr", "0.01", "--step", step, "--out", out, "--threads", "1", "--dist-timeout", "30"] + (val ? ["--val", d.val] : [])
    }

    /// The one-process reference: the trainer's own plan, assembly and step context; each global batch split into
    /// the two ranks' shares, each share's loss halved and backpropagated (so its BatchNorm sees only that share),
    /// in every pass.
    func reference(step: String, epochs: Int = 2, world: Int = 2) throws -> [(String, Tensor)] {
        var recipe = try Recipe.load("cpu-demo")
        for (k, v) in [("backbone", "resnet18"), ("input.size", "64"), ("batch", "8"), ("epochs", String(epochs)),
                       ("optimizer.lr", "0.01"), ("step.name", step)] { try recipe.set(k, v, source: "test") }
        let records = try Train_load(try faces().train)
        let samples = TrainSample.from(records: records, labelled: false).samples
        let trainer = try Trainer(recipe: recipe, seed: 7, train: samples, val: [], out: Fixtures.tempDir("ref-\(step)"), threads: 1, pretrained: nil)
        let ctx = trainer.context, opt = trainer.optimizer
        let sam = SAM(base: opt, rho: recipe[SAMOptions.self].rho)
        Torch.setThreads(1)
        for epoch in 0..<epochs {
            Torch.manualSeed(7 &+ UInt64(epoch))
            opt.schedule(recipe.lrSchedule, epoch: epoch)
            trainer.backbone.module.train()
            ctx.epoch = epoch
            for items in trainer.plan.batches(epoch: epoch) {
                let shares = (0..<world).compactMap { DataParallel.share(items, rank: $0, world: world) }
                guard shares.count == world else { continue }
                let batches = try shares.map { try trainer.assembler.batch(trainer.assemble($0, from: trainer.train, tag: "e\(epoch)", train: true), set: trainer.train) }
                ctx.beginStep()
                func pass() throws -> Double {
                    var v = 0.0
                    for b in batches {
                        let l = try ctx.loss(try ctx.forward(b), b)
                        try (try l * (1 / Double(world))).backward()
                        v += try l.item() / Double(world)
                    }
                    return v
                }
                if step == "sam" { try sam.step(pass) } else {
                    opt.zeroGrad()
                    _ = try pass()
                    try opt.step()
                }
            }
        }
        return trainer.backbone.module.namedParameters()
    }

    func Train_load(_ path: String) throws -> [(source: String, record: Record)] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").enumerated().map { i, l in
            ("\(path):\(i + 1)", Record(try JSON.parse(String(l)).objectValue!))
        }
    }

    func relativeDifference(_ a: Tensor, _ b: Tensor) throws -> Double {
        let x = try a.floats(), y = try b.floats()
        var d = 0.0, n = 0.0
        for (u, v) in zip(x, y) { d += Double(u - v) * Double(u - v); n += Double(v) * Double(v) }
        return (d / max(n, 1e-30)).squareRoot()
    }

    func testTwoRanksMatchTheHalfBatchReferenceForSGDAndSAM() throws {
        for step in ["erm", "sam"] {
            let out = Fixtures.tempDir("ddp-\(step)")
            let run = try runTool("train", try args(out, step: step) + ["--nproc", "2"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let log = try String(contentsOfFile: out + "/train-log.ndjson", encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(log.count, 2, "only rank 0 logs, once per epoch")
            XCTAssertTrue(log.allSatisfy { $0.contains("\"val_auc\":0") || $0.contains("\"val_auc\":1") }, "validation gathered: \(log)")
            let trained = Dictionary(uniqueKeysWithValues: try Checkpoint.read(out + "/last.safetensors").group("model.").map { ($0.name, $0.tensor) })
            let ref = try reference(step: step)
            var worst = 0.0, moved = 0.0
            Init.reset(seed: 7)
            let fresh = Dictionary(uniqueKeysWithValues: try Backbone.make("resnet18", classes: 1000, imageSize: 64).module.namedParameters())
            for (name, r) in ref {
                let t = try XCTUnwrap(trained[name], name)
                worst = max(worst, try relativeDifference(t, r))
                if let f = fresh[name], f.shape == r.shape { moved = max(moved, try relativeDifference(f, r)) }
            }
            print("\(step): largest relative difference to the half-batch reference \(worst); moved by training \(moved)")
            XCTAssertLessThan(worst, 1e-5, "\(step): 2 ranks vs the half-batch reference")
            if step == "erm" {
                // The test can tell: one process over whole batches (BatchNorm statistics over both halves) differs.
                var whole = 0.0
                for (name, r) in try reference(step: step, world: 1) { whole = max(whole, try relativeDifference(try XCTUnwrap(trained[name]), r)) }
                print("erm: whole-batch one-process run differs by \(whole)")
                XCTAssertGreaterThan(whole, 1e-4)
            }
            XCTAssertGreaterThan(moved, 1e-3, "\(step): training moved the weights")
        }
    }

    /// Starts one rank of a 2-rank group with torchrun's variables.
    func startRank(_ rank: Int, port: Int, args: [String], stderr: String) throws -> Process {
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent("train")
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["RANK"] = String(rank); env["WORLD_SIZE"] = "2"; env["LOCAL_RANK"] = String(rank)
        env["MASTER_ADDR"] = "127.0.0.1"; env["MASTER_PORT"] = String(port)
        p.environment = env
        FileManager.default.createFile(atPath: stderr, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    func testAKilledRankEndsTheOtherAndTheRunResumesWithOneRank() throws {
        let out = Fixtures.tempDir("ddp-kill")
        let a = try args(out, step: "erm", epochs: 3, val: false)
        let port = 29_000 + Int(getpid() % 900)
        let r0 = try startRank(0, port: port, args: a, stderr: out + "/rank0.err")
        let r1 = try startRank(1, port: port, args: a, stderr: out + "/rank1.err")
        defer { for p in [r0, r1] where p.isRunning { p.terminate() } }
        // Wait for the first checkpoint (rank 0 writes it after epoch 0), then kill rank 1.
        let start = Date()
        while !FileManager.default.fileExists(atPath: out + "/last.safetensors") && r0.isRunning && Date().timeIntervalSince(start) < 300 {
            usleep(100_000)
        }
        XCTAssertTrue(r0.isRunning, (try? String(contentsOfFile: out + "/rank0.err", encoding: .utf8)) ?? "")
        kill(r1.processIdentifier, SIGKILL)
        let killed = Date()
        while r0.isRunning && Date().timeIntervalSince(killed) < 90 { usleep(100_000) }
        let waited = Date().timeIntervalSince(killed)
        XCTAssertFalse(r0.isRunning, "rank 0 still running \(Int(waited)) s after rank 1 was killed")
        print("rank 0 exited \(waited) s after rank 1 was killed")
        XCTAssertLessThan(waited, 60)
        r0.waitUntilExit()
        XCTAssertNotEqual(r0.terminationStatus, 0)
        let err = try String(contentsOfFile: out + "/rank0.err", encoding: .utf8)
        XCTAssertTrue(err.contains("train: error: rank 0 of 2:"), err)
        XCTAssertEqual(err.split(separator: "\n").filter { $0.contains("error") }.count, 1, err)
        // The same run resumes in one process (a world size that divides the batch) and finishes.
        let resumed = try runTool("train", try args(out, step: "erm", epochs: 3, val: false))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let epochs = try String(contentsOfFile: out + "/train-log.ndjson", encoding: .utf8).split(separator: "\n").map {
            try JSON.parse(String($0)).objectValue!["epoch"]!.intValue! }
        XCTAssertEqual(epochs, [0, 1, 2])
        XCTAssertEqual(try Checkpoint.read(out + "/last.safetensors").metadata["epoch"], "2")
    }
}
