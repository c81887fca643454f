// Training augmentations (DeepfakeBench's pipeline, Sources/DFKSynthesis/Augment.swift): determinism, each
// operation's effect, the frequencies of the draws, landmarks, options.
import DFKImaging
import DFKRecords
@testable import DFKSynthesis
import Foundation
import XCTest

/// Packed BGR bytes of an 8-bit image.
private func pixels(_ img: Image) -> [UInt8] {
    var out = [UInt8](); out.reserveCapacity(img.width * img.height * img.channels)
    img.withBytes { raw in
        for y in 0..<img.height {
            let row = y * img.rowBytes
            for i in 0..<(img.width * img.channels) { out.append(raw[row + i]) }
        }
    }
    return out
}
private func image(_ w: Int, _ h: Int, _ bytes: [UInt8]) throws -> Image {
    try bytes.withUnsafeBytes { try Image(width: w, height: h, channels: 3, data: $0.baseAddress) }
}
/// A textured colour image: gradients, a checkerboard and noise, so every operation has something to change.
private func texture(_ w: Int = 64, _ h: Int = 48, seed: UInt64 = 7) throws -> Image {
    var rng = SampleRNG(seed: seed)
    var b = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h {
        for x in 0..<w {
            let check = ((x / 4 + y / 4) % 2) * 60
            let n = rng.int(0...40)
            b[(y * w + x) * 3 + 0] = UInt8(min(255, 30 + x * 2 + n))
            b[(y * w + x) * 3 + 1] = UInt8(min(255, 40 + check + n))
            b[(y * w + x) * 3 + 2] = UInt8(min(255, 50 + y * 3 + check / 2))
        }
    }
    return try image(w, h, b)
}
private func mean(_ a: [UInt8]) -> Double { Double(a.reduce(0) { $0 + Int($1) }) / Double(a.count) }
private func meanAbsDiff(_ a: [UInt8], _ b: [UInt8]) -> Double {
    Double(zip(a, b).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }) / Double(a.count)
}
/// Sum of squared differences between horizontal and vertical neighbours (high-frequency energy).
private func hfEnergy(_ img: Image) -> Double {
    let p = pixels(img), w = img.width, h = img.height
    var e = 0.0
    for y in 0..<(h - 1) {
        for x in 0..<(w - 1) {
            for c in 0..<3 {
                let v = Double(p[(y * w + x) * 3 + c])
                let dx = Double(p[(y * w + x + 1) * 3 + c]) - v, dy = Double(p[((y + 1) * w + x) * 3 + c]) - v
                e += dx * dx + dy * dy
            }
        }
    }
    return e
}
private func ops(_ d: JSONObject) -> [String] { d["aug_ops"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
/// 68 landmark-like points spread over the image (distinct, inside).
private func points68(_ w: Int, _ h: Int) -> [Point] {
    (0..<68).map { i in Point(Double(5 + (i * 7) % (w - 10)) + 0.25, Double(4 + (i * 5) % (h - 8)) + 0.5) }
}
/// Only the named step, with probability 1.
private func only(_ configure: (inout AugmentOptions) -> Void) -> AugmentOptions {
    var o = AugmentOptions.none
    configure(&o)
    return o
}

final class AugmentTests: XCTestCase {
    /// PIM's six (Sec. V-B): each fires about half the time, in the paper's order, deterministic per seed; the noise
    /// has the drawn spread.
    func testPIMSixTransformsFireHalfTheTimeInOrder() throws {
        let img = try texture()
        var counts: [String: Int] = [:]
        let order = ["flip", "rgb_shift", "hsv", "brightness_contrast", "jpeg", "gauss_noise"]
        for k in 0..<400 {
            var rng = SampleRNG(seed: 3, key: "pim#\(k)")
            let (out, draws) = try PIMAugment.apply(img, rng: &rng)
            let ops = draws["aug_ops"]?.arrayValue?.compactMap(\.stringValue) ?? []
            XCTAssertEqual(ops, order.filter(ops.contains), "out of order: \(ops)")
            for o in ops { counts[o, default: 0] += 1 }
            XCTAssertEqual(out.width, img.width); XCTAssertEqual(out.channels, 3)
            if k < 3 {
                var again = SampleRNG(seed: 3, key: "pim#\(k)")
                XCTAssertEqual(pixels(try PIMAugment.apply(img, rng: &again).image), pixels(out))
            }
        }
        for o in order { XCTAssertEqual(Double(counts[o] ?? 0) / 400, 0.5, accuracy: 0.1, "\(o): \(counts)") }
        // GaussNoise: N(0, sigma) per pixel and channel, clipped: on a mid-grey image the spread is sigma.
        let grey = try image(64, 64, [UInt8](repeating: 128, count: 64 * 64 * 3))
        var rng = SampleRNG(seed: 9)
        let noisy = pixels(try PIMAugment.gaussNoise(grey, sigma: 5, rng: &rng))
        let m = mean(noisy), sd = (noisy.map { (Double($0) - m) * (Double($0) - m) }.reduce(0, +) / Double(noisy.count)).squareRoot()
        XCTAssertEqual(m, 127.5, accuracy: 0.3)   // truncation moves the mean down by about half a level
        XCTAssertEqual(sd, 5, accuracy: 0.3)
    }

    func testDefaultsAreDeepfakeBenchsValues() {
        let o = AugmentOptions()
        XCTAssertEqual(o, .deepfakeBench)
        XCTAssertEqual([o.flipProbability, o.rotateProbability, o.blurProbability, o.colorProbability, o.jpegProbability],
                       [0.5, 0.5, 0.5, 0.5, 0.5])
        XCTAssertEqual(o.rotateDegrees, -10...10)
        XCTAssertEqual(o.blurKernel, 3...7)
        XCTAssertEqual(o.brightness, -0.1...0.1)
        XCTAssertEqual(o.contrast, -0.1...0.1)
        XCTAssertEqual(o.jpegQuality, 40...100)
        XCTAssertEqual([o.hueShift, o.saturationShift, o.valueShift], [-20...20, -30...30, -20...20])
        XCTAssertEqual(o.fancyPCAAlpha, 0.1)
        XCTAssertTrue(AugmentOptions.none.isIdentity)
        XCTAssertFalse(o.isIdentity)
    }

    func testSameSeedGivesSameImageLandmarksAndDraws() throws {
        let img = try texture()
        let pts = points68(img.width, img.height)
        var seen = Set<String>()
        for seed in 0..<12 as Range<UInt64> {
            var r1 = SampleRNG(seed: seed, key: "face"), r2 = SampleRNG(seed: seed, key: "face")
            let a = try Augment.apply(img, landmarks: pts, options: .deepfakeBench, rng: &r1)
            let b = try Augment.apply(img, landmarks: pts, options: .deepfakeBench, rng: &r2)
            XCTAssertEqual(pixels(a.image), pixels(b.image))
            XCTAssertEqual(a.landmarks, b.landmarks)
            XCTAssertEqual(a.draws, b.draws)
            XCTAssertEqual(r1.next(), r2.next(), "the generator advanced differently")
            seen.insert(String(describing: a.draws))
        }
        XCTAssertGreaterThan(seen.count, 8, "different seeds should give different draws")
        // The input is never modified.
        XCTAssertEqual(pixels(img), pixels(try texture()))
    }

    func testNoneIsTheIdentityAndDrawsNothing() throws {
        let img = try texture()
        let pts = points68(img.width, img.height)
        var rng = SampleRNG(seed: 3), copy = rng
        let r = try Augment.apply(img, landmarks: pts, options: .none, rng: &rng)
        XCTAssertEqual(pixels(r.image), pixels(img))
        XCTAssertEqual(r.landmarks, pts)
        XCTAssertEqual(ops(r.draws), [])
        XCTAssertEqual(r.draws.keys, ["aug_ops"])
        XCTAssertEqual(rng.next(), copy.next())
    }

    func testFlipMirrorsPixelsExactlyAndRenumbersLandmarks() throws {
        let img = try texture()
        let w = img.width, h = img.height
        let pts = points68(w, h)
        var rng = SampleRNG(seed: 1)
        let r = try Augment.apply(img, landmarks: pts, options: only { $0.flipProbability = 1 }, rng: &rng)
        XCTAssertEqual(ops(r.draws), ["flip"])
        let a = pixels(img), b = pixels(r.image)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            XCTAssertEqual(b[(y * w + x) * 3 + c], a[(y * w + (w - 1 - x)) * 3 + c])
        } } }
        let out = try XCTUnwrap(r.landmarks)
        let perm = try XCTUnwrap(FaceRegions.flipPermutation(count: 68))
        for i in 0..<68 {
            XCTAssertEqual(out[i].x, Double(w - 1) - pts[perm[i]].x, accuracy: 1e-12)
            XCTAssertEqual(out[i].y, pts[perm[i]].y, accuracy: 1e-12)
        }
        // Right eye outer corner (36) becomes the left eye's (45); flipping twice restores everything.
        XCTAssertEqual(perm[36], 45)
        let back = try Augment.apply(r.image, landmarks: out, options: only { $0.flipProbability = 1 }, rng: &rng)
        XCTAssertEqual(pixels(back.image), a)
        XCTAssertEqual(back.landmarks, pts)
    }

    func testLandmarksWithoutAMirrorLayoutAreRefusedClearly() throws {
        var rng = SampleRNG(seed: 1)
        let pts = [Point(1, 1), Point(2, 2), Point(3, 3)]
        XCTAssertThrowsError(try Augment.apply(try texture(), landmarks: pts, options: only { $0.flipProbability = 1 }, rng: &rng)) {
            XCTAssertTrue("\($0)".contains("3 landmarks"), "\($0)")
        }
        // Without a flip any layout is fine.
        XCTAssertNoThrow(try Augment.apply(try texture(), landmarks: pts, options: only { $0.rotateProbability = 1 }, rng: &rng))
    }

    func testRotationByZeroIsTheIdentity() throws {
        let img = try texture()
        let pts = points68(img.width, img.height)
        var rng = SampleRNG(seed: 2)
        let r = try Augment.apply(img, landmarks: pts, options: only { $0.rotateProbability = 1; $0.rotateDegrees = 0...0 }, rng: &rng)
        XCTAssertEqual(ops(r.draws), ["rotate"])
        XCTAssertEqual(r.draws["aug_rotate"]?.doubleValue, 0)
        XCTAssertEqual(pixels(r.image), pixels(img))
        XCTAssertEqual(r.landmarks, pts)
    }

    func testRotationMovesLandmarksWithThePixels() throws {
        // A bright square on black: its intensity centroid must land where the landmark placed on it goes.
        let w = 80, h = 64
        for (angle, cx, cy) in [(10.0, 58.0, 20.0), (-10.0, 15.0, 45.0), (7.5, 40.0, 12.0)] {
            var b = [UInt8](repeating: 0, count: w * h * 3)
            for y in Int(cy) - 2...Int(cy) + 2 { for x in Int(cx) - 2...Int(cx) + 2 { for c in 0..<3 { b[(y * w + x) * 3 + c] = 250 } } }
            let img = try image(w, h, b)
            var rng = SampleRNG(seed: 4)
            let r = try Augment.apply(img, landmarks: [Point(cx, cy)], options: only { $0.rotateProbability = 1; $0.rotateDegrees = angle...angle }, rng: &rng)
            let p = try XCTUnwrap(r.landmarks?.first)
            let out = pixels(r.image)
            var sx = 0.0, sy = 0.0, s = 0.0
            for y in 0..<h { for x in 0..<w { let v = Double(out[(y * w + x) * 3]); sx += v * Double(x); sy += v * Double(y); s += v } }
            XCTAssertEqual(sx / s, p.x, accuracy: 0.1, "angle \(angle)")
            XCTAssertEqual(sy / s, p.y, accuracy: 0.1, "angle \(angle)")
            // Counter-clockwise as displayed: a point right of the centre moves up for a positive angle.
            if angle > 0 && cx > Double(w) / 2 { XCTAssertLessThan(p.y, cy) }
            XCTAssertEqual(hypot(p.x - 39.5, p.y - 31.5), hypot(cx - 39.5, cy - 31.5), accuracy: 1e-9)
        }
    }

    func testJPEGAtHighQualityIsCloseAndAtLowQualityFurther() throws {
        let face = try Image.read(try Fixtures.media("single_face.jpg"))
        let img = try face.resized(width: 128, height: 128, interpolation: .area)
        var d: [Int: Double] = [:]
        for q in [100, 40] {
            var rng = SampleRNG(seed: 5)
            let r = try Augment.apply(img, landmarks: nil, options: only { $0.jpegProbability = 1; $0.jpegQuality = q...q }, rng: &rng)
            XCTAssertEqual(ops(r.draws), ["jpeg"])
            XCTAssertEqual(r.draws["aug_jpeg"]?.intValue, q)
            d[q] = meanAbsDiff(pixels(img), pixels(r.image))
        }
        XCTAssertLessThan(d[100]!, 1.5)
        XCTAssertGreaterThan(d[40]!, d[100]! * 2)
        // DeepfakeBench's red/blue quirk: the same as swapping around the round trip, and not the same as without.
        var rng = SampleRNG(seed: 5)
        let swapped = try Augment.apply(img, landmarks: nil, options: only { $0.jpegProbability = 1; $0.jpegQuality = 40...40; $0.jpegSwapRedBlue = true }, rng: &rng)
        XCTAssertEqual(pixels(swapped.image), pixels(try img.swappedRedBlue().jpegRoundTrip(quality: 40).swappedRedBlue()))
        XCTAssertNotEqual(pixels(swapped.image), pixels(try img.jpegRoundTrip(quality: 40)))
    }

    func testBlurReducesHighFrequencyEnergyAndDrawsKernelsAsAlbumentations() throws {
        let img = try texture()
        for seed in 0..<6 as Range<UInt64> {
            var rng = SampleRNG(seed: seed)
            let r = try Augment.apply(img, landmarks: nil, options: only { $0.blurProbability = 1 }, rng: &rng)
            let k = try XCTUnwrap(r.draws["aug_blur_kernel"]?.intValue)
            XCTAssertTrue([3, 5, 7].contains(k))
            XCTAssertEqual(r.draws["aug_blur_sigma"]?.doubleValue, 0)
            XCTAssertLessThan(hfEnergy(r.image), 0.5 * hfEnergy(img))
            XCTAssertEqual(pixels(r.image), pixels(try img.blurred(.gaussian, kernel: k, sigma: 0)))
        }
        // albumentations' odd-kernel mapping: 3 (1/5), 4 -> 5, 5 (2/5), 6 -> 7, 7 (2/5).
        var rng = SampleRNG(seed: 11)
        var counts: [Int: Int] = [:]
        let n = 5000
        for _ in 0..<n { counts[Augment.drawBlur(.deepfakeBench, rng: &rng).0, default: 0] += 1 }
        XCTAssertEqual(Set(counts.keys), [3, 5, 7])
        XCTAssertEqual(Double(counts[3]!) / Double(n), 0.2, accuracy: 0.02)
        XCTAssertEqual(Double(counts[5]!) / Double(n), 0.4, accuracy: 0.02)
        XCTAssertEqual(Double(counts[7]!) / Double(n), 0.4, accuracy: 0.02)
    }

    func testBrightnessAndContrastMoveTheMeanAsAlbumentations() throws {
        let img = try texture()
        let m0 = mean(pixels(img))
        func run(_ b: Double, _ c: Double) throws -> (Image, JSONObject) {
            var rng = SampleRNG(seed: 6)
            let r = try Augment.apply(img, landmarks: nil, options: only {
                $0.colorProbability = 1; $0.fancyPCAWeight = 0; $0.hsvWeight = 0
                $0.brightness = b...b; $0.contrast = c...c
            }, rng: &rng)
            return (r.image, r.draws)
        }
        let (up, d) = try run(0.1, 0)
        XCTAssertEqual(ops(d), ["brightness_contrast"])
        XCTAssertEqual(d["aug_brightness_contrast"]?.arrayValue?.compactMap(\.doubleValue), [0.1, 0])
        // trunc(i + 25.5) = i + 25 below saturation (the texture's maximum is under 230).
        XCTAssertEqual(pixels(up), pixels(img).map { $0 + 25 })
        let (down, _) = try run(-0.1, 0)
        XCTAssertLessThan(mean(pixels(down)), m0 - 20)
        let (more, _) = try run(0, 0.1)
        XCTAssertEqual(mean(pixels(more)), m0 * 1.1, accuracy: 0.6)   // truncation loses < 1 level
        let (less, _) = try run(0, -0.1)
        XCTAssertEqual(mean(pixels(less)), m0 * 0.9, accuracy: 0.6)
        // The table truncates as numpy's astype does (1.5 -> 1, 0.9 * 255 = 229.5 -> 229) and saturates.
        let t = Augment.brightnessContrastTable(brightness: 0, contrast: -0.1)
        XCTAssertEqual(t[255], 229)
        XCTAssertEqual(Augment.brightnessContrastTable(brightness: 0.1, contrast: 0.1)[250], 255)
        XCTAssertEqual(Augment.brightnessContrastTable(brightness: -0.1, contrast: 0)[10], 0)
    }

    func testHSVValueShiftBrightensAndHueShiftRotatesColours() throws {
        let img = try texture()
        var rng = SampleRNG(seed: 8)
        let r = try Augment.apply(img, landmarks: nil, options: only {
            $0.colorProbability = 1; $0.fancyPCAWeight = 0; $0.brightnessContrastWeight = 0
            $0.hueShift = 0...0; $0.saturationShift = 0...0; $0.valueShift = 20...20
        }, rng: &rng)
        XCTAssertEqual(ops(r.draws), ["hsv"])
        XCTAssertGreaterThan(mean(pixels(r.image)), mean(pixels(img)) + 5)
        var rng2 = SampleRNG(seed: 8)
        let hue = try Augment.apply(img, landmarks: nil, options: only {
            $0.colorProbability = 1; $0.fancyPCAWeight = 0; $0.brightnessContrastWeight = 0
            $0.hueShift = 60...60; $0.saturationShift = 0...0; $0.valueShift = 0...0
        }, rng: &rng2)
        XCTAssertEqual(pixels(hue.image), pixels(try img.hsvShifted(hue: 60, saturation: 0, value: 0)))
        XCTAssertGreaterThan(meanAbsDiff(pixels(hue.image), pixels(img)), 10)
    }

    func testFancyPCAUsesTheColourCovarianceEigenpairs() throws {
        let img = try texture()
        let cov = Augment.rgbCovariance(img)
        let (vals, vecs) = Augment.symmetricEigen(cov)
        XCTAssertGreaterThanOrEqual(vals[0], vals[1]); XCTAssertGreaterThanOrEqual(vals[1], vals[2])
        for j in 0..<3 {
            for r in 0..<3 {   // C v = lambda v
                let cv = (0..<3).reduce(0.0) { $0 + cov[r][$1] * vecs[$1][j] }
                XCTAssertEqual(cv, vals[j] * vecs[r][j], accuracy: 1e-12)
            }
            for k in 0..<3 {   // orthonormal
                XCTAssertEqual((0..<3).reduce(0.0) { $0 + vecs[$1][j] * vecs[$1][k] }, j == k ? 1 : 0, accuracy: 1e-12)
            }
        }
        // Covariance against a direct two-pass computation (numpy.cov, N - 1).
        let p = pixels(img), n = img.width * img.height
        var rgb: [[Double]] = []
        for k in 0..<n {
            let r = Double(p[k * 3 + 2]) / 255, g = Double(p[k * 3 + 1]) / 255, b = Double(p[k * 3]) / 255
            rgb.append([r, g, b])
        }
        var mu = [0.0, 0.0, 0.0]
        for v in rgb { for c in 0..<3 { mu[c] += v[c] / Double(n) } }
        var c01 = 0.0
        for v in rgb { c01 += (v[0] - mu[0]) * (v[1] - mu[1]) }
        c01 /= Double(n - 1)
        XCTAssertEqual(cov[0][1], c01, accuracy: 1e-12)
        // alpha 0 changes nothing; otherwise the shift is V^T (alpha lambda) * 255, added per channel and truncated.
        XCTAssertEqual(Augment.fancyPCAShift(img, alpha: 0), [0, 0, 0])
        var rng = SampleRNG(seed: 9)
        let r = try Augment.apply(img, landmarks: nil, options: only {
            $0.colorProbability = 1; $0.brightnessContrastWeight = 0; $0.hsvWeight = 0; $0.fancyPCAAlpha = 5
        }, rng: &rng)
        XCTAssertEqual(ops(r.draws), ["fancy_pca"])
        let alpha = try XCTUnwrap(r.draws["aug_fancy_pca"]?.doubleValue)
        let shift = Augment.fancyPCAShift(img, alpha: alpha)
        // V^T (alpha lambda) * 255 with the documented signs: first eigenvector summing negative, second with a
        // negative red and third with a positive blue component.
        var v = vecs
        if v[0][0] + v[1][0] + v[2][0] > 0 { for r in 0..<3 { v[r][0] = -v[r][0] } }
        if v[0][1] > 0 { for r in 0..<3 { v[r][1] = -v[r][1] } }
        if v[2][2] < 0 { for r in 0..<3 { v[r][2] = -v[r][2] } }
        for i in 0..<3 {
            let expect = (0..<3).reduce(0.0) { $0 + v[$1][i] * alpha * vals[$1] } * 255
            XCTAssertEqual(shift[i], expect, accuracy: 1e-3)   // alpha as recorded (6 decimals)
        }
        let out = pixels(r.image)
        let exact = Augment.fancyPCAShift(img, alpha: alpha)
        for k in 0..<n {
            for (c, s) in [(2, exact[0]), (1, exact[1]), (0, exact[2])] {
                let want = UInt8(min(max(Double(p[k * 3 + c]) + s, 0), 255).rounded(.towardZero))
                XCTAssertLessThanOrEqual(abs(Int(out[k * 3 + c]) - Int(want)), 1)
            }
        }
        XCTAssertGreaterThan(meanAbsDiff(out, p), 0.5)
    }

    func testEachStepFiresWithItsProbability() throws {
        let img = try texture(8, 8)
        let n = 2000
        var counts: [String: Int] = [:]
        var rng = SampleRNG(seed: 2024)
        for _ in 0..<n {
            for op in ops(try Augment.apply(img, landmarks: nil, options: .deepfakeBench, rng: &rng).draws) { counts[op, default: 0] += 1 }
        }
        func freq(_ k: String) -> Double { Double(counts[k, default: 0]) / Double(n) }
        for k in ["flip", "rotate", "blur", "jpeg"] { XCTAssertEqual(freq(k), 0.5, accuracy: 0.03, k) }
        XCTAssertEqual(freq("brightness_contrast") + freq("fancy_pca") + freq("hsv"), 0.5, accuracy: 0.03)
        for k in ["brightness_contrast", "fancy_pca", "hsv"] { XCTAssertEqual(freq(k), 0.5 / 3, accuracy: 0.025, k) }
        // Other probabilities are honoured too.
        var o = AugmentOptions.none
        o.flipProbability = 0.2; o.jpegProbability = 0.9
        var c2: [String: Int] = [:]
        for _ in 0..<n { for op in ops(try Augment.apply(img, landmarks: nil, options: o, rng: &rng).draws) { c2[op, default: 0] += 1 } }
        XCTAssertEqual(Double(c2["flip", default: 0]) / Double(n), 0.2, accuracy: 0.025)
        XCTAssertEqual(Double(c2["jpeg", default: 0]) / Double(n), 0.9, accuracy: 0.02)
        XCTAssertEqual(Set(c2.keys), ["flip", "jpeg"])
    }

    func testDrawsRecordEveryFiredStepInOrderWithItsParameters() throws {
        let img = try texture()
        var o = AugmentOptions()
        o.flipProbability = 1; o.rotateProbability = 1; o.blurProbability = 1; o.colorProbability = 1; o.jpegProbability = 1
        var rng = SampleRNG(seed: 12)
        let r = try Augment.apply(img, landmarks: points68(img.width, img.height), options: o, rng: &rng)
        let fired = ops(r.draws)
        XCTAssertEqual(fired.count, 5)
        XCTAssertEqual(Array(fired[0..<3]), ["flip", "rotate", "blur"])
        XCTAssertTrue(["brightness_contrast", "fancy_pca", "hsv"].contains(fired[3]))
        XCTAssertEqual(fired[4], "jpeg")
        let angle = try XCTUnwrap(r.draws["aug_rotate"]?.doubleValue)
        XCTAssertTrue((-10...10).contains(angle))
        XCTAssertTrue((40...100).contains(try XCTUnwrap(r.draws["aug_jpeg"]?.intValue)))
        XCTAssertNotNil(r.draws["aug_blur_kernel"])
        XCTAssertEqual(r.image.width, img.width); XCTAssertEqual(r.image.height, img.height)
    }

    func testOptionsDecodeWithDefaultsRejectUnknownKeysAndValidate() throws {
        let dec = JSONDecoder(), enc = JSONEncoder()
        var o = AugmentOptions()
        o.rotateProbability = 0; o.jpegQuality = 60...90; o.jpegSwapRedBlue = true
        XCTAssertEqual(try dec.decode(AugmentOptions.self, from: try enc.encode(o)), o)
        let partial = try dec.decode(AugmentOptions.self, from: Data(#"{"rotateProbability": 0, "blurKernel": [3, 5]}"#.utf8))
        XCTAssertEqual(partial.rotateProbability, 0)
        XCTAssertEqual(partial.blurKernel, 3...5)
        XCTAssertEqual(partial.flipProbability, 0.5)
        XCTAssertThrowsError(try dec.decode(AugmentOptions.self, from: Data(#"{"flipProb": 0.5}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("flipProb"), "\($0)")
        }
        var rng = SampleRNG(seed: 1)
        for (bad, field) in [(only { $0.flipProbability = 1.5 }, "flipProbability"), (only { $0.blurKernel = 2...7 }, "blurKernel"),
                             (only { $0.jpegQuality = 40...101 }, "jpegQuality")] {
            XCTAssertThrowsError(try Augment.apply(try texture(), landmarks: nil, options: bad, rng: &rng)) {
                XCTAssertTrue("\($0)".contains(field), "\($0)")
            }
        }
        let gray = try Image(width: 8, height: 8, channels: 1)
        XCTAssertThrowsError(try Augment.apply(gray, landmarks: nil, options: .deepfakeBench, rng: &rng)) {
            XCTAssertTrue("\($0)".contains("3-channel"), "\($0)")
        }
    }

    /// Numerical parity with albumentations 1.1.0 (DeepfakeBench's pin) on a real face crop, in the venv
    /// scripts/setup.sh makes at .cache/augment-venv (scripts/augment-venv.txt); without it the test fails.
    /// The frames are RGB on DeepfakeBench's side, BGR here.
    func testMatchesAlbumentations110() throws {
        let python = Fixtures.cache.appendingPathComponent("augment-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return XCTFail("no .cache/augment-venv: run `make setup` (scripts/setup.sh creates it)")
        }
        let dir = Fixtures.tempDir()
        let face = try Image.read(try Fixtures.media("single_face.jpg"))
        let img = try face.resized(width: 96, height: 80, interpolation: .area)
        try img.write(to: dir + "/in.png", format: .png(level: 1))
        let pts = points68(img.width, img.height)
        try JSONSerialization.data(withJSONObject: pts.map { [$0.x, $0.y] }).write(to: URL(fileURLWithPath: dir + "/pts.json"))
        let script = """
        import json, sys, cv2, numpy as np
        import albumentations as A
        import albumentations.augmentations.functional as F
        import albumentations.augmentations.geometric.functional as G
        assert A.__version__ == "1.1.0", A.__version__
        d = sys.argv[1]
        bgr = cv2.imread(d + "/in.png"); rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        def save(name, out_rgb): cv2.imwrite(d + "/" + name + ".png", cv2.cvtColor(out_rgb, cv2.COLOR_RGB2BGR))
        for k in (3, 5, 7): save("blur%d" % k, F.gaussian_blur(rgb, k, sigma=0))
        save("bc", F.brightness_contrast_adjust(rgb, alpha=1 - 0.073, beta=0.061, beta_by_max=True))
        save("hsv", F.shift_hsv(rgb, 12.7, -17.3, 9.9))
        save("pca", F.fancy_pca(rgb, 0.85))
        save("jpeg", F.image_compression(rgb, 47, ".jpg"))
        save("rot", G.rotate(rgb, 7.3))
        h, w = rgb.shape[:2]
        pts = json.load(open(d + "/pts.json"))
        rot = [list(map(float, G.keypoint_rotate((x, y, 0, 1), 7.3, h, w)[:2])) for x, y in pts]
        json.dump({"rot": rot}, open(d + "/out.json", "w"))
        """
        try script.write(toFile: dir + "/parity.py", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [dir + "/parity.py", dir]
        let err = Pipe(); p.standardError = err
        try p.run(); p.waitUntilExit()
        let msg = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard p.terminationStatus == 0 else {
            return XCTFail("parity script failed: \(msg)")
        }
        func ref(_ name: String) throws -> [UInt8] { pixels(try Image.read(dir + "/\(name).png")) }

        for k in [3, 5, 7] { XCTAssertEqual(pixels(try img.blurred(.gaussian, kernel: k, sigma: 0)), try ref("blur\(k)"), "blur \(k)") }
        XCTAssertEqual(pixels(try img.lookedUp([Augment.brightnessContrastTable(brightness: 0.061, contrast: -0.073)])), try ref("bc"))
        XCTAssertEqual(pixels(try img.hsvShifted(hue: 12.7, saturation: -17.3, value: 9.9)), try ref("hsv"))
        // FancyPCA: equal up to the eigenvector signs numpy happens to return (each flips one channel's shift).
        let shift = Augment.fancyPCAShift(img, alpha: 0.85), pca = try ref("pca")
        var matched: [Double]?
        for signs in 0..<8 {
            let s = (0..<3).map { shift[$0] * ((signs >> $0) & 1 == 1 ? -1 : 1) }
            if pixels(try img.lookedUp(Augment.fancyPCATables(shiftRGB: s))) == pca { matched = s; break }
        }
        XCTAssertNotNil(matched, "FancyPCA differs from albumentations beyond eigenvector signs (shift \(shift))")
        XCTAssertEqual(matched, shift, "our sign convention should agree with numpy's on this face")
        XCTAssertGreaterThan(meanAbsDiff(pca, pixels(img)), 0.3)
        // JPEG of RGB data taken for BGR = our jpegSwapRedBlue; libjpeg builds may differ by a level.
        var rng = SampleRNG(seed: 1)
        let jpeg = try Augment.apply(img, landmarks: nil, options: only { $0.jpegProbability = 1; $0.jpegQuality = 47...47; $0.jpegSwapRedBlue = true }, rng: &rng)
        XCTAssertLessThan(meanAbsDiff(pixels(jpeg.image), try ref("jpeg")), 0.05)
        // Rotation: albumentations 1.1.0 turns the image about (W/2, H/2) - the same warp with that centre is
        // identical - and keypoints about ((W-1)/2, (H-1)/2), our centre for both.
        let m = Augment.rotationMatrix(degrees: 7.3, width: img.width + 1, height: img.height + 1)
        XCTAssertEqual(pixels(try img.warpedAffine(m, width: img.width, height: img.height, interpolation: .linear, border: .reflect101)), try ref("rot"))
        let out = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out.json"))) as! [String: [[Double]]]
        var rng2 = SampleRNG(seed: 1)
        let rotated = try Augment.apply(img, landmarks: pts, options: only { $0.rotateProbability = 1; $0.rotateDegrees = 7.3...7.3 }, rng: &rng2)
        for (a, b) in zip(try XCTUnwrap(rotated.landmarks), out["rot"]!) {
            XCTAssertEqual(a.x, b[0], accuracy: 1e-4); XCTAssertEqual(a.y, b[1], accuracy: 1e-4)
        }
    }
}
