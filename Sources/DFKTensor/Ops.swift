// Element-wise, reduction and shape operations.
import CTorch

enum BinaryOp: Int32 { case add = 0, sub, mul, div, pow, maximum, minimum, eq, lt, gt, le, ge }
enum UnaryOp: Int32 {
    case neg = 0, exp, log, sqrt, abs, relu, relu6, sigmoid, tanh, silu, gelu, square, rsqrt, sign, floor, softplus, logSigmoid, reciprocal
}
enum ReduceOp: Int32 { case sum = 0, mean, max, min, variance, std, biasedVariance, argmax, logsumexp }

extension Tensor {
    func binary(_ op: BinaryOp, _ other: Tensor) throws -> Tensor { try call { dfk_binary(op.rawValue, handle, other.handle, $0) } }
    func binary(_ op: BinaryOp, _ s: Double) throws -> Tensor { try call { dfk_binary_scalar(op.rawValue, handle, s, $0) } }
    func unary(_ op: UnaryOp) throws -> Tensor { try call { dfk_unary(op.rawValue, handle, $0) } }
    func reduce(_ op: ReduceOp, _ dims: [Int], keepDim: Bool) throws -> Tensor {
        let d = dims.map(Int64.init)
        return try call { dfk_reduce(op.rawValue, handle, d, Int32(d.count), keepDim ? 1 : 0, $0) }
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.div, b) }
    public static func + (a: Tensor, s: Double) throws -> Tensor { try a.binary(.add, s) }
    public static func - (a: Tensor, s: Double) throws -> Tensor { try a.binary(.sub, s) }
    public static func * (a: Tensor, s: Double) throws -> Tensor { try a.binary(.mul, s) }
    public static func / (a: Tensor, s: Double) throws -> Tensor { try a.binary(.div, s) }
    public static func + (s: Double, a: Tensor) throws -> Tensor { try a.binary(.add, s) }
    public static func * (s: Double, a: Tensor) throws -> Tensor { try a.binary(.mul, s) }
    public static func - (s: Double, a: Tensor) throws -> Tensor { try a.unary(.neg).binary(.add, s) }
    public static prefix func - (a: Tensor) throws -> Tensor { try a.unary(.neg) }

    public func pow(_ e: Double) throws -> Tensor { try binary(.pow, e) }
    public func maximum(_ o: Tensor) throws -> Tensor { try binary(.maximum, o) }
    public func minimum(_ o: Tensor) throws -> Tensor { try binary(.minimum, o) }
    public func clampMin(_ s: Double) throws -> Tensor { try binary(.maximum, s) }
    public func clampMax(_ s: Double) throws -> Tensor { try binary(.minimum, s) }
    public func clamp(_ lo: Double, _ hi: Double) throws -> Tensor { try call { dfk_clamp(handle, lo, hi, $0) } }
    public func eq(_ o: Tensor) throws -> Tensor { try binary(.eq, o) }
    public func lt(_ s: Double) throws -> Tensor { try binary(.lt, s) }
    public func gt(_ s: Double) throws -> Tensor { try binary(.gt, s) }
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try call { dfk_where(cond.handle, a.handle, b.handle, $0) }
    }

    public func exp() throws -> Tensor { try unary(.exp) }
    public func log() throws -> Tensor { try unary(.log) }
    public func sqrt() throws -> Tensor { try unary(.sqrt) }
    public func abs() throws -> Tensor { try unary(.abs) }
    public func relu() throws -> Tensor { try unary(.relu) }
    public func relu6() throws -> Tensor { try unary(.relu6) }
    public func sigmoid() throws -> Tensor { try unary(.sigmoid) }
    public func tanh() throws -> Tensor { try unary(.tanh) }
    /// x * sigmoid(x) (Swish), EfficientNet's activation.
    public func silu() throws -> Tensor { try unary(.silu) }
    public func gelu() throws -> Tensor { try unary(.gelu) }
    public func square() throws -> Tensor { try unary(.square) }
    public func rsqrt() throws -> Tensor { try unary(.rsqrt) }
    public func softplus() throws -> Tensor { try unary(.softplus) }
    public func floor() throws -> Tensor { try unary(.floor) }
    public func logSigmoid() throws -> Tensor { try unary(.logSigmoid) }
    public func reciprocal() throws -> Tensor { try unary(.reciprocal) }

    public func sum(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(.sum, dims, keepDim: keepDim) }
    public func mean(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(.mean, dims, keepDim: keepDim) }
    public func max(dim: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.max, dim.map { [$0] } ?? [], keepDim: keepDim) }
    public func min(dim: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.min, dim.map { [$0] } ?? [], keepDim: keepDim) }
    public func argmax(dim: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.argmax, dim.map { [$0] } ?? [], keepDim: keepDim) }
    /// Variance (unbiased unless `biased`).
    public func variance(dims: [Int] = [], keepDim: Bool = false, biased: Bool = false) throws -> Tensor {
        try reduce(biased ? .biasedVariance : .variance, dims, keepDim: keepDim)
    }
    public func std(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(.std, dims, keepDim: keepDim) }
    public func logsumexp(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(.logsumexp, dims, keepDim: keepDim) }
    public func matmul(_ o: Tensor) throws -> Tensor { try call { dfk_matmul(handle, o.handle, $0) } }

    // MARK: shape
    public func reshape(_ shape: [Int]) throws -> Tensor {
        let s = shape.map(Int64.init)
        return try call { dfk_reshape(handle, s, Int32(s.count), $0) }
    }
    public func permute(_ dims: [Int]) throws -> Tensor {
        let s = dims.map(Int64.init)
        return try call { dfk_permute(handle, s, Int32(s.count), $0) }
    }
    /// A contiguous copy (row-major, or channels-last for 4-d tensors); the tensor itself when it already is.
    public func contiguous(channelsLast: Bool = false) throws -> Tensor { try call { dfk_contiguous(handle, channelsLast ? 1 : 0, $0) } }
    public func transpose(_ a: Int, _ b: Int) throws -> Tensor { try call { dfk_transpose(handle, Int64(a), Int64(b), $0) } }
    public func flatten(from start: Int = 0, to end: Int = -1) throws -> Tensor { try call { dfk_flatten(handle, Int64(start), Int64(end), $0) } }
    public func unsqueeze(_ dim: Int) throws -> Tensor { try call { dfk_unsqueeze(handle, Int64(dim), $0) } }
    public func squeeze(_ dim: Int) throws -> Tensor { try call { dfk_squeeze(handle, Int64(dim), $0) } }
    public func narrow(_ dim: Int, start: Int, length: Int) throws -> Tensor {
        try call { dfk_narrow(handle, Int64(dim), Int64(start), Int64(length), $0) }
    }
    public func indexSelect(_ dim: Int, _ index: Tensor) throws -> Tensor { try call { dfk_index_select(handle, Int64(dim), index.handle, $0) } }
    public func expand(_ shape: [Int]) throws -> Tensor {
        let s = shape.map(Int64.init)
        return try call { dfk_expand(handle, s, Int32(s.count), $0) }
    }
    /// Constant padding; `pads` as torch.nn.functional.pad: (left, right, top, bottom, ...) from the last dim.
    public func pad(_ pads: [Int], value: Double = 0) throws -> Tensor {
        let p = pads.map(Int64.init)
        return try call { dfk_pad(handle, p, Int32(p.count), value, $0) }
    }
    public static func cat(_ ts: [Tensor], dim: Int) throws -> Tensor {
        let hs: [OpaquePointer?] = ts.map { $0.handle }
        return try hs.withUnsafeBufferPointer { b in try call { dfk_cat(b.baseAddress, Int32(hs.count), Int64(dim), $0) } }
    }
    public static func stack(_ ts: [Tensor], dim: Int) throws -> Tensor {
        let hs: [OpaquePointer?] = ts.map { $0.handle }
        return try hs.withUnsafeBufferPointer { b in try call { dfk_stack(b.baseAddress, Int32(hs.count), Int64(dim), $0) } }
    }
}
