// Modules inserted into a network at a named tap that stay part of the network at inference (CrossDF/DID's
// deepfake attention A_df after the last feature map). A checkpoint records each insert in its metadata
// ("inserts": "TAP=KIND:CONFIG;...") with its weights under "insert.TAP.", and the detector rebuilds them from that,
// so scoring runs exactly the network that was trained and validated.
import DFKTensor
import Foundation

/// PReLU with one learned slope (torch.nn.PReLU(), weight initialised to 0.25).
public final class PReLU: Module {
    public private(set) var weight: Tensor!
    public init(initial: Double = 0.25) throws {
        let w = try Tensor.full([1], initial)
        super.init()
        weight = try parameter("weight", w)
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.relu() + (try x.clampMax(0) * weight)
    }
}

/// CrossDF's attention network A (Fig. 3): channel and spatial attention computed in parallel from the same map,
/// M = sigmoid(a_c + a_s) broadcast to [N, C, H, W], values in (0, 1).
/// - Channel branch: per channel, spatial GAP, GMP and S-ADP (a depthwise 3x3 convolution, then a sum over H x W),
///   concatenated [N, 3C, 1, 1] -> 1x1 conv 3C -> C/r, PReLU -> 1x1 conv C/r -> C, PReLU = a_c.
/// - Spatial branch: per position, the channel mean, max and C-ADP (a 1x1 convolution C -> 1), concatenated
///   [N, 3, H, W] -> 3x3 conv 3 -> 16, PReLU -> 3x3 conv 16 -> 1, PReLU = a_s.
public final class DIDAttention: Module {
    public let channels: Int, reduction: Int
    let sADP: Conv2d, channel1: Conv2d, channelAct1: PReLU, channel2: Conv2d, channelAct2: PReLU
    let cADP: Conv2d, spatial1: Conv2d, spatialAct1: PReLU, spatial2: Conv2d, spatialAct2: PReLU
    public static let spatialWidth = 16

    public init(channels c: Int, reduction r: Int = 16) throws {
        guard c > 0, r > 0 else { throw TensorError("attention: channels and reduction must be positive") }
        channels = c; reduction = r
        let hidden = max(1, c / r)
        sADP = try Conv2d(c, c, kernel: 3, padding: .explicit(1, 1), groups: c, bias: false)
        channel1 = try Conv2d(3 * c, hidden, kernel: 1)
        channelAct1 = try PReLU()
        channel2 = try Conv2d(hidden, c, kernel: 1)
        channelAct2 = try PReLU()
        cADP = try Conv2d(c, 1, kernel: 1)
        spatial1 = try Conv2d(3, DIDAttention.spatialWidth, kernel: 3, padding: .explicit(1, 1))
        spatialAct1 = try PReLU()
        spatial2 = try Conv2d(DIDAttention.spatialWidth, 1, kernel: 3, padding: .explicit(1, 1))
        spatialAct2 = try PReLU()
        super.init()
        child("s_adp", sADP); child("channel1", channel1); child("channel_act1", channelAct1)
        child("channel2", channel2); child("channel_act2", channelAct2)
        child("c_adp", cADP); child("spatial1", spatial1); child("spatial_act1", spatialAct1)
        child("spatial2", spatial2); child("spatial_act2", spatialAct2)
    }

    /// The attention map M for a feature map x [N, C, H, W].
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == 4, x.shape[1] == channels else {
            throw TensorError("attention: expected a [N, \(channels), H, W] map, got \(x.shape)")
        }
        let gap = try x.mean(dims: [2, 3], keepDim: true)
        let gmp = try x.max(dim: 3, keepDim: true).max(dim: 2, keepDim: true)
        let sadp = try sADP(x).sum(dims: [2, 3], keepDim: true)
        let ac = try channelAct2(try channel2(try channelAct1(try channel1(try Tensor.cat([gap, gmp, sadp], dim: 1)))))
        let cmean = try x.mean(dims: [1], keepDim: true)
        let cmax = try x.max(dim: 1, keepDim: true)
        let cadp = try cADP(x)
        let asp = try spatialAct2(try spatial2(try spatialAct1(try spatial1(try Tensor.cat([cmean, cmax, cadp], dim: 1)))))
        return try (ac + asp).sigmoid()
    }
}

/// x -> A(x) * x: the deepfake-information branch I_df = A_df(I_X) * I_X, kept at inference.
public final class AttentionGate: Module {
    public static let kind = "did-attention"
    public let attention: DIDAttention
    public init(channels: Int, reduction: Int) throws {
        attention = try DIDAttention(channels: channels, reduction: reduction)
        super.init()
        child("attention", attention)
    }
    public var config: String { "\(attention.channels):\(attention.reduction)" }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x * (try attention(x)) }
}

/// A module applied to the tensor at `tap` (replacing it) in training and at inference.
public struct InferenceInsert {
    public let tap: String
    public let kind: String
    /// The constructor's settings, as text (e.g. "1280:16" for an attention gate).
    public let config: String
    public let module: Module
    public let apply: (Tensor) throws -> Tensor

    public init(tap: String, gate: AttentionGate) {
        self.tap = tap; kind = AttentionGate.kind; config = gate.config; module = gate
        apply = { try gate($0) }
    }

    /// Rebuilds an insert from its kind and config (checkpoint metadata); weights are loaded by the caller.
    public static func make(tap: String, kind: String, config: String) throws -> InferenceInsert {
        switch kind {
        case AttentionGate.kind:
            let p = config.split(separator: ":").compactMap { Int($0) }
            guard p.count == 2, p[0] > 0, p[1] > 0 else { throw TensorError("insert \(kind) at \(tap): malformed config '\(config)'") }
            return InferenceInsert(tap: tap, gate: try AttentionGate(channels: p[0], reduction: p[1]))
        default:
            throw TensorError("unknown inserted module '\(kind)' at \(tap) (known: \(AttentionGate.kind))")
        }
    }

    /// The "inserts" metadata value: "TAP=KIND:CONFIG" joined by ";".
    public static func metadata(_ inserts: [InferenceInsert]) -> String {
        inserts.map { "\($0.tap)=\($0.kind):\($0.config)" }.joined(separator: ";")
    }

    /// Parses the "inserts" metadata value into (tap, kind, config) triples.
    public static func parse(_ text: String) throws -> [(tap: String, kind: String, config: String)] {
        try text.split(separator: ";").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let colon = parts[1].firstIndex(of: ":") else {
                throw TensorError("malformed inserted-module entry '\(entry)' (expected TAP=KIND:CONFIG)")
            }
            return (String(parts[0]), String(parts[1][..<colon]), String(parts[1][parts[1].index(after: colon)...]))
        }
    }

    /// Prefix of an insert's tensors in checkpoints.
    public var prefix: String { "insert.\(tap)." }
}

extension Backbone {
    /// Logits with the inserted modules applied at their taps (the plain network when there are none).
    public func callAsFunction(_ x: Tensor, inserts: [InferenceInsert]) throws -> Tensor {
        if inserts.isEmpty { return try self(x) }
        return try forward(x) { name, t in
            var t = t
            for i in inserts where i.tap == name { t = try i.apply(t) }
            return t
        }
    }
}
