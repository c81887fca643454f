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
