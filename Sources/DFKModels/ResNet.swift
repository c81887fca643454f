// ResNet-18/34/50 and VGG-16 with batch norm, with torchvision's module names (conv1, bn1, layer1.0.conv1,
// downsample.0/1, fc; features.N, classifier.N), so torchvision weights load by name.
import DFKTensor
import Foundation

public final class BasicBlock: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let downsample: (Conv2d, BatchNorm2d)?
    static let expansion = 1
    init(_ inC: Int, _ planes: Int, stride: Int) throws {
        conv1 = try Conv2d(inC, planes, kernel: 3, stride: stride, padding: .explicit(1, 1), bias: false)
        bn1 = try BatchNorm2d(planes)
        conv2 = try Conv2d(planes, planes, kernel: 3, padding: .explicit(1, 1), bias: false)
        bn2 = try BatchNorm2d(planes)
        downsample = stride != 1 || inC != planes ? (try Conv2d(inC, planes, kernel: 1, stride: stride, bias: false), try BatchNorm2d(planes)) : nil
        super.init()
        child("conv1", conv1); child("bn1", bn1); child("conv2", conv2); child("bn2", bn2)
        if let (c, b) = downsample { let d = child("downsample", Module()); d.child("0", c); d.child("1", b) }
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try bn1(try conv1(x)).reluInPlace()
        h = try bn2(try conv2(h))
        let id = try downsample.map { try $0.1(try $0.0(x)) } ?? x
        return try (h + id).reluInPlace()
    }
}

public final class Bottleneck: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let downsample: (Conv2d, BatchNorm2d)?
    init(_ inC: Int, _ planes: Int, stride: Int) throws {
        let out = planes * 4
        conv1 = try Conv2d(inC, planes, kernel: 1, bias: false); bn1 = try BatchNorm2d(planes)
        conv2 = try Conv2d(planes, planes, kernel: 3, stride: stride, padding: .explicit(1, 1), bias: false); bn2 = try BatchNorm2d(planes)
        conv3 = try Conv2d(planes, out, kernel: 1, bias: false); bn3 = try BatchNorm2d(out)
        downsample = stride != 1 || inC != out ? (try Conv2d(inC, out, kernel: 1, stride: stride, bias: false), try BatchNorm2d(out)) : nil
        super.init()
        child("conv1", conv1); child("bn1", bn1); child("conv2", conv2); child("bn2", bn2); child("conv3", conv3); child("bn3", bn3)
        if let (c, b) = downsample { let d = child("downsample", Module()); d.child("0", c); d.child("1", b) }
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try bn1(try conv1(x)).reluInPlace()
        h = try bn2(try conv2(h)).reluInPlace()
        h = try bn3(try conv3(h))
        let id = try downsample.map { try $0.1(try $0.0(x)) } ?? x
        return try (h + id).reluInPlace()
    }
}

public final class ResNet: Module {
    let conv1: Conv2d, bn1: BatchNorm2d
    let layers: [[Module]]
    public private(set) var fc: Linear
    public let featureChannels: Int
    let bottleneck: Bool

    /// depth: 18, 34 or 50.
    public init(depth: Int, classes: Int = 1000) throws {
        let (counts, bottleneck): ([Int], Bool) = depth == 18 ? ([2, 2, 2, 2], false) : depth == 34 ? ([3, 4, 6, 3], false)
            : depth == 50 ? ([3, 4, 6, 3], true) : ([], false)
        guard !counts.isEmpty else { throw TensorError("ResNet depth must be 18, 34 or 50") }
        self.bottleneck = bottleneck
        conv1 = try Conv2d(3, 64, kernel: 7, stride: 2, padding: .explicit(3, 3), bias: false)
        bn1 = try BatchNorm2d(64)
        var inC = 64
        var all: [[Module]] = []
        for (i, n) in counts.enumerated() {
            let planes = 64 << i
            var stage: [Module] = []
            for j in 0..<n {
                let stride = j == 0 && i > 0 ? 2 : 1
                if bottleneck { stage.append(try Bottleneck(inC, planes, stride: stride)); inC = planes * 4 }
                else { stage.append(try BasicBlock(inC, planes, stride: stride)); inC = planes }
            }
            all.append(stage)
        }
        layers = all
        featureChannels = inC
        fc = try Linear(inC, classes)
        super.init()
        child("conv1", conv1); child("bn1", bn1)
        for (i, stage) in layers.enumerated() {
            let l = child("layer\(i + 1)", Module())
            for (j, b) in stage.enumerated() { l.child(String(j), b) }
        }
        child("fc", fc)
    }

    public func replaceHead(classes: Int) throws {
        fc = try Linear(featureChannels, classes)
        try replaceChild("fc", fc)
    }

    /// Taps: "stem", "layer1"..."layer4" (layer4 is the usual Grad-CAM target), "features".
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        func tap(_ n: String, _ t: Tensor) throws -> Tensor { try taps?(n, t) ?? t }
        var h = try tap("stem", try F.maxPool2d(try bn1(try conv1(x)).reluInPlace(), kernel: (3, 3), stride: (2, 2), padding: (1, 1)))
        for (i, stage) in layers.enumerated() {
            for b in stage { h = bottleneck ? try (b as! Bottleneck)(h) : try (b as! BasicBlock)(h) }
            h = try tap("layer\(i + 1)", h)
        }
        let f = try tap("features", try F.adaptiveAvgPool2d(h, (1, 1)).flatten(from: 1))
        return try fc(f)
    }
}

/// VGG-16 with batch norm (torchvision vgg16_bn): features.N (conv, bn, relu, ..., max pool), 7x7 adaptive pool,
/// classifier.0/3/6 linear layers with dropout.
public final class VGG16BN: Module {
    enum Layer { case conv(Conv2d, BatchNorm2d), pool }
    let layers: [Layer]
    let fc1: Linear, fc2: Linear
    public private(set) var fc3: Linear
    public var dropout = 0.5

    public init(classes: Int = 1000) throws {
        let plan: [Int] = [64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512, -1, 512, 512, 512, -1]
        var inC = 3
        var ls: [Layer] = []
        for v in plan {
            if v < 0 { ls.append(.pool) } else {
                ls.append(.conv(try Conv2d(inC, v, kernel: 3, padding: .explicit(1, 1)), try BatchNorm2d(v)))
                inC = v
            }
        }
        layers = ls
        fc1 = try Linear(512 * 7 * 7, 4096); fc2 = try Linear(4096, 4096); fc3 = try Linear(4096, classes)
        super.init()
        let features = child("features", Module())
        var idx = 0
        for l in layers {
            switch l {
            case .conv(let c, let b): features.child(String(idx), c); features.child(String(idx + 1), b); idx += 3
            case .pool: idx += 1
            }
        }
        let cls = child("classifier", Module())
        cls.child("0", fc1); cls.child("3", fc2); cls.child("6", fc3)
    }

    public func replaceHead(classes: Int) throws {
        fc3 = try Linear(4096, classes)
        let cls = namedChildren.first { $0.0 == "classifier" }!.1
        try cls.replaceChild("6", fc3)
    }

    /// Taps: "conv<i>" after each conv block's ReLU (PRLE uses the last three), "features".
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        var h = x
        var n = 0
        for l in layers {
            switch l {
            case .conv(let c, let b):
                h = try b(try c(h)).relu()
                h = try taps?("conv\(n)", h) ?? h
                n += 1
            case .pool: h = try F.maxPool2d(h, kernel: (2, 2))
            }
        }
        h = try F.adaptiveAvgPool2d(h, (7, 7)).flatten(from: 1)
        h = try taps?("features", h) ?? h
        h = try F.dropout(try fc1(h).relu(), p: dropout, training: training)
        h = try F.dropout(try fc2(h).relu(), p: dropout, training: training)
        return try fc3(h)
    }
}
