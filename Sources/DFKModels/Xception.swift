// Xception (Chollet 2017) with the module names of the widely used PyTorch port (timm's "legacy_xception",
// Cadene's pretrainedmodels): conv1/bn1, conv2/bn2, block1-12 (rep.N with separable convs conv1 + pointwise,
// skip/skipbn), conv3/bn3, conv4/bn4, fc. Separable convolution = depthwise 3x3 then pointwise 1x1.
import DFKTensor
import Foundation

final class SeparableConv2d: Module {
    let depthwise: Conv2d, pointwise: Conv2d
    init(_ inC: Int, _ outC: Int) throws {
        depthwise = try Conv2d(inC, inC, kernel: 3, padding: .explicit(1, 1), groups: inC, bias: false)
        pointwise = try Conv2d(inC, outC, kernel: 1, bias: false)
        super.init()
        child("conv1", depthwise); child("pointwise", pointwise)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor { try pointwise(try depthwise(x)) }
}

final class XceptionBlock: Module {
    enum Op { case relu, sep(SeparableConv2d), bn(BatchNorm2d), pool(Int) }
    let ops: [Op]
    let skip: (Conv2d, BatchNorm2d)?

    init(_ inC: Int, _ outC: Int, reps: Int, stride: Int, startWithRelu: Bool, growFirst: Bool) throws {
        var ops: [Op] = []
        var filters = inC
        if growFirst { ops += [.relu, .sep(try SeparableConv2d(inC, outC)), .bn(try BatchNorm2d(outC))]; filters = outC }
        for _ in 0..<(reps - 1) { ops += [.relu, .sep(try SeparableConv2d(filters, filters)), .bn(try BatchNorm2d(filters))] }
        if !growFirst { ops += [.relu, .sep(try SeparableConv2d(inC, outC)), .bn(try BatchNorm2d(outC))] }
        if !startWithRelu { ops.removeFirst() }
        if stride != 1 { ops.append(.pool(stride)) }
        self.ops = ops
        skip = outC != inC || stride != 1 ? (try Conv2d(inC, outC, kernel: 1, stride: stride, bias: false), try BatchNorm2d(outC)) : nil
        super.init()
        if let (c, b) = skip { child("skip", c); child("skipbn", b) }
        let rep = child("rep", Module())
        for (i, op) in ops.enumerated() {
            switch op {
            case .sep(let s): rep.child(String(i), s)
            case .bn(let b): rep.child(String(i), b)
            default: break
            }
        }
    }

    func callAsFunction(_ input: Tensor) throws -> Tensor {
        var x = input
        for op in ops {
            switch op {
            case .relu: x = try x.relu()
            case .sep(let s): x = try s(x)
            case .bn(let b): x = try b(x)
            case .pool(let s): x = try F.maxPool2d(x, kernel: (3, 3), stride: (s, s), padding: (1, 1))
            }
        }
        let id = try skip.map { try $0.1(try $0.0(input)) } ?? input
        return try x + id
    }
}

public final class Xception: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let blocks: [XceptionBlock]
    let conv3: SeparableConv2d, bn3: BatchNorm2d, conv4: SeparableConv2d, bn4: BatchNorm2d
    public private(set) var fc: Linear
    public let featureChannels = 2048

    public init(classes: Int = 1000) throws {
        conv1 = try Conv2d(3, 32, kernel: 3, stride: 2, bias: false); bn1 = try BatchNorm2d(32)
        conv2 = try Conv2d(32, 64, kernel: 3, bias: false); bn2 = try BatchNorm2d(64)
        var b: [XceptionBlock] = [
            try XceptionBlock(64, 128, reps: 2, stride: 2, startWithRelu: false, growFirst: true),
            try XceptionBlock(128, 256, reps: 2, stride: 2, startWithRelu: true, growFirst: true),
            try XceptionBlock(256, 728, reps: 2, stride: 2, startWithRelu: true, growFirst: true),
        ]
        for _ in 0..<8 { b.append(try XceptionBlock(728, 728, reps: 3, stride: 1, startWithRelu: true, growFirst: true)) }
        b.append(try XceptionBlock(728, 1024, reps: 2, stride: 2, startWithRelu: true, growFirst: false))
        blocks = b
        conv3 = try SeparableConv2d(1024, 1536); bn3 = try BatchNorm2d(1536)
        conv4 = try SeparableConv2d(1536, 2048); bn4 = try BatchNorm2d(2048)
        fc = try Linear(2048, classes)
        super.init()
        child("conv1", conv1); child("bn1", bn1); child("conv2", conv2); child("bn2", bn2)
        for (i, blk) in blocks.enumerated() { child("block\(i + 1)", blk) }
        child("conv3", conv3); child("bn3", bn3); child("conv4", conv4); child("bn4", bn4); child("fc", fc)
    }

    public func replaceHead(classes: Int) throws {
        fc = try Linear(featureChannels, classes)
        try replaceChild("fc", fc)
    }

    /// Taps: "entry" (after conv2), "block<i>", "conv3" and "conv4" (PRLE's Grad-CAM targets), "features".
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        func tap(_ n: String, _ t: Tensor) throws -> Tensor { try taps?(n, t) ?? t }
        var h = try bn1(try conv1(x)).relu()
        h = try tap("entry", try bn2(try conv2(h)).relu())
        for (i, blk) in blocks.enumerated() { h = try tap("block\(i + 1)", try blk(h)) }
        h = try tap("conv3", try bn3(try conv3(h)).relu())
        h = try tap("conv4", try bn4(try conv4(h)).relu())
        let f = try tap("features", try F.adaptiveAvgPool2d(h, (1, 1)).flatten(from: 1))
        return try fc(f)
    }
}
