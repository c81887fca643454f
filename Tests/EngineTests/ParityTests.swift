// Numerical parity with Python PyTorch 1.13 (Debian's python3-torch) on the reference definitions of each backbone:
// efficientnet_pytorch (B0, B4), torchvision (ResNet-18/34/50, VGG-16-BN), timm (Xception). Same weights and
// input: logits within 1e-4 (eval mode) and the same logits and gradients after one backward pass (train mode,
// dropout off).
import DFKModels
import DFKTensor
import Foundation
import XCTest


/// Tolerance factor of the parity checks: 1 on the libtorch the Python references run (PyTorch 1.13). Against another
/// libtorch (`make test-libtorch2` sets DFK_PARITY_TOLERANCE=10) the kernels round differently (other oneDNN versions).
let parityTolerance = Float(ProcessInfo.processInfo.environment["DFK_PARITY_TOLERANCE"] ?? "") ?? 1

final class ParityTests: XCTestCase {
    static let allCases: [(name: String, size: Int)] = [
        ("efficientnet-b0", 64), ("efficientnet-b4", 96), ("resnet18", 64), ("resnet34", 64), ("resnet50", 64),
        ("vgg16_bn", 64), ("xception", 96),
    ]
    /// DFK_PARITY=name,name narrows the run (for debugging one backbone).
    static var cases: [(name: String, size: Int)] {
        guard let only = ProcessInfo.processInfo.environment["DFK_PARITY"] else { return allCases }
        let names = Set(only.split(separator: ",").map(String.init))
        return allCases.filter { names.contains($0.name) }
    }
    nonisolated(unsafe) static var dir: String?
    override class func setUp() { Torch.setThreads(2) }
    // The reference files take about 2 GB: gone with the test class.
    override class func tearDown() {
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
        dir = nil
    }

    /// Writes one weight file per backbone with the reference implementation's weights, input and results.
    static func references() throws -> String {
        if let d = dir { return d }
        let d = NSTemporaryDirectory() + "dfk-parity-\(getpid())"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let venv = EngineFixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw MissingEnvironment("missing \(venv)")
        }
        let cases = ParityTests.cases.map { "('\($0.name)', \($0.size))" }.joined(separator: ", ")
        let script = """
        import torch, timm, torchvision
        from efficientnet_pytorch import EfficientNet
        torch.set_num_threads(2)
        def build(name):
            if name.startswith('efficientnet'):
                return EfficientNet.from_name(name, dropout_rate=0.0, drop_connect_rate=0.0)
            if name.startswith('resnet'):
                return getattr(torchvision.models, name)()
            if name == 'vgg16_bn':
                m = torchvision.models.vgg16_bn()
                m.classifier[2].p = 0.0
                m.classifier[5].p = 0.0
                return m
            return timm.create_model('xception', pretrained=False)
        for name, size in [\(cases)]:
            torch.manual_seed(0)
            m = build(name)
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, torch.nn.BatchNorm2d):
                        mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
                        mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
            sd = {'model.' + k: v.clone() for k, v in m.state_dict().items()}
            x = torch.randn(2, 3, size, size)
            target = torch.tensor([0, 7])
            m.eval()
            with torch.no_grad():
                sd['expected.eval'] = m(x)
            m.train()
            out = m(x)
            torch.nn.functional.cross_entropy(out, target).backward()
            sd['expected.train'] = out.detach()
            for k, p in m.named_parameters():
                sd['grad.' + k] = p.grad.clone()
            sd['input'] = x
            sd['target'] = target
            torch.save(sd, '\(d)/' + name + '.pth')
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: venv)
        p.arguments = ["-c", script]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TensorError("reference script failed: \(String(decoding: e, as: UTF8.self))") }
        dir = d
        return d
    }

    func model(_ name: String) throws -> (Module, (Tensor) throws -> Tensor) {
        if name.hasPrefix("efficientnet") {
            var c = EfficientNetConfig.named(name)!
            c.dropout = 0; c.dropConnect = 0
            let m = try EfficientNet(c)
            return (m, { try m($0) })
        }
        if name.hasPrefix("resnet") { let m = try ResNet(depth: Int(name.dropFirst(6))!); return (m, { try m($0) }) }
        if name == "vgg16_bn" { let m = try VGG16BN(); m.dropout = 0; return (m, { try m($0) }) }
        let m = try Xception()
        return (m, { try m($0) })
    }

    func maxAbs(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0 }

    func testEveryBackboneMatchesItsReferenceImplementation() throws {
        let dir = try ParityTests.references()
        for (name, _) in ParityTests.cases {
            let w = try WeightFile.read("\(dir)/\(name).pth")
            let (m, forward) = try model(name)
            let weights = w.tensors.filter { $0.name.hasPrefix("model.") }.map { (String($0.name.dropFirst(6)), $0.tensor) }
            let report = try m.load(weights, strict: true)
            XCTAssertEqual(report.loaded.count, weights.count, name)
            let x = w["input"]!, target = w["target"]!
            m.eval()
            let eval = try Autograd.noGrad { try forward(x) }
            let dEval = maxAbs(try eval.floats(), try w["expected.eval"]!.floats())
            XCTAssertLessThanOrEqual(dEval, 1e-4 * parityTolerance, "\(name): eval logits differ by \(dEval)")
            m.train()
            let out = try forward(x)
            let dTrain = maxAbs(try out.floats(), try w["expected.train"]!.floats())
            XCTAssertLessThanOrEqual(dTrain, 1e-4 * parityTolerance, "\(name): train logits differ by \(dTrain)")
            try F.crossEntropy(out, target).backward()
            var worst: (Float, String) = (0, "")
            for (pname, p) in m.namedParameters() {
                let want = try XCTUnwrap(w["grad." + pname], "\(name): no reference gradient for \(pname)").floats()
                let got = try XCTUnwrap(p.grad, "\(name): no gradient for \(pname)").floats()
                let scale = Swift.max(want.map { Swift.abs($0) }.max() ?? 0, 1e-3)
                let d = maxAbs(got, want) / scale
                if d > worst.0 { worst = (d, pname) }
            }
            XCTAssertLessThanOrEqual(worst.0, 1e-3 * parityTolerance, "\(name): gradient of \(worst.1) differs (relative \(worst.0))")
        }
    }
}

final class LayoutTests: XCTestCase {
    override class func setUp() { Torch.setThreads(2) }

    /// timm's EfficientNet names map onto ours: tf_efficientnet_b0 (TF "same" padding) at 224 px gives the same logits.
    /// A DataParallel "module." prefix is removed, and Module.to(device:) keeps parameter identity.
    func testTimmEfficientNetLayoutAndWrappers() throws {
        let dir = NSTemporaryDirectory() + "dfk-layout-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let venv = EngineFixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: venv)
        p.arguments = ["-c", """
        import torch, timm
        torch.manual_seed(0); torch.set_num_threads(2)
        m = timm.create_model('tf_efficientnet_b0', pretrained=False).eval()
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad(): y = m(x)
        sd = {'module.' + k: v for k, v in m.state_dict().items()}
        torch.save({'state_dict': sd}, '\(dir)/timm.pth')
        torch.save({'x': x, 'y': y}, '\(dir)/io.pth')
        """]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let w = WeightLayout.timmEfficientNet(WeightLayout.unwrap(try WeightFile.read("\(dir)/timm.pth").tensors))
        let m = try EfficientNet(EfficientNetConfig.named("b0")!)
        let report = try m.load(w, strict: true)
        XCTAssertEqual(report.loaded.count, w.count)
        let io = try WeightFile.read("\(dir)/io.pth")
        let before = m.parameters[0]
        try m.to(device: .cpu, dtype: .float32)
        XCTAssertTrue(m.parameters[0] === before, "moving a module must keep its parameter objects")
        m.eval()
        let y = try Autograd.noGrad { try m(io["x"]!) }
        let d = zip(try y.floats(), try io["y"]!.floats()).map { Swift.abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(d, 1e-4 * parityTolerance, "timm layout: logits differ by \(d)")
    }
}
