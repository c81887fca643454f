// CrossDF's deep information decomposition (crossdf-deep-information-decomposition.txt, Figs. 2-3, eqs. 1-5).
//
// I_X = G(X) is the backbone's last feature map (its `mapTap`). The deepfake attention A_df splits it into
// I_df = A_df(I_X) * I_X and I_os = (1 - A_df(I_X)) * I_X; the domain attention gives I_dom = A_dom(I_os) * I_os.
// C is the backbone's own head: I_df replaces the map before pooling, so logits = C(pool(I_df)); its fake logit is
// z_fake - z_real (softmax over two classes is the sigmoid of that difference, so BCE on it is the usual
// cross-entropy and the detector's fake probability is the paper's sigma(C)). C_dom (an MLP on pooled I_dom)
// predicts the domain (real + one class per manipulation method). The MI estimator T sees (I_df, I_os) pairs: joint
// pairs from the same face, marginal pairs with I_os from another face of the batch (a random derangement).
//
// Losses: L_cls = a BCE + (1 - a) L_AUC, L_AUC = mean over (fake i, real j) of max(0, gamma - (P_i - P_j))^p (eq. 2,
// zero when the batch lacks reals or fakes) on the fake probabilities P = sigma(C): the paper bounds gamma by 1
// (0 < gamma <= 1, p > 1: Yan et al.'s approximation of the Wilcoxon-Mann-Whitney statistic, defined on outputs in
// [0, 1]); on raw logits the squared hinge would be unbounded and swamp BCE; L_dom = cross-entropy of C_dom; L_dec = -I_JSD (the discriminator loss
// of T, with I_JSD = E_joint[log sigma(T)] + E_marg[log(1 - sigma(T))]); L = l_dec L_dec + l_cls L_cls + l_dom L_dom.
// T minimises L_dec (maximises the bound); a gradient-reversal layer with weight beta = 2 / (1 + exp(-5 p)) - 1,
// p = epoch / epochs, between the features and T makes G and A_df maximise L_dec, i.e. minimise the MI estimate
// (the min-max of eq. 5). Inference: G -> A_df -> C only (A_df is an `InferenceInsert`, stored in checkpoints).
import DFKCore
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

/// DID's settings (recipe section `did`).
public struct DIDOptions: RecipeSection, Equatable {
    /// Weight of BCE in L_cls (eq. 3); 1 - alpha goes to the AUC loss. Fig. 4 sweeps {0, .25, .5, .75, 1}.
    public var alpha = 0.5
    /// Margin and power of the AUC loss (eq. 2).
    public var gamma = 0.15
    public var power = 2.0
    /// Loss weights of eq. 4.
    public var lambdaDec = 0.01
    public var lambdaCls = 1.0
    public var lambdaDom = 1.0
    /// Ablations (Table III): without A_dom C_dom classifies I_os itself; without T there is no L_dec.
    public var domainAttention = true
    public var decorrelation = true
    /// Widths the paper leaves open: the attention's channel reduction (C -> C/r), T's convolution width, C_dom's
    /// hidden width.
    public var reduction = 16
    public var estimatorWidth = 256
    public var domainHidden = 512
    /// Learning rate of A_df, A_dom, C, C_dom and T relative to the backbone's (the paper: 1e-4 vs 1e-5).
    public var lrScale = 10.0
    public init() {}
    public static let key = "did"
    public static let fields: [RecipeField<DIDOptions>] = [
        .double("alpha", \.alpha, min: 0, max: 1),
        .double("gamma", \.gamma, min: 0),
        .double("power", \.power, min: 1),
        .double("lambda_dec", \.lambdaDec, min: 0),
        .double("lambda_cls", \.lambdaCls, min: 0),
        .double("lambda_dom", \.lambdaDom, min: 0),
        .bool("domain_attention", \.domainAttention),
        .bool("decorrelation", \.decorrelation),
        .int("reduction", \.reduction, min: 1),
        .int("estimator_width", \.estimatorWidth, min: 1),
        .int("domain_hidden", \.domainHidden, min: 1),
        .double("lr_scale", \.lrScale, min: 0),
    ]
}

/// DID's loss terms and schedules as functions (tested on their own).
public enum DID {
    /// The gradient-reversal weight at `epoch` of `epochs`: 2 / (1 + exp(-5 p)) - 1, p = epoch / epochs.
    public static func beta(epoch: Int, epochs: Int) -> Double {
        let p = Double(epoch) / Double(max(epochs, 1))
        return 2 / (1 + Foundation.exp(-5 * p)) - 1
    }

    /// The fake logit C(I_df) of [N, 2] logits (z_fake - z_real) or [N, 1] logits, as [N].
    public static func fakeLogit(_ logits: Tensor) throws -> Tensor {
        switch logits.shape.count == 2 ? logits.shape[1] : 0 {
        case 1: return try logits.squeeze(1)
        case 2: return try (try logits.narrow(1, start: 1, length: 1) - (try logits.narrow(1, start: 0, length: 1))).squeeze(1)
        default: throw TrainError("DID needs [N, 1] or [N, 2] logits, got \(logits.shape)")
        }
    }

    /// Eq. 2: mean over (fake i, real j) of max(0, gamma - (s_i - s_j))^p; 0 when `labels` lack either class.
    /// The step passes fake probabilities sigma(C) as `scores`.
    public static func aucLoss(_ scores: Tensor, labels: [Int], gamma: Double, power: Double) throws -> Tensor {
        let fakes = labels.indices.filter { labels[$0] == 1 }, reals = labels.indices.filter { labels[$0] == 0 }
        guard !fakes.isEmpty, !reals.isEmpty else { return try (try scores.sum()) * 0 }
        let sf = try scores.indexSelect(0, try Tensor(int64: fakes.map(Int64.init), shape: [fakes.count]).to(device: scores.device))
        let sr = try scores.indexSelect(0, try Tensor(int64: reals.map(Int64.init), shape: [reals.count]).to(device: scores.device))
        let margin = try gamma - (try sf.unsqueeze(1) - (try sr.unsqueeze(0)))
        return try margin.relu().pow(power).mean()
    }

    /// The JSD lower bound on MI: mean log sigma(T_joint) + mean log(1 - sigma(T_marginal)). At most 0, reached as
    /// T separates joint from marginal pairs; 2 log(1/2) for a T that cannot tell them apart.
    public static func jsdBound(joint: Tensor, marginal: Tensor) throws -> Tensor {
        try joint.logSigmoid().mean() + (try (try -marginal).logSigmoid().mean())
    }

    /// A uniformly random cyclic permutation of 0..<n (Sattolo's algorithm; no element stays in place) drawn from
    /// `uniforms` in [0, 1) (n - 1 of them are used).
    public static func derangement(_ n: Int, uniforms: [Float]) -> [Int] {
        var p = Array(0..<n)
        var k = 0
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = min(i - 1, Int(Double(uniforms[k]) * Double(i)))
            k += 1
            p.swapAt(i, j)
        }
        return p
    }
}

/// T: three convolutions with ReLU on the channel concatenation of (I_df, I_os), global average pooling, then a
/// linear layer to one score. 1x1 conv 2C -> w, 3x3 conv w -> w, 3x3 conv w -> w (w: did.estimator_width).
public final class MIEstimator: Module {
    let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d, fc: Linear
    public init(channels c: Int, width w: Int) throws {
        conv1 = try Conv2d(2 * c, w, kernel: 1)
        conv2 = try Conv2d(w, w, kernel: 3, padding: .explicit(1, 1))
        conv3 = try Conv2d(w, w, kernel: 3, padding: .explicit(1, 1))
        fc = try Linear(w, 1)
        super.init()
        child("conv1", conv1); child("conv2", conv2); child("conv3", conv3); child("fc", fc)
    }
    /// Scores [N] of pairs (a[i], b[i]).
    public func callAsFunction(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        var h = try Tensor.cat([a, b], dim: 1)
        h = try conv3(try conv2(try conv1(h).relu()).relu()).relu()
        return try fc(try h.mean(dims: [2, 3])).squeeze(1)
    }
}

/// C_dom: global average pooling, then Linear C -> hidden, ReLU, Linear hidden -> k + 1.
public final class DomainHead: Module {
    let fc1: Linear, fc2: Linear
    public init(channels c: Int, hidden: Int, classes: Int) throws {
        fc1 = try Linear(c, hidden); fc2 = try Linear(hidden, classes)
        super.init()
        child("fc1", fc1); child("fc2", fc2)
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try fc2(try fc1(try x.mean(dims: [2, 3])).relu()) }
}

/// The DID modules around the backbone: A_df inserted at the map tap, A_dom, C_dom and T beside it.
public final class DIDHook: TrainingHook {
    public let name = "did"
    public let options: DIDOptions
    public let tap: String
    public let channels: Int
    public let domainClasses: Int
    public let epochs: Int
    /// A_df (x -> A_df(x) * x), kept at inference.
    public let gate: AttentionGate
    public let domainAttention: DIDAttention?
    public let domainHead: DomainHead
    public let estimator: MIEstimator?
    /// The backbone's classifier parameters (C), trained at the modules' rate.
    public let head: [Tensor]
    public private(set) var beta = 0.0

    /// The split of the current forward pass.
    struct Split { let df: Tensor; let os: Tensor }
    var current: Split?
    /// Per-epoch sums of the loss terms, for the log line.
    var sums: [String: Double] = [:]
    var steps = 0

    public init(options: DIDOptions, model: Backbone, domains: Int, epochs: Int) throws {
        self.options = options; self.epochs = epochs
        tap = model.mapTap
        channels = model.network is VGG16BN ? 512 : model.featureChannels
        domainClasses = max(domains, 2)
        gate = try AttentionGate(channels: channels, reduction: options.reduction)
        domainAttention = options.domainAttention ? try DIDAttention(channels: channels, reduction: options.reduction) : nil
        domainHead = try DomainHead(channels: channels, hidden: options.domainHidden, classes: domainClasses)
        estimator = options.decorrelation ? try MIEstimator(channels: channels, width: options.estimatorWidth) : nil
        // C is the backbone's head: re-create it (2 classes, fresh) to learn which parameters are its own.
        let before = Set(model.module.parameters.map(ObjectIdentifier.init))
        try model.replaceHead(classes: 2)
        head = model.module.parameters.filter { !before.contains(ObjectIdentifier($0)) }
        beta = DID.beta(epoch: 0, epochs: epochs)
    }

    var modules: [(String, Module)] {
        var m: [(String, Module)] = [("adf", gate), ("cdom", domainHead)]
        if let a = domainAttention { m.append(("adom", a)) }
        if let t = estimator { m.append(("t", t)) }
        return m
    }

    public var taps: Set<String> { [tap] }
    public var inserts: [InferenceInsert] { [InferenceInsert(tap: tap, gate: gate)] }
    public func prepare(_ execution: Execution) throws { for (_, m) in modules { try execution.prepare(m) } }
    public var parameterGroups: [(parameters: [Tensor], lrScale: Double)] {
        [(modules.flatMap { $0.1.parameters } + head, options.lrScale)]
    }

    public func transform(tap: String, _ t: Tensor, pass: Int, ctx: StepContext) throws -> Tensor {
        guard t.shape.count == 4, t.shape[1] == channels else {
            throw TrainError("did: the map at '\(tap)' is \(t.shape), expected [N, \(channels), H, W]")
        }
        let m = try gate.attention(t)
        let df = try t * m
        current = Split(df: df, os: try t * (try 1 - m))
        return df
    }

    public func beginEpoch(_ epoch: Int) throws {
        beta = DID.beta(epoch: epoch, epochs: epochs)
        sums = [:]; steps = 0
    }

    public var epochLog: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [("did_beta", .double((beta * 1e6).rounded() / 1e6))]
        for k in ["bce", "auc", "dom", "jsd"] {
            guard let sum = sums[k] else { continue }
            out.append(("did_\(k)", .double((sum / Double(max(steps, 1)) * 1e6).rounded() / 1e6)))
        }
        return out
    }

    public func state() throws -> [(String, Tensor)] {
        modules.flatMap { name, m in m.stateDict().map { ("\(name).\($0.0)", $0.1) } }
    }
    public func loadState(_ s: [(String, Tensor)]) throws {
        for (name, m) in modules {
            let p = name + "."
            try m.load(s.filter { $0.0.hasPrefix(p) }.map { (String($0.0.dropFirst(p.count)), $0.1) }, strict: true)
        }
    }

    /// The loss terms of one batch from the network's logits and this pass's split.
    public struct Terms {
        public let total: Tensor
        public let bce: Double, auc: Double, dom: Double
        /// The JSD bound I_JSD (nil without T).
        public let jsd: Double?
    }

    func terms(logits: Tensor, _ b: Batch) throws -> Terms {
        guard let split = current else { throw TrainError("did: the forward pass did not reach the map tap '\(tap)'") }
        let o = options
        let s = try DID.fakeLogit(logits)
        let y = try Tensor(b.labels.map { Float($0) }, shape: [b.count]).to(device: s.device)
        let bce = try F.bceWithLogits(s, y)
        let auc = try DID.aucLoss(try s.sigmoid(), labels: b.labels, gamma: o.gamma, power: o.power)
        var total = try (try (try bce * o.alpha) + (try auc * (1 - o.alpha))) * o.lambdaCls
        if let bad = b.domains.first(where: { $0 < 0 || $0 >= domainClasses }) {
            throw TrainError("did: domain label \(bad) outside 0..<\(domainClasses)")
        }
        let dom = try domainAttention.map { try split.os * (try $0(split.os)) } ?? split.os
        let domainTarget = try Tensor(int64: b.domains.map(Int64.init), shape: [b.count]).to(device: s.device)
        let ldom = try F.crossEntropy(try domainHead(dom), domainTarget)
        total = try total + (try ldom * o.lambdaDom)
        var jsd: Double?
        if let t = estimator, b.count >= 2 {
            let df = try F.gradientReversal(split.df, alpha: beta), os = try F.gradientReversal(split.os, alpha: beta)
            let perm = DID.derangement(b.count, uniforms: try Tensor.rand([b.count]).floats())
            let shuffled = try os.indexSelect(0, try Tensor(int64: perm.map(Int64.init), shape: [b.count]).to(device: s.device))
            let bound = try DID.jsdBound(joint: try t(df, os), marginal: try t(df, shuffled))
            total = try total - (try bound * o.lambdaDec)
            jsd = try bound.item()
        }
        return Terms(total: total, bce: try bce.item(), auc: try auc.item(), dom: try ldom.item(), jsd: jsd)
    }
}

/// One DID update: a forward pass (the hook splits the map and feeds I_df to C), the combined loss, one step of
/// the grouped optimizer (backbone at the recipe's rate, the DID modules and C at did.lr_scale times it).
public final class DIDStep: TrainingStep {
    public let name = "did"
    public let hook: DIDHook
    public init(hook: DIDHook) { self.hook = hook }

    public func step(_ b: Batch, _ ctx: StepContext) throws -> Double {
        ctx.optimizer.zeroGrad()
        hook.current = nil
        let f = try ctx.forward(b)
        let t = try hook.terms(logits: f.logits, b)
        hook.current = nil
        try t.total.backward()
        try ctx.optimizer.step()
        hook.steps += 1
        for (k, v) in [("bce", t.bce), ("auc", t.auc), ("dom", t.dom), ("jsd", t.jsd)] {
            if let v { hook.sums[k, default: 0] += v }
        }
        return try t.total.item()
    }
}

// MARK: - The method

public enum DIDMethod: TrainingMethod {
    public static let name = "did"
    public static let summary = "CrossDF's deep information decomposition: attention split of the last feature map, domain head, MI estimator behind gradient reversal, BCE + AUC loss"
    public static let role = MethodRole.step
    public static let sections: [any RecipeSection.Type] = [DIDOptions.self]
    /// Its loss is its own (no per-sample weights); its domain head classifies the manipulation method.
    public static let capabilities: MethodCapabilities = [.domainLabels]
    /// The DID modules own parameters (a group at did.lr_scale times the recipe's rate): made before the optimizer.
    public static func prepare(_ c: MethodContext) throws -> MethodParts {
        MethodParts(hooks: [try DIDHook(options: c.recipe[DIDOptions.self], model: c.model, domains: c.domains, epochs: c.recipe.epochs)])
    }
    public static func makeStep(_ c: MethodContext, optimizer: Optimizer, prepared: MethodParts) throws -> (TrainingStep, [TrainingHook]) {
        guard let hook = prepared.hooks.lazy.compactMap({ $0 as? DIDHook }).first else {
            throw TrainError("step did: its hook was not prepared before the optimizer")
        }
        return (DIDStep(hook: hook), [])
    }
}
