// Fidelity to the official SBI code: each reference behaviour pinned on fixed inputs. The expected
// numbers come from the reference's libraries (albumentations 1.1 / NumPy / SciPy in .cache/augment-venv), computed
// once and written here with the script lines that produced them.
import DFKCore
import DFKImaging
import DFKModels
import DFKRecords
@testable import DFKSynthesis
@testable import DFKTrain
import Foundation
import XCTest

final class ReferenceFidelityTests: XCTestCase {
    func image(_ w: Int, _ h: Int, channels: Int = 3, _ value: (Int, Int, Int) -> UInt8) throws -> Image {
        var bytes = [UInt8](repeating: 0, count: w * h * channels)
        for y in 0..<h { for x in 0..<w { for c in 0..<channels { bytes[(y * w + x) * channels + c] = value(x, y, c) } } }
        return try bytes.withUnsafeBytes { try Image(width: w, height: h, channels: channels, float: false, data: $0.baseAddress) }
    }
    func floatImage(_ w: Int, _ h: Int, _ value: (Int, Int) -> Float) throws -> Image {
        var v = [Float](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { v[y * w + x] = value(x, y) } }
        return try v.withUnsafeBytes { try Image(width: w, height: h, channels: 1, float: true, data: $0.baseAddress) }
    }

    // MARK: 1. Affine

    /// albumentations 1.1 Affine(translate_percent x 0.02 / y -0.01, scale x 0.96 / y 1.04) on a 100 x 80 image:
    /// `get_params_dependent_on_targets(...)["matrix"].params` = [[0.96, 0, 3.98], [0, 1.04, -2.38]].
    func testAffineMatrixIsAlbumentationsWithIndependentScales() throws {
        let m = SBI.affineMatrix(tx: 0.02 * 100, ty: -0.01 * 80, sx: 0.96, sy: 1.04, width: 100, height: 80)
        for (a, b) in zip(m, [0.96, 0, 3.98, 0, 1.04, -2.38]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        // An unequal scale really stretches the axes differently: a centred 40 x 40 square becomes 38.4 x 41.6.
        let sq = try image(100, 80, channels: 1) { x, y, _ in (30..<70).contains(x) && (20..<60).contains(y) ? 255 : 0 }
        let w = try sq.warpedAffine(SBI.affineMatrix(tx: 0, ty: 0, sx: 0.96, sy: 1.04, width: 100, height: 80), width: 100, height: 80,
                                    interpolation: .nearest, border: .constant)
        let row = (0..<100).filter { w.byte(x: $0, y: 40, channel: 0) > 0 }.count
        let col = (0..<80).filter { w.byte(x: 50, y: $0, channel: 0) > 0 }.count
        XCTAssertEqual(row, 38, accuracy: 1); XCTAssertEqual(col, 42, accuracy: 1)
    }

    /// The self-blend draws x and y scales independently, each uniform in [0.95, 1/0.95].
    func testSelfBlendDrawsTheTwoScalesIndependently() throws {
        let (img, pts) = try RealFaces.load()[0]
        let small = try img.resized(width: img.width / 4, height: img.height / 4)
        let p = pts.map { Point($0.x / 4, $0.y / 4) }
        let crop = try CropRule.sbi.region(for: Face(box: Box.bounding(p), landmarks: p), width: small.width, height: small.height)
        let c = try small.cropped(x: crop.x0, y: crop.y0, width: crop.x1 - crop.x0, height: crop.y1 - crop.y0)
        let local = p.map { Point($0.x - Double(crop.x0), $0.y - Double(crop.y0)) }
        var sx: [Double] = [], sy: [Double] = []
        for i in 0..<200 {
            var rng = SampleRNG(seed: 4, key: "affine\(i)")
            var d = Draws()
            _ = try SBI.selfBlend(c, local, givenMask: nil, options: SBIOptions(), rng: &rng, draws: &d)
            let a = try XCTUnwrap(d.fields["affine"]?.arrayValue).compactMap(\.doubleValue)
            XCTAssertEqual(a.count, 4)
            sx.append(a[2]); sy.append(a[3])
        }
        XCTAssertTrue(sx.allSatisfy { $0 >= 0.95 && $0 <= 1 / 0.95 } && sy.allSatisfy { $0 >= 0.95 && $0 <= 1 / 0.95 })
        let mx = sx.reduce(0, +) / 200, my = sy.reduce(0, +) / 200
        let cov = zip(sx, sy).map { ($0 - mx) * ($1 - my) }.reduce(0, +)
        let vx = sx.map { ($0 - mx) * ($0 - mx) }.reduce(0, +), vy = sy.map { ($0 - my) * ($0 - my) }.reduce(0, +)
        XCTAssertLessThan(abs(cov / (vx * vy).squareRoot()), 0.25, "x and y scales must be drawn independently")
    }

    // MARK: 2. Blend cast

    /// NumPy: (m * s + (1 - m) * t).astype(np.uint8) truncates; the option rounds.
    func testBlendTruncatesLikeNumPyByDefault() throws {
        // (source, target, mask) -> (truncated, rounded)
        let cases: [(UInt8, UInt8, Float, UInt8, UInt8)] = [(100, 51, 0.5, 75, 76), (255, 0, 0.999, 254, 255), (0, 200, 0.25, 150, 150),
                                                            (10, 11, 0.75, 10, 10), (11, 10, 0.75, 10, 11)]
        let n = cases.count
        let src = try image(n, 1) { x, _, _ in cases[x].0 }, tgt = try image(n, 1) { x, _, _ in cases[x].1 }
        let mask = try floatImage(n, 1) { x, _ in cases[x].2 }
        let t = try src.blended(over: tgt, mask: mask, truncate: true), r = try src.blended(over: tgt, mask: mask)
        for (i, c) in cases.enumerated() {
            for ch in 0..<3 {
                XCTAssertEqual(t.byte(x: i, y: 0, channel: ch), c.3, "truncate \(c)")
                XCTAssertEqual(r.byte(x: i, y: 0, channel: ch), c.4, "round \(c)")
            }
        }
        // Over random values the truncated fake is ~0.5 level darker wherever 0 < M < 1, and equal where M is 0 or 1.
        var rng = SampleRNG(seed: 11)
        let w = 64, h = 64
        let a = try image(w, h) { _, _, _ in UInt8(rng.int(0...255)) }, b = try image(w, h) { _, _, _ in UInt8(rng.int(0...255)) }
        let m = try floatImage(w, h) { x, _ in x < 8 ? 0 : x < 16 ? 1 : Float(rng.unit()) }
        let ft = try a.blended(over: b, mask: m, truncate: true), fr = try a.blended(over: b, mask: m)
        var diff = 0.0, count = 0
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            let d = Double(fr.byte(x: x, y: y, channel: c)) - Double(ft.byte(x: x, y: y, channel: c))
            if x < 16 { XCTAssertEqual(d, 0) } else { diff += d; count += 1 }
            let mv = Double(m.float(x: x, y: y))
            let want = mv * Double(a.byte(x: x, y: y, channel: c)) + (1 - mv) * Double(b.byte(x: x, y: y, channel: c))
            XCTAssertEqual(Double(ft.byte(x: x, y: y, channel: c)), want.rounded(.towardZero))
        } } }
        XCTAssertEqual(diff / Double(count), 0.5, accuracy: 0.05)
    }

    // MARK: 3. Elastic field

    /// scipy.ndimage.gaussian_filter(v, 7) of v = ((7x + 13y) % 11) / 5 - 1 on 40 x 30 (radius 28, 'reflect').
    func testGaussianFilterMatchesSciPy() throws {
        let v = try floatImage(40, 30) { x, y in Float((x * 7 + y * 13) % 11) / 5 - 1 }
        let g = try v.gaussianFiltered(sigma: 7)
        let want: [(Int, Int, Double)] = [(0, 0, -0.00809078854732602), (5, 3, -0.0052151800294855015), (39, 29, 0.005743296130481395),
                                          (20, 15, 3.8919421880175e-06), (39, 0, 0.002909604086777413)]
        for (x, y, w) in want { XCTAssertEqual(Double(g.float(x: x, y: y)), w, accuracy: 2e-7, "(\(x), \(y))") }
        // (scipy's 'mirror' mode, i.e. OpenCV's reflect-101, gives -0.00358 at (0, 0): the border mode matters.)
    }

    /// Displacement statistics of the elastic transform (alpha 50, sigma 7) against scipy's: over 240 x 240
    /// windows (the centre of 320 x 320 fields), 60 fields of NumPy rand * 2 - 1 smoothed by scipy have a
    /// displacement std of 1.149 px and a lag-10 autocorrelation of 0.60 (the 17 x 17 GaussianBlur gives 1.77 px).
    func testElasticDisplacementStatisticsMatchTheReference() throws {
        let n = 320, lo = 40, hi = 280
        let coord = try floatImage(n, n) { x, _ in Float(x) }
        var stds: [Double] = [], corrs: [Double] = []
        for f in 0..<4 {
            var rng = SampleRNG(seed: 7, key: "field\(f)")
            let (dx, dy) = SBI.elasticField(width: n, height: n, rng: &rng)
            let out = try coord.elastic(dx: dx, dy: dy, alpha: 50, sigma: 7, kernel: 0, interpolation: .linear)
            var d = [Double]()
            for y in lo..<hi { for x in lo..<hi { d.append(Double(out.float(x: x, y: y)) - Double(x)) } }
            let mean = d.reduce(0, +) / Double(d.count)
            let a = d.map { $0 - mean }
            let v = a.map { $0 * $0 }.reduce(0, +) / Double(a.count)
            stds.append(v.squareRoot())
            let w = hi - lo
            var c = 0.0, k = 0
            for y in 0..<w { for x in 0..<(w - 10) { c += a[y * w + x] * a[y * w + x + 10]; k += 1 } }
            corrs.append(c / Double(k) / v)
        }
        let std = stds.reduce(0, +) / 4, corr = corrs.reduce(0, +) / 4
        XCTAssertEqual(std, 1.149, accuracy: 0.1 * 1.149, "displacement std \(stds)")
        XCTAssertEqual(corr, 0.60, accuracy: 0.08, "lag-10 autocorrelation \(corrs)")
    }

    // MARK: 4. JPEG colours

    func testPostAugmentJPEGSwapsRedAndBlueByDefault() throws {
        XCTAssertEqual(SBIOptions().jpegColors, .swapped)
        let colour = try image(48, 32) { x, y, c in UInt8((x * 5 + y * 3 + c * 70) % 256) }
        let swapped = try SBI.jpeg(colour, quality: 40, colors: .swapped), correct = try SBI.jpeg(colour, quality: 40, colors: .correct)
        let manual = try colour.swappedRedBlue().jpegRoundTrip(quality: 40).swappedRedBlue()
        XCTAssertEqual(try swapped.encoded(.png(level: 1)), try manual.encoded(.png(level: 1)))
        XCTAssertNotEqual(try swapped.encoded(.png(level: 1)), try correct.encoded(.png(level: 1)))
        XCTAssertEqual(try correct.encoded(.png(level: 1)), try colour.jpegRoundTrip(quality: 40).encoded(.png(level: 1)))
    }

    // MARK: 5. Integer details

    /// albumentations RGBShift on uint8: float shift, float32 table, clip, truncate (floor for in-range values).
    func testRGBShiftAndBrightnessContrastTruncate() throws {
        let img = try image(4, 1) { x, _, _ in [10, 100, 250, 0][x] }
        let s = try SBI.applyRGBShift(img, [-3.7, 19.99, 10.5])   // r, g, b
        // BGR channels: b +10.5, g +19.99, r -3.7
        XCTAssertEqual((0..<4).map { s.byte(x: $0, y: 0, channel: 0) }, [20, 110, 255, 10])
        XCTAssertEqual((0..<4).map { s.byte(x: $0, y: 0, channel: 1) }, [29, 119, 255, 19])
        XCTAssertEqual((0..<4).map { s.byte(x: $0, y: 0, channel: 2) }, [6, 96, 246, 0])
        // brightness 0.1 (25.5 levels): 100 -> 125 (not 126); contrast 0.1 on 101 -> 111.1 -> 111.
        let bc = try SBI.applyBrightnessContrast(try image(2, 1) { x, _, _ in [100, 101][x] }, brightness: 0.1, contrast: 0)
        XCTAssertEqual(bc.byte(x: 0, y: 0, channel: 1), 125)
        let c = try SBI.applyBrightnessContrast(try image(2, 1) { x, _, _ in [100, 101][x] }, brightness: 0, contrast: 0.1)
        XCTAssertEqual(c.byte(x: 1, y: 0, channel: 2), 111)
        // The drawn shifts are floats in [-20, 20].
        var rng = SampleRNG(seed: 1)
        let draws = (0..<300).flatMap { _ in SBI.rgbShift(limit: 20, rng: &rng) }
        XCTAssertTrue(draws.allSatisfy { $0 >= -20 && $0 <= 20 } && draws.contains { $0 != $0.rounded() })
    }

    /// The reference flips landmarks to W - x: flipping inside `pair` equals flipping the frame beforehand with
    /// x -> W - x and the same permutation (every later draw is the same).
    func testFlipMapsLandmarksToWidthMinusX() throws {
        let (img, pts) = try RealFaces.load()[0]
        let W = img.width
        var opts = SBIOptions(); opts.size = 96; opts.postAugment = false
        var on = opts; on.flipProbability = 1
        var off = opts; off.flipProbability = 0
        var r1 = SampleRNG(seed: 2, key: "flip"), r2 = SampleRNG(seed: 2, key: "flip")
        let a = try SBI.pair(frame: img, landmarks: pts, options: on, rng: &r1)
        let perm = try XCTUnwrap(FaceRegions.flipPermutation(count: 68))
        let mirrored = perm.map { Point(Double(W) - pts[$0].x, pts[$0].y) }
        let b = try SBI.pair(frame: try img.flippedHorizontally(), landmarks: mirrored, options: off, rng: &r2)
        for (p, q) in zip(a.landmarks, b.landmarks) { XCTAssertEqual(p.x, q.x, accuracy: 1e-9); XCTAssertEqual(p.y, q.y, accuracy: 1e-9) }
        XCTAssertEqual(try a.fake.encoded(.png(level: 1)), try b.fake.encoded(.png(level: 1)))
    }

    /// The test crop: int() truncation, +1 on the far side, clipped (SBI's crop_face with phase 'test').
    func testMarginCropUsesTheReferenceIntegerArithmetic() throws {
        let box = Box(left: 100.6, top: 50.2, right: 180.3, bottom: 150.9)
        let face = Face(box: box, landmarks: [])
        let r = try CropRule.margin(0.125, .detector).region(for: face, width: 640, height: 480)
        // x0 = int(100.6 - 9.9625) = 90, x1 = int(180.3 + 9.9625) + 1 = 191, y0 = int(50.2 - 12.5875) = 37,
        // y1 = int(150.9 + 12.5875) + 1 = 164.
        XCTAssertEqual(r.x0, 90); XCTAssertEqual(r.x1, 191); XCTAssertEqual(r.y0, 37); XCTAssertEqual(r.y1, 164)
        let edge = try CropRule.margin(0.125, .detector).region(for: Face(box: Box(left: 2, top: 1, right: 630, bottom: 479), landmarks: []),
                                                                width: 640, height: 480)
        XCTAssertEqual(edge.x0, 0); XCTAssertEqual(edge.y0, 0); XCTAssertEqual(edge.x1, 640); XCTAssertEqual(edge.y1, 480)
    }

    // MARK: BBMG blur

    func testBBMGBlurSingleOrSBI() throws {
        let (img, pts) = try RealFaces.load()[0]
        let small = try img.resized(width: img.width / 2, height: img.height / 2)
        let p = pts.map { Point($0.x / 2, $0.y / 2) }
        var single = BBMGOptions(), sbi = BBMGOptions()
        sbi.blurMode = .sbi
        var r1 = SampleRNG(seed: 3, key: "bbmg"), r2 = SampleRNG(seed: 3, key: "bbmg")
        var d1 = Draws(), d2 = Draws()
        single.variant = 3
        let a = try BBMG.frameMask(width: small.width, height: small.height, landmarks: p, options: single, rng: &r1, draws: &d1)
        let b = try BBMG.frameMask(width: small.width, height: small.height, landmarks: p, options: sbi, rng: &r2, draws: &d2)
        XCTAssertNotNil(d1.fields["global_blur"]); XCTAssertNil(d1.fields["global_blur_k2"])
        XCTAssertNotNil(d2.fields["global_blur_k2"]); XCTAssertNotNil(d2.fields["global_blur_sigma2"])
        // SBI's blur divides by the maximum: its mask reaches 1; both stay in [0, 1].
        XCTAssertGreaterThan(b.maxValue, 0.95)
        XCTAssertLessThanOrEqual(a.maxValue, 1 + 1e-5)
        XCTAssertNotEqual(floats(a), floats(b))
    }
}

final class ReferenceTrainingTests: XCTestCase {
    func face(_ side: Double, at x: Double = 0, detector: Double) -> Face {
        var pts: [Point] = []
        for i in 0..<68 { let t = Double(i) / 67; pts.append(Point(x + side * t, 10 + side * (i % 2 == 0 ? t : 1 - t))) }
        var f = Face(box: Box(left: x, top: 10, right: x + detector, bottom: 10 + detector), landmarks: pts)
        f.layout = "ibug68"
        return f
    }

    /// Face 0 is the face with the largest landmark box, whatever the detector's order or box sizes.
    func testFaceZeroIsTheLargestLandmarkBox() {
        let small = face(40, detector: 200), big = face(90, at: 300, detector: 100)
        XCTAssertEqual(SBI.primaryFace([small, big]), 1)
        XCTAssertEqual(SBI.primaryFace([big, small]), 0)
        var noPoints = face(500, detector: 500); noPoints.landmarks = []
        XCTAssertEqual(SBI.primaryFace([noPoints, small]), 1)
        XCTAssertNil(SBI.primaryFace([noPoints]))
        var r = Record(); r.image = "f.png"; r.faces = [small, big]
        let s = TrainSample.from(records: [("x", r)], labelled: false).samples
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].face.landmarks, big.landmarks)
    }

    /// Frames without a face are dropped first, then 8 evenly spaced are taken of the rest: a video of 32
    /// extracted frames with 10 faceless ones still gives 8.
    func testEightFramesAreTakenFromTheFramesWithAFace() {
        var records: [(String, Record)] = []
        for i in 0..<32 {
            var r = Record(); r.image = "v/\(i).png"; r.video = "v.mp4"; r.frame = i * 10
            r.faces = i % 3 == 0 && i < 30 ? [] : [face(60, detector: 60)]
            records.append(("x:\(i)", r))
        }
        let loaded = TrainSample.from(records: records, labelled: false)
        XCTAssertEqual(loaded.withoutFace, 10)
        let kept = TrainSample.evenFrames(loaded.samples, perVideo: 8)
        XCTAssertEqual(kept.count, 8)
    }

    /// --val faces get the recipe's frames per video (even), and validation pairs are fixed unless per-epoch.
    func testValidationFramesAndPairs() throws {
        var samples: [TrainSample] = []
        for v in ["a.mp4", "b.mp4"] { for f in 0..<32 { samples.append(TrainSample(image: "\(v)/\(f).png", face: face(60, detector: 60), video: v, frame: f)) } }
        var r = try Recipe.load("sbi")
        XCTAssertEqual(r.framesPerVideo, 8)
        XCTAssertEqual(TrainSample.validationFrames(samples, recipe: r).count, 16)
        r.frameSelection = .random   // validation stays even
        XCTAssertEqual(TrainSample.validationFrames(samples, recipe: r).map(\.frame), TrainSample.evenFrames(samples, perVideo: 8).map(\.frame))
        r.framesPerVideo = 0
        XCTAssertEqual(TrainSample.validationFrames(samples, recipe: r).count, 64)
        XCTAssertEqual(r.valPairs, .fixed)
        XCTAssertEqual(Trainer.validationTag(.fixed, epoch: 0), Trainer.validationTag(.fixed, epoch: 7))
        XCTAssertNotEqual(Trainer.validationTag(.perEpoch, epoch: 0), Trainer.validationTag(.perEpoch, epoch: 7))
    }

    /// Every paper recipe refuses to start without the ImageNet weights its paper starts from unless told
    /// --from-scratch, naming the published file to fetch; only the demo's recipe leaves it open, and Meso4's RoGA row
    /// (no ImageNet weights exist) and PRLE's Xception zoo member (the paper: only EfficientNet and VGG are ImageNet-
    /// pretrained) say they train from random initialisation.
    func testPaperRecipesNeedPretrainedWeightsOrFromScratch() throws {
        let dir = Fixtures.tempDir("fromscratch")
        try "{\"image\":\"x.png\",\"faces\":[]}\n".write(toFile: dir + "/faces.ndjson", atomically: true, encoding: .utf8)
        let policies = try Dictionary(uniqueKeysWithValues: Recipe.shippedNames.map { ($0, try Recipe.load($0).pretrained) })
        XCTAssertEqual(policies.filter { $0.value != .required }, ["cpu-demo": .optional, "roga-meso4": .none, "prle-zoo-xception": .none])
        for (recipe, policy) in policies.sorted(by: { $0.key < $1.key }) where policy == .required {
            let backbone = try Recipe.load(recipe).backbone
            let tag = try XCTUnwrap(Backbone.entry(backbone)?.pretrained(forRecipe: recipe)?.tag, "\(recipe): no published weights for \(backbone)")
            let run = try runTool("train", [dir + "/faces.ndjson", "-q", "--recipe", recipe, "--out", dir + "/m"])
            XCTAssertEqual(run.status, 1, recipe)
            XCTAssertTrue(run.stderr.contains("--pretrained") && run.stderr.contains("--from-scratch")
                          && run.stderr.contains("fetch-weights.sh \(tag) downloads"), "\(recipe): \(run.stderr)")
            XCTAssertEqual(run.stderrLines.filter { $0.contains("error:") }.count, 1, run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m/last.safetensors"))
        }
        // EfficientNet-B4: SBI's AdvProp file for sbi, the plain ImageNet one for PRLE.
        XCTAssertTrue(try runTool("train", [dir + "/faces.ndjson", "-q", "--recipe", "sbi", "--out", dir + "/m"]).stderr
                      .contains("fetch-weights.sh efficientnet-b4-advprop"))
        XCTAssertTrue(try runTool("train", [dir + "/faces.ndjson", "-q", "--recipe", "prle", "--out", dir + "/m"]).stderr
                      .contains("fetch-weights.sh efficientnet-b4 downloads"))
        // --from-scratch gets past the check (and then fails on the data: no usable face).
        let scratch = try runTool("train", [dir + "/faces.ndjson", "-q", "--recipe", "sbi", "--from-scratch", "--out", dir + "/m"])
        XCTAssertEqual(scratch.status, 1); XCTAssertTrue(scratch.stderr.contains("no usable training faces"), scratch.stderr)
        let both = try runTool("train", [dir + "/faces.ndjson", "--recipe", "sbi", "--from-scratch", "--pretrained", "w.pth", "--out", dir + "/m"])
        XCTAssertNotEqual(both.status, 0); XCTAssertTrue(both.stderr.contains("exclude each other"), both.stderr)
        // A recipe without the requirement (the CPU demo's) trains from whatever it is given.
        XCTAssertEqual(try runTool("train", ["--recipe", "cpu-demo", "--print-recipe"]).stdout.contains("pretrained: \"optional\""), true)
    }
}
