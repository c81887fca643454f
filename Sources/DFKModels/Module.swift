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

    /// Any weight layout this toolkit knows, mapped onto its own names: wrappers removed, then the first of
    /// `remaps` that recognises the keys (default: every layout a registered backbone's weights come in,
    /// `Backbone.layouts`); names in no known layout pass through unchanged.
    public static func native(_ weights: [(name: String, tensor: Tensor)], remaps: [WeightRemap] = Backbone.layouts) -> [(name: String, tensor: Tensor)] {
        let w = unwrap(weights)
        let names = Set(w.map(\.name))
        guard let r = remaps.first(where: { $0.recognises(names) }) else { return w }
        return r.apply(w)
    }
}

/// A foreign weight-name layout of one architecture (timm's, an original repository's) and how to map it onto the
/// toolkit's names: each architecture's file declares its own, and its registry entry lists them (`Backbone.Entry`).
public struct WeightRemap: Sendable {
    public let name: String
    /// Whether a file's (unwrapped) key set is in this layout. The layouts of the registry exclude each other.
    public let recognises: @Sendable (Set<String>) -> Bool
    public let apply: @Sendable ([(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)]
    public init(_ name: String, recognises: @escaping @Sendable (Set<String>) -> Bool,
                apply: @escaping @Sendable ([(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)]) {
        self.name = name; self.recognises = recognises; self.apply = apply
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
