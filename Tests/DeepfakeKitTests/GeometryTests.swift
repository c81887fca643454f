// Frame sampling (numpy linspace, --every, all), SBI's crop arithmetic, margin crops and their parsing, the derived forehead.
import DFKImaging
import DFKRecords
import XCTest

final class SamplingTests: XCTestCase {
    /// Expected values computed with numpy: np.unique(np.linspace(0, n-1, N, endpoint=True, dtype=int)).
    func testEvenlyMatchesNumpyLinspace() {
        let cases: [(Int, Int, [Int])] = [
            (472, 32, [0, 15, 30, 45, 60, 75, 91, 106, 121, 136, 151, 167, 182, 197, 212, 227, 243, 258, 273, 288, 303, 319, 334, 349, 364, 379, 395, 410, 425, 440, 455, 471]),
            (72, 32, [0, 2, 4, 6, 9, 11, 13, 16, 18, 20, 22, 25, 27, 29, 32, 34, 36, 38, 41, 43, 45, 48, 50, 52, 54, 57, 59, 61, 64, 66, 68, 71]),
            (169, 32, [0, 5, 10, 16, 21, 27, 32, 37, 43, 48, 54, 59, 65, 70, 75, 81, 86, 92, 97, 102, 108, 113, 119, 124, 130, 135, 140, 146, 151, 157, 162, 168]),
            (95, 32, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48, 51, 54, 57, 60, 63, 66, 69, 72, 75, 78, 81, 84, 87, 90, 94]),
            (10, 32, Array(0..<10)),
            (300, 8, [0, 42, 85, 128, 170, 213, 256, 299]),
            (1, 32, [0]), (2, 3, [0, 1]), (7, 7, Array(0..<7)),
            (1000, 32, [0, 32, 64, 96, 128, 161, 193, 225, 257, 290, 322, 354, 386, 418, 451, 483, 515, 547, 580, 612, 644, 676, 708, 741, 773, 805, 837, 870, 902, 934, 966, 999]),
        ]
        for (n, k, want) in cases {
            XCTAssertEqual(FrameSampling.evenly(k).indices(frameCount: n), want, "n=\(n) N=\(k)")
        }
        XCTAssertEqual(FrameSampling.evenly(32).indices(frameCount: 0), [])
    }

    func testEveryAndAll() {
        XCTAssertEqual(FrameSampling.every(10).indices(frameCount: 35), [0, 10, 20, 30])
        XCTAssertEqual(FrameSampling.all.indices(frameCount: 3), [0, 1, 2])
    }
}

final class CropTests: XCTestCase {
    /// A synthetic 68-point face whose landmark extent is x 100...200, y 100...220.
    func face() -> Face {
        var pts = (0..<68).map { i in Point(100 + Double(i % 11) * 10, 100 + Double(i % 13) * 10) }
        pts[0] = Point(100, 150); pts[16] = Point(200, 150); pts[8] = Point(150, 220)
        return Face(box: Box(left: 110, top: 120, right: 190, bottom: 210), landmarks: pts)
    }

    func testSBIWideCropArithmetic() throws {
        let f = face()
        let b = Box.bounding(f.landmarks)
        XCTAssertEqual(b, Box(left: 100, top: 100, right: 200, bottom: 220))
        // w = 100, h = 120: x0 = 100 - 50, x1 = 200 + 50 + 1, y0 = 100 - 120 -> 0, y1 = 220 + 48 + 1
        let r = try CropRule.sbi.region(for: f, width: 640, height: 360)
        XCTAssertEqual(r.x0, 50); XCTAssertEqual(r.x1, 251); XCTAssertEqual(r.y0, 0); XCTAssertEqual(r.y1, 269)
        let clipped = try CropRule.sbi.region(for: f, width: 220, height: 250)
        XCTAssertEqual(clipped.x1, 220); XCTAssertEqual(clipped.y1, 250)
    }

    /// A 68-point face whose five alignment points (eye centres, nose tip, mouth corners) are the 112 px template
    /// turned by 15 degrees, scaled by 2 and moved to (300, 120).
    func alignedFace(detectorPoints: Bool = false) -> (Face, (Point) -> Point) {
        let c = cos(Double.pi / 12) * 2, s = sin(Double.pi / 12) * 2
        let toFrame = { (p: Point) in Point(c * p.x - s * p.y + 300, s * p.x + c * p.y + 120) }
        let t = CropRule.alignTemplate112.map(toFrame)
        var pts = [Point](repeating: Point(0, 0), count: 68)
        for i in 0..<68 { pts[i] = toFrame(Point(20 + Double(i % 9) * 9, 30 + Double(i / 9) * 10)) }
        // Eye rings whose means are the template's eyes (+-3 px around them), nose tip, mouth corners.
        for (k, d) in [(-3.0, 0.0), (3, 0), (0, -3), (0, 3), (-2, 2), (2, -2)].enumerated() {
            pts[36 + k] = Point(t[0].x + d.0, t[0].y + d.1); pts[42 + k] = Point(t[1].x + d.0, t[1].y + d.1)
        }
        pts[30] = t[2]; pts[48] = t[3]; pts[54] = t[4]
        var f = Face(box: Box(left: 250, top: 100, right: 450, bottom: 380), landmarks: pts)
        if detectorPoints { f.extra["detector_points"] = .array(t.map { .array([.double($0.x), .double($0.y)]) }) }
        return (f, toFrame)
    }

    func testAlignedCropPutsTheFivePointsOnTheTemplate() throws {
        XCTAssertEqual(CropRule.parse("align:256"), .align(size: 256, scale: 1.3, points: .landmarks))
        XCTAssertEqual(CropRule.parse("align:224:1.3:detector"), .align(size: 224, scale: 1.3, points: .detector))
        XCTAssertEqual(CropRule.parse("align:256:1.3")?.name, "align:256:1.3")
        XCTAssertEqual(CropRule.parse("align:224:1.3:detector")?.name, "align:224:1.3:detector")
        for bad in ["align", "align:8", "align:256:0", "align:256:1.3:eyes", "align:x"] { XCTAssertNil(CropRule.parse(bad), bad) }
        let (face, toFrame) = alignedFace()
        // Scale 1 at 112 px: the transform is the exact inverse of toFrame.
        let m = try XCTUnwrap(try CropRule.align(size: 112, scale: 1, points: .landmarks).alignTransform(for: face))
        for p in [Point(0, 0), Point(112, 50), Point(30, 100)] {
            let q = toFrame(p)
            XCTAssertEqual(m[0] * q.x + m[1] * q.y + m[2], p.x, accuracy: 1e-9)
            XCTAssertEqual(m[3] * q.x + m[4] * q.y + m[5], p.y, accuracy: 1e-9)
        }
        // 256 px at 1.3 (DeepfakeBench's): the template shrinks by 1.3 about the centre (left eye: ((38.2946 / 112
        // - 0.5) / 1.3 + 0.5) x 256 = 89.87).
        let rule = CropRule.align(size: 256, scale: 1.3, points: .landmarks)
        let m2 = try XCTUnwrap(try rule.alignTransform(for: face))
        let eye = toFrame(CropRule.alignTemplate112[0])
        XCTAssertEqual(m2[0] * eye.x + m2[1] * eye.y + m2[2], ((38.2946 / 112 - 0.5) / 1.3 + 0.5) * 256, accuracy: 1e-9)
        // The detector's points give the same warp; without them the rule says what is missing.
        let m3 = try XCTUnwrap(try CropRule.align(size: 256, scale: 1.3, points: .detector).alignTransform(for: alignedFace(detectorPoints: true).0))
        for (a, b) in zip(m2, m3) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        XCTAssertThrowsError(try CropRule.align(size: 256, scale: 1.3, points: .detector).alignTransform(for: face)) { e in
            XCTAssertTrue("\(e)".contains("detector's five points"), "\(e)")
        }
        // The warp: a 256 x 256 crop whose frame extent covers the rotated square; a bright spot at the frame's
        // left eye lands at the template's left eye in the crop.
        let img = try Image(width: 640, height: 480, channels: 3)
        try img.fillPolygon([(eye.x - 3, eye.y - 3), (eye.x + 3, eye.y - 3), (eye.x + 3, eye.y + 3), (eye.x - 3, eye.y + 3)], hull: true, value: 255)
        let (crop, region, _) = try rule.extract(from: img, face: face)
        XCTAssertEqual(crop.width, 256); XCTAssertEqual(crop.height, 256)
        XCTAssertLessThan(region.x0, Int(eye.x)); XCTAssertGreaterThan(region.x1, Int(eye.x))
        let ex = Int((((38.2946 / 112) - 0.5) / 1.3 + 0.5) * 256), ey = Int((((51.6963 / 112) - 0.5) / 1.3 + 0.5) * 256)
        let px = try crop.withBytes { b in b.load(fromByteOffset: ey * crop.rowBytes + ex * 3, as: UInt8.self) }
        XCTAssertGreaterThan(px, 200)
        XCTAssertThrowsError(try rule.extract(from: img, face: Face(box: Box(left: 0, top: 0, right: 50, bottom: 50), landmarks: [])))
    }

    func testMarginCropAndParsing() throws {
        XCTAssertEqual(CropRule.parse("sbi"), .sbi)
        XCTAssertEqual(CropRule.parse("margin:0.125"), .margin(0.125, .retinaApprox))
        XCTAssertEqual(CropRule.parse("margin:0.2:detector"), .margin(0.2, .detector))
        XCTAssertNil(CropRule.parse("margin:x")); XCTAssertNil(CropRule.parse("margin:0.1:nope")); XCTAssertNil(CropRule.parse("wide"))
        let r = try CropRule.margin(0.125, .detector).region(for: face(), width: 640, height: 360)
        // The reference's crop_face arithmetic: int() and +1 on the far side (x1 = int(190 + 10) + 1 = 201,
        // y1 = int(210 + 11.25) + 1 = 222), as the training crop (was ceil, x1 = 200).
        XCTAssertEqual(r.x0, 100); XCTAssertEqual(r.x1, 201); XCTAssertEqual(r.y0, 108); XCTAssertEqual(r.y1, 222)
        // The RetinaFace-like box takes in the forehead: taller than the landmark extent, same width.
        let retina = FaceBoxRule.retinaApprox.box(for: face())
        XCTAssertEqual(retina.top, 100 - 0.35 * 120, accuracy: 1e-9)
        XCTAssertEqual(retina.bottom, 220)
        XCTAssertGreaterThan(retina.height / retina.width, 1.5)
        var five = face(); five.landmarks = Array(five.landmarks[0..<5])
        XCTAssertThrowsError(try CropRule.sbi.region(for: five, width: 640, height: 360))
    }

    func testDerivedForeheadLiesAboveBrowsAndSweepsTempleToTemple() {
        let f = face()
        let fh = LandmarkLayout.deriveForehead(f.landmarks)
        XCTAssertEqual(fh.count, 13)
        let browTop = LandmarkLayout.brows.map { f.landmarks[$0].y }.min()!
        let sweep = LandmarkLayout.foreheadSweepOrder.map { fh[$0 - 68] }
        // Ends at the temples (points 0 and 16), apex in the middle above the brows, x increasing.
        XCTAssertEqual(sweep.first!.x, 100, accuracy: 1e-6); XCTAssertEqual(sweep.last!.x, 200, accuracy: 1e-6)
        XCTAssertLessThan(sweep[6].y, browTop)
        for (a, b) in zip(sweep, sweep.dropFirst()) { XCTAssertGreaterThan(b.x, a.x) }
        for p in sweep.dropFirst().dropLast() { XCTAssertLessThan(p.y, 150) }
    }
}
