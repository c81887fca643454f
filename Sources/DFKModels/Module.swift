// A small module system: parameters, buffers and named submodules in registration order, train/eval mode,
// state dicts with PyTorch's names and order, and weight loading that reports missing and unexpected keys.
import DFKTensor
import Foundation

/// Deterministic initialisation: every new parameter draws from its own seed, derived from a process-wide
/// counter that `Init.reset(seed:)` restarts (so a run with the same seed builds identical models).
public enum Init {
    nonisolated(unsafe) private static var counter: UInt64 = 0
    nonisolated(unsafe) private static var base: UInt64 = 0
    private static let lock = NSLock()
    public static func reset(seed: UInt64) { lock.lock(); base = seed; counter = 0; lock.unlock() }
    static func nextSeed() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        counter += 1
        return base &* 0x9E37_79B9_7F4A_7C15 &+ counter
    }
    /// He (Kaiming) normal initialisation for a weight with `fanIn` inputs.
    public static func kaiming(_ shape: [Int], fanIn: Int) throws -> Tensor {
        try Tensor.randn(shape, seed: nextSeed()) * (2.0 / Double(max(fanIn, 1))).squareRoot()
    }
    public static func uniform(_ shape: [Int], bound: Double) throws -> Tensor {
        try (Tensor.rand(shape, seed: nextSeed()) * (2 * bound)) - bound
    }
}

public struct LoadReport: CustomStringConvertible {
    public var loaded: [String] = []
    public var missing: [String] = []
    public var unexpected: [String] = []
    public var mismatched: [String] = []
    public var description: String {
        "\(loaded.count) tensors loaded; missing \(missing.count)\(missing.isEmpty ? "" : ": " + missing.prefix(6).joined(separator: ", "))"
            + "; unexpected \(unexpected.count)\(unexpected.isEmpty ? "" : ": " + unexpected.prefix(6).joined(separator: ", "))"
            + (mismatched.isEmpty ? "" : "; shape mismatch: " + mismatched.prefix(6).joined(separator: ", "))
    }
}

open class Module {
    public private(set) var training = true
    private var ownParameters: [(String, Tensor)] = []
    private var ownBuffers: [(String, Tensor)] = []
    private var children: [(String, Module)] = []

    public init() {}

    /// Registers a trainable parameter (a leaf that requires grad).
    @discardableResult
    public func parameter(_ name: String, _ t: Tensor) throws -> Tensor {
        let p = try t.detach().requiresGrad()
        ownParameters.append((name, p))
        return p
    }
    /// Registers a buffer (state that is saved but not trained, e.g. batch-norm running statistics).
    @discardableResult
    public func buffer(_ name: String, _ t: Tensor) -> Tensor {
        ownBuffers.append((name, t))
        return t
    }
    @discardableResult
    public func child<M: Module>(_ name: String, _ m: M) -> M {
        children.append((name, m))
        return m
    }
    public var namedChildren: [(String, Module)] { children }
    /// Swaps a registered child for another (e.g. a new classifier head).
    public func replaceChild(_ name: String, _ m: Module) throws {
        guard let i = children.firstIndex(where: { $0.0 == name }) else { throw TensorError("no submodule named \(name)") }
        children[i] = (name, m)
    }

    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        ownParameters.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }
    public var parameters: [Tensor] { namedParameters().map(\.1) }
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        ownBuffers.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedBuffers(prefix: prefix + $0.0 + ".") }
    }
    /// Parameters and buffers by name, in PyTorch's order (a module's own parameters, its buffers, then children).
    public func stateDict(prefix: String = "") -> [(String, Tensor)] {
        ownParameters.map { (prefix + $0.0, $0.1) } + ownBuffers.map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.stateDict(prefix: prefix + $0.0 + ".") }
    }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Moves (or converts) every parameter and buffer in place; integer buffers keep their type.
    public func to(device: Device, dtype: DType? = nil) throws {
        try Autograd.noGrad {
            for (_, t) in stateDict() {
                let keepType = t.dtype == .int64 || t.dtype == .bool || t.dtype == .uint8
                try t.setData(try t.to(keepType ? nil : dtype, device: device))
            }
        }
    }

    /// Stores every 4-d parameter and buffer (convolution weights) channels-last (NHWC), or back to contiguous
    /// (NCHW), in place. With channels-last inputs, cuDNN and oneDNN pick their NHWC kernels.
    public func to(channelsLast: Bool) throws {
        try Autograd.noGrad {
            for (_, t) in stateDict() where t.ndim == 4 { try t.setData(try t.contiguous(channelsLast: channelsLast)) }
        }
    }

    public func train(_ on: Bool = true) {
        training = on
        for (_, c) in children { c.train(on) }
    }
    public func eval() { train(false) }

    /// Copies matching tensors into this module. With `strict`, any missing, unexpected or mis-shaped key is an error.
    @discardableResult
    public func load(_ weights: [(name: String, tensor: Tensor)], strict: Bool = true) throws -> LoadReport {
        var report = LoadReport()
        let mine = Dictionary(stateDict(), uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        try Autograd.noGrad {
            for (name, t) in weights {
                guard let target = mine[name] else { report.unexpected.append(name); continue }
                seen.insert(name)
                guard target.shape == t.shape else { report.mismatched.append("\(name) \(t.shape) vs \(target.shape)"); continue }
                try target.copyInPlace(t)
                report.loaded.append(name)
            }
        }
        report.missing = stateDict().map(\.0).filter { !seen.contains($0) }
        if strict && !(report.missing.isEmpty && report.unexpected.isEmpty && report.mismatched.isEmpty) {
            throw TensorError("weights do not match the model: \(report)")
        }
        return report
    }
}

/// Weight-name layouts that users bring, mapped onto this toolkit's module names.
public enum WeightLayout {
    /// Removes the wrappers training scripts add: "module." (DataParallel / DDP), "model." / "net." prefixes
    /// when every key carries them.
    public static func unwrap(_ w: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        var out = w
        for prefix in ["module.", "model.", "net.", "backbone."] where !out.isEmpty && out.allSatisfy({ $0.name.hasPrefix(prefix) }) {
            out = out.map { (String($0.name.dropFirst(prefix.count)), $0.tensor) }
        }
        return out
    }

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

    /// Any weight layout this toolkit knows, mapped onto its own names: wrappers removed, then timm EfficientNet,
    /// timm EfficientNetV2 or facebookresearch ConvNeXt names recognised by their keys.
    public static func native(_ weights: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        let w = unwrap(weights)
        let names = Set(w.map(\.name))
        if names.contains(where: { $0.hasPrefix("downsample_layers.") }) { return facebookConvNeXt(w) }
        guard names.contains("conv_stem.weight") else { return w }
        // timm EfficientNetV2 has ConvBnAct ("conv") or EdgeResidual ("conv_exp") blocks; V1 starts with a separable block.
        if names.contains(where: { $0.hasPrefix("blocks.") && ($0.hasSuffix(".conv.weight") || $0.contains(".conv_exp.")) }) {
            return timmEfficientNetV2(w)
        }
        return timmEfficientNet(w)
    }
}

/// A list of modules named 0, 1, 2... (torch.nn.Sequential / ModuleList naming).
public final class ModuleList<M: Module>: Module {
    public private(set) var items: [M] = []
    public init(_ items: [M]) {
        super.init()
        for (i, m) in items.enumerated() { self.items.append(child(String(i), m)) }
    }
}
