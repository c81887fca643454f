// train's data-parallel options (docs/scale-out.md): the process group from the launch environment (torchrun,
// srun, PyTorchJob), and --nproc N, which starts N local workers with torchrun's variables and waits for them.
import ArgumentParser
import DFKTensor
import DFKTool
import DFKTrain
import Foundation

extension ProcessGroup.Backend: ExpressibleByArgument {}

struct DistributedOptions: ParsableArguments {
    @Option(help: "Start N local workers (ranks 0..<N over 127.0.0.1), each with 1/N of --threads; torchrun, srun and PyTorchJob launches need no flag.")
    var nproc: Int?
    @Option(help: "c10d backend: gloo (CPU) or nccl (CUDA; needs a CTorch built with DFK_NCCL=1).")
    var backend: ProcessGroup.Backend = .gloo
    @Option(help: "Seconds a rank waits for the others (rendezvous, every collective) before it fails.")
    var distTimeout: Double = 300

    func validate() throws {
        if let nproc, nproc < 1 { throw ValidationError("--nproc must be at least 1") }
        guard distTimeout > 0 else { throw ValidationError("--dist-timeout must be positive") }
    }

    /// The launch environment, or nil for a one-process run.
    func launch() throws -> LaunchEnvironment? {
        do { return try LaunchEnvironment.from(ProcessInfo.processInfo.environment) }
        catch let e as TrainError { throw ToolError("launch environment: \(e.description)") }
    }

    /// Joins the process group of a data-parallel launch (nil for a world of one).
    func join(_ e: LaunchEnvironment, recipe: Recipe) throws -> DataParallel? {
        guard e.world > 1 else { return nil }
        do { try DataParallel.check(recipe: recipe, world: e.world) } catch let err as TrainError { throw ToolError(err.description) }
        guard backend.available else {
            throw ToolError("c10d backend \(backend.rawValue) is not available in this build (NCCL needs a CUDA libtorch and DFK_NCCL=1)")
        }
        let g: ProcessGroup
        do {
            g = try ProcessGroup(address: e.masterAddress, port: e.masterPort, rank: e.rank, world: e.world, backend: backend,
                                 timeout: distTimeout)
        } catch { throw ToolError("rank \(e.rank) of \(e.world): \(error)") }
        return DataParallel(group: g)
    }
}

enum LocalLauncher {
    /// Runs this executable N times with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    /// MASTER_PORT on a free local port), `--threads` split between them. When a worker fails the others are
    /// given `grace` seconds to notice on their own (they exit with an error naming the lost peer), then stopped.
    /// Returns the exit status: 0 when every worker succeeded, else the first failure's.
    static func run(workers n: Int, threads: Int, grace: Double) throws -> Int32 {
        let port = try freePort()
        var args = Array(CommandLine.arguments.dropFirst())
        // Drop --nproc N / --nproc=N; the workers' share of the threads comes last (the last value wins).
        var i = 0
        while i < args.count {
            if args[i] == "--nproc" { args.removeSubrange(i..<min(i + 2, args.count)); continue }
            if args[i].hasPrefix("--nproc=") { args.remove(at: i); continue }
            i += 1
        }
        args += ["--threads", String(max(1, threads / n))]
        let exe = URL(fileURLWithPath: CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0]
            : (Bundle.main.executablePath ?? CommandLine.arguments[0]))
        var procs: [Process] = []
        let lock = NSLock()
        let done = DispatchSemaphore(value: 0)
        for rank in 0..<n {
            let p = Process()
            p.executableURL = exe
            p.arguments = rank == 0 ? args : args + ["--quiet"]
            var env = ProcessInfo.processInfo.environment
            env["RANK"] = String(rank); env["WORLD_SIZE"] = String(n); env["LOCAL_RANK"] = String(rank)
            env["MASTER_ADDR"] = "127.0.0.1"; env["MASTER_PORT"] = String(port)
            env["OMP_NUM_THREADS"] = String(max(1, threads / n))
            p.environment = env
            p.terminationHandler = { _ in done.signal() }
            do { try p.run() } catch {
                for q in procs { q.terminate() }
                throw ToolError("cannot start worker \(rank): \(error)")
            }
            lock.lock(); procs.append(p); lock.unlock()
        }
        var status: Int32 = 0
        var deadline: Date?
        var finished = 0
        while finished < n {
            let timeout: DispatchTime = deadline.map { .now() + max(0, $0.timeIntervalSinceNow) } ?? .distantFuture
            if done.wait(timeout: timeout) == .timedOut {
                for p in procs where p.isRunning {
                    Diagnostics.line("train: stopping worker \(p.processIdentifier) (still running \(Int(grace)) s after another worker failed)")
                    p.terminate()
                }
                deadline = .distantFuture
                continue
            }
            finished += 1
            for (rank, p) in procs.enumerated() where !p.isRunning && p.terminationStatus != 0 && status == 0 {
                status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
                Diagnostics.line("train: worker \(rank) of \(n) failed (exit \(status))")
                if deadline == nil { deadline = Date().addingTimeInterval(grace) }
            }
        }
        return status
    }

    /// A TCP port nobody listens on now (the kernel's choice for port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ToolError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ToolError("cannot find a free local port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
