// Training augmentations for supervised (real + fake) training with DeepfakeBench's defaults, natively: the same
// operations, parameter ranges and uint8 arithmetic as DeepfakeBench's albumentations pipeline (docs/training.md,
// "Augmentations"), drawn from a SampleRNG so every sample is reproducible and every draw is recorded.
//
// Fixed order (DeepfakeBench's Compose order; its IsotropicResize is the identity on crops already at the
// training resolution and is left to the caller's crop):
//   1. horizontal flip  2. rotation  3. Gaussian blur  4. one of {brightness/contrast, FancyPCA, HSV shift}
//   5. JPEG round trip
import DFKImaging
import DFKRecords
import Foundation

public struct AugmentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Every probability and range of the augmentation pipeline. The defaults are DeepfakeBench's (its detector
/// configs' `data_aug` block and the values hard-coded in `init_data_aug_method`, with albumentations' own
/// defaults for FancyPCA and HueSaturationValue). Decoding fills missing keys with the defaults and rejects
/// unknown keys.
public struct AugmentOptions: Codable, Sendable, Equatable {
    /// HorizontalFlip (`flip_prob`).
    public var flipProbability = 0.5
    /// Rotate (`rotate_prob`, `rotate_limit`): angle uniform in the range, degrees, counter-clockwise; bilinear,
    /// reflect-101 border, about the image centre.
    public var rotateProbability = 0.5
    public var rotateDegrees: ClosedRange<Double> = -10...10
    /// GaussianBlur (`blur_prob`, `blur_limit`): odd kernel bounds drawn as albumentations does (an even draw k
    /// becomes (k + 1) mod (upper + 1)); sigma uniform in `blurSigma`, 0 meaning OpenCV's sigma for the kernel.
    public var blurProbability = 0.5
    public var blurKernel: ClosedRange<Int> = 3...7
    public var blurSigma: ClosedRange<Double> = 0...0
    /// OneOf (p 0.5, hard-coded in DeepfakeBench) over three colour transforms chosen by weight (albumentations
    /// normalises the member transforms' p, all 0.5 there: equal weights).
    public var colorProbability = 0.5
    public var brightnessContrastWeight = 1.0
    public var fancyPCAWeight = 1.0
    public var hsvWeight = 1.0
    /// RandomBrightnessContrast (`brightness_limit`, `contrast_limit`): out = in * (1 + c) + b * 255.
    public var brightness: ClosedRange<Double> = -0.1...0.1
    public var contrast: ClosedRange<Double> = -0.1...0.1
    /// FancyPCA: alpha ~ N(0, fancyPCAAlpha) (albumentations' default 0.1).
    public var fancyPCAAlpha = 0.1
    /// HueSaturationValue (albumentations' defaults): shifts in OpenCV 8-bit HSV units (hue 0-179).
    public var hueShift: ClosedRange<Double> = -20...20
    public var saturationShift: ClosedRange<Double> = -30...30
    public var valueShift: ClosedRange<Double> = -20...20
    /// ImageCompression (p 0.5 hard-coded; `quality_lower`, `quality_upper`): JPEG quality uniform integer.
    public var jpegProbability = 0.5
    public var jpegQuality: ClosedRange<Int> = 40...100
    /// DeepfakeBench hands RGB arrays to cv2.imencode, which takes them for BGR, so its JPEG treats red as blue.
    /// true reproduces that; false (default) compresses the true colours.
    public var jpegSwapRedBlue = false

    public init() {}

    /// DeepfakeBench's defaults (the same as `AugmentOptions()`).
    public static let deepfakeBench = AugmentOptions()
    /// Every operation off: `apply` returns its input and draws nothing.
    public static let none: AugmentOptions = {
        var o = AugmentOptions()
        o.flipProbability = 0; o.rotateProbability = 0; o.blurProbability = 0
        o.colorProbability = 0; o.jpegProbability = 0
        return o
    }()

    /// True when no operation can fire.
    public var isIdentity: Bool {
        flipProbability <= 0 && rotateProbability <= 0 && blurProbability <= 0 && colorProbability <= 0 && jpegProbability <= 0
    }

    /// Checks every field; the message names the field and what is wrong.
    public func validate() throws {
        for (name, p) in [("flipProbability", flipProbability), ("rotateProbability", rotateProbability),
                          ("blurProbability", blurProbability), ("colorProbability", colorProbability),
                          ("jpegProbability", jpegProbability)] where !(p >= 0 && p <= 1) {
            throw AugmentError("augmentation option \(name) must be in [0, 1], got \(p)")
        }
        for (name, r) in [("rotateDegrees", rotateDegrees), ("blurSigma", blurSigma), ("brightness", brightness),
                          ("contrast", contrast), ("hueShift", hueShift), ("saturationShift", saturationShift),
                          ("valueShift", valueShift)] where !(r.lowerBound.isFinite && r.upperBound.isFinite) {
            throw AugmentError("augmentation option \(name) must be a finite range, got \(r)")
        }
        if blurSigma.lowerBound < 0 { throw AugmentError("augmentation option blurSigma must not be negative, got \(blurSigma)") }
        if blurKernel.lowerBound < 1 || blurKernel.lowerBound % 2 == 0 || blurKernel.upperBound % 2 == 0 {
            throw AugmentError("augmentation option blurKernel needs odd positive bounds, got \(blurKernel)")
        }
        if jpegQuality.lowerBound < 0 || jpegQuality.upperBound > 100 {
            throw AugmentError("augmentation option jpegQuality must lie in 0...100, got \(jpegQuality)")
        }
        let weights = [brightnessContrastWeight, fancyPCAWeight, hsvWeight]
        if weights.contains(where: { !($0 >= 0 && $0.isFinite) }) || (colorProbability > 0 && weights.reduce(0, +) <= 0) {
            throw AugmentError("augmentation colour weights must be non-negative with a positive sum, got \(weights)")
        }
        if !(fancyPCAAlpha >= 0 && fancyPCAAlpha.isFinite) {
            throw AugmentError("augmentation option fancyPCAAlpha must be a non-negative number, got \(fancyPCAAlpha)")
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case flipProbability, rotateProbability, rotateDegrees, blurProbability, blurKernel, blurSigma
        case colorProbability, brightnessContrastWeight, fancyPCAWeight, hsvWeight, brightness, contrast
        case fancyPCAAlpha, hueShift, saturationShift, valueShift, jpegProbability, jpegQuality, jpegSwapRedBlue
    }
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let bad = any.allKeys.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(forKey: bad, in: any,
                debugDescription: "unknown augmentation option \"\(bad.stringValue)\" (known: \(CodingKeys.allCases.map(\.stringValue).joined(separator: ", ")))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AugmentOptions()
        func get<T: Decodable>(_ k: CodingKeys, _ def: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? def }
        flipProbability = try get(.flipProbability, d.flipProbability)
        rotateProbability = try get(.rotateProbability, d.rotateProbability)
        rotateDegrees = try get(.rotateDegrees, d.rotateDegrees)
        blurProbability = try get(.blurProbability, d.blurProbability)
        blurKernel = try get(.blurKernel, d.blurKernel)
        blurSigma = try get(.blurSigma, d.blurSigma)
        colorProbability = try get(.colorProbability, d.colorProbability)
        brightnessContrastWeight = try get(.brightnessContrastWeight, d.brightnessContrastWeight)
        fancyPCAWeight = try get(.fancyPCAWeight, d.fancyPCAWeight)
        hsvWeight = try get(.hsvWeight, d.hsvWeight)
        brightness = try get(.brightness, d.brightness)
        contrast = try get(.contrast, d.contrast)
        fancyPCAAlpha = try get(.fancyPCAAlpha, d.fancyPCAAlpha)
        hueShift = try get(.hueShift, d.hueShift)
        saturationShift = try get(.saturationShift, d.saturationShift)
        valueShift = try get(.valueShift, d.valueShift)
        jpegProbability = try get(.jpegProbability, d.jpegProbability)
        jpegQuality = try get(.jpegQuality, d.jpegQuality)
        jpegSwapRedBlue = try get(.jpegSwapRedBlue, d.jpegSwapRedBlue)
    }
}

public enum Augment {
    /// The colour transforms of step 4, in the order of their weights.
    public enum ColorOp: String, Sendable, CaseIterable { case brightnessContrast = "brightness_contrast", fancyPCA = "fancy_pca", hsv }

    /// Augments one 8-bit BGR image (and its landmarks, if given: 5, 68 or 81 points) in the fixed order of the
    /// file header. Each step draws `chance(p)` (skipped when p is 0) and, when it fires, its parameters.
    /// `draws` holds "aug_ops" (the steps that fired, in order) and each fired step's parameters:
    /// aug_rotate (degrees), aug_blur_kernel, aug_blur_sigma, aug_brightness_contrast ([b, c]), aug_fancy_pca
    /// (alpha) with aug_fancy_pca_shift (the [r, g, b] levels added), aug_hsv ([h, s, v]), aug_jpeg (quality).
    /// The result may be the input instance itself when nothing fired.
    public static func apply(_ image: Image, landmarks: [Point]?, options: AugmentOptions,
                             rng: inout SampleRNG) throws -> (image: Image, landmarks: [Point]?, draws: JSONObject) {
        try options.validate()
        guard image.channels == 3, !image.isFloat else {
            throw AugmentError("augmentation needs an 8-bit 3-channel image, got \(image.channels) channel(s)\(image.isFloat ? " float" : "")")
        }
        let W = image.width, H = image.height
        var img = image, pts = landmarks
        var draws = Draws()
        var ops: [String] = []
        func fires(_ p: Double) -> Bool { p > 0 && rng.chance(p) }

        // 1. Horizontal flip, landmarks mirrored (x -> W - 1 - x) and renumbered left <-> right.
        if fires(options.flipProbability) {
            ops.append("flip")
            img = try img.flippedHorizontally()
            if let p = pts {
                guard let f = FaceRegions.flip(p, width: W) else {
                    throw AugmentError("cannot flip \(p.count) landmarks: no left/right permutation for that layout (5, 68 or 81 points)")
                }
                pts = f
            }
        }
        // 2. Rotation about the image centre; landmarks by the same matrix.
        if fires(options.rotateProbability) {
            let angle = rng.uniform(options.rotateDegrees.lowerBound, options.rotateDegrees.upperBound)
            ops.append("rotate"); draws.set("aug_rotate", angle)
            let m = rotationMatrix(degrees: angle, width: W, height: H)
            img = try img.warpedAffine(m, width: W, height: H, interpolation: .linear, border: .reflect101)
            pts = pts?.map { Point(m[0] * $0.x + m[1] * $0.y + m[2], m[3] * $0.x + m[4] * $0.y + m[5]) }
        }
        // 3. Gaussian blur.
        if fires(options.blurProbability) {
            let (k, sigma) = drawBlur(options, rng: &rng)
            ops.append("blur"); draws.set("aug_blur_kernel", k); draws.set("aug_blur_sigma", sigma)
            img = try img.blurred(.gaussian, kernel: k, sigma: sigma)
        }
        // 4. One colour transform.
        if fires(options.colorProbability) {
            let weights = [options.brightnessContrastWeight, options.fancyPCAWeight, options.hsvWeight]
            var u = rng.unit() * weights.reduce(0, +)
            var op = ColorOp.allCases.last!
            for (i, w) in weights.enumerated() where w > 0 {
                if u < w { op = ColorOp.allCases[i]; break }
                u -= w
            }
            ops.append(op.rawValue)
            switch op {
            case .brightnessContrast:
                // albumentations draws the contrast factor first.
                let c = rng.uniform(options.contrast.lowerBound, options.contrast.upperBound)
                let b = rng.uniform(options.brightness.lowerBound, options.brightness.upperBound)
                draws.set("aug_brightness_contrast", [b, c])
                img = try img.lookedUp([brightnessContrastTable(brightness: b, contrast: c)])
            case .fancyPCA:
                let alpha = rng.gaussian() * options.fancyPCAAlpha
                let shift = fancyPCAShift(img, alpha: alpha)
                draws.set("aug_fancy_pca", alpha); draws.set("aug_fancy_pca_shift", shift)
                img = try img.lookedUp(fancyPCATables(shiftRGB: shift))
            case .hsv:
                let h = rng.uniform(options.hueShift.lowerBound, options.hueShift.upperBound)
                let s = rng.uniform(options.saturationShift.lowerBound, options.saturationShift.upperBound)
                let v = rng.uniform(options.valueShift.lowerBound, options.valueShift.upperBound)
                draws.set("aug_hsv", [h, s, v])
                if h != 0 || s != 0 || v != 0 { img = try img.hsvShifted(hue: h, saturation: s, value: v) }
            }
        }
        // 5. JPEG round trip.
        if fires(options.jpegProbability) {
            let q = rng.int(options.jpegQuality)
            ops.append("jpeg"); draws.set("aug_jpeg", q)
            if options.jpegSwapRedBlue {
                img = try img.swappedRedBlue().jpegRoundTrip(quality: q).swappedRedBlue()
            } else {
                img = try img.jpegRoundTrip(quality: q)
            }
        }
        var out = Draws()
        out.set("aug_ops", .array(ops.map { .string($0) }))
        for (k, v) in draws.fields { out.set(k, v) }
        return (img, pts, out.fields)
    }

    /// OpenCV's getRotationMatrix2D about the pixel-centre of the image ((W-1)/2, (H-1)/2), scale 1: positive
    /// angles turn the picture counter-clockwise as displayed. Row-major 2x3, mapping source to destination.
    public static func rotationMatrix(degrees: Double, width: Int, height: Int) -> [Double] {
        let r = degrees * .pi / 180
        let a = cos(r), b = sin(r)
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        return [a, b, (1 - a) * cx - b * cy, -b, a, b * cx + (1 - a) * cy]
    }

    /// albumentations' GaussianBlur draw: k uniform in the integer range, an even k becomes (k + 1) mod (upper + 1)
    /// (for 3...7: P(3) = 1/5, P(5) = P(7) = 2/5); sigma uniform in the sigma range.
    static func drawBlur(_ o: AugmentOptions, rng: inout SampleRNG) -> (Int, Double) {
        var k = rng.int(o.blurKernel)
        if k != 0 && k % 2 != 1 { k = (k + 1) % (o.blurKernel.upperBound + 1) }
        let sigma = rng.uniform(o.blurSigma.lowerBound, o.blurSigma.upperBound)
        return (k, sigma)
    }

    /// albumentations' uint8 brightness/contrast table: float32 i * (1 + c) + b * 255, clipped to [0, 255] and
    /// truncated (numpy's astype), not rounded.
    public static func brightnessContrastTable(brightness b: Double, contrast c: Double) -> [UInt8] {
        let alpha = Float(1 + c), beta = Float(b * 255)
        return (0..<256).map { i in
            var v = Float(i)
            if alpha != 1 { v *= alpha }
            if beta != 0 { v += beta }
            return UInt8(min(max(v, 0), 255).rounded(.towardZero))
        }
    }

    /// albumentations' fancy_pca: the RGB covariance (x/255, N-1 normalisation) is diagonalised, eigenpairs sorted
    /// by decreasing eigenvalue, and the added vector is column_stack(V) @ (alpha * lambda) = V^T (alpha * lambda)
    /// (albumentations' own formula, which transposes the paper's V), times 255. Eigenvector signs are not fixed by
    /// numpy (LAPACK decides) and change the result under that formula; here the first eigenvector's components sum
    /// to a negative number, the second's red component is negative and the third's blue component is positive,
    /// which is what numpy returns on 89% of 1000 random crops of the test media (each rule alone: 88%, 92%, 93%).
    /// Returns the [r, g, b] shift in 8-bit levels.
    public static func fancyPCAShift(_ img: Image, alpha: Double) -> [Double] {
        let (vals, v0) = symmetricEigen(rgbCovariance(img))
        var vecs = v0
        let flip = [vecs[0][0] + vecs[1][0] + vecs[2][0] > 0, vecs[0][1] > 0, vecs[2][2] < 0]
        for j in 0..<3 where flip[j] { for r in 0..<3 { vecs[r][j] = -vecs[r][j] } }
        var shift = [0.0, 0.0, 0.0]
        for i in 0..<3 {
            var s = 0.0
            for j in 0..<3 { s += vecs[j][i] * alpha * vals[j] }
            shift[i] = s * 255
        }
        return shift
    }

    /// Per-channel tables for an [r, g, b] shift on a BGR image: trunc(clip(i + shift, 0, 255)).
    static func fancyPCATables(shiftRGB s: [Double]) -> [[UInt8]] {
        [s[2], s[1], s[0]].map { d in (0..<256).map { i in UInt8(min(max(Double(i) + d, 0), 255).rounded(.towardZero)) } }
    }

    /// Covariance of the pixels' (r, g, b) / 255 with N - 1 normalisation (numpy.cov).
    static func rgbCovariance(_ img: Image) -> [[Double]] {
        let W = img.width, H = img.height, n = W * H
        // Integer sums are exact (255^2 * 2^32 pixels would still fit in 64 bits).
        var sr = 0, sg = 0, sb = 0, rr = 0, rg = 0, rb = 0, gg = 0, gb = 0, bb = 0
        img.withBytes { raw in
            let row = img.rowBytes
            for y in 0..<H {
                var o = y * row
                for _ in 0..<W {
                    let b = Int(raw[o]), g = Int(raw[o + 1]), r = Int(raw[o + 2])   // BGR
                    sr += r; sg += g; sb += b
                    rr += r * r; rg += r * g; rb += r * b; gg += g * g; gb += g * b; bb += b * b
                    o += 3
                }
            }
        }
        let sum = [Double(sr), Double(sg), Double(sb)]
        let prod = [Double(rr), Double(rg), Double(rb), 0, Double(gg), Double(gb), 0, 0, Double(bb)]
        var cov = [[Double]](repeating: [0, 0, 0], count: 3)
        guard n > 1 else { return cov }
        for a in 0..<3 {
            for b in a..<3 {
                let c = (prod[a * 3 + b] - sum[a] * sum[b] / Double(n)) / Double(n - 1) / (255 * 255)
                cov[a][b] = c; cov[b][a] = c
            }
        }
        return cov
    }

    /// Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations: eigenvalues in decreasing order,
    /// vecs[row][column] with column j the eigenvector of vals[j], each with its largest-magnitude component positive.
    public static func symmetricEigen(_ m: [[Double]]) -> (vals: [Double], vecs: [[Double]]) {
        var a = m
        var v: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        for _ in 0..<50 {
            let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2]
            if off < 1e-30 { break }
            for (p, q) in [(0, 1), (0, 2), (1, 2)] where a[p][q] != 0 {
                let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<3 {  // A <- A J (columns p, q)
                    let akp = a[k][p], akq = a[k][q]
                    a[k][p] = c * akp - s * akq; a[k][q] = s * akp + c * akq
                }
                for k in 0..<3 {  // A <- J^T A (rows p, q)
                    let apk = a[p][k], aqk = a[q][k]
                    a[p][k] = c * apk - s * aqk; a[q][k] = s * apk + c * aqk
                }
                for k in 0..<3 {
                    let vkp = v[k][p], vkq = v[k][q]
                    v[k][p] = c * vkp - s * vkq; v[k][q] = s * vkp + c * vkq
                }
            }
        }
        let order = [0, 1, 2].sorted { a[$0][$0] > a[$1][$1] }
        let vals = order.map { a[$0][$0] }
        var vecs = [[Double]](repeating: [0, 0, 0], count: 3)
        for (j, src) in order.enumerated() {
            var col = (0..<3).map { v[$0][src] }
            let big = col.max { abs($0) < abs($1) }!
            if big < 0 { col = col.map { -$0 } }
            for r in 0..<3 { vecs[r][j] = col[r] }
        }
        return (vals, vecs)
    }
}

extension SampleRNG {
    /// Standard normal draw (Box-Muller, two uniforms).
    public mutating func gaussian() -> Double {
        let u1 = unit(), u2 = unit()
        return (-2 * log(1 - u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// PIM's training augmentations (pim-gradient-regularization.txt, Sec. V-B, Table IV "with augmentation"):
/// HorizontalFlip, RGBShift, HueSaturationValue, RandomBrightnessContrast, ImageCompression and GaussNoise, in that
/// order, each applied independently with probability 0.5. The paper names the transforms only; their parameters
/// are albumentations' defaults (RGBShift +-20 per channel; HSV +-20 / 30 / 20; brightness and contrast +-0.2;
/// JPEG quality 99-100; Gaussian noise of variance 10-50 per pixel and channel), a reading recorded on the card.
public enum PIMAugment {
    public static let probability = 0.5

    /// The augmented image and the draws (aug_ops and each fired step's parameters).
    public static func apply(_ image: Image, rng: inout SampleRNG) throws -> (image: Image, draws: JSONObject) {
        guard image.channels == 3, !image.isFloat else {
            throw AugmentError("augmentation needs an 8-bit 3-channel image, got \(image.channels) channel(s)\(image.isFloat ? " float" : "")")
        }
        var img = image
        var draws = Draws(), ops: [String] = []
        func fires() -> Bool { rng.chance(probability) }
        if fires() { ops.append("flip"); img = try img.flippedHorizontally() }
        if fires() {
            let s = (0..<3).map { _ in rng.uniform(-20, 20) }   // [r, g, b]
            ops.append("rgb_shift"); draws.set("aug_rgb_shift", s)
            img = try SBI.applyRGBShift(img, s)
        }
        if fires() {
            let h = rng.uniform(-20, 20), s = rng.uniform(-30, 30), v = rng.uniform(-20, 20)
            ops.append("hsv"); draws.set("aug_hsv", [h, s, v])
            if h != 0 || s != 0 || v != 0 { img = try img.hsvShifted(hue: h, saturation: s, value: v) }
        }
        if fires() {
            // albumentations draws the contrast factor first.
            let c = rng.uniform(-0.2, 0.2), b = rng.uniform(-0.2, 0.2)
            ops.append("brightness_contrast"); draws.set("aug_brightness_contrast", [b, c])
            img = try img.lookedUp([Augment.brightnessContrastTable(brightness: b, contrast: c)])
        }
        if fires() {
            let q = rng.int(99...100)
            ops.append("jpeg"); draws.set("aug_jpeg", q)
            img = try img.jpegRoundTrip(quality: q)
        }
        if fires() {
            let variance = rng.uniform(10, 50)
            ops.append("gauss_noise"); draws.set("aug_gauss_noise_var", variance)
            img = try gaussNoise(img, sigma: variance.squareRoot(), rng: &rng)
        }
        var out = Draws()
        out.set("aug_ops", .array(ops.map { .string($0) }))
        for (k, v) in draws.fields { out.set(k, v) }
        return (img, out.fields)
    }

    /// Adds N(0, sigma) to every pixel and channel (float), then clips to [0, 255] and truncates, as albumentations'
    /// GaussNoise does on uint8 images. Written here because OpenCV's randn would not draw from the keyed generator.
    public static func gaussNoise(_ img: Image, sigma: Double, rng: inout SampleRNG) throws -> Image {
        let w = img.width, h = img.height, c = img.channels
        var out = [UInt8](repeating: 0, count: w * h * c)
        img.withBytes { src in
            for y in 0..<h {
                let row = y * img.rowBytes
                for i in 0..<(w * c) {
                    let v = Double(src[row + i]) + rng.gaussian() * sigma
                    out[y * w * c + i] = UInt8(min(max(v, 0), 255).rounded(.towardZero))
                }
            }
        }
        return try out.withUnsafeBytes { try Image(width: w, height: h, channels: c, data: $0.baseAddress) }
    }
}
