// Devices, mixed precision and the host-synchronisation-free norms. No GPU in CI: device placement is
// checked on libtorch's "meta" device, where a tensor made on the CPU inside a forward pass meets a meta tensor
// and libtorch refuses to combine them, exactly as it would on a GPU.
import DFKModels
import DFKTensor
import Foundation
import XCTest

final class DeviceTests: XCTestCase {
    func testDeviceNamesAndCodesRoundTrip() throws {
        for (text, d) in [("cpu", Device.cpu), ("cuda", .cuda(0)), ("cuda:3", .cuda(3)), ("CUDA:1", .cuda(1)), ("mps", .mps), ("meta", .meta)] {
            XCTAssertEqual(Device(parsing: text), d, text)
            XCTAssertEqual(Device(code: d.code), d, text)
        }
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", ""] { XCTAssertNil(Device(parsing: bad), bad) }
        XCTAssertEqual(Device.cuda(2).description, "cuda:2")
        let t = try Tensor.zeros([2], device: .meta)
        XCTAssertEqual(t.device, .meta)
    }

    /// The tests run on the libtorch they were built against: `make test-libtorch2` names it in DFK_EXPECT_TORCH_VERSION;
    /// otherwise it is Debian's, the version of the python3-torch the parity references run on.
    func testTheLinkedLibtorchIsTheOneAskedFor() throws {
        let want = try ProcessInfo.processInfo.environment["DFK_EXPECT_TORCH_VERSION"]
            ?? python("import re, torch; print(re.match(r'[0-9]+[.][0-9]+[.][0-9]+', torch.__version__).group())").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(Torch.version, want)
    }

    func testAutoIsTheCPUHereAndCUDAIsAOneLineError() throws {
        try XCTSkipIf(Torch.cudaDeviceCount > 0, "this machine has a GPU")
        XCTAssertEqual(try Execution.resolve(device: "auto", precision: nil, channelsLast: false).device, .cpu)
        XCTAssertEqual(try Execution.resolve(device: "auto", precision: nil, channelsLast: false).precision, .fp32)
        for d in ["cuda", "cuda:1"] {
            XCTAssertThrowsError(try Execution.resolve(device: d, precision: nil, channelsLast: false)) { e in
                let m = "\(e)"
                XCTAssertTrue(m.contains("sees no CUDA device"), m)
                XCTAssertFalse(m.contains("\n"), m)
            }
        }
        XCTAssertThrowsError(try Execution.resolve(device: "tpu", precision: nil, channelsLast: false)) { e in
            XCTAssertTrue("\(e)".contains("expected auto, cpu, cuda, cuda:N or mps"), "\(e)")
        }
    }

    /// Every backbone and every inserted module, in training mode (dropout, drop path) and in eval mode, on a meta
    /// input: a tensor made on another device inside `forward` makes libtorch throw.
    func testNoModuleMakesTensorsOnAnotherDeviceThanItsInput() throws {
        Init.reset(seed: 1)
        for name in Backbone.names {
            let b = try Backbone.make(name, classes: 2, imageSize: 64)
            try b.module.to(device: .meta)
            for p in b.module.parameters { XCTAssertEqual(p.device, .meta, name) }
            let x = try Tensor.zeros([2, 3, 64, 64], device: .meta)
            for training in [true, false] {
                b.module.train(training)
                var taps: [String] = []
                let y = try b.forward(x) { tap, t in
                    XCTAssertEqual(t.device, .meta, "\(name) \(tap)")
                    taps.append(tap)
                    return t
                }
                XCTAssertEqual(y.device, .meta, name)
                XCTAssertEqual(y.shape, [2, 2], name)
                XCTAssertFalse(taps.isEmpty, name)
            }
        }
        let inserts: [(String, Module, [Int])] = [
            ("attention gate", try AttentionGate(channels: 16, reduction: 4), [2, 16, 8, 8]),
            ("DID attention", try DIDAttention(channels: 16, reduction: 4), [2, 16, 8, 8]),
        ]
        for (what, m, shape) in inserts {
            try m.to(device: .meta)
            let x = try Tensor.zeros(shape, device: .meta)
            let y: Tensor
            if let g = m as? AttentionGate { y = try g(x) } else { y = try (m as! DIDAttention)(x) }
            XCTAssertEqual(y.device, .meta, what)
        }
    }

    func testMovingAModuleBackAndForthKeepsItsWeights() throws {
        Init.reset(seed: 3)
        let b = try Backbone.make("resnet18", classes: 2, imageSize: 32)
        let before = try b.module.parameters.map { try $0.floats() }
        let params = b.module.parameters.map(ObjectIdentifier.init)
        try b.module.to(channelsLast: true)
        try b.module.to(device: .cpu)
        XCTAssertEqual(b.module.parameters.map(ObjectIdentifier.init), params, "the same tensors (optimizers keep them)")
        XCTAssertEqual(try b.module.parameters.map { try $0.floats() }, before)
    }

    func testGlobalNormIsTheNormOfEverything() throws {
        let a = try Tensor([3, 4] as [Float], shape: [2]), b = try Tensor([12] as [Float], shape: [1, 1])
        XCTAssertEqual(try Tensor.globalNorm([a, b]).item(), 13, accuracy: 1e-6)
        XCTAssertEqual(try Tensor.globalNorm([a, b]).ndim, 0)
        let c = try Tensor.zeros([4], device: .meta)
        XCTAssertEqual(try Tensor.globalNorm([c]).device, .meta, "computed where the tensors are")
    }

    func testChannelsLastGivesTheSameOutputs() throws {
        Init.reset(seed: 4)
        let b = try Backbone.make("efficientnet-lite0", classes: 2, imageSize: 64)
        b.module.eval()
        let x = try Tensor.randn([2, 3, 64, 64], seed: 9)
        let ref = try Autograd.noGrad { try b(x).floats() }
        let e = Execution(device: .cpu, precision: .fp32, channelsLast: true)
        try e.prepare(b.module)
        let y = try Autograd.noGrad { try b(try e.input(x)).floats() }
        for (u, v) in zip(ref, y) { XCTAssertEqual(u, v, accuracy: 1e-4) }
    }

    /// bf16 autocast on the CPU (libtorch 1.13 has it for convolutions and matmuls): the forward runs in bf16, the
    /// gradients arrive in fp32 on the fp32 weights, and the outputs stay close to fp32's.
    func testBF16AutocastOnTheCPU() throws {
        do { try Precision.bf16.check(on: .cpu) } catch { throw XCTSkip("\(error)") }
        Init.reset(seed: 5)
        let b = try Backbone.make("resnet18", classes: 2, imageSize: 32)
        b.module.eval()
        let x = try Tensor.randn([2, 3, 32, 32], seed: 2)
        let ref = try Autograd.noGrad { try b(x).floats() }
        let e = Execution(device: .cpu, precision: .bf16)
        let y = try e.forward { try b(x) }
        XCTAssertEqual(y.dtype, .bfloat16)
        XCTAssertFalse(Autocast.isEnabled(.cpu), "autocast is off again after the region")
        let yf = try y.to(.float32).floats()
        let scale = ref.map(abs).max()! + 1e-3
        for (u, v) in zip(ref, yf) { XCTAssertEqual(u, v, accuracy: 0.05 * scale) }
        b.module.train()
        let l = try e.forward { try F.crossEntropy(try b(x).to(.float32), try Tensor(int64: [0, 1], shape: [2])) }
        try l.backward()
        for p in b.module.parameters { XCTAssertEqual(p.grad?.dtype, .float32) }
        XCTAssertThrowsError(try Precision.fp16.check(on: .meta)) { _ in }
    }

    func testLossScalerUnscalesSkipsOverflowAndBacksOff() throws {
        let w = try Tensor([1, 2] as [Float], shape: [2]).requiresGrad()
        let scaler = LossScaler(initialScale: 1024, growthInterval: 2)
        let opt = ScaledOptimizer(try SGD([w], lr: 0.5), scaler: scaler)
        // A gradient of (1, 1) from a loss scaled by 1024: the update uses (1, 1).
        try ((try w.sum()) * scaler.scale).backward()
        try opt.step()
        XCTAssertEqual(try w.floats(), [0.5, 1.5])
        // An overflowing gradient: no update, the scale halves.
        opt.zeroGrad()
        try ((try w.sum()) * Double.infinity).backward()
        try opt.step()
        XCTAssertEqual(try w.floats(), [0.5, 1.5])
        XCTAssertEqual(scaler.scale, 512)
        XCTAssertEqual(scaler.skipped, 1)
        // Two clean steps double it.
        for _ in 0..<2 { opt.zeroGrad(); try ((try w.sum()) * scaler.scale).backward(); try opt.step() }
        XCTAssertEqual(scaler.scale, 1024)
        let restored = ScaledOptimizer(try SGD([w], lr: 0.5), scaler: LossScaler())
        try restored.loadState(try opt.state())
        XCTAssertEqual(restored.scaler.scale, 1024)
    }
}
