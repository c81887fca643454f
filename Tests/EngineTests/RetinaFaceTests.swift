// RetinaFace: parity with the PyPI retinaface-pytorch package's model code (random weights, ResNet-50; and
// MobileNet-0.25 assembled from the package's conv_bn / conv_dw / FPN / SSH / head blocks as Pytorch_Retinaface
// builds it), loading of the published key layouts, and the box arithmetic (priors, decoding, NMS, upsampling).
import DFKModels
import DFKTensor
import Foundation
import XCTest

final class RetinaFaceTests: XCTestCase {
    override class func setUp() { Torch.setThreads(2) }
    nonisolated(unsafe) static var dir: String?

    /// Runs the reference once: state dicts in the published layouts, inputs, raw outputs, priors, decoded boxes
    /// and landmarks, and the package's threshold + torchvision NMS selection.
    static func references() throws -> String {
        if let d = dir { return d }
        let venv = EngineFixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else { throw MissingEnvironment("no .cache/parity-venv") }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: venv)
        check.arguments = ["-c", "import retinaface.network"]
        check.standardError = FileHandle.nullDevice
        try check.run(); check.waitUntilExit()
        guard check.terminationStatus == 0 else { throw MissingEnvironment("retinaface-pytorch is not installed in .cache/parity-venv") }
        let d = NSTemporaryDirectory() + "dfk-retinaface-\(getpid())"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let script = """
        import torch
        from torch import nn
        from torchvision.models import _utils
        from torchvision.ops import nms
        from retinaface.net import conv_bn, conv_dw, FPN, SSH
        from retinaface.network import RetinaFace
        from retinaface.prior_box import priorbox
        from retinaface.box_utils import decode, decode_landm
        torch.set_num_threads(2)

        class MobileNetV1(nn.Module):
            def __init__(self):
                super().__init__()
                self.stage1 = nn.Sequential(conv_bn(3, 8, 2, leaky=0.1), conv_dw(8, 16, 1), conv_dw(16, 32, 2),
                                            conv_dw(32, 32, 1), conv_dw(32, 64, 2), conv_dw(64, 64, 1))
                self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *[conv_dw(128, 128, 1) for _ in range(5)])
                self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))
                self.avg = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(256, 1000)

        def mobilenet():
            m = RetinaFace.__new__(RetinaFace)
            nn.Module.__init__(m)
            m.body = _utils.IntermediateLayerGetter(MobileNetV1(), {'stage1': 1, 'stage2': 2, 'stage3': 3})
            m.fpn = FPN([64, 128, 256], 64)
            m.ssh1, m.ssh2, m.ssh3 = SSH(64, 64), SSH(64, 64), SSH(64, 64)
            m.ClassHead = RetinaFace._make_class_head(3, 64)
            m.BboxHead = RetinaFace._make_bbox_head(3, 64)
            m.LandmarkHead = RetinaFace._make_landmark_head(3, 64)
            return m

        for name, size in [('resnet50', (100, 130)), ('mobilenet0.25', (120, 90))]:
            torch.manual_seed(0)
            if name == 'resnet50':
                m = RetinaFace(name='Resnet50', pretrained=False, return_layers={'layer2': 1, 'layer3': 2, 'layer4': 3},
                               in_channels=256, out_channels=256)
            else:
                m = mobilenet()
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, nn.BatchNorm2d):
                        mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
                        mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
            m.eval()
            h, w = size
            x = torch.randn(1, 3, h, w)
            # Random weights give huge head outputs (saturated scores); scale each head to outputs of unit spread.
            with torch.no_grad():
                outs = m(x)
                for heads, o in zip([m.BboxHead, m.ClassHead, m.LandmarkHead], outs):
                    s = float(o.std()) if heads is not m.ClassHead else float((o[..., 1] - o[..., 0]).std())
                    for hd in heads:
                        hd.conv1x1.weight.div_(s); hd.conv1x1.bias.div_(s)
            sd = m.state_dict()
            if name == 'resnet50':
                torch.save(sd, '\(d)/resnet50.pth')                                    # retinaface-pytorch: bare keys
            else:
                torch.save({'module.' + k: v for k, v in sd.items()}, '\(d)/mobilenet.pth')  # Pytorch_Retinaface: DataParallel keys
            with torch.no_grad():
                loc, conf, land = m(x)
            pri = priorbox(min_sizes=[[16, 32], [64, 128], [256, 512]], steps=[8, 16, 32], clip=False, image_size=(h, w))
            boxes = decode(loc[0], pri, [0.1, 0.2]) * torch.tensor([w, h, w, h])
            lands = decode_landm(land[0], pri, [0.1, 0.2]) * torch.tensor([w, h] * 5)
            scores = torch.softmax(conf[0], dim=-1)[:, 1]
            thr = float(scores.median())
            valid = torch.where(scores > thr)[0]
            keep = nms(boxes[valid], scores[valid], 0.4)
            out = {'input': x, 'loc': loc, 'conf': conf, 'land': land, 'priors': pri, 'boxes': boxes, 'lands': lands,
                   'thr': torch.tensor([thr], dtype=torch.float64), 'kept_boxes': boxes[valid][keep],
                   'kept_lands': lands[valid][keep], 'kept_scores': scores[valid][keep]}
            torch.save(out, '\(d)/' + name + '.io.pth')
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

    func maxRel(_ a: Tensor, _ b: Tensor) throws -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let x = try a.floats(), y = try b.floats()
        let scale = Swift.max(y.map { Swift.abs($0) }.max() ?? 0, 1e-3)
        return (zip(x, y).map { Swift.abs($0 - $1) }.max() ?? 0) / scale
    }

    func testBothVariantsMatchTheRetinafacePytorchModelCode() throws {
        let dir = try RetinaFaceTests.references()
        for (variant, file, io, kind) in [(RetinaFaceVariant.resnet50, "resnet50.pth", "resnet50.io.pth", RetinaFaceWeights.ternaus),
                                          (.mobilenet025, "mobilenet.pth", "mobilenet0.25.io.pth", .biubug6)] {
            let (m, guessed) = try RetinaFace.load("\(dir)/\(file)")
            XCTAssertEqual(m.variant, variant)
            XCTAssertEqual(guessed, kind, "\(file): weight family guessed from the key layout")
            let ref = try WeightFile.read("\(dir)/\(io)")
            let x = try XCTUnwrap(ref["input"])
            let (h, w) = (x.shape[2], x.shape[3])
            let out = try Autograd.noGrad { try m(x) }
            // Raw head outputs.
            for (got, key) in [(out.loc, "loc"), (out.conf, "conf"), (out.landmarks, "land")] {
                let d = try maxRel(got, try XCTUnwrap(ref[key]))
                XCTAssertLessThanOrEqual(d, 1e-4, "\(variant.rawValue): \(key) differs (relative \(d))")
            }
            // Priors and decoding (pixels).
            let priors = try RetinaFace.priors(height: h, width: w)
            XCTAssertLessThanOrEqual(try maxRel(priors, try XCTUnwrap(ref["priors"])), 1e-6, "\(variant.rawValue): priors")
            let scale = try Tensor([Float(w), Float(h), Float(w), Float(h)], shape: [1, 4])
            let boxes = try RetinaFace.decodeBoxes(try out.loc.squeeze(0), priors: priors) * scale
            XCTAssertLessThanOrEqual(try maxRel(boxes, try XCTUnwrap(ref["boxes"])), 1e-4, "\(variant.rawValue): decoded boxes")
            let lscale = try Tensor((0..<10).map { Float($0 % 2 == 0 ? w : h) }, shape: [1, 10])
            let lands = try RetinaFace.decodeLandmarks(try out.landmarks.squeeze(0), priors: priors) * lscale
            XCTAssertLessThanOrEqual(try maxRel(lands, try XCTUnwrap(ref["lands"])), 1e-4, "\(variant.rawValue): decoded landmarks")
            // Threshold + NMS: the same faces, in the same order.
            let thr = try XCTUnwrap(ref["thr"]).item()
            let dets = try RetinaFace.detections(loc: out.loc, conf: out.conf, landmarks: out.landmarks, priors: priors,
                                                 scaleX: Double(w), scaleY: Double(h), confidence: thr, nmsThreshold: 0.4)
            let kb = try XCTUnwrap(ref["kept_boxes"]).floats(), kl = try XCTUnwrap(ref["kept_lands"]).floats()
            let ks = try XCTUnwrap(ref["kept_scores"]).floats()
            XCTAssertGreaterThan(ks.count, 3, "the reference must keep several faces for the comparison to mean something")
            XCTAssertEqual(dets.count, ks.count, "\(variant.rawValue): faces kept after threshold and NMS")
            for (i, d) in dets.enumerated() where i < ks.count {
                XCTAssertEqual(d.score, Double(ks[i]), accuracy: 1e-5)
                let b = [d.box.x0, d.box.y0, d.box.x1, d.box.y1]
                for k in 0..<4 { XCTAssertEqual(b[k], Double(kb[4 * i + k]), accuracy: 1e-3 * max(1, Swift.abs(Double(kb[4 * i + k])))) }
                for k in 0..<5 {
                    XCTAssertEqual(d.points[k].x, Double(kl[10 * i + 2 * k]), accuracy: 1e-3 * max(1, Swift.abs(Double(kl[10 * i + 2 * k]))))
                    XCTAssertEqual(d.points[k].y, Double(kl[10 * i + 2 * k + 1]), accuracy: 1e-3 * max(1, Swift.abs(Double(kl[10 * i + 2 * k + 1]))))
                }
            }
        }
    }

    /// The published layouts: bare keys (retinaface-pytorch) and "module." keys (Pytorch_Retinaface), in a
    /// "state_dict" wrapper or not; a file missing a tensor or of another network is refused with its name.
    func testPublishedKeyLayoutsLoadAndBadFilesAreRefused() throws {
        let names = try RetinaFace(.resnet50).stateDict().map(\.0)
        XCTAssertTrue(names.contains("body.layer4.2.bn3.running_var"))
        XCTAssertTrue(names.contains("fpn.merge2.0.weight"))
        XCTAssertTrue(names.contains("ssh3.conv7x7_3.1.weight"))
        XCTAssertTrue(names.contains("LandmarkHead.2.conv1x1.bias"))
        XCTAssertFalse(names.contains { $0.hasPrefix("body.fc") }, "the classifier is not part of the detector")
        let mnames = try RetinaFace(.mobilenet025).stateDict().map(\.0)
        XCTAssertTrue(mnames.contains("body.stage1.0.0.weight"))
        XCTAssertTrue(mnames.contains("body.stage3.1.4.running_mean"))
        XCTAssertTrue(mnames.contains("ClassHead.0.conv1x1.weight"))
        XCTAssertEqual(RetinaFace.variant(of: mnames.map { "module." + $0 }), .mobilenet025)
        XCTAssertEqual(RetinaFaceWeights.guess(names: names), .ternaus)
        XCTAssertEqual(RetinaFaceWeights.guess(names: names.map { "module." + $0 }), .biubug6)

        let dir = try RetinaFaceTests.references()
        // Legacy format, "state_dict" wrapper with DataParallel keys, and a file with one tensor missing.
        let venv = EngineFixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: venv)
        p.arguments = ["-c", """
        import torch
        sd = torch.load('\(dir)/resnet50.pth')
        torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}}, '\(dir)/wrapped.pth', _use_new_zipfile_serialization=False)
        del sd['ssh2.conv5X5_2.1.running_var']
        torch.save(sd, '\(dir)/partial.pth')
        torch.save({'conv.weight': torch.zeros(2, 2)}, '\(dir)/other.pth')
        """]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let (a, _) = try RetinaFace.load("\(dir)/resnet50.pth")
        let (b, kind) = try RetinaFace.load("\(dir)/wrapped.pth")
        XCTAssertEqual(kind, .biubug6)
        for ((n, t), (_, u)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(try t.floats(), try u.floats(), n)
        }
        XCTAssertThrowsError(try RetinaFace.load("\(dir)/partial.pth")) { e in
            XCTAssertTrue("\(e)".contains("ssh2.conv5X5_2.1.running_var"), "\(e)")
            XCTAssertTrue("\(e)".contains("partial.pth"), "\(e)")
        }
        XCTAssertThrowsError(try RetinaFace.load("\(dir)/other.pth")) { e in
            XCTAssertTrue("\(e)".contains("not a RetinaFace weight file"), "\(e)")
        }
    }

    func testPriorsDecodingAndUpsampling() throws {
        // 64 x 96 input: levels 8 x 12, 4 x 6, 2 x 3 positions, 2 anchors each.
        let p = try RetinaFace.priors(height: 64, width: 96)
        XCTAssertEqual(p.shape, [2 * (8 * 12 + 4 * 6 + 2 * 3), 4])
        let v = try p.floats()
        let first: [Double] = [4.0 / 96, 4.0 / 64, 16.0 / 96, 16.0 / 64, 4.0 / 96, 4.0 / 64, 32.0 / 96, 32.0 / 64]
        XCTAssertEqual(Array(v[0..<8]), first.map { Float($0) })
        // Second position of the first row: centre x moves one step.
        XCTAssertEqual(v[8], Float(12.0 / 96), accuracy: 1e-7)
        // Zero offsets decode to the prior itself; known offsets by the variances 0.1 / 0.2.
        let prior = try Tensor([0.5, 0.5, 0.2, 0.4] as [Float], shape: [1, 4])
        for (g, w) in zip(try RetinaFace.decodeBoxes(try Tensor.zeros([1, 4]), priors: prior).floats(), [0.4, 0.3, 0.6, 0.7]) {
            XCTAssertEqual(Double(g), w, accuracy: 1e-6)
        }
        let b = try RetinaFace.decodeBoxes(try Tensor([1, -1, Float(log(2.0) / 0.2), 0] as [Float], shape: [1, 4]), priors: prior).floats()
        // centre (0.5 + 0.1 * 0.2, 0.5 - 0.1 * 0.4) = (0.52, 0.46); size (0.4, 0.4).
        for (g, w) in zip(b, [0.32, 0.26, 0.72, 0.66]) { XCTAssertEqual(Double(g), w, accuracy: 1e-6) }
        let l = try RetinaFace.decodeLandmarks(try Tensor([Float](repeating: 1, count: 10), shape: [1, 10]), priors: prior).floats()
        for k in 0..<5 { XCTAssertEqual(Double(l[2 * k]), 0.52, accuracy: 1e-6); XCTAssertEqual(Double(l[2 * k + 1]), 0.54, accuracy: 1e-6) }
        // Nearest upsampling 4 -> 7 takes rows 0, 0, 1, 1, 2, 2, 3 (floor(i * 4 / 7)).
        let x = try Tensor([0, 1, 2, 3] as [Float], shape: [1, 1, 4, 1])
        XCTAssertEqual(try nearestResize(x, height: 7, width: 1).floats(), [0, 0, 1, 1, 2, 2, 3])
        XCTAssertEqual(try nearestResize(x, height: 8, width: 2).floats(), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    }

    func testNMS() {
        let boxes = [(0.0, 0.0, 10.0, 10.0), (1.0, 0.0, 11.0, 10.0), (20.0, 20.0, 30.0, 30.0), (0.0, 5.0, 10.0, 15.0)]
        // IoU(0, 1) = 90 / 110 = 0.82; IoU(0, 3) = 50 / 150 = 0.33; box 2 is apart.
        XCTAssertEqual(RetinaFace.nms(boxes: boxes, scores: [0.9, 0.95, 0.5, 0.8], threshold: 0.4), [1, 3, 2])
        XCTAssertEqual(RetinaFace.nms(boxes: boxes, scores: [0.9, 0.95, 0.5, 0.8], threshold: 0.25), [1, 2])  // IoU(1, 3) = 45 / 155
        XCTAssertEqual(RetinaFace.nms(boxes: boxes, scores: [0.9, 0.95, 0.5, 0.8], threshold: 0.9), [1, 0, 3, 2])
        // Inclusive pixel areas (py_cpu_nms): IoU(0, 3) = 66 / 176 = 0.375 instead of 0.33.
        XCTAssertEqual(RetinaFace.nms(boxes: [boxes[0], boxes[3]], scores: [0.9, 0.8], threshold: 0.35), [0, 1])
        XCTAssertEqual(RetinaFace.nms(boxes: [boxes[0], boxes[3]], scores: [0.9, 0.8], threshold: 0.35, plusOne: true), [0])
    }
}
