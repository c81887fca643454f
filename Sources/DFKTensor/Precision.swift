// Mixed precision: libtorch's autocast (the forward's eligible ops - convolutions, matmuls - run in bfloat16 or
// float16, the rest stays in float32) with the weights kept in float32. fp16 additionally needs loss scaling
// (DFKModels/GradScaler); bf16 has float32's exponent range and does not.
import CTorch

public enum Precision: String, Sendable, CaseIterable {
    case fp32, bf16, fp16

    /// The autocast dtype (nil for fp32).
    public var autocastType: DType? {
        switch self {
        case .fp32: return nil
        case .bf16: return .bfloat16
        case .fp16: return .float16
        }
    }

    /// The default on a device: bf16 on a GPU whose libtorch runs a bf16 convolution under autocast, else fp32.
    public static func defaultFor(_ device: Device) -> Precision {
        guard device.isGPU else { return .fp32 }
        return (try? Precision.bf16.check(on: device)) != nil ? .bf16 : .fp32
    }

    /// Checks that autocast in this precision works on `device` (a small convolution under autocast), with a
    /// one-line reason when it does not.
    public func check(on device: Device) throws {
        guard self != .fp32 else { return }
        do {
            let x = try Tensor.randn([1, 4, 8, 8], seed: 0, device: device)
            let w = try Tensor.randn([4, 4, 3, 3], seed: 1, device: device)
            let y = try Autocast.run(device: device, precision: self) { try F.conv2d(x, weight: w, padding: (1, 1)) }
            guard y.dtype == autocastType else {
                throw TensorError("autocast gave \(y.dtype) instead of \(autocastType!)")
            }
        } catch {
            throw TensorError("--precision \(rawValue) on \(device) is not supported by libtorch \(Torch.version): \(error)")
        }
    }
}

public enum Autocast {
    /// Runs `body` with autocast on for `device`'s kind in `precision` on this thread (autocast state is
    /// thread-local, like grad mode), restoring the previous state after. fp32 runs `body` as it is. Backward
    /// passes inside `body` run with autocast off (CTorch does it), as PyTorch advises.
    public static func run<R>(device: Device, precision: Precision, _ body: () throws -> R) throws -> R {
        guard let dtype = precision.autocastType, device != .meta else { return try body() }
        let kind = device.kind
        let was = dfk_autocast_enabled(kind) != 0
        try callStatus { dfk_autocast_set(kind, 1, dtype.rawValue, $0) }
        defer {
            _ = dfk_autocast_set(kind, was ? 1 : 0, dtype.rawValue, nil)
            if !was { dfk_autocast_clear_cache() }
        }
        return try body()
    }
    public static func isEnabled(_ device: Device) -> Bool { dfk_autocast_enabled(device.kind) != 0 }
}
