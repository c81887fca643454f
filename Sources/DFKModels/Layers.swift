// Layers with PyTorch's parameter names and shapes, so published weights load by name.
import DFKTensor
import Foundation

public enum Padding: Sendable, Equatable {
    case explicit(Int, Int)
    /// TensorFlow's "SAME" padding (EfficientNet): pad so that output = ceil(input / stride), extra on the far side.
    case same
    /// "SAME" padding computed once for a nominal input size (efficientnet_pytorch's Conv2dStaticSamePadding):
    /// identical to `.same` at that size, and what the published EfficientNet weights ran with at any other size.
    case staticSame(Int, Int)
}

public final class Conv2d: Module {
    public private(set) var weight: Tensor!
    public private(set) var bias: Tensor?
    public let stride: (Int, Int), padding: Padding, dilation: (Int, Int), groups: Int
    public let kernel: (Int, Int)

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .explicit(0, 0),
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) throws {
        self.kernel = (kernel, kernel); self.stride = (stride, stride); self.padding = padding
        self.dilation = (dilation, dilation); self.groups = groups
        let fanIn = inChannels / groups * kernel * kernel
        let w = try Init.kaiming([outChannels, inChannels / groups, kernel, kernel], fanIn: fanIn)
        let b = bias ? try Init.uniform([outChannels], bound: 1 / Double(fanIn).squareRoot()) : nil
        super.init()
        weight = try parameter("weight", w)
        if let b { self.bias = try parameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch padding {
        case .explicit(let ph, let pw):
            return try F.conv2d(x, weight: weight, bias: bias, stride: stride, padding: (ph, pw), dilation: dilation, groups: groups)
        case .same, .staticSame:
            let s = x.shape
            var (h, w) = (s[2], s[3])
            if case .staticSame(let sh, let sw) = padding { (h, w) = (sh, sw) }
            func pads(_ size: Int, _ k: Int, _ st: Int, _ d: Int) -> (Int, Int) {
                let out = (size + st - 1) / st
                let total = max((out - 1) * st + (k - 1) * d + 1 - size, 0)
                return (total / 2, total - total / 2)
            }
            let (pt, pb) = pads(h, kernel.0, stride.0, dilation.0), (pl, pr) = pads(w, kernel.1, stride.1, dilation.1)
            let xp = (pt | pb | pl | pr) == 0 ? x : try x.pad([pl, pr, pt, pb])
            return try F.conv2d(xp, weight: weight, bias: bias, stride: stride, dilation: dilation, groups: groups)
        }
    }
}

public final class BatchNorm2d: Module {
    public private(set) var weight: Tensor!, bias: Tensor!
    public private(set) var runningMean: Tensor!, runningVar: Tensor!, numBatchesTracked: Tensor!
    public let eps: Double, momentum: Double

    public init(_ channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) throws {
        self.eps = eps; self.momentum = momentum
        let w = try Tensor.ones([channels]), b = try Tensor.zeros([channels])
        let rm = try Tensor.zeros([channels]), rv = try Tensor.ones([channels]), n = try Tensor.zeros([], dtype: .int64)
        super.init()
        weight = try parameter("weight", w); bias = try parameter("bias", b)
        runningMean = buffer("running_mean", rm); runningVar = buffer("running_var", rv)
        numBatchesTracked = buffer("num_batches_tracked", n)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try F.batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                        training: training, momentum: momentum, eps: eps)
    }
}

public final class Linear: Module {
    public private(set) var weight: Tensor!
    public private(set) var bias: Tensor?
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
        let bound = 1 / Double(inFeatures).squareRoot()
        let w = try Init.uniform([outFeatures, inFeatures], bound: bound)
        let b = bias ? try Init.uniform([outFeatures], bound: bound) : nil
        super.init()
        weight = try parameter("weight", w)
        if let b { self.bias = try parameter("bias", b) }
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try F.linear(x, weight: weight, bias: bias) }
}

/// Layer normalisation over the last dimension (torch.nn.LayerNorm(channels); timm's channels-last LayerNorm).
public class LayerNorm: Module {
    public private(set) var weight: Tensor!, bias: Tensor!
    public let channels: Int, eps: Double
    public init(_ channels: Int, eps: Double = 1e-5) throws {
        self.channels = channels; self.eps = eps
        let w = try Tensor.ones([channels]), b = try Tensor.zeros([channels])
        super.init()
        weight = try parameter("weight", w); bias = try parameter("bias", b)
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try F.layerNorm(x, normalizedShape: [channels], weight: weight, bias: bias, eps: eps)
    }
}

/// Layer normalisation over the channels of an [N, C, H, W] tensor (timm's LayerNorm2d: permute to channels-last,
/// normalise, permute back; ConvNeXt's stem, downsampling layers and head).
public final class LayerNorm2d: LayerNorm {
    public override init(_ channels: Int, eps: Double = 1e-6) throws { try super.init(channels, eps: eps) }
    public override func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.ndim == 4 else { throw TensorError("LayerNorm2d expects [N, C, H, W], got \(x.shape)") }
        return try super.callAsFunction(try x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
    }
}

public enum Activation: String, Sendable {
    case relu, relu6, swish, gelu
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch self {
        case .gelu: return try x.gelu()
        case .relu: return try x.relu()
        case .relu6: return try x.relu6()
        case .swish: return try x.silu()
        }
    }
}
