// Backbones by name, with one calling convention: logits from images, optional taps, replaceable head.
import DFKTensor

public struct Backbone {
    public let name: String
    public let module: Module
    public let forward: (Tensor, ((String, Tensor) throws -> Tensor)?) throws -> Tensor
    /// Native input resolution of the architecture (EfficientNet B4: 380).
    public let resolution: Int

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x, nil) }

    public static let names = ["efficientnet-b0", "efficientnet-b1", "efficientnet-b2", "efficientnet-b3", "efficientnet-b4",
                               "efficientnet-b5", "efficientnet-b6", "efficientnet-b7", "efficientnet-lite0", "efficientnet-lite1",
                               "efficientnet-lite2", "efficientnet-lite3", "efficientnet-lite4", "resnet18", "resnet34", "resnet50",
                               "vgg16_bn", "xception"]

    /// Builds a backbone with `classes` outputs. `imageSize` fixes EfficientNet's static SAME padding (default: native).
    public static func make(_ name: String, classes: Int, imageSize: Int? = nil) throws -> Backbone {
        if let c = EfficientNetConfig.named(name) {
            let m = try EfficientNet(c, classes: classes, imageSize: imageSize)
            return Backbone(name: c.name, module: m, forward: { try m($0, taps: $1) }, resolution: c.resolution)
        }
        switch name {
        case "resnet18", "resnet34", "resnet50":
            let m = try ResNet(depth: Int(name.dropFirst(6))!, classes: classes)
            return Backbone(name: name, module: m, forward: { try m($0, taps: $1) }, resolution: 224)
        case "vgg16_bn", "vgg16":
            let m = try VGG16BN(classes: classes)
            return Backbone(name: "vgg16_bn", module: m, forward: { try m($0, taps: $1) }, resolution: 224)
        case "xception":
            let m = try Xception(classes: classes)
            return Backbone(name: name, module: m, forward: { try m($0, taps: $1) }, resolution: 299)
        default:
            throw TensorError("unknown backbone '\(name)' (known: \(names.joined(separator: ", ")))")
        }
    }
}
