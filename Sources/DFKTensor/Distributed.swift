// Data-parallel collectives over libtorch's c10d (CTorchDist.h): a process group joined through a TCPStore,
// bucketed all-reduce, broadcast, and DDP-style gradient synchronisation on parameters.
import CTorch
import Foundation

public final class ProcessGroup: @unchecked Sendable {
    public enum Backend: String, CaseIterable, Sendable {
        case gloo, nccl
        var code: Int32 { self == .gloo ? Int32(DFK_DIST_GLOO) : Int32(DFK_DIST_NCCL) }
        public var available: Bool { dfk_dist_backend_available(code) != 0 }
    }

    let handle: OpaquePointer
    public let rank: Int
    public let world: Int
    public let backend: Backend
    /// Bucket size of gradient and tensor all-reduces (DDP's default: 25 MiB).
    public var bucketBytes = 25 << 20

    /// Joins the group: rank 0 serves the store on `port`, the others connect to `address`. Everything (the
    /// rendezvous too) fails after `timeout` seconds rather than waiting for a dead peer.
    public init(address: String, port: Int, rank: Int, world: Int, backend: Backend = .gloo, timeout: Double = 300) throws {
        var err: UnsafeMutablePointer<CChar>? = nil
        guard let h = dfk_dist_init(address, Int32(port), Int32(rank), Int32(world), backend.code, timeout, &err) else {
            let msg = err.map { String(cString: $0) } ?? "unknown c10d error"
            dfk_torch_string_free(err)
            throw TensorError("c10d \(backend.rawValue) rendezvous at \(address):\(port) as rank \(rank) of \(world): \(msg)")
        }
        handle = h
        self.rank = rank; self.world = world; self.backend = backend
    }
    deinit { dfk_dist_free(handle) }

    /// Sums the tensors over all ranks in place (`average`: then divides by the world size).
    public func allReduce(_ tensors: [Tensor], average: Bool = false) throws {
        guard !tensors.isEmpty else { return }
        var hs: [OpaquePointer?] = tensors.map { $0.handle }
        try callStatus { dfk_dist_allreduce(handle, &hs, Int32(hs.count), average ? 1 : 0, Int64(bucketBytes), $0) }
    }

    /// Copies `root`'s values into every rank's tensors.
    public func broadcast(_ tensors: [Tensor], root: Int = 0) throws {
        guard !tensors.isEmpty else { return }
        var hs: [OpaquePointer?] = tensors.map { $0.handle }
        try callStatus { dfk_dist_broadcast(handle, &hs, Int32(hs.count), Int32(root), $0) }
    }

    public func barrier() throws { try callStatus { dfk_dist_barrier(handle, $0) } }

    /// Every backward pass that accumulates into these parameters' .grad ends with the gradients all-reduced and
    /// averaged over the ranks (bucketed), as DistributedDataParallel does.
    public func synchronizeGradients(of parameters: [Tensor]) throws {
        var hs: [OpaquePointer?] = parameters.map { $0.handle }
        try callStatus { dfk_dist_attach_grad_sync(handle, &hs, Int32(hs.count), Int64(bucketBytes), $0) }
    }
    public func stopSynchronizingGradients() { dfk_dist_detach_grad_sync(handle) }

    /// All-reduce calls, bytes reduced (per rank) and seconds spent in them since the group was joined.
    public var stats: (calls: Int, bytes: Int, seconds: Double) {
        var c: Int64 = 0, b: Int64 = 0, s = 0.0
        dfk_dist_stats(handle, &c, &b, &s)
        return (Int(c), Int(b), s)
    }

    /// Sums of doubles over the ranks (float64 all-reduce).
    public func sum(_ values: [Double]) throws -> [Double] {
        guard !values.isEmpty else { return [] }
        let t = try Tensor(values, shape: [values.count])
        try allReduce([t])
        return try t.doubles()
    }

    /// Every rank's values, concatenated in rank order (an all-gather of variable-length vectors).
    public func gather(_ values: [Double]) throws -> [Double] {
        let counts = try sum((0..<world).map { $0 == rank ? Double(values.count) : 0 }).map { Int($0) }
        let total = counts.reduce(0, +)
        guard total > 0 else { return [] }
        var buf = [Double](repeating: 0, count: total)
        let off = counts[..<rank].reduce(0, +)
        for (i, v) in values.enumerated() { buf[off + i] = v }
        return try sum(buf)
    }
}
