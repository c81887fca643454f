// Backbones by name, with one calling convention: logits from images, named taps, a replaceable head.
// Every architecture conforms to `ClassifierNetwork`; the registry below is the one place that lists them.
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

    /// A registered architecture: its canonical name, aliases, native resolution and constructor.
    public struct Entry: Sendable {
        public let name: String
        public let aliases: [String]
        public let resolution: Int
        public let make: @Sendable (_ classes: Int, _ imageSize: Int?) throws -> any ClassifierNetwork
    }

    /// The registry (timm-like): every backbone the toolkit builds, by name.
    public static let registry: [Entry] = {
        var r: [Entry] = []
        for n in ["efficientnet-b0", "efficientnet-b1", "efficientnet-b2", "efficientnet-b3", "efficientnet-b4", "efficientnet-b5",
                  "efficientnet-b6", "efficientnet-b7", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
                  "efficientnet-lite3", "efficientnet-lite4"] {
            let c = EfficientNetConfig.named(n)!
            r.append(Entry(name: c.name, aliases: [n.replacingOccurrences(of: "-", with: "_")], resolution: c.resolution) { classes, size in
                try EfficientNet(c, classes: classes, imageSize: size)
            })
        }
        for d in [18, 34, 50] {
            r.append(Entry(name: "resnet\(d)", aliases: [], resolution: 224) { classes, _ in try ResNet(depth: d, classes: classes) })
        }
        r.append(Entry(name: "vgg16_bn", aliases: ["vgg16"], resolution: 224) { classes, _ in try VGG16BN(classes: classes) })
        r.append(Entry(name: "xception", aliases: [], resolution: 299) { classes, _ in try Xception(classes: classes) })
        r.append(Entry(name: "meso4", aliases: ["mesonet", "meso-4"], resolution: 256) { classes, _ in try Meso4(classes: classes) })
        for n in ["convnext_tiny", "convnext_base"] {
            let c = ConvNeXtConfig.named(n)!
            r.append(Entry(name: n, aliases: [n.replacingOccurrences(of: "_", with: "-")], resolution: 224) { classes, _ in
                try ConvNeXt(c, classes: classes)
            })
        }
        for n in ["efficientnetv2_s", "efficientnetv2_l", "tf_efficientnetv2_s", "tf_efficientnetv2_l"] {
            let c = EfficientNetV2Config.named(n)!
            let tv = n.hasPrefix("tf_") ? [] : [n.replacingOccurrences(of: "efficientnetv2", with: "efficientnet_v2")]
            r.append(Entry(name: n, aliases: tv + [n.replacingOccurrences(of: "_", with: "-")], resolution: c.resolution) { classes, _ in
                try EfficientNetV2(c, classes: classes)
            })
        }
        return r
    }()

    public static var names: [String] { registry.map(\.name) }

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
