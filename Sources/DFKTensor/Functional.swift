// Neural-network functions and losses (torch.nn.functional's counterparts).
import CTorch

public enum Reduction: Int32, Sendable { case none = 0, mean = 1, sum = 2 }

public enum F {
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                              padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
        let s = [Int64(stride.0), Int64(stride.1)], p = [Int64(padding.0), Int64(padding.1)], d = [Int64(dilation.0), Int64(dilation.1)]
        return try call { dfk_conv2d(x.handle, weight.handle, bias?.handle, s, p, d, Int64(groups), $0) }
    }
    /// Batch normalisation; in training mode the running statistics (when given) are updated in place.
    public static func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
                                 training: Bool, momentum: Double = 0.1, eps: Double = 1e-5) throws -> Tensor {
        try call { dfk_batch_norm(x.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle,
                                  training ? 1 : 0, momentum, eps, $0) }
    }
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try call { dfk_linear(x.handle, weight.handle, bias?.handle, $0) }
    }
    public static func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                                 ceilMode: Bool = false) throws -> Tensor {
        let s = stride ?? kernel
        let k = [Int64(kernel.0), Int64(kernel.1)], st = [Int64(s.0), Int64(s.1)], p = [Int64(padding.0), Int64(padding.1)]
        return try call { dfk_max_pool2d(x.handle, k, st, p, ceilMode ? 1 : 0, $0) }
    }
    public static func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                                 ceilMode: Bool = false, countIncludePad: Bool = true) throws -> Tensor {
        let s = stride ?? kernel
        let k = [Int64(kernel.0), Int64(kernel.1)], st = [Int64(s.0), Int64(s.1)], p = [Int64(padding.0), Int64(padding.1)]
        return try call { dfk_avg_pool2d(x.handle, k, st, p, ceilMode ? 1 : 0, countIncludePad ? 1 : 0, $0) }
    }
    public static func adaptiveAvgPool2d(_ x: Tensor, _ size: (Int, Int)) throws -> Tensor {
        try call { dfk_adaptive_avg_pool2d(x.handle, Int64(size.0), Int64(size.1), $0) }
    }
    public static func softmax(_ x: Tensor, dim: Int) throws -> Tensor { try call { dfk_softmax(x.handle, Int64(dim), 0, $0) } }
    public static func logSoftmax(_ x: Tensor, dim: Int) throws -> Tensor { try call { dfk_softmax(x.handle, Int64(dim), 1, $0) } }
    public static func dropout(_ x: Tensor, p: Double, training: Bool) throws -> Tensor { try call { dfk_dropout(x.handle, p, training ? 1 : 0, $0) } }
    /// Layer normalisation over the last `normalizedShape.count` dimensions (torch.nn.functional.layer_norm).
    public static func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) throws -> Tensor {
        let s = normalizedShape.map(Int64.init)
        return try call { dfk_layer_norm(x.handle, s, Int32(s.count), weight?.handle, bias?.handle, eps, $0) }
    }
    /// Stochastic depth (timm's DropPath, torchvision's StochasticDepth "row"): in training each sample is dropped
    /// with probability `p` and the others scaled by 1 / (1 - p); the mask lives on x's device. Identity otherwise.
    public static func dropPath(_ x: Tensor, p: Double, training: Bool, scaleByKeep: Bool = true) throws -> Tensor {
        if !training || p == 0 { return x }
        return try call { dfk_drop_path(x.handle, p, 1, scaleByKeep ? 1 : 0, $0) }
    }

    /// Cross-entropy of logits [N, C] against class indices [N] (int64). Use `.none` and weight the result for
    /// per-sample weights (e.g. NRS's weighted loss).
    public static func crossEntropy(_ logits: Tensor, _ target: Tensor, classWeight: Tensor? = nil, reduction: Reduction = .mean,
                                    labelSmoothing: Double = 0) throws -> Tensor {
        try call { dfk_cross_entropy(logits.handle, target.handle, classWeight?.handle, reduction.rawValue, labelSmoothing, $0) }
    }
    public static func bceWithLogits(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil,
                                     reduction: Reduction = .mean) throws -> Tensor {
        try call { dfk_bce_with_logits(logits.handle, target.handle, weight?.handle, posWeight?.handle, reduction.rawValue, $0) }
    }
    /// Weighted mean of per-sample losses: sum(w * l) / sum(w).
    public static func weightedMean(_ losses: Tensor, _ weights: Tensor) throws -> Tensor {
        try (losses * weights).sum() / weights.sum()
    }
    /// Gradient reversal layer: identity forward, gradient multiplied by -alpha backward (CrossDF's MI estimator).
    public static func gradientReversal(_ x: Tensor, alpha: Double = 1) throws -> Tensor {
        try call { dfk_grad_reverse(x.handle, alpha, $0) }
    }
}
