// EfficientNetV2-S / -L (Tan & Le 2021) with torchvision 0.14's module names (efficientnet_v2_s / _l), so its weights
// load by name; timm's layout (efficientnetv2_* / tf_efficientnetv2_*: conv_stem, bn1, blocks.S.I.conv / conv_exp /
// conv_pw / conv_dw / se / conv_pwl, conv_head, bn2, classifier) maps onto it with WeightLayout.timmEfficientNetV2.
//   features.0.{0,1}            stem: 3x3/2 conv, batch norm, SiLU
//   features.S.I.block.K.{0,1}  FusedMBConv (3x3 expand conv [+ 1x1 project]) in stages 1-3, MBConv (1x1 expand,
//                               3x3 depthwise, SE block.2.fc1/fc2 with SiLU and a sigmoid gate, 1x1 project) after
//   features.N.{0,1}            head: 1x1 conv to 1280 channels, batch norm, SiLU (CrossDF/DID's feature map)
//   classifier.1                dropout, then the linear classifier
// Batch norm eps 1e-3 (torchvision and timm's tf_ variants; timm's non-tf efficientnetv2_* use 1e-5: set bnEps).
// Padding: symmetric (torchvision, timm efficientnetv2_*), or TensorFlow "SAME" computed from the input size
// (timm tf_efficientnetv2_*, asymmetric at stride 2). Stochastic depth rises linearly with the block index.
import DFKTensor
import Foundation

public struct EfficientNetV2Config: Sendable, Equatable {
    public struct Stage: Sendable, Equatable {
        public var fused: Bool
        public var expand: Int, kernel: Int, stride: Int, inC: Int, outC: Int, layers: Int
    }
    public var name: String
    public var stages: [Stage]
    public var lastChannels = 1280
    public var resolution: Int
    /// Dropout before the classifier (torchvision: 0.2 for S, 0.4 for L).
    public var dropout: Double
    /// Stochastic depth probability of the last block (torchvision's stochastic_depth_prob, 0.2).
    public var stochasticDepth = 0.2
    public var bnEps = 1e-3
    public var bnMomentum = 0.1
    /// TensorFlow "SAME" padding as timm's tf_efficientnetv2_* (else symmetric, as torchvision).
    public var tfPadding = false

    public static func named(_ n: String) -> EfficientNetV2Config? {
        let key = n.lowercased().replacingOccurrences(of: "-", with: "_")
        let tf = key.hasPrefix("tf_")
        let base = tf ? String(key.dropFirst(3)) : key
        func st(_ fused: Bool, _ e: Int, _ k: Int, _ s: Int, _ i: Int, _ o: Int, _ l: Int) -> Stage {
            Stage(fused: fused, expand: e, kernel: k, stride: s, inC: i, outC: o, layers: l)
        }
        var c: EfficientNetV2Config
        switch base {
        case "efficientnetv2_s", "efficientnet_v2_s":
            c = EfficientNetV2Config(name: "efficientnetv2_s", stages: [
                st(true, 1, 3, 1, 24, 24, 2), st(true, 4, 3, 2, 24, 48, 4), st(true, 4, 3, 2, 48, 64, 4),
                st(false, 4, 3, 2, 64, 128, 6), st(false, 6, 3, 1, 128, 160, 9), st(false, 6, 3, 2, 160, 256, 15),
            ], resolution: 384, dropout: 0.2)
        case "efficientnetv2_l", "efficientnet_v2_l":
            c = EfficientNetV2Config(name: "efficientnetv2_l", stages: [
                st(true, 1, 3, 1, 32, 32, 4), st(true, 4, 3, 2, 32, 64, 7), st(true, 4, 3, 2, 64, 96, 7),
                st(false, 4, 3, 2, 96, 192, 10), st(false, 6, 3, 1, 192, 224, 19), st(false, 6, 3, 2, 224, 384, 25),
                st(false, 6, 3, 1, 384, 640, 7),
            ], resolution: 480, dropout: 0.4)
        default: return nil
        }
        if tf { c.name = "tf_" + c.name; c.tfPadding = true }
        return c
    }
}

/// Conv, batch norm and an optional activation (torchvision's Conv2dNormActivation: children "0" and "1").
final class ConvBNAct: Module {
    let conv: Conv2d, bn: BatchNorm2d, act: Activation?
    init(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, groups: Int = 1, act: Activation?, config c: EfficientNetV2Config) throws {
        // TF "SAME" equals symmetric padding at stride 1 (odd kernels); only strided convs need the dynamic form.
        let padding: Padding = c.tfPadding && stride > 1 ? .same : .explicit((kernel - 1) / 2, (kernel - 1) / 2)
        conv = try Conv2d(inC, outC, kernel: kernel, stride: stride, padding: padding, groups: groups, bias: false)
        bn = try BatchNorm2d(outC, eps: c.bnEps, momentum: c.bnMomentum)
        self.act = act
        super.init()
        child("0", conv); child("1", bn)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let y = try bn(try conv(x))
        return try act.map { try $0(y) } ?? y
    }
}

/// Squeeze-and-excitation (torchvision's SqueezeExcitation with SiLU): x * sigmoid(fc2(silu(fc1(mean_hw x)))).
final class SqueezeExcitation: Module {
    let fc1: Conv2d, fc2: Conv2d
    init(_ channels: Int, squeeze: Int) throws {
        fc1 = try Conv2d(channels, squeeze, kernel: 1); fc2 = try Conv2d(squeeze, channels, kernel: 1)
        super.init()
        child("fc1", fc1); child("fc2", fc2)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let s = try fc2(try fc1(try F.adaptiveAvgPool2d(x, (1, 1))).silu()).sigmoid()
        return try x * s
    }
}

/// FusedMBConv or MBConv with its layers under "block" and a residual (stochastic depth) when shapes allow.
public final class EfficientNetV2Block: Module {
    enum Layer { case conv(ConvBNAct), se(SqueezeExcitation) }
    let layers: [Layer]
    let residual: Bool
    public var stochasticDepth: Double

    init(_ s: EfficientNetV2Config.Stage, inC: Int, stride: Int, stochasticDepth: Double, config c: EfficientNetV2Config) throws {
        let exp = inC * s.expand
        var ls: [Layer] = []
        if s.fused {
            if exp != inC {
                ls.append(.conv(try ConvBNAct(inC, exp, kernel: s.kernel, stride: stride, act: .swish, config: c)))
                ls.append(.conv(try ConvBNAct(exp, s.outC, kernel: 1, act: nil, config: c)))
            } else {
                ls.append(.conv(try ConvBNAct(inC, s.outC, kernel: s.kernel, stride: stride, act: .swish, config: c)))
            }
        } else {
            if exp != inC { ls.append(.conv(try ConvBNAct(inC, exp, kernel: 1, act: .swish, config: c))) }
            ls.append(.conv(try ConvBNAct(exp, exp, kernel: s.kernel, stride: stride, groups: exp, act: .swish, config: c)))
            ls.append(.se(try SqueezeExcitation(exp, squeeze: Swift.max(1, inC / 4))))
            ls.append(.conv(try ConvBNAct(exp, s.outC, kernel: 1, act: nil, config: c)))
        }
        layers = ls
        residual = stride == 1 && inC == s.outC
        self.stochasticDepth = stochasticDepth
        super.init()
        let block = child("block", Module())
        for (i, l) in layers.enumerated() {
            switch l {
            case .conv(let m): block.child(String(i), m)
            case .se(let m): block.child(String(i), m)
            }
        }
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = x
        for l in layers {
            switch l {
            case .conv(let m): h = try m(h)
            case .se(let m): h = try m(h)
            }
        }
        guard residual else { return h }
        return try F.dropPath(h, p: stochasticDepth, training: training) + x
    }
}

public final class EfficientNetV2: Module {
    public let config: EfficientNetV2Config
    let stem: ConvBNAct
    public let stages: [[EfficientNetV2Block]]
    let headConv: ConvBNAct
    let classifier: Module
    public private(set) var fc: Linear
    public var featureChannels: Int { config.lastChannels }

    public init(_ config: EfficientNetV2Config, classes: Int = 1000) throws {
        guard !config.stages.isEmpty else { throw TensorError("EfficientNetV2 needs at least one stage") }
        guard (0..<1).contains(config.stochasticDepth) else {
            throw TensorError("EfficientNetV2 stochastic depth must be in [0, 1), got \(config.stochasticDepth)")
        }
        self.config = config
        stem = try ConvBNAct(3, config.stages[0].inC, kernel: 3, stride: 2, act: .swish, config: config)
        let total = config.stages.reduce(0) { $0 + $1.layers }
        var all: [[EfficientNetV2Block]] = []
        var n = 0
        for s in config.stages {
            var stage: [EfficientNetV2Block] = []
            for j in 0..<s.layers {
                let p = config.stochasticDepth * Double(n) / Double(total)
                stage.append(try EfficientNetV2Block(s, inC: j == 0 ? s.inC : s.outC, stride: j == 0 ? s.stride : 1,
                                                     stochasticDepth: p, config: config))
                n += 1
            }
            all.append(stage)
        }
        stages = all
        headConv = try ConvBNAct(config.stages.last!.outC, config.lastChannels, kernel: 1, act: .swish, config: config)
        fc = try Linear(config.lastChannels, classes)
        classifier = Module()
        super.init()
        let features = child("features", Module())
        features.child("0", stem)
        for (i, stage) in stages.enumerated() {
            let m = features.child(String(i + 1), Module())
            for (j, b) in stage.enumerated() { m.child(String(j), b) }
        }
        features.child(String(stages.count + 1), headConv)
        child("classifier", classifier)
        classifier.child("1", fc)
        try EfficientNetV2.initialise(self)
    }

    /// torchvision's initialisation: convolutions Kaiming-normal (fan out), biases 0; batch norm 1 / 0; linear
    /// U(-1/sqrt(out), 1/sqrt(out)) with bias 0.
    static func initialise(_ m: EfficientNetV2) throws {
        try Autograd.noGrad {
            for (name, p) in m.namedParameters() {
                if p.ndim == 4 {
                    let fanOut = p.shape[0] * p.shape[2] * p.shape[3]
                    try p.copyInPlace(try Tensor.randn(p.shape, seed: Init.nextSeed()) * (2.0 / Double(fanOut)).squareRoot())
                } else if p.ndim == 2 {
                    let r = 1 / Double(p.shape[0]).squareRoot()
                    try p.copyInPlace(try Init.uniform(p.shape, bound: r))
                } else if name.hasSuffix(".bias") { try p.zeroInPlace() }
            }
        }
    }

    /// Replaces the classifier (classifier.1) with a fresh one of `classes` outputs.
    public func replaceHead(classes: Int) throws {
        let new = try Linear(featureChannels, classes)
        try Autograd.noGrad {
            try new.weight.copyInPlace(try Init.uniform(new.weight.shape, bound: 1 / Double(classes).squareRoot()))
            try new.bias?.zeroInPlace()
        }
        fc = new
        try classifier.replaceChild("1", new)
    }

    /// Taps, in order: "stem" (features.0), "stage1" ... "stageN" (features.1 ... features.N), "head" (the 1280-channel
    /// map of features.N+1, DID's I_X and the Grad-CAM target), "features" (pooled, [N, 1280]).
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        func tap(_ name: String, _ t: Tensor) throws -> Tensor { try taps?(name, t) ?? t }
        var h = try tap("stem", try stem(x))
        for (i, stage) in stages.enumerated() {
            for b in stage { h = try b(h) }
            h = try tap("stage\(i + 1)", h)
        }
        h = try tap("head", try headConv(h))
        var f = try F.adaptiveAvgPool2d(h, (1, 1)).flatten(from: 1)
        f = try tap("features", f)
        f = try F.dropout(f, p: config.dropout, training: training)
        return try fc(f)
    }
}

extension WeightLayout {
    /// timm's EfficientNetV2 names (efficientnetv2_* and tf_efficientnetv2_*: conv_stem, bn1, blocks.S.I.conv / bn1
    /// (ConvBnAct), conv_exp / bn1 / conv_pwl / bn2 (EdgeResidual = FusedMBConv), conv_pw / bn1 / conv_dw / bn2 /
    /// se.conv_reduce / se.conv_expand / conv_pwl / bn3 (InvertedResidual = MBConv), conv_head, bn2, classifier) to
    /// torchvision's (features.0.0/1, features.S+1.I.block.K.0/1 and block.2.fc1/fc2, features.N.0/1, classifier.1).
    /// Other names pass through unchanged.
    public static func timmEfficientNetV2(_ w: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        var stages = Set<Int>()
        var kinds: [String: String] = [:]   // "S.I" -> cn / er / ir
        for (name, _) in w where name.hasPrefix("blocks.") {
            let p = name.split(separator: ".")
            guard p.count > 3, let s = Int(p[1]) else { continue }
            stages.insert(s)
            let key = "\(p[1]).\(p[2])"
            switch p[3] {
            case "conv": kinds[key] = "cn"
            case "conv_exp": kinds[key] = "er"
            case "conv_pw": kinds[key] = "ir"
            default: break
            }
        }
        let head = (stages.max() ?? -1) + 2
        let maps: [String: [String: String]] = [
            "cn": ["conv": "block.0.0", "bn1": "block.0.1"],
            "er": ["conv_exp": "block.0.0", "bn1": "block.0.1", "conv_pwl": "block.1.0", "bn2": "block.1.1"],
            "ir": ["conv_pw": "block.0.0", "bn1": "block.0.1", "conv_dw": "block.1.0", "bn2": "block.1.1",
                   "se.conv_reduce": "block.2.fc1", "se.conv_expand": "block.2.fc2", "conv_pwl": "block.3.0", "bn3": "block.3.1"],
        ]
        return w.map { name, t in
            for (from, to) in [("conv_stem.", "features.0.0."), ("bn1.", "features.0.1."), ("conv_head.", "features.\(head).0."),
                               ("bn2.", "features.\(head).1."), ("classifier.", "classifier.1.")] where name.hasPrefix(from) {
                return (to + name.dropFirst(from.count), t)
            }
            let p = name.split(separator: ".").map(String.init)
            guard p.count >= 5, p[0] == "blocks", let s = Int(p[1]), let kind = kinds["\(p[1]).\(p[2])"], let map = maps[kind] else { return (name, t) }
            let rest = p[3...].joined(separator: ".")
            for (from, to) in map.sorted(by: { $0.key.count > $1.key.count }) where rest.hasPrefix(from + ".") {
                return ("features.\(s + 1).\(p[2]).\(to)." + rest.dropFirst(from.count + 1), t)
            }
            return (name, t)
        }
    }
}

extension WeightRemap {
    /// timm's EfficientNetV2 names: a `conv_stem` and ConvBnAct (`conv`) or EdgeResidual (`conv_exp`) blocks, which
    /// V1 has not (it starts with a depthwise-separable block).
    public static let timmEfficientNetV2 = WeightRemap("timm EfficientNetV2", recognises: { names in
        names.contains("conv_stem.weight") && hasTimmV2Blocks(names)
    }, apply: { WeightLayout.timmEfficientNetV2($0) })

    static func hasTimmV2Blocks(_ names: Set<String>) -> Bool {
        names.contains { $0.hasPrefix("blocks.") && ($0.hasSuffix(".conv.weight") || $0.contains(".conv_exp.")) }
    }
}
