// ConvNeXt (timm 0.6.13) and EfficientNetV2 (torchvision 0.14, timm 0.6.13) against Python PyTorch 1.13: the same
// random weights and input give logits within 1e-4 (eval and train mode) and the same gradients after one backward
// pass; timm's EfficientNetV2 layout, timm's tf_ variant (TF "SAME" padding) and facebookresearch's ConvNeXt layout
// load through WeightLayout and give the reference logits. Also the taps, the head and the new shim operations.
import DFKModels
import DFKTensor
import Foundation
import XCTest

final class ModernBackboneTests: XCTestCase {
    /// (name, reference constructor in the script) at 64 px, batch 2.
    static let parityCases = ["convnext_tiny", "convnext_base", "efficientnetv2_s", "efficientnetv2_l"]
    nonisolated(unsafe) static var dir: String?
    override class func setUp() { Torch.setThreads(2) }

    static let script = #"""
    import sys, torch, timm, torchvision
    torch.set_num_threads(2)
    out, cases = sys.argv[1], sys.argv[2].split(',')

    def randomise(m):
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
                    mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
                if isinstance(mod, torch.nn.LayerNorm):
                    mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
            for k, p in m.named_parameters():
                if k.endswith('gamma'):
                    p.uniform_(0.2, 0.6)

    def build(name):
        if name.startswith('convnext'):
            return timm.create_model(name, pretrained=False, drop_path_rate=0.0, drop_rate=0.0)
        m = getattr(torchvision.models, name.replace('efficientnetv2', 'efficientnet_v2'))(stochastic_depth_prob=0.0)
        m.classifier[0].p = 0.0
        return m

    def save(path, sd):
        torch.save({k: v.detach().clone().contiguous() for k, v in sd.items()}, path)

    for name in cases:
        torch.manual_seed(0)
        m = build(name)
        randomise(m)
        sd = {'model.' + k: v.clone() for k, v in m.state_dict().items()}
        x = torch.randn(2, 3, 64, 64)
        target = torch.tensor([0, 7])
        m.eval()
        with torch.no_grad():
            sd['expected.eval'] = m(x)
        m.train()
        y = m(x)
        torch.nn.functional.cross_entropy(y, target).backward()
        sd['expected.train'] = y
        named = list(m.named_parameters())
        # Gradients of a spread of parameters: the first and last three and every 20th.
        for i, (k, p) in enumerate(named):
            if i < 3 or i >= len(named) - 3 or i % 20 == 0:
                sd['grad.' + k] = p.grad
        sd['input'] = x; sd['target'] = target
        save(out + '/' + name + '.pth', sd)

    # EfficientNetV2 layouts: torchvision weights copied by position into timm's efficientnetv2_s (bn eps 1e-3 as
    # torchvision), which must then compute the same function; timm's tf_efficientnetv2_s with its own random weights.
    torch.manual_seed(1)
    tv = torchvision.models.efficientnet_v2_s()
    randomise(tv)
    tm = timm.create_model('efficientnetv2_s', pretrained=False, bn_eps=1e-3)
    tsd, vsd = tm.state_dict(), tv.state_dict()
    assert len(tsd) == len(vsd)
    for (a, ta), (b, tb) in zip(tsd.items(), vsd.items()):
        assert ta.shape == tb.shape, (a, b)
    tm.load_state_dict(dict(zip(tsd.keys(), vsd.values())))
    tv.eval(); tm.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = tv(x), tm(x)
    assert (a - b).abs().max() < 1e-5, (a - b).abs().max()
    save(out + '/v2s_torchvision.pth', dict(vsd))
    save(out + '/v2s_timm.pth', {'module.' + k: v for k, v in tm.state_dict().items()})
    tf = timm.create_model('tf_efficientnetv2_s', pretrained=False)
    randomise(tf)
    tf.eval()
    x67 = torch.randn(1, 3, 67, 67)
    with torch.no_grad():
        io = {'x': x, 'y': a, 'x67': x67, 'tf.y': tf(x), 'tf.y67': tf(x67)}
    save(out + '/v2s_tf.pth', tf.state_dict())
    # facebookresearch ConvNeXt-Tiny names (inverse of timm's checkpoint_filter_fn), inside {'model': ...}.
    torch.manual_seed(2)
    cn = timm.create_model('convnext_tiny', pretrained=False)
    randomise(cn)
    cn.eval()
    with torch.no_grad():
        io['cn.y'] = cn(x)
    fb = {}
    for k, v in cn.state_dict().items():
        k2 = k.replace('stem.', 'downsample_layers.0.').replace('.blocks.', '.').replace('conv_dw', 'dwconv')
        k2 = k2.replace('mlp.fc1', 'pwconv1').replace('mlp.fc2', 'pwconv2').replace('head.norm', 'norm').replace('head.fc', 'head')
        if '.downsample.' in k2:
            s = k2.split('.')
            k2 = 'downsample_layers.' + s[1] + '.' + '.'.join(s[3:])
        fb[k2] = v.clone()
    torch.save({'model': fb}, out + '/convnext_tiny_fb.pth')
    save(out + '/io.pth', io)
    """#

    static func references() throws -> String {
        if let d = dir { return d }
        let d = NSTemporaryDirectory() + "dfk-modern-\(getpid())"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let venv = EngineFixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw MissingEnvironment("missing \(venv)")
        }
        let only = ProcessInfo.processInfo.environment["DFK_PARITY"].map { Set($0.split(separator: ",").map(String.init)) }
        let cases = parityCases.filter { only?.contains($0) ?? true }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: venv)
        p.arguments = ["-c", script, d, cases.joined(separator: ",")]
        let err = Pipe()
        p.standardError = err
        let t0 = Date()
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TensorError("reference script failed: \(String(decoding: e, as: UTF8.self))") }
        print("modern backbone references: \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
        dir = d
        return d
    }
    override class func tearDown() {
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    func maxAbs(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { Swift.abs($0 - $1) }.max() ?? .infinity }

    func network(_ name: String) throws -> any ClassifierNetwork {
        if var c = ConvNeXtConfig.named(name) {
            c.dropPath = 0; c.dropout = 0
            return try ConvNeXt(c)
        }
        var c = try XCTUnwrap(EfficientNetV2Config.named(name))
        c.dropout = 0; c.stochasticDepth = 0
        return try EfficientNetV2(c)
    }

    func testLogitsAndGradientsMatchTimmAndTorchvision() throws {
        let dir = try ModernBackboneTests.references()
        let only = ProcessInfo.processInfo.environment["DFK_PARITY"].map { Set($0.split(separator: ",").map(String.init)) }
        for name in ModernBackboneTests.parityCases where only?.contains(name) ?? true {
            let t0 = Date()
            let w = try WeightFile.read("\(dir)/\(name).pth")
            let m = try network(name)
            let weights = w.tensors.filter { $0.name.hasPrefix("model.") }.map { (String($0.name.dropFirst(6)), $0.tensor) }
            let report = try m.load(weights, strict: true)
            XCTAssertEqual(report.loaded.count, weights.count, name)
            let x = w["input"]!, target = w["target"]!
            m.eval()
            let eval = try Autograd.noGrad { try m(x, taps: nil) }
            let dEval = maxAbs(try eval.floats(), try w["expected.eval"]!.floats())
            XCTAssertLessThanOrEqual(dEval, 1e-4 * parityTolerance, "\(name): eval logits differ by \(dEval)")
            m.train()
            let out = try m(x, taps: nil)
            let dTrain = maxAbs(try out.floats(), try w["expected.train"]!.floats())
            XCTAssertLessThanOrEqual(dTrain, 1e-4 * parityTolerance, "\(name): train logits differ by \(dTrain)")
            try F.crossEntropy(out, target).backward()
            let params = Dictionary(m.namedParameters(), uniquingKeysWith: { a, _ in a })
            var worst: (Float, String) = (0, ""), checked = 0
            for t in w.tensors where t.name.hasPrefix("grad.") {
                let pname = String(t.name.dropFirst(5))
                let p = try XCTUnwrap(params[pname], "\(name): no parameter \(pname)")
                let got = try XCTUnwrap(p.grad, "\(name): no gradient for \(pname)").floats()
                let want = try t.tensor.floats()
                let scale = Swift.max(want.map { Swift.abs($0) }.max() ?? 0, 1e-3)
                let d = maxAbs(got, want) / scale
                if d > worst.0 { worst = (d, pname) }
                checked += 1
            }
            XCTAssertGreaterThanOrEqual(checked, 8, name)
            XCTAssertLessThanOrEqual(worst.0, 1e-3 * parityTolerance, "\(name): gradient of \(worst.1) differs (relative \(worst.0))")
            print("\(name): eval \(dEval), train \(dTrain), \(checked) gradients (worst \(worst.0)); "
                  + String(format: "%.1f s", Date().timeIntervalSince(t0)))
        }
    }

    func testEfficientNetV2TimmLayoutsAndConvNeXtFacebookLayout() throws {
        let dir = try ModernBackboneTests.references()
        let io = try WeightFile.read("\(dir)/io.pth")
        let x = io["x"]!
        func logits(_ m: any ClassifierNetwork, _ x: Tensor) throws -> [Float] {
            m.eval()
            return try Autograd.noGrad { try m(x, taps: nil) }.floats()
        }
        // The same weights in torchvision's and timm's names give identical logits, equal to Python's.
        let tv = try EfficientNetV2(EfficientNetV2Config.named("efficientnetv2_s")!)
        try tv.load(try WeightFile.read("\(dir)/v2s_torchvision.pth").tensors, strict: true)
        let timmWeights = WeightLayout.native(try WeightFile.read("\(dir)/v2s_timm.pth").tensors)
        XCTAssertTrue(timmWeights.allSatisfy { $0.name.hasPrefix("features.") || $0.name.hasPrefix("classifier.") })
        let tm = try EfficientNetV2(EfficientNetV2Config.named("efficientnetv2_s")!)
        try tm.load(timmWeights, strict: true)
        let a = try logits(tv, x), b = try logits(tm, x)
        XCTAssertEqual(a, b, "torchvision and timm layouts of the same weights must give identical logits")
        XCTAssertLessThanOrEqual(maxAbs(a, try io["y"]!.floats()), 1e-4 * parityTolerance)
        // timm's tf_efficientnetv2_s: TF "SAME" padding (asymmetric at stride 2; odd and even sizes), eps 1e-3.
        let tf = try XCTUnwrap(Backbone.make("tf_efficientnetv2_s", classes: 1000).network as? EfficientNetV2)
        try tf.load(WeightLayout.timmEfficientNetV2(try WeightFile.read("\(dir)/v2s_tf.pth").tensors), strict: true)
        // Its random weights grow activations to ~1e6 by the last stages, where float32 rounding differences of other
        // kernels amplify: compared only on the libtorch the references were made with (PyTorch 1.13).
        if Torch.version.hasPrefix("1.13") {
            XCTAssertLessThanOrEqual(maxAbs(try logits(tf, x), try io["tf.y"]!.floats()), 1e-4, "tf_efficientnetv2_s at 64 px")
            XCTAssertLessThanOrEqual(maxAbs(try logits(tf, io["x67"]!), try io["tf.y67"]!.floats()), 1e-4, "tf_efficientnetv2_s at 67 px")
        }
        // The symmetric-padding model does not reproduce tf_ weights: the padding matters (the test can fail).
        let sym = try EfficientNetV2(EfficientNetV2Config.named("efficientnetv2_s")!)
        try sym.load(WeightLayout.timmEfficientNetV2(try WeightFile.read("\(dir)/v2s_tf.pth").tensors), strict: true)
        XCTAssertGreaterThan(maxAbs(try logits(sym, x), try io["tf.y"]!.floats()), 1e-3)
        // facebookresearch ConvNeXt names inside {"model": ...}.
        let cn = try ConvNeXt(ConvNeXtConfig.named("convnext_tiny")!)
        try cn.load(WeightLayout.native(try WeightFile.read("\(dir)/convnext_tiny_fb.pth").tensors), strict: true)
        XCTAssertLessThanOrEqual(maxAbs(try logits(cn, x), try io["cn.y"]!.floats()), 1e-4 * parityTolerance, "facebook ConvNeXt layout")
    }

    func testTapsHeadAndRegistry() throws {
        Init.reset(seed: 3)
        for name in ["convnext_tiny", "efficientnetv2_s", "tf_efficientnetv2_l", "convnext-base", "efficientnet_v2_l"] {
            XCTAssertNotNil(Backbone.entry(name), name)
        }
        let b = try Backbone.make("convnext_tiny", classes: 5)
        XCTAssertEqual(b.stageTaps, ["stem", "stage0.block0", "stage0.block1", "stage0.block2", "stage0", "stage1", "stage2", "stage3"])
        XCTAssertEqual(b.mapTap, "stage3")
        XCTAssertEqual(b.featureChannels, 768)
        let x = try Tensor.randn([2, 3, 64, 64], seed: 4)
        b.module.eval()
        var seen: [(String, [Int])] = []
        let y = try Autograd.noGrad { try b.forward(x) { n, t in seen.append((n, t.shape)); return t } }
        XCTAssertEqual(y.shape, [2, 5])
        XCTAssertEqual(seen.map(\.0), b.stageTaps + ["features"])
        XCTAssertEqual(seen[1].1, [2, 96, 16, 16])
        XCTAssertEqual(seen.last!.1, [2, 768])
        // A tap's replacement is what the network continues with (PIM perturbs stage 0's blocks).
        // (Noise, not a scale: the LayerNorms after it would undo a scale almost exactly.)
        let y2 = try Autograd.noGrad { try b.forward(x) { n, t in n == "stage0.block1" ? try t + (try Tensor.randn(t.shape, seed: 9)) : t } }
        XCTAssertGreaterThan(maxAbs(try y.floats(), try y2.floats()), 1e-6)
        try b.replaceHead(classes: 2)
        XCTAssertEqual(try Autograd.noGrad { try b(x) }.shape, [2, 2])
        XCTAssertTrue(b.module.stateDict().contains { $0.0 == "head.fc.weight" && $0.1.shape == [2, 768] })

        let v = try Backbone.make("efficientnetv2_s", classes: 3)
        XCTAssertEqual(v.stageTaps, ["stem"] + (1...6).map { "stage\($0)" })
        XCTAssertEqual(v.mapTap, "head")
        XCTAssertEqual(v.featureChannels, 1280)
        var shapes: [String: [Int]] = [:]
        v.module.eval()
        _ = try Autograd.noGrad { try v.forward(x) { n, t in shapes[n] = t.shape; return t } }
        XCTAssertEqual(shapes["head"], [2, 1280, 2, 2])
        XCTAssertEqual(shapes["stage6"], [2, 256, 2, 2])
        XCTAssertEqual(v.module.parameterCount, 21_458_488 - (1280 * 1000 + 1000) + (1280 * 3 + 3))  // torchvision: 21,458,488 at 1000 classes
        try v.replaceHead(classes: 2)
        XCTAssertTrue(v.module.stateDict().contains { $0.0 == "classifier.1.weight" && $0.1.shape == [2, 1280] })

        // Stochastic depth: rates rise linearly to the configured one; training draws differ, eval is deterministic.
        var c = ConvNeXtConfig.named("convnext_tiny")!
        c.dropPath = 0.5
        c.layerScaleInit = 0.5
        let m = try ConvNeXt(c, classes: 2)
        XCTAssertEqual(m.blocks[0][0].dropPath, 0)
        XCTAssertEqual(m.blocks[3][2].dropPath, 0.5, accuracy: 1e-12)
        let small = try Tensor.randn([4, 3, 32, 32], seed: 5)
        m.train()
        Torch.manualSeed(1)
        let t1 = try m(small, taps: nil)
        Torch.manualSeed(2)
        let t2 = try m(small, taps: nil)
        XCTAssertGreaterThan(maxAbs(try t1.floats(), try t2.floats()), 1e-6)
        try t1.sum().backward()
        XCTAssertNotNil(m.namedParameters().first { $0.0 == "stem.0.weight" }?.1.grad)
        m.eval()
        let e1 = try Autograd.noGrad { try m(small, taps: nil) }.floats(), e2 = try Autograd.noGrad { try m(small, taps: nil) }.floats()
        XCTAssertEqual(e1, e2)
    }

    /// `WeightLayout.native` picks the mapping from the keys: timm EfficientNet (V1), timm EfficientNetV2, facebook ConvNeXt.
    func testNativeLayoutDispatch() throws {
        let t = try Tensor.zeros([1])
        func names(_ n: [String]) -> [String] { WeightLayout.native(n.map { ($0, t) }).map(\.name) }
        XCTAssertEqual(names(["module.conv_stem.weight", "module.blocks.0.0.conv_dw.weight", "module.blocks.1.0.conv_pw.weight"]),
                       ["_conv_stem.weight", "_blocks.0._depthwise_conv.weight", "_blocks.1._expand_conv.weight"])
        XCTAssertEqual(names(["conv_stem.weight", "blocks.0.0.conv.weight", "blocks.1.0.conv_exp.weight", "blocks.3.2.conv_pw.weight", "blocks.3.2.se.conv_reduce.bias",
                              "blocks.3.2.bn3.running_var", "conv_head.weight", "bn2.bias", "classifier.weight"]),
                       ["features.0.0.weight", "features.1.0.block.0.0.weight", "features.2.0.block.0.0.weight",
                        "features.4.2.block.0.0.weight", "features.4.2.block.2.fc1.bias", "features.4.2.block.3.1.running_var", "features.5.0.weight", "features.5.1.bias",
                        "classifier.1.weight"])
        XCTAssertEqual(names(["model.downsample_layers.0.1.weight", "model.downsample_layers.2.1.bias", "model.stages.1.0.pwconv1.weight",
                              "model.stages.0.2.gamma", "model.norm.weight", "model.head.bias"]),
                       ["stem.1.weight", "stages.2.downsample.1.bias", "stages.1.blocks.0.mlp.fc1.weight", "stages.0.blocks.2.gamma",
                        "head.norm.weight", "head.fc.bias"])
        XCTAssertEqual(names(["stages.0.blocks.0.gamma", "head.fc.weight"]), ["stages.0.blocks.0.gamma", "head.fc.weight"])
    }

    func testLayerNormDropPathAndContiguous() throws {
        let x = try Tensor([1, 2, 3, 4, 10, 20, 30, 40] as [Float], shape: [2, 4])
        let y = try F.layerNorm(x, normalizedShape: [4], eps: 0).floats()
        let want: [Float] = [-1.3416408, -0.4472136, 0.4472136, 1.3416408]
        XCTAssertLessThanOrEqual(maxAbs(Array(y[0..<4]), want), 1e-5)
        XCTAssertLessThanOrEqual(maxAbs(Array(y[4..<8]), want), 1e-5)
        XCTAssertThrowsError(try F.layerNorm(x, normalizedShape: [3]))
        // Drop path: identity in eval; in training whole samples are zeroed with probability p, the rest scaled.
        let ones = try Tensor.ones([4000, 3, 1, 1])
        XCTAssertTrue(try F.dropPath(ones, p: 0.3, training: false) === ones)
        Torch.manualSeed(7)
        let d = try F.dropPath(ones, p: 0.3, training: true).floats()
        let rows = stride(from: 0, to: d.count, by: 3).map { Array(d[$0..<$0 + 3]) }
        XCTAssertTrue(rows.allSatisfy { Set($0).count == 1 }, "a sample is kept or dropped whole")
        let dropped = Double(rows.filter { $0[0] == 0 }.count) / Double(rows.count)
        XCTAssertEqual(dropped, 0.3, accuracy: 0.03)
        XCTAssertTrue(rows.allSatisfy { $0[0] == 0 || Swift.abs($0[0] - Float(1 / 0.7)) < 1e-5 })
        XCTAssertThrowsError(try F.dropPath(ones, p: 1.5, training: true))
        let nchw = try Tensor.randn([2, 3, 4, 5], seed: 1)
        let cl = try nchw.contiguous(channelsLast: true)
        XCTAssertEqual(try cl.floats(), try nchw.floats())
        XCTAssertEqual(try nchw.permute([0, 2, 3, 1]).contiguous().shape, [2, 4, 5, 3])
    }
}
