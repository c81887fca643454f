// Tensors over libtorch (through the CTorch C shim): creation, data, element-wise and shape operations, autograd.
// Every operation throws a `TensorError` carrying libtorch's message instead of crashing.
import CTorch
import Foundation


@inline(__always)
func call(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> OpaquePointer?) throws -> Tensor {
    var err: UnsafeMutablePointer<CChar>? = nil
    if let h = body(&err) { return Tensor(handle: h) }
    let msg = err.map { String(cString: $0) } ?? "unknown libtorch error"
    dfk_torch_string_free(err)
    throw TensorError(msg)
}
@inline(__always)
func callStatus(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32) throws {
    var err: UnsafeMutablePointer<CChar>? = nil
    if body(&err) >= 0 { return }
    let msg = err.map { String(cString: $0) } ?? "unknown libtorch error"
    dfk_torch_string_free(err)
    throw TensorError(msg)
}

public enum DType: Int32, Sendable { case float32 = 0, float16 = 1, int64 = 2, bool = 3, uint8 = 4, float64 = 5, bfloat16 = 6 }

/// Where a tensor lives. `meta` tensors have shapes but no data (tests use them to catch a module that makes
/// tensors on another device than its input's).
public enum Device: Sendable, Hashable, CustomStringConvertible {
    case cpu
    case cuda(Int)
    case mps
    case meta

    /// The first CUDA device.
    public static let cuda0 = Device.cuda(0)

    /// The device as CTorch encodes it: the kind in the low byte, the index above.
    public var code: Int32 {
        switch self {
        case .cpu: return 0
        case .cuda(let i): return 1 | Int32(i) << 8
        case .mps: return 2
        case .meta: return 3
        }
    }
    public init(code: Int32) {
        switch code & 0xff {
        case 1: self = .cuda(Int(code >> 8))
        case 2: self = .mps
        case 3: self = .meta
        default: self = .cpu
        }
    }
    /// The kind alone (autocast is set per kind).
    var kind: Int32 { code & 0xff }
    public var isGPU: Bool { if case .cpu = self { return false }; if case .meta = self { return false }; return true }

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let i): return "cuda:\(i)"
        case .mps: return "mps"
        case .meta: return "meta"
        }
    }

    /// Parses "cpu", "cuda", "cuda:N", "mps" or "meta" (as torch.device does); nil otherwise.
    public init?(parsing text: String) {
        let t = text.lowercased()
        switch t {
        case "cpu": self = .cpu
        case "cuda": self = .cuda(0)
        case "mps": self = .mps
        case "meta": self = .meta
        default:
            guard t.hasPrefix("cuda:"), let i = Int(t.dropFirst(5)), i >= 0, i < 256 else { return nil }
            self = .cuda(i)
        }
    }

    /// Checks that libtorch can use this device here, with a one-line reason when it cannot.
    public func checkAvailable() throws {
        switch self {
        case .cpu, .meta: return
        case .cuda(let i):
            let n = Torch.cudaDeviceCount
            guard n > 0 else {
                throw TensorError("device \(self): libtorch \(Torch.version) sees no CUDA device (a CPU-only build, or no GPU/driver here); build against a CUDA libtorch (docs/gpu.md) or use --device cpu")
            }
            guard i < n else { throw TensorError("device \(self): libtorch sees \(n) CUDA device\(n == 1 ? "" : "s") (cuda:0\(n > 1 ? "...cuda:\(n - 1)" : ""))") }
        case .mps:
            guard Torch.mpsAvailable else { throw TensorError("device mps: this libtorch has no MPS backend (Apple GPUs only)") }
        }
    }

    /// "auto": the first CUDA device when libtorch sees one, then MPS, else the CPU.
    public static var automatic: Device {
        if Torch.cudaDeviceCount > 0 { return .cuda(0) }
        if Torch.mpsAvailable { return .mps }
        return .cpu
    }

    /// Waits until the work queued on this device has finished (timing; a no-op on the CPU).
    public func synchronize() throws { try callStatus { dfk_torch_synchronize(code, $0) } }
}

/// Runtime settings of libtorch.
public enum Torch {
    /// Intra-op threads (libtorch 1.13 defaults to half the cores; DeepfakeKit sets all cores explicitly).
    public static func setThreads(_ n: Int) { dfk_torch_set_threads(Int32(n)) }
    public static var threads: Int { Int(dfk_torch_threads()) }
    public static var cudaAvailable: Bool { dfk_torch_cuda_available() != 0 }
    public static var cudaDeviceCount: Int { Int(dfk_torch_cuda_device_count()) }
    public static var mpsAvailable: Bool { dfk_torch_mps_available() != 0 }
    public static var version: String { String(cString: dfk_torch_version()) }
    /// Seeds the global generator used by dropout and stochastic depth.
    public static func manualSeed(_ seed: UInt64) { dfk_torch_manual_seed(seed) }
}

public final class Tensor: @unchecked Sendable {
    let handle: OpaquePointer
    init(handle: OpaquePointer) { self.handle = handle }
    deinit { dfk_tensor_free(handle) }

    // MARK: creation
    public convenience init(_ values: [Float], shape: [Int]) throws {
        try self.init(raw: values, dtype: .float32, shape: shape)
    }
    public convenience init(_ values: [Double], shape: [Int]) throws {
        try self.init(raw: values, dtype: .float64, shape: shape)
    }
    public convenience init(int64 values: [Int64], shape: [Int]) throws {
        try self.init(raw: values, dtype: .int64, shape: shape)
    }
    convenience init<T>(raw values: [T], dtype: DType, shape: [Int]) throws {
        guard shape.reduce(1, *) == values.count else {
            throw TensorError("\(values.count) values do not fill shape \(shape)")
        }
        let s = shape.map(Int64.init)
        var err: UnsafeMutablePointer<CChar>? = nil
        let h = values.withUnsafeBytes { dfk_tensor_from_data($0.baseAddress, dtype.rawValue, s, Int32(s.count), &err) }
        guard let h else {
            let msg = err.map { String(cString: $0) } ?? "unknown libtorch error"
            dfk_torch_string_free(err)
            throw TensorError(msg)
        }
        self.init(handle: h)
    }
    /// A tensor copied from raw little-endian element bytes.
    public convenience init(bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int]) throws {
        let s = shape.map(Int64.init)
        var err: UnsafeMutablePointer<CChar>? = nil
        guard let h = dfk_tensor_from_data(bytes.baseAddress, dtype.rawValue, s, Int32(s.count), &err) else {
            let msg = err.map { String(cString: $0) } ?? "unknown libtorch error"
            dfk_torch_string_free(err)
            throw TensorError(msg)
        }
        self.init(handle: h)
    }
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        let s = shape.map(Int64.init)
        return try call { dfk_tensor_full(s, Int32(s.count), value, dtype.rawValue, device.code, $0) }
    }
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try full(shape, 0, dtype: dtype, device: device)
    }
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try full(shape, 1, dtype: dtype, device: device)
    }
    /// Standard normal values; a seed makes them reproducible (a private generator), nil uses the global one.
    public static func randn(_ shape: [Int], seed: UInt64? = nil, device: Device = .cpu) throws -> Tensor {
        let s = shape.map(Int64.init)
        return try call { dfk_tensor_randn(s, Int32(s.count), seed.map { Int64(bitPattern: $0 & 0x7fff_ffff_ffff_ffff) } ?? -1, device.code, $0) }
    }
    public static func rand(_ shape: [Int], seed: UInt64? = nil, device: Device = .cpu) throws -> Tensor {
        let s = shape.map(Int64.init)
        return try call { dfk_tensor_rand(s, Int32(s.count), seed.map { Int64(bitPattern: $0 & 0x7fff_ffff_ffff_ffff) } ?? -1, device.code, $0) }
    }

    // MARK: information and data
    public var ndim: Int { Int(dfk_tensor_ndim(handle)) }
    public var shape: [Int] {
        var s = [Int64](repeating: 0, count: ndim)
        dfk_tensor_shape(handle, &s)
        return s.map(Int.init)
    }
    public var dtype: DType { DType(rawValue: dfk_tensor_dtype(handle)) ?? .float32 }
    public var device: Device { Device(code: dfk_tensor_device(handle)) }
    public var count: Int { Int(dfk_tensor_numel(handle)) }

    func copyOut<T>(_ dtype: DType, _ zero: T) throws -> [T] {
        var out = [T](repeating: zero, count: count)
        try out.withUnsafeMutableBytes { b in try callStatus { dfk_tensor_copy_out(handle, dtype.rawValue, b.baseAddress, $0) } }
        return out
    }
    public func floats() throws -> [Float] { try copyOut(.float32, Float(0)) }
    public func doubles() throws -> [Double] { try copyOut(.float64, 0.0) }
    public func int64s() throws -> [Int64] { try copyOut(.int64, Int64(0)) }
    /// The values as bytes (a bool tensor: 0 or 1 each), one per element.
    public func uint8s() throws -> [UInt8] { try copyOut(.uint8, UInt8(0)) }
    /// The value of a one-element tensor.
    public func item() throws -> Double {
        guard count == 1 else { throw TensorError("item() of a tensor with \(count) elements") }
        return try doubles()[0]
    }

    public func to(_ dtype: DType? = nil, device: Device? = nil) throws -> Tensor {
        let d = dtype ?? self.dtype, v = device ?? self.device
        return try call { dfk_tensor_to(handle, d.rawValue, v.code, $0) }
    }
    /// A copy on `device` that does not wait for it when the source is in pinned host memory (`pinned()`): the
    /// copy overlaps with the work already queued there.
    public func to(device: Device, nonBlocking: Bool) throws -> Tensor {
        try call { dfk_tensor_to_async(handle, dtype.rawValue, device.code, nonBlocking ? 1 : 0, $0) }
    }
    /// A copy in page-locked host memory when a CUDA runtime is present (for `to(device:nonBlocking:)`), else self.
    public func pinned() throws -> Tensor { try call { dfk_tensor_pin_memory(handle, $0) } }
    /// sqrt of the sum of squares of all `tensors`, as a float32 scalar on their device, without a host round trip.
    public static func globalNorm(_ tensors: [Tensor]) throws -> Tensor {
        let hs: [OpaquePointer?] = tensors.map { $0.handle }
        return try call { err in hs.withUnsafeBufferPointer { dfk_global_norm($0.baseAddress, Int32(hs.count), err) } }
    }
    public func clone() throws -> Tensor { try call { dfk_tensor_clone(handle, $0) } }
    public func detach() throws -> Tensor { try call { dfk_tensor_detach(handle, $0) } }

    // MARK: autograd
    public func requiresGrad(_ on: Bool = true) throws -> Tensor {
        try callStatus { dfk_tensor_set_requires_grad(handle, on ? 1 : 0, $0) }
        return self
    }
    public var requiresGrad: Bool { dfk_tensor_requires_grad(handle) != 0 }
    /// Keep the gradient of this non-leaf tensor after backward (e.g. activations for Grad-CAM).
    public func retainGrad() throws { try callStatus { dfk_tensor_retain_grad(handle, $0) } }
    public func backward(_ grad: Tensor? = nil, retainGraph: Bool = false) throws {
        try callStatus { dfk_backward(handle, grad?.handle, retainGraph ? 1 : 0, $0) }
    }
    public var grad: Tensor? { dfk_tensor_grad(handle).map(Tensor.init(handle:)) }
    public func zeroGrad() { _ = dfk_tensor_zero_grad(handle) }

    // MARK: in place (parameters, under no-grad)
    public func addInPlace(_ other: Tensor, alpha: Double = 1) throws { try callStatus { dfk_add_inplace(handle, other.handle, alpha, $0) } }
    public func mulInPlace(_ s: Double) throws { try callStatus { dfk_mul_scalar_inplace(handle, s, $0) } }
    /// t *= other (broadcast; e.g. a scalar tensor, so that no value is read back to the host).
    public func mulInPlace(_ other: Tensor) throws { try callStatus { dfk_mul_inplace(handle, other.handle, $0) } }
    public func copyInPlace(_ src: Tensor) throws { try callStatus { dfk_copy_inplace(handle, src.handle, $0) } }
    public func zeroInPlace() throws { try callStatus { dfk_zero_inplace(handle, $0) } }
    /// Replaces this tensor's data (e.g. with a copy on another device) while keeping its identity.
    public func setData(_ src: Tensor) throws { try callStatus { dfk_set_data(handle, src.handle, $0) } }
    /// ReLU in place (for activations that nothing else needs, as torchvision's inplace ReLU).
    public func reluInPlace() throws -> Tensor { try call { dfk_relu_inplace(handle, $0) } }
    public func addcmulInPlace(_ a: Tensor, _ b: Tensor, value: Double) throws { try callStatus { dfk_addcmul_inplace(handle, a.handle, b.handle, value, $0) } }
    public func addcdivInPlace(_ a: Tensor, _ b: Tensor, value: Double) throws { try callStatus { dfk_addcdiv_inplace(handle, a.handle, b.handle, value, $0) } }
}

public enum Autograd {
    /// Gradients of `outputs` with respect to `inputs` (nil where an input is unused).
    public static func grad(_ outputs: [Tensor], wrt inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                            retainGraph: Bool = false, createGraph: Bool = false) throws -> [Tensor?] {
        var results = [OpaquePointer?](repeating: nil, count: inputs.count)
        let outs: [OpaquePointer?] = outputs.map { $0.handle }, ins: [OpaquePointer?] = inputs.map { $0.handle }
        let gos: [OpaquePointer?]? = gradOutputs?.map { $0.handle }
        try callStatus { err in
            outs.withUnsafeBufferPointer { o in
                ins.withUnsafeBufferPointer { i in
                    results.withUnsafeMutableBufferPointer { r in
                        if let gos {
                            return gos.withUnsafeBufferPointer { g in
                                dfk_autograd_grad(o.baseAddress, Int32(outs.count), i.baseAddress, Int32(ins.count), g.baseAddress,
                                                  retainGraph ? 1 : 0, createGraph ? 1 : 0, r.baseAddress, err)
                            }
                        }
                        return dfk_autograd_grad(o.baseAddress, Int32(outs.count), i.baseAddress, Int32(ins.count), nil,
                                                 retainGraph ? 1 : 0, createGraph ? 1 : 0, r.baseAddress, err)
                    }
                }
            }
        }
        return results.map { $0.map(Tensor.init(handle:)) }
    }

    /// Runs `body` with gradient recording off on this thread (grad mode is thread-local: do not hop threads inside).
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        let was = dfk_torch_grad_enabled()
        dfk_torch_set_grad_enabled(0)
        defer { dfk_torch_set_grad_enabled(was) }
        return try body()
    }
    public static var isEnabled: Bool { dfk_torch_grad_enabled() != 0 }
}

extension Tensor {
    /// A [1, C, H, W] float32 tensor from 8-bit interleaved pixels (rows `rowBytes` apart): (value - mean) / std,
    /// channel order reversed when `reverseChannels` (OpenCV's BGR to RGB).
    public static func fromPixels(_ bytes: UnsafeRawBufferPointer, width: Int, height: Int, channels: Int, rowBytes: Int,
                                  reverseChannels: Bool, mean: [Double], std: [Double]) throws -> Tensor {
        precondition(mean.count == channels && std.count == channels)
        var out = [Float](repeating: 0, count: channels * width * height)
        let plane = width * height
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    let src = reverseChannels ? channels - 1 - c : c
                    let v = Double(bytes[y * rowBytes + x * channels + src])
                    out[c * plane + y * width + x] = Float((v - mean[c]) / std[c])
                }
            }
        }
        return try Tensor(out, shape: [1, channels, height, width])
    }
}
