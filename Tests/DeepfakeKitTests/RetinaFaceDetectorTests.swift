// RetinaFace as the `landmarks` detector, on a real still. No trained RetinaFace weights are available here, so
// these tests run random weights: they exercise the whole path (preprocessing, network, decoding, NMS, scaling
// back to the frame, dlib landmarks in each box, the `retina` crop rule, the tool's options), not detection
// quality. Parity of the network with the reference is EngineTests/RetinaFaceTests.
import DFKDetect
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
import DFKTensor
import Foundation
import XCTest

final class RetinaFaceDetectorTests: XCTestCase {
    override class func setUp() { Torch.setThreads(2) }

    func detector(_ weights: RetinaFaceWeights, maxSize: Int) throws -> RetinaFaceDetector {
        Init.reset(seed: 7)
        var o = RetinaFaceDetector.Options()
        o.confidence = 0
        o.maxSize = maxSize
        return try RetinaFaceDetector(model: try RetinaFace(.mobilenet025), weights: weights, options: o, source: "random")
    }

    func testPreprocessingOfBothWeightFamilies() throws {
        // A 4 x 2 BGR image of one colour: B 10, G 100, R 200.
        let px = [UInt8]([10, 100, 200]).repeated(8)
        let img = try Image(width: 4, height: 2, channels: 3, data: px)
        let t = try detector(.ternaus, maxSize: 0).input(img)
        XCTAssertEqual([t.width, t.height], [4, 2])
        let v = try t.x.floats()
        // RGB, (value / 255 - ImageNet mean) / ImageNet std.
        XCTAssertEqual(Double(v[0]), (200 / 255 - 0.485) / 0.229, accuracy: 1e-5)
        XCTAssertEqual(Double(v[8]), (100 / 255 - 0.456) / 0.224, accuracy: 1e-5)
        XCTAssertEqual(Double(v[16]), (10 / 255 - 0.406) / 0.225, accuracy: 1e-5)
        let b = try detector(.biubug6, maxSize: 0).input(img).x.floats()
        // BGR minus (104, 117, 123).
        XCTAssertEqual([b[0], b[8], b[16]], [-94, -17, 77])
        // The longest side is resized to max size (retinaface-pytorch's LongestMaxSize), up or down.
        let big = try Image(width: 100, height: 50, channels: 3)
        let r = try detector(.ternaus, maxSize: 64).input(big)
        XCTAssertEqual([r.width, r.height], [64, 32])
        XCTAssertEqual(r.x.shape, [1, 3, 32, 64])
        XCTAssertEqual(try detector(.ternaus, maxSize: 0).maxSize, nil)
        var o = RetinaFaceDetector.Options()
        XCTAssertEqual(try RetinaFaceDetector(model: try RetinaFace(.mobilenet025), weights: .ternaus, options: o, source: "x").maxSize, 2048)
        XCTAssertEqual(try RetinaFaceDetector(model: try RetinaFace(.mobilenet025), weights: .biubug6, options: o, source: "x").maxSize, nil)
        o.confidence = 1
        XCTAssertThrowsError(try RetinaFaceDetector(model: try RetinaFace(.mobilenet025), weights: .ternaus, options: o, source: "x"))
    }

    /// The whole path on a real photo with random weights: boxes in frame coordinates, 5 points each, 68 dlib
    /// landmarks inside each box, faces sorted by RetinaFace box area, and crops by the `retina` rule.
    func testWholePathOnARealStillWithRandomWeights() throws {
        let img = try Image.read(try Fixtures.media("multi_face.jpg"))
        let rf = try detector(.ternaus, maxSize: 320)
        let dets = try rf.detect(img)
        XCTAssertFalse(dets.isEmpty, "confidence 0 keeps every prior that survives NMS")
        let W = Double(img.width), H = Double(img.height)
        for d in dets {
            XCTAssertEqual(d.points.count, 5)
            XCTAssertLessThan(d.box.left, d.box.right); XCTAssertLessThan(d.box.top, d.box.bottom)
            XCTAssertGreaterThanOrEqual(min(d.box.right, W) - max(d.box.left, 0), 1, "every box overlaps the frame")
            XCTAssertGreaterThanOrEqual(min(d.box.bottom, H) - max(d.box.top, 0), 1)
        }
        // Boxes are spread over the whole frame (scaled back from the 320 px input), not over the input only.
        XCTAssertGreaterThan(dets.map(\.box.right).max()!, 0.8 * W)
        XCTAssertGreaterThan(dets.map(\.box.bottom).max()!, 0.8 * H)
        // No two kept boxes overlap by more than the NMS threshold.
        for i in dets.indices { for j in dets.indices where j > i {
            XCTAssertLessThanOrEqual(intersectionOverUnion(dets[i].box, dets[j].box), 0.4 + 1e-3)
        } }

        var opts = FaceAnalysisOptions()
        opts.boxDetector = rf
        opts.crop = CropRule.parse("margin:0.125:retina")
        XCTAssertEqual(opts.crop, .margin(0.125, .retina))
        let analyzer = try FaceAnalyzer(options: opts, workers: 1)
        let faces = try analyzer.faces(in: img)
        XCTAssertEqual(faces.count, dets.count)
        XCTAssertEqual(faces.map(\.box.area), faces.map(\.box.area).sorted(by: >), "largest RetinaFace box first")
        for f in faces.prefix(20) {
            XCTAssertEqual(f.detector, "retinaface-mobilenet0.25")
            XCTAssertEqual(f.landmarks.count, 68)
            XCTAssertEqual(f.extra["detector_points"]?.arrayValue?.count, 5)
            let r = try CropRule.margin(0.125, .retina).region(for: f, width: img.width, height: img.height)
            // 12.5% of the RetinaFace box on each side, clipped to the frame.
            XCTAssertEqual(r.x0, Int(max(0, (f.box.left - 0.125 * f.box.width).rounded(.down))))
            XCTAssertEqual(r.y1, Int(min(H, (f.box.bottom + 0.125 * f.box.height).rounded(.up))))
        }
        XCTAssertTrue(analyzer.options.cacheKey(predictorSize: 1).contains("retinaface-mobilenet0.25|random"))
        // The `retina` rule refuses faces of another detector, naming the way out.
        let dlibFace = Face(box: Box(left: 10, top: 10, right: 50, bottom: 60), detector: "dlib-hog")
        XCTAssertThrowsError(try CropRule.margin(0.125, .retina).region(for: dlibFace, width: 100, height: 100)) { e in
            XCTAssertTrue("\(e)".contains("--detector retinaface"), "\(e)")
            XCTAssertTrue("\(e)".contains("retina-approx"), "\(e)")
        }
    }

    /// `landmarks --detector retinaface --detector-model FILE` on a weight file in retinaface-pytorch's layout
    /// (random weights written by the package's model code; fails without the parity venv).
    func testLandmarksToolWithARetinaFaceWeightFile() throws {
        let venv = Fixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else { throw MissingEnvironment("no .cache/parity-venv") }
        let dir = Fixtures.tempDir()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: venv)
        p.arguments = ["-c", """
        import torch
        from retinaface.network import RetinaFace
        torch.manual_seed(0)
        m = RetinaFace(name='Resnet50', pretrained=False, return_layers={'layer2': 1, 'layer3': 2, 'layer4': 3},
                       in_channels=256, out_channels=256).eval()
        with torch.no_grad():
            _, conf, _ = m(torch.randn(1, 3, 64, 64))
            s = float((conf[..., 1] - conf[..., 0]).std())
            for h in m.ClassHead:
                h.conv1x1.weight.div_(s); h.conv1x1.bias.div_(s)
        torch.save(m.state_dict(), '\(dir)/retinaface_resnet50.pth')
        """]
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw MissingEnvironment("retinaface-pytorch is not installed in .cache/parity-venv") }
        let img = try Fixtures.media("single_face.jpg")
        let model = "\(dir)/retinaface_resnet50.pth"
        let run = try runTool("landmarks", ["-q", "--detector", "retinaface", "--detector-model", model, "--retina-max-size", "256",
                                            "--retina-confidence", "0.5", "--crop", "margin:0.125:retina", "--out", dir + "/out", img])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("retinaface-resnet50"), run.stderr)
        XCTAssertTrue(run.stderr.contains("ternaus"), "bare keys are taken as retinaface-pytorch weights: \(run.stderr)")
        let faces = try XCTUnwrap(try records(run).first?.faces)
        XCTAssertFalse(faces.isEmpty)
        for f in faces {
            XCTAssertEqual(f.detector, "retinaface-resnet50")
            XCTAssertEqual(f.crop?.spec, "margin:0.125:retina")
            XCTAssertTrue(FileManager.default.fileExists(atPath: f.crop!.image))
        }
        // Options that cannot work are refused up front.
        let noModel = try runTool("landmarks", ["-q", "--detector", "retinaface", img])
        XCTAssertNotEqual(noModel.status, 0)
        XCTAssertTrue(noModel.stderr.contains("--detector-model"), noModel.stderr)
        let hogRetina = try runTool("landmarks", ["-q", "--crop", "margin:0.125:retina", "--out", dir + "/o2", img])
        XCTAssertNotEqual(hogRetina.status, 0)
        XCTAssertTrue(hogRetina.stderr.contains("retina-approx"), hogRetina.stderr)
        let notRetina = try runTool("landmarks", ["-q", "--detector", "retinaface", "--detector-model", try Fixtures.model("efficientnet-lite0-57934424.pth"), img])
        XCTAssertNotEqual(notRetina.status, 0)
        XCTAssertTrue(notRetina.stderr.contains("not a RetinaFace weight file"), notRetina.stderr)
    }
}

extension RetinaFaceDetectorTests {
    /// SBI's training pairing (best IoU among the two largest RetinaFace boxes) and the tight crop of SBI.pair
    /// around the given RetinaFace box (test mode: 12.5% per side, the reference's int()/+1 arithmetic).
    func testTrainingPairingAndTheSBITightCropAroundTheRetinaFaceBox() throws {
        let pts = [Point(10, 10), Point(50, 70)]
        let boxes = [Box(left: 100, top: 100, right: 200, bottom: 200), Box(left: 5, top: 0, right: 55, bottom: 75)]
        XCTAssertEqual(FaceBoxRule.bestIoU(landmarks: pts, among: boxes), 1)
        XCTAssertNil(FaceBoxRule.bestIoU(landmarks: pts, among: []))
        // Inclusive pixel sizes, as the reference's IoUfrom2bboxes: 1.21 / 5.35 beats 4 / 25 (continuous areas
        // would pick the first box: 0.0625 against 0.0074).
        XCTAssertEqual(FaceBoxRule.bestIoU(landmarks: [Point(0, 0), Point(1, 1)],
                                           among: [Box(left: 0, top: 0, right: 4, bottom: 4), Box(left: 0.9, top: 0.9, right: 1.5, bottom: 1.5)]), 1)
        var f = Face(box: boxes[0], detector: "retinaface-resnet50", landmarks: pts)
        XCTAssertEqual(FaceBoxRule.trainingRetinaBox(f), boxes[0])
        f.extra["retina_box"] = .array([5, 0, 55, 75].map { .double($0) })
        XCTAssertEqual(FaceBoxRule.trainingRetinaBox(f), boxes[1])
        XCTAssertNil(FaceBoxRule.trainingRetinaBox(Face(box: boxes[0], detector: "dlib-hog")))

        let img = try Image.read(try Fixtures.media("single_face.jpg"))
        let face = try XCTUnwrap(try FaceAnalyzer(options: FaceAnalysisOptions(), workers: 1).faces(in: img).first)
        var o = SBIOptions()
        o.train = false
        o.size = 64
        // A RetinaFace-like box of our own: the landmark extent, 30% taller at the top.
        var rb = Box.bounding(Array(face.landmarks[0..<68]))
        rb.top -= 0.3 * rb.height
        var rng = SampleRNG(seed: 1, key: "k")
        let p = try SBI.pair(frame: img, landmarks: face.landmarks, retinaBox: rb, options: o, rng: &rng)
        let c1 = try XCTUnwrap(p.draws.fields["crop1"]?.arrayValue?.compactMap(\.intValue))
        let l = rb.left - Double(c1[0]), t = rb.top - Double(c1[1]), r = rb.right - Double(c1[0]), b = rb.bottom - Double(c1[1])
        let x0 = max(0, Int(l - (r - l) / 8)), y0 = max(0, Int(t - (b - t) / 8))
        let x1 = min(c1[2] - c1[0], Int(r + (r - l) / 8) + 1), y1 = min(c1[3] - c1[1], Int(b + (b - t) / 8) + 1)
        let q = face.landmarks[30]
        XCTAssertEqual(p.landmarks[30].x, (q.x - Double(c1[0]) - Double(x0)) * 64 / Double(x1 - x0), accuracy: 1e-6)
        XCTAssertEqual(p.landmarks[30].y, (q.y - Double(c1[1]) - Double(y0)) * 64 / Double(y1 - y0), accuracy: 1e-6)
        // Without a RetinaFace box the crop differs (retina-approx raises the top by 35%, not 30%).
        var rng2 = SampleRNG(seed: 1, key: "k")
        let p2 = try SBI.pair(frame: img, landmarks: face.landmarks, options: o, rng: &rng2)
        XCTAssertNotEqual(p2.landmarks[30].y, p.landmarks[30].y, accuracy: 1e-3)
    }
}

private extension Array {
    func repeated(_ n: Int) -> [Element] { (0..<n).flatMap { _ in self } }
}
