// Where and how a network runs: the device, the precision of its forward pass and the memory format of its images.
// `train`, `score-video`, `score-frames` and `prle-cam-fuse` share it (their --device, --precision and
// --channels-last flags).
import DFKTensor
import Foundation

public struct Execution: Sendable, CustomStringConvertible {
    public var device: Device
    public var precision: Precision
    /// Images and convolution weights in NHWC order (cuDNN's and oneDNN's fast layout on recent hardware).
    public var channelsLast: Bool

    public init(device: Device = .cpu, precision: Precision = .fp32, channelsLast: Bool = false) {
        self.device = device; self.precision = precision; self.channelsLast = channelsLast
    }

    public static let cpu = Execution()

    public var description: String { "\(device) \(precision.rawValue)\(channelsLast ? " channels-last" : "")" }

    /// Resolves the flags' values: "auto" takes the first GPU libtorch sees; a nil precision takes the device's
    /// default (bf16 on a GPU that supports it, fp32 on the CPU). Unusable choices are one-line errors.
    public static func resolve(device text: String, precision: Precision?, channelsLast: Bool) throws -> Execution {
        guard let choice = DeviceChoice(parsing: text) else { throw TensorError("--device \(text): \(DeviceChoice.expected)") }
        return try resolve(device: choice, precision: precision, channelsLast: channelsLast)
    }

    /// `resolve` for a --device value parsed already.
    public static func resolve(device choice: DeviceChoice, precision: Precision?, channelsLast: Bool) throws -> Execution {
        let device = choice.device ?? .automatic
        try device.checkAvailable()
        let p = precision ?? Precision.defaultFor(device)
        try p.check(on: device)
        return Execution(device: device, precision: p, channelsLast: channelsLast)
    }

    /// Moves a module's parameters and buffers to the device (and channels-last when asked), in place.
    public func prepare(_ module: Module) throws {
        if device != .cpu { try module.to(device: device) }
        if channelsLast { try module.to(channelsLast: true) }
    }

    /// A batch made on the host, on the device: copied from pinned memory without waiting when the device is a GPU
    /// (the copy overlaps with the work queued before it), channels-last when asked.
    public func input(_ x: Tensor) throws -> Tensor {
        var t = x
        if device != t.device { t = try (device.isGPU ? try t.pinned() : t).to(device: device, nonBlocking: device.isGPU) }
        if channelsLast && t.ndim == 4 { t = try t.contiguous(channelsLast: true) }
        return t
    }

    /// Host data (targets, weights) on the device.
    public func place(_ t: Tensor) throws -> Tensor {
        device == t.device ? t : try t.to(device: device, nonBlocking: false)
    }

    /// Runs a forward pass under autocast in this precision (fp32: as it is).
    public func forward<R>(_ body: () throws -> R) throws -> R {
        try Autocast.run(device: device, precision: precision, body)
    }
}

/// A --device value, parsed once: auto (the first GPU libtorch sees, else the CPU) or a device to run on (cpu, cuda,
/// cuda:N, mps; meta holds no data, so it is no place to run). `text` keeps the spelling given: "cuda" names no index
/// (a data-parallel rank then takes the GPU of its local rank), "cuda:0" does.
public struct DeviceChoice: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    /// nil: auto.
    public let device: Device?

    /// What a --device value may be, for error messages.
    public static let expected = "expected auto, cpu, cuda, cuda:N or mps"
    public static let auto = DeviceChoice(text: "auto", device: nil)

    private init(text: String, device: Device?) { self.text = text; self.device = device }

    public init?(parsing text: String) {
        if text.lowercased() == "auto" { self.init(text: text, device: nil); return }
        guard let d = Device(parsing: text), d != .meta else { return nil }
        self.init(text: text, device: d)
    }

    /// Whether the value names a GPU index ("cuda:N").
    public var namesIndex: Bool { text.contains(":") }
    public var description: String { text }
}

/// Loss scaling for fp16 training (what torch.cuda.amp.GradScaler does): the loss is multiplied by `scale` before
/// backward so small fp16 gradients do not flush to zero; `ScaledOptimizer` divides the gradients back before the
/// update, skips an update whose gradients overflowed (and halves the scale), and doubles the scale after
/// `growthInterval` clean steps. One host synchronisation per update (the overflow check).
public final class LossScaler {
    public private(set) var scale: Double
    public let growthFactor: Double, backoffFactor: Double, growthInterval: Int
    public private(set) var cleanSteps = 0
    public private(set) var skipped = 0

    public init(initialScale: Double = 65536, growthFactor: Double = 2, backoffFactor: Double = 0.5, growthInterval: Int = 2000) {
        scale = initialScale; self.growthFactor = growthFactor; self.backoffFactor = backoffFactor; self.growthInterval = growthInterval
    }

    /// Unscales the gradients in place; false when they hold an inf or NaN (the update must be skipped).
    func unscale(_ parameters: [Tensor]) throws -> Bool {
        try Autograd.noGrad {
            let grads = parameters.compactMap(\.grad)
            guard !grads.isEmpty else { return true }
            for g in grads { try g.mulInPlace(1 / scale) }
            return try Tensor.globalNorm(grads).item().isFinite
        }
    }

    func update(finite: Bool) {
        if finite {
            cleanSteps += 1
            if cleanSteps >= growthInterval { scale *= growthFactor; cleanSteps = 0 }
        } else {
            scale *= backoffFactor; cleanSteps = 0; skipped += 1
        }
    }

    public func state() throws -> [(String, Tensor)] {
        [("scale", try Tensor([scale], shape: [])), ("clean_steps", try Tensor(int64: [Int64(cleanSteps)], shape: []))]
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        for (k, t) in s {
            switch k {
            case "scale": scale = try t.item()
            case "clean_steps": cleanSteps = Int(try t.item())
            default: throw TensorError("unknown loss-scaler state \(k)")
            }
        }
    }
}

/// An optimizer whose gradients come from a scaled loss (`LossScaler`): unscale, skip on overflow, update.
public final class ScaledOptimizer: Optimizer {
    public let base: Optimizer
    public let scaler: LossScaler
    public init(_ base: Optimizer, scaler: LossScaler) { self.base = base; self.scaler = scaler }
    public var groups: [ParamGroup] { base.groups }
    public func setLearningRate(_ lr: Double, group: Int) { base.setLearningRate(lr, group: group) }
    public func step() throws {
        let finite = try scaler.unscale(parameters)
        if finite { try base.step() }
        scaler.update(finite: finite)
    }
    public func state() throws -> [(String, Tensor)] {
        try base.state() + scaler.state().map { ("scaler." + $0.0, $0.1) }
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        try base.loadState(s.filter { !$0.0.hasPrefix("scaler.") })
        try scaler.loadState(s.filter { $0.0.hasPrefix("scaler.") }.map { (String($0.0.dropFirst(7)), $0.1) })
    }
}
