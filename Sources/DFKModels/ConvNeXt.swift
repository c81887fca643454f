// ConvNeXt-Tiny / -Base ("A ConvNet for the 2020s", Liu et al. 2022) with timm 0.6.13's module names, so timm
// checkpoints load by name (facebookresearch's original checkpoints through WeightLayout.facebookConvNeXt):
//   stem.0 (4x4/4 conv), stem.1 (LayerNorm2d), stages.N.downsample.0 (LayerNorm2d) / .1 (2x2/2 conv) for N > 0,
//   stages.N.blocks.M.{gamma, conv_dw, norm, mlp.fc1, mlp.fc2}, head.norm (LayerNorm over the pooled vector), head.fc.
// Block: 7x7 depthwise conv -> channels-last LayerNorm (eps 1e-6) -> Linear 4C -> GELU (exact) -> Linear C -> layer
// scale gamma -> stochastic depth -> + input. Stochastic depth rates rise linearly from 0 to `dropPath` over all
// blocks (timm's drop_path_rate, default 0). PIM's main backbone is ConvNeXt-Base (perturbations after stage 0's blocks).
import DFKTensor
import Foundation

public struct ConvNeXtConfig: Sendable, Equatable {
    public var name: String
    public var depths: [Int]
    public var dims: [Int]
    /// Stochastic depth rate of the last block (timm's drop_path_rate; 0 by default as in timm).
    public var dropPath: Double = 0
    /// Dropout before the classifier (timm's drop_rate, default 0).
    public var dropout: Double = 0
    /// Initial layer-scale value (timm's ls_init_value).
    public var layerScaleInit: Double = 1e-6

    public static func named(_ n: String) -> ConvNeXtConfig? {
        switch n.lowercased().replacingOccurrences(of: "-", with: "_") {
        case "convnext_tiny": return ConvNeXtConfig(name: "convnext_tiny", depths: [3, 3, 9, 3], dims: [96, 192, 384, 768])
        case "convnext_small": return ConvNeXtConfig(name: "convnext_small", depths: [3, 3, 27, 3], dims: [96, 192, 384, 768])
        case "convnext_base": return ConvNeXtConfig(name: "convnext_base", depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024])
        default: return nil
        }
    }
}

public final class ConvNeXtBlock: Module {
    public private(set) var gamma: Tensor?
    let convDW: Conv2d, norm: LayerNorm, fc1: Linear, fc2: Linear
    public var dropPath: Double

    init(_ dim: Int, dropPath: Double, layerScaleInit: Double) throws {
        convDW = try Conv2d(dim, dim, kernel: 7, padding: .explicit(3, 3), groups: dim, bias: true)
        norm = try LayerNorm(dim, eps: 1e-6)
        fc1 = try Linear(dim, 4 * dim)
        fc2 = try Linear(4 * dim, dim)
        self.dropPath = dropPath
        super.init()
        if layerScaleInit > 0 { gamma = try parameter("gamma", try Tensor.full([dim], layerScaleInit)) }
        child("conv_dw", convDW); child("norm", norm)
        let mlp = child("mlp", Module())
        mlp.child("fc1", fc1); mlp.child("fc2", fc2)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try convDW(x).permute([0, 2, 3, 1])          // [N, H, W, C]
        h = try fc2(try fc1(try norm(h)).gelu()).permute([0, 3, 1, 2])
        if let gamma { h = try h * gamma.reshape([1, -1, 1, 1]) }
        return try F.dropPath(h, p: dropPath, training: training) + x
    }
}

public final class ConvNeXt: Module {
    public let config: ConvNeXtConfig
    let stemConv: Conv2d, stemNorm: LayerNorm2d
    let downsamples: [(LayerNorm2d, Conv2d)?]
    public let blocks: [[ConvNeXtBlock]]
    let headNorm: LayerNorm
    let head: Module
    public private(set) var fc: Linear
    public let featureChannels: Int

    public init(_ config: ConvNeXtConfig, classes: Int = 1000) throws {
        guard config.depths.count == 4, config.dims.count == 4, config.depths.allSatisfy({ $0 > 0 }) else {
            throw TensorError("ConvNeXt needs 4 stages with at least one block each")
        }
        guard (0..<1).contains(config.dropPath) else { throw TensorError("ConvNeXt drop path rate must be in [0, 1), got \(config.dropPath)") }
        self.config = config
        let dims = config.dims
        stemConv = try Conv2d(3, dims[0], kernel: 4, stride: 4)
        stemNorm = try LayerNorm2d(dims[0], eps: 1e-6)
        let total = config.depths.reduce(0, +)
        var ds: [(LayerNorm2d, Conv2d)?] = [], all: [[ConvNeXtBlock]] = []
        var n = 0
        for (i, depth) in config.depths.enumerated() {
            ds.append(i == 0 ? nil : (try LayerNorm2d(dims[i - 1], eps: 1e-6), try Conv2d(dims[i - 1], dims[i], kernel: 2, stride: 2)))
            var stage: [ConvNeXtBlock] = []
            for _ in 0..<depth {
                // torch.linspace(0, drop_path_rate, total)
                let rate = total > 1 ? config.dropPath * Double(n) / Double(total - 1) : 0
                stage.append(try ConvNeXtBlock(dims[i], dropPath: rate, layerScaleInit: config.layerScaleInit))
                n += 1
            }
            all.append(stage)
        }
        downsamples = ds; blocks = all
        featureChannels = dims[3]
        headNorm = try LayerNorm(dims[3], eps: 1e-6)
        fc = try Linear(dims[3], classes)
        head = Module()
        super.init()
        let stem = child("stem", Module())
        stem.child("0", stemConv); stem.child("1", stemNorm)
        let stages = child("stages", Module())
        for i in 0..<4 {
            let s = stages.child(String(i), Module())
            if let (norm, conv) = downsamples[i] {
                let d = s.child("downsample", Module())
                d.child("0", norm); d.child("1", conv)
            }
            let b = s.child("blocks", Module())
            for (j, block) in blocks[i].enumerated() { b.child(String(j), block) }
        }
        child("head", head)
        head.child("norm", headNorm); head.child("fc", fc)
        try ConvNeXt.initialise(self)
    }

    /// timm's initialisation: convolution and linear weights ~ N(0, 0.02) (truncated at +-2, i.e. not at all at this
    /// scale), their biases 0; LayerNorm 1 / 0; layer scale at its initial value.
    static func initialise(_ m: Module) throws {
        try Autograd.noGrad {
            for (name, p) in m.namedParameters() {
                if p.ndim >= 2 { try p.copyInPlace(try Tensor.randn(p.shape, seed: Init.nextSeed()) * 0.02) }
                else if name.hasSuffix(".bias") { try p.zeroInPlace() }
            }
        }
    }

    /// Replaces the classifier (head.fc) with a fresh one of `classes` outputs.
    public func replaceHead(classes: Int) throws {
        let new = try Linear(featureChannels, classes)
        try Autograd.noGrad {
            try new.weight.copyInPlace(try Tensor.randn(new.weight.shape, seed: Init.nextSeed()) * 0.02)
            try new.bias?.zeroInPlace()
        }
        fc = new
        try head.replaceChild("fc", new)
    }

    /// Taps, in order: "stem", "stage0.block0" ... after every block of stage 0 (PIM's placement), "stage0" ...
    /// "stage3" after each stage ("stage0" is the same point as stage 0's last block tap, after it), then
    /// "features" (pooled and normalised, [N, C]) just before the classifier.
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        func tap(_ name: String, _ t: Tensor) throws -> Tensor { try taps?(name, t) ?? t }
        var h = try tap("stem", try stemNorm(try stemConv(x)))
        for (i, stage) in blocks.enumerated() {
            if let (norm, conv) = downsamples[i] { h = try conv(try norm(h)) }
            for (j, b) in stage.enumerated() {
                h = try b(h)
                if i == 0 { h = try tap("stage0.block\(j)", h) }
            }
            h = try tap("stage\(i)", h)
        }
        var f = try headNorm(try F.adaptiveAvgPool2d(h, (1, 1)).flatten(from: 1))
        f = try tap("features", f)
        f = try F.dropout(f, p: config.dropout, training: training)
        return try fc(f)
    }
}

extension WeightLayout {
    /// facebookresearch/ConvNeXt's checkpoint names (downsample_layers.0 = stem, downsample_layers.N, stages.N.M.dwconv /
    /// norm / pwconv1 / pwconv2 / gamma, norm, head) to timm's (stem.0/1, stages.N.downsample.0/1, stages.N.blocks.M.conv_dw /
    /// norm / mlp.fc1 / mlp.fc2 / gamma, head.norm, head.fc), as timm's checkpoint_filter_fn does. timm names pass unchanged.
    public static func facebookConvNeXt(_ w: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        guard w.contains(where: { $0.name.hasPrefix("downsample_layers.") }) else { return w }
        return w.map { name, t in
            var p = name.split(separator: ".").map(String.init)
            if p.first == "downsample_layers", p.count > 2 {
                p = p[1] == "0" ? ["stem"] + p[2...] : ["stages", p[1], "downsample"] + p[2...]
            } else if p.first == "stages", p.count > 3, Int(p[2]) != nil {
                p.insert("blocks", at: 2)
                let map = ["dwconv": ["conv_dw"], "pwconv1": ["mlp", "fc1"], "pwconv2": ["mlp", "fc2"]]
                if let r = map[p[4]] { p.replaceSubrange(4...4, with: r) }
            } else if p.first == "norm" {
                p = ["head", "norm"] + p[1...]
            } else if p.first == "head" {
                p = ["head", "fc"] + p[1...]
            }
            return (p.joined(separator: "."), t)
        }
    }
}

extension WeightRemap {
    /// facebookresearch/ConvNeXt's checkpoints: `downsample_layers.*`.
    public static let facebookConvNeXt = WeightRemap("facebookresearch ConvNeXt", recognises: { names in
        names.contains { $0.hasPrefix("downsample_layers.") }
    }, apply: { WeightLayout.facebookConvNeXt($0) })
}
