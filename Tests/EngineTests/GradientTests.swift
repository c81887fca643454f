// Finite-difference checks of the engine's gradients (float64), the gradient reversal layer, autograd.grad on
// intermediate activations and injected leaves, no-grad scopes, and errors.
import DFKTensor
import Foundation
import XCTest

/// The worst relative difference between the analytic gradient of `f` at a random point and central differences.
func gradientError(shape: [Int], seed: UInt64 = 1, eps: Double = 1e-6, _ f: (Tensor) throws -> Tensor) throws -> Double {
    let values = try Tensor.randn(shape, seed: seed).doubles()
    let x = try Tensor(values, shape: shape).requiresGrad()
    let y = try f(x)
    try y.backward()
    guard let g = x.grad else { return .infinity }
    let analytic = try g.doubles()
    var worst = 0.0
    for i in values.indices {
        var p = values, m = values
        p[i] += eps; m[i] -= eps
        let fp = try Autograd.noGrad { try f(try Tensor(p, shape: shape)).item() }
        let fm = try Autograd.noGrad { try f(try Tensor(m, shape: shape)).item() }
        let numeric = (fp - fm) / (2 * eps)
        let err = Swift.abs(numeric - analytic[i]) / Swift.max(1, Swift.abs(numeric))
        worst = Swift.max(worst, err)
    }
    return worst
}

func checkGradient(_ name: String, shape: [Int], seed: UInt64 = 1, tol: Double = 1e-5,
                   file: StaticString = #filePath, line: UInt = #line, _ f: (Tensor) throws -> Tensor) throws {
    let worst = try gradientError(shape: shape, seed: seed, f)
    XCTAssertLessThan(worst, tol, "\(name): worst relative gradient error \(worst)", file: file, line: line)
}

final class GradientTests: XCTestCase {
    override class func setUp() { Torch.setThreads(ProcessInfo.processInfo.activeProcessorCount) }

    /// A fixed random projection turns any output into a scalar with non-trivial gradients.
    func project(_ y: Tensor, seed: UInt64 = 99) throws -> Tensor {
        let w = try Tensor.randn(y.shape, seed: seed).to(.float64)
        return try (y * w).sum()
    }

    func testConvolutionsIncludingGroupedAndDepthwise() throws {
        let w = try Tensor.randn([4, 3, 3, 3], seed: 2).to(.float64), b = try Tensor.randn([4], seed: 3).to(.float64)
        try checkGradient("conv2d", shape: [2, 3, 6, 6]) { x in
            try project(try F.conv2d(x, weight: w, bias: b, stride: (2, 2), padding: (1, 1)))
        }
        let wg = try Tensor.randn([4, 2, 3, 3], seed: 4).to(.float64)
        try checkGradient("grouped conv2d", shape: [1, 4, 5, 5]) { x in try project(try F.conv2d(x, weight: wg, groups: 2)) }
        let wd = try Tensor.randn([4, 1, 3, 3], seed: 5).to(.float64)
        try checkGradient("depthwise conv2d", shape: [2, 4, 5, 5]) { x in
            try project(try F.conv2d(x, weight: wd, padding: (1, 1), dilation: (1, 1), groups: 4))
        }
        // and with respect to the weights
        let x = try Tensor.randn([2, 3, 5, 5], seed: 6).to(.float64)
        try checkGradient("conv2d weight", shape: [2, 3, 3, 3]) { w in try project(try F.conv2d(x, weight: w)) }
    }

    func testBatchNormTrainingAndEval() throws {
        let g = try Tensor.randn([3], seed: 7).to(.float64), b = try Tensor.randn([3], seed: 8).to(.float64)
        try checkGradient("batch_norm train", shape: [4, 3, 3, 3]) { x in
            try project(try F.batchNorm(x, weight: g, bias: b, runningMean: nil, runningVar: nil, training: true, eps: 1e-3))
        }
        let rm = try Tensor.randn([3], seed: 9).to(.float64), rv = try Tensor.rand([3], seed: 10).to(.float64) + 0.5
        try checkGradient("batch_norm eval", shape: [2, 3, 2, 2]) { x in
            try project(try F.batchNorm(x, weight: g, bias: b, runningMean: rm, runningVar: rv, training: false))
        }
    }

    func testActivationsPoolingLinearAndSoftmax() throws {
        for (name, f) in [("sigmoid", { (x: Tensor) in try x.sigmoid() }), ("silu", { try $0.silu() }), ("tanh", { try $0.tanh() }),
                          ("gelu", { try $0.gelu() }), ("softplus", { try $0.softplus() }), ("exp", { try $0.exp() })] as [(String, (Tensor) throws -> Tensor)] {
            try checkGradient(name, shape: [3, 4]) { x in try project(try f(x)) }
        }
        // relu/relu6 away from their kinks: shift the inputs so none lies within 1e-3 of 0 or 6.
        try checkGradient("relu", shape: [3, 4]) { x in try project(try (x * 4).relu()) }
        try checkGradient("relu6", shape: [3, 4]) { x in try project(try (x * 4 + 3).relu6()) }
        try checkGradient("max_pool2d", shape: [1, 2, 6, 6]) { x in try project(try F.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1))) }
        try checkGradient("avg_pool2d", shape: [1, 2, 6, 6]) { x in try project(try F.avgPool2d(x, kernel: (2, 2))) }
        try checkGradient("adaptive_avg_pool2d", shape: [2, 3, 5, 7]) { x in try project(try F.adaptiveAvgPool2d(x, (1, 1))) }
        let w = try Tensor.randn([5, 4], seed: 11).to(.float64), b = try Tensor.randn([5], seed: 12).to(.float64)
        try checkGradient("linear", shape: [3, 4]) { x in try project(try F.linear(x, weight: w, bias: b)) }
        try checkGradient("softmax", shape: [3, 5]) { x in try project(try F.softmax(x, dim: 1)) }
        try checkGradient("log_softmax", shape: [3, 5]) { x in try project(try F.logSoftmax(x, dim: 1)) }
        try checkGradient("pad", shape: [1, 1, 3, 3]) { x in try project(try x.pad([1, 2, 0, 1])) }
        try checkGradient("matmul", shape: [3, 4]) { x in try project(try x.matmul(w.transpose(0, 1))) }
        try checkGradient("variance", shape: [4, 6]) { x in try project(try x.variance(dims: [1], biased: true)) }
    }

    func testLossesIncludingPerSampleWeights() throws {
        let target = try Tensor(int64: [0, 1, 1, 0], shape: [4])
        try checkGradient("cross_entropy", shape: [4, 2]) { x in try F.crossEntropy(x, target) }
        let w = try Tensor([0.2, 1.0, 0.5, 0.9], shape: [4])
        try checkGradient("weighted cross_entropy", shape: [4, 2]) { x in
            try F.weightedMean(try F.crossEntropy(x, target, reduction: .none), w)
        }
        let t = try Tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], shape: [6])
        try checkGradient("bce_with_logits", shape: [6]) { x in try F.bceWithLogits(x, t) }
        // The weighted loss is the weighted mean of the per-sample losses, exactly.
        let logits = try Tensor.randn([4, 2], seed: 3).to(.float64)
        let per = try F.crossEntropy(logits, target, reduction: .none).doubles(), ws = try w.doubles()
        let expect = zip(per, ws).map { $0 * $1 }.reduce(0, +) / ws.reduce(0, +)
        XCTAssertEqual(try F.weightedMean(try F.crossEntropy(logits, target, reduction: .none), w).item(), expect, accuracy: 1e-12)
    }

    func testSmallNetworkEndToEnd() throws {
        let c1 = try Tensor.randn([4, 3, 3, 3], seed: 20).to(.float64)
        let g = try Tensor.ones([4], dtype: .float64), b = try Tensor.zeros([4], dtype: .float64)
        let c2 = try Tensor.randn([4, 1, 3, 3], seed: 21).to(.float64)
        let fc = try Tensor.randn([2, 4], seed: 22).to(.float64)
        let target = try Tensor(int64: [1, 0], shape: [2])
        try checkGradient("network", shape: [2, 3, 8, 8], tol: 1e-4) { x in
            var h = try F.conv2d(x, weight: c1, padding: (1, 1))
            h = try F.batchNorm(h, weight: g, bias: b, runningMean: nil, runningVar: nil, training: true).silu()
            h = try F.conv2d(h, weight: c2, padding: (1, 1), groups: 4).sigmoid()
            h = try F.adaptiveAvgPool2d(h, (1, 1)).flatten(from: 1)
            return try F.crossEntropy(try F.linear(h, weight: fc), target)
        }
    }

    func testTheCheckerCatchesAWrongGradient() throws {
        // The reversal layer's gradient is deliberately not the derivative of its forward: the checker must see it.
        XCTAssertGreaterThan(try gradientError(shape: [5]) { x in try F.gradientReversal(x, alpha: 1).square().sum() }, 1)
        XCTAssertGreaterThan(try gradientError(shape: [5]) { x in try (try x.detach() * x).sum() }, 0.5)
    }

    func testGradientReversalNegatesAndScales() throws {
        let x = try Tensor([1.0, -2.0, 3.0], shape: [3]).requiresGrad()
        let y = try F.gradientReversal(x, alpha: 0.5)
        XCTAssertEqual(try y.doubles(), [1, -2, 3])
        try (y * (try Tensor([2.0, 3.0, 4.0], shape: [3]))).sum().backward()
        XCTAssertEqual(try x.grad!.doubles(), [-1.0, -1.5, -2.0])
    }

    func testGradOfIntermediateActivationsAndInjectedLeaves() throws {
        let x = try Tensor.randn([2, 3], seed: 1).to(.float64).requiresGrad()
        let h = try x.square()                       // intermediate activation
        let delta = try Tensor.zeros([2, 3], dtype: .float64).requiresGrad()  // injected leaf (PIM-style)
        let y = try (h + delta).sigmoid().sum()
        let gs = try Autograd.grad([y], wrt: [h, delta, x], retainGraph: true)
        let gh = try gs[0]!.doubles(), gd = try gs[1]!.doubles(), gx = try gs[2]!.doubles()
        XCTAssertEqual(gh, gd)  // d y / d h = d y / d delta
        let xv = try x.doubles()
        for i in 0..<6 { XCTAssertEqual(gx[i], 2 * xv[i] * gh[i], accuracy: 1e-12) }
        // retain_grad keeps an activation's gradient after backward (Grad-CAM).
        let h2 = try x.square()
        try h2.retainGrad()
        try h2.sigmoid().sum().backward()
        XCTAssertNotNil(h2.grad)
        // An unused input gives nil.
        let unused = try Tensor.zeros([1], dtype: .float64).requiresGrad()
        XCTAssertNil(try Autograd.grad([try x.sum()], wrt: [unused])[0])
    }

    func testNoGradScopeIsThreadLocalAndNested() throws {
        let x = try Tensor.ones([2]).requiresGrad()
        XCTAssertTrue(try (x * 2).requiresGrad)
        try Autograd.noGrad {
            XCTAssertFalse(try (x * 2).requiresGrad)
            // Another thread keeps recording.
            final class Flag: @unchecked Sendable { var value = false }
            let other = Flag()
            let t = Thread { other.value = (try? (x * 2).requiresGrad) ?? false }
            t.start()
            while !t.isFinished { Thread.sleep(forTimeInterval: 0.001) }
            XCTAssertTrue(other.value)
            Autograd.noGrad { XCTAssertFalse(Autograd.isEnabled) }
            XCTAssertFalse(Autograd.isEnabled)
        }
        XCTAssertTrue(Autograd.isEnabled)
    }

    func testErrorsComeBackAsMessages() throws {
        let a = try Tensor.ones([2, 3]), b = try Tensor.ones([4, 5])
        XCTAssertThrowsError(try a.matmul(b)) { e in XCTAssertTrue("\(e)".contains("shapes cannot be multiplied"), "\(e)") }
        XCTAssertThrowsError(try a + b) { e in XCTAssertTrue("\(e)".contains("size of tensor"), "\(e)") }
        XCTAssertThrowsError(try Tensor([1, 2, 3] as [Float], shape: [2, 2]))
        XCTAssertThrowsError(try a.item())
        XCTAssertThrowsError(try F.conv2d(a, weight: b)) { e in XCTAssertFalse("\(e)".contains("Exception raised from"), "\(e)") }
    }
}
