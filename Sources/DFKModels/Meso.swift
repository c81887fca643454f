// Meso4 (Afchar et al., "MesoNet: a compact facial video forgery detection network", WIFS 2018), the published
// Keras layout: four conv blocks (conv with bias and ReLU, then batch norm, then max pooling) of 8 (3x3), 8 (5x5),
// 16 (5x5) and 16 (5x5) channels, pooled 2, 2, 2 and 4; flatten; dropout 0.5; dense 16; LeakyReLU(0.1); dropout 0.5;
// the classifier. At its 256 px input the last map is 16 x 8 x 8 (1024 features).
//
// Adaptations, so that it trains and scores like the other backbones: the classifier is a dense layer to `classes`
// logits (2, softmax cross-entropy) instead of one sigmoid unit; the last map is adaptively average-pooled to 8 x 8
// before flattening, which is the identity at 256 px and keeps the 1024-wide dense layer at any other input size
// (e.g. the CPU demo's 128 px); pooling rounds up (Keras' "same" pooling on odd sizes); weights start from the
// toolkit's PyTorch-style initialisation, not Keras' Glorot (there are no published weights to load).
import DFKTensor
import Foundation

public final class Meso4: Module {
    let convs: [Conv2d], bns: [BatchNorm2d]
    static let widths = [8, 8, 16, 16], kernels = [3, 5, 5, 5], pools = [2, 2, 2, 4]
    let fc1: Linear
    public private(set) var fc2: Linear
    public var dropout = 0.5
    /// The hidden dense layer's width: the "features" tap.
    public let featureChannels = 16

    public init(classes: Int = 2) throws {
        var inC = 3
        var c: [Conv2d] = [], b: [BatchNorm2d] = []
        for (w, k) in zip(Meso4.widths, Meso4.kernels) {
            c.append(try Conv2d(inC, w, kernel: k, padding: .explicit(k / 2, k / 2)))
            b.append(try BatchNorm2d(w))
            inC = w
        }
        convs = c; bns = b
        fc1 = try Linear(16 * 8 * 8, 16)
        fc2 = try Linear(16, classes)
        super.init()
        for i in 0..<4 { child("conv\(i + 1)", convs[i]); child("bn\(i + 1)", bns[i]) }
        child("fc1", fc1); child("fc2", fc2)
    }

    public func replaceHead(classes: Int) throws {
        fc2 = try Linear(16, classes)
        try replaceChild("fc2", fc2)
    }

    /// Taps: "block1"..."block4" after each block's pooling (block4, 16 x 8 x 8 at 256 px, is the last map), then
    /// "features" (the 16 LeakyReLU outputs before the last dropout and the classifier).
    public func callAsFunction(_ x: Tensor, taps: ((String, Tensor) throws -> Tensor)? = nil) throws -> Tensor {
        var h = x
        for i in 0..<4 {
            h = try bns[i](try convs[i](h).relu())
            let p = Meso4.pools[i]
            h = try F.maxPool2d(h, kernel: (p, p), ceilMode: true)
            h = try taps?("block\(i + 1)", h) ?? h
        }
        if h.shape[2] != 8 || h.shape[3] != 8 { h = try F.adaptiveAvgPool2d(h, (8, 8)) }
        h = try F.dropout(try h.flatten(from: 1), p: dropout, training: training)
        let z = try fc1(h)
        // LeakyReLU(0.1): max(z, 0.1 z).
        h = try z.maximum(try z * 0.1)
        h = try taps?("features", h) ?? h
        return try fc2(try F.dropout(h, p: dropout, training: training))
    }
}
