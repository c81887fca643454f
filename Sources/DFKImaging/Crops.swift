// Face boxes and crop rules.
//
// The SBI reference crops twice: a wide crop from the 68-landmark extent (training input of the blending),
// and a tight crop around a RetinaFace box (the network input). With RetinaFace weights (`landmarks --detector
// retinaface`), `FaceBoxRule.retina` crops around the real RetinaFace box. Without them, `retinaApprox` estimates
// a RetinaFace-like box from the 68 landmarks (a RetinaFace box spans from the upper forehead to the chin and
// cheek to cheek; dlib's HOG box covers about brows-to-chin and is narrower) so that the published margins
// (12.5% at test time) keep their meaning; see docs/records.md.
import DFKRecords
import Foundation

public enum FaceBoxRule: String, Sendable, CaseIterable {
    /// The detector's own box.
    case detector
    /// The extent of the 68 landmarks (brows to chin, jaw side to jaw side).
    case landmarks
    /// A RetinaFace-like box: the landmark extent raised at the top by 0.35 x its height to take in the
    /// forehead (RetinaFace boxes on frontal faces are about 1.25x as tall as wide; the 68-point extent is
    /// about 0.9x). Without 68 points, the detector box raised by 0.25 x its height.
    case retinaApprox = "retina-approx"
    /// The RetinaFace box itself: the face must come from `landmarks --detector retinaface` (the landmarks were
    /// predicted inside that box, so face and box are paired as SBI pairs them by best IoU).
    case retina

    /// Whether a face carries a RetinaFace box (its detector is RetinaFace).
    public static func hasRetinaBox(_ face: Face) -> Bool { face.detector?.hasPrefix("retinaface") ?? false }

    /// The RetinaFace box SBI's training pairs with a face: among the frame's two largest RetinaFace boxes, the
    /// one with the best IoU against the extent of all the face's landmarks (first wins a tie). Recorded by
    /// `landmarks` as "retina_box" when it is not the face's own box; nil for faces of other detectors.
    public static func trainingRetinaBox(_ face: Face) -> Box? {
        guard hasRetinaBox(face) else { return nil }
        if let v = face.extra["retina_box"]?.arrayValue?.compactMap(\.doubleValue), v.count == 4 {
            return Box(left: v[0], top: v[1], right: v[2], bottom: v[3])
        }
        return face.box
    }
    /// Index of the best-IoU box (SBI: candidates are the two largest faces' boxes, largest first), with the
    /// reference's IoUfrom2bboxes arithmetic: inclusive pixel sizes (x1 - x0 + 1).
    public static func bestIoU(landmarks: [Point], among boxes: [Box]) -> Int? {
        guard !landmarks.isEmpty, !boxes.isEmpty else { return nil }
        let lm = Box.bounding(landmarks)
        var best: (Int, Double)?
        for (i, b) in boxes.enumerated() {
            let inter = max(0, min(lm.right, b.right) - max(lm.left, b.left) + 1) * max(0, min(lm.bottom, b.bottom) - max(lm.top, b.top) + 1)
            let iou = inter / ((lm.width + 1) * (lm.height + 1) + (b.width + 1) * (b.height + 1) - inter)
            if best == nil || iou > best!.1 { best = (i, iou) }
        }
        return best?.0
    }

    public func box(for face: Face) -> Box {
        let has68 = face.landmarks.count >= 68
        switch self {
        case .detector, .retina: return face.box
        case .landmarks: return has68 ? Box.bounding(Array(face.landmarks[0..<68])) : face.box
        case .retinaApprox:
            if has68 {
                var b = Box.bounding(Array(face.landmarks[0..<68]))
                b.top -= 0.35 * b.height
                return b
            }
            var b = face.box
            b.top -= 0.25 * b.height
            return b
        }
    }
}

/// Where an aligned crop takes its five points (image-left eye, image-right eye, nose tip, image-left and
/// image-right mouth corner).
public enum AlignPoints: String, Sendable, CaseIterable {
    /// From the 68 landmarks: the means of 36-41 and 42-47 (eye centres), point 30 (nose tip), 48 and 54 (mouth
    /// corners): the five points DeepfakeBench's preprocessing takes from dlib's landmarks.
    case landmarks
    /// The detector's own five points ("detector_points": MTCNN's O-Net or RetinaFace's landmark head).
    case detector
}

public enum CropRule: Sendable, Equatable {
    /// SBI's wide crop: 68-landmark extent (w, h) plus w/2 left and right, h above, 0.4h below, clipped.
    case sbi
    /// A fixed margin on every side, as a fraction of the box width (left/right) and height (top/bottom).
    case margin(Double, FaceBoxRule)
    /// An aligned square crop of `size` pixels: the similarity transform (rotation, uniform scale, translation;
    /// least squares over the five points) that puts the face's five points onto the standard 5-point template
    /// (the 112 x 112 ArcFace template, which DeepfakeBench's `img_align_crop` also uses), with the template
    /// shrunk by `scale` about the crop centre (1.3: the template covers 1 / 1.3 of the crop, so 15% of the
    /// template's size is added as context on each side). Pixels outside the frame are black.
    case align(size: Int, scale: Double, points: AlignPoints)

    public var name: String {
        switch self {
        case .sbi: return "sbi"
        case .margin(let m, let rule): return "margin:\(m):\(rule.rawValue)"
        case .align(let s, let k, let p): return "align:\(s):\(k)" + (p == .landmarks ? "" : ":\(p.rawValue)")
        }
    }

    /// Parses "sbi", "margin:F" (RetinaFace-like box), "margin:F:RULE" or "align:SIZE[:SCALE[:POINTS]]".
    public static func parse(_ s: String) -> CropRule? {
        if s == "sbi" { return .sbi }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "align" {
            guard parts.count >= 2, parts.count <= 4, let size = Int(parts[1]), size >= 16, size <= 2048 else { return nil }
            let scale = parts.count >= 3 ? Double(parts[2]) : 1.3
            guard let scale, scale >= 0.5, scale <= 4 else { return nil }
            let points = parts.count == 4 ? AlignPoints(rawValue: parts[3]) : .landmarks
            return points.map { .align(size: size, scale: scale, points: $0) }
        }
        guard parts.count >= 2, parts.count <= 3, parts[0] == "margin", let m = Double(parts[1]), m >= 0, m <= 4 else { return nil }
        let rule = parts.count == 3 ? FaceBoxRule(rawValue: parts[2]) : .retinaApprox
        return rule.map { .margin(m, $0) }
    }

    /// The five points of the standard template in a 112 x 112 face (ArcFace's; DeepfakeBench's is the same).
    public static let alignTemplate112: [Point] = [Point(38.2946, 51.6963), Point(73.5318, 51.5014), Point(56.0252, 71.7366),
                                                   Point(41.5493, 92.3655), Point(70.7299, 92.2041)]

    /// The five alignment points of a face, in frame pixels.
    public static func alignPoints(_ face: Face, from source: AlignPoints) throws -> [Point] {
        switch source {
        case .landmarks:
            guard face.landmarks.count >= 68 else {
                throw VisionError("aligned crop needs 68 landmarks (face has \(face.landmarks.count) points); use :detector for a detector's five points")
            }
            let l = face.landmarks
            func mean(_ r: ClosedRange<Int>) -> Point {
                Point(r.map { l[$0].x }.reduce(0, +) / Double(r.count), r.map { l[$0].y }.reduce(0, +) / Double(r.count))
            }
            return [mean(36...41), mean(42...47), l[30], l[48], l[54]]
        case .detector:
            guard let v = face.extra["detector_points"]?.arrayValue, v.count == 5 else {
                throw VisionError("aligned crop ':detector' needs the detector's five points (landmarks --detector mtcnn or retinaface); "
                                  + "this face comes from \(face.detector ?? "an unnamed detector") and has none")
            }
            let pts = v.compactMap { p -> Point? in
                guard let xy = p.arrayValue?.compactMap(\.doubleValue), xy.count == 2 else { return nil }
                return Point(xy[0], xy[1])
            }
            guard pts.count == 5 else { throw VisionError("face has malformed \"detector_points\" (expected five [x, y] pairs)") }
            return pts
        }
    }

    /// Least-squares similarity transform (no reflection) taking `src` onto `dst`, as a row-major 2 x 3 matrix:
    /// the closed form of Umeyama's estimate in two dimensions (a few lines, so no library call).
    public static func similarity(from src: [Point], to dst: [Point]) throws -> [Double] {
        precondition(src.count == dst.count && !src.isEmpty)
        let n = Double(src.count)
        let ps = Point(src.map(\.x).reduce(0, +) / n, src.map(\.y).reduce(0, +) / n)
        let pd = Point(dst.map(\.x).reduce(0, +) / n, dst.map(\.y).reduce(0, +) / n)
        var den = 0.0, a = 0.0, b = 0.0
        for (p, q) in zip(src, dst) {
            let x = p.x - ps.x, y = p.y - ps.y, u = q.x - pd.x, v = q.y - pd.y
            den += x * x + y * y; a += x * u + y * v; b += x * v - y * u
        }
        guard den > 1e-9 else { throw VisionError("aligned crop: the face's five points coincide") }
        a /= den; b /= den
        return [a, -b, pd.x - (a * ps.x - b * ps.y), b, a, pd.y - (b * ps.x + a * ps.y)]
    }

    /// The frame-to-crop transform of an aligned crop (nil for the rectangular rules).
    public func alignTransform(for face: Face) throws -> [Double]? {
        guard case .align(let size, let scale, let source) = self else { return nil }
        let S = Double(size)
        let dst = Self.alignTemplate112.map { Point(((($0.x / 112) - 0.5) / scale + 0.5) * S, ((($0.y / 112) - 0.5) / scale + 0.5) * S) }
        return try Self.similarity(from: try Self.alignPoints(face, from: source), to: dst)
    }

    /// The face cut out of a frame by this rule: the image (a rectangle of the frame, or for `align` the warped
    /// square), the frame region it covers (for `align` the extent of the square in the frame, clipped) and the
    /// frame-to-crop transform (for rectangles, a translation).
    public func extract(from frame: Image, face: Face) throws -> (image: Image, region: (x0: Int, y0: Int, x1: Int, y1: Int), transform: [Double]) {
        let r = try region(for: face, width: frame.width, height: frame.height)
        let m = try alignTransform(for: face) ?? [1, 0, -Double(r.x0), 0, 1, -Double(r.y0)]
        return (try faceImage(from: frame, face: face), r, m)
    }

    /// The face image alone (`extract`'s first element): the warped square for `align`, else the frame's rectangle.
    public func faceImage(from frame: Image, face: Face) throws -> Image {
        if case .align(let size, _, _) = self, let m = try alignTransform(for: face) {
            return try frame.warpedAffine(m, width: size, height: size, interpolation: .linear, border: .constant)
        }
        let r = try region(for: face, width: frame.width, height: frame.height)
        return try frame.cropped(x: r.x0, y: r.y0, width: r.x1 - r.x0, height: r.y1 - r.y0)
    }

    /// The integer crop region [x0, x1) x [y0, y1) inside a width x height frame (for `align`, the extent of the
    /// warped square in the frame: use `extract` to cut the face).
    public func region(for face: Face, width: Int, height: Int) throws -> (x0: Int, y0: Int, x1: Int, y1: Int) {
        let W = Double(width), H = Double(height)
        var x0: Double, y0: Double, x1: Double, y1: Double
        switch self {
        case .sbi:
            guard face.landmarks.count >= 68 else {
                throw VisionError("crop 'sbi' needs a 68- or 81-point layout (face has \(face.landmarks.count) points)")
            }
            let b = Box.bounding(Array(face.landmarks[0..<68]))
            let w = b.width, h = b.height
            // Same arithmetic as the reference: truncate, +1 on the far side, clip.
            x0 = max(0, (b.left - w / 2).rounded(.towardZero))
            x1 = min(W, (b.right + w / 2).rounded(.towardZero) + 1)
            y0 = max(0, (b.top - h).rounded(.towardZero))
            y1 = min(H, (b.bottom + 0.4 * h).rounded(.towardZero) + 1)
        case .margin(let m, let rule):
            if rule == .retina && !FaceBoxRule.hasRetinaBox(face) {
                throw VisionError("crop rule '\(name)' needs RetinaFace boxes (landmarks --detector retinaface --detector-model FILE); "
                                  + "this face comes from \(face.detector ?? "an unnamed detector"). Without RetinaFace weights use retina-approx")
            }
            let b = rule.box(for: face)
            // The reference's crop_face arithmetic (the same at test and training time): int() truncation, +1 on
            // the far side, clipped.
            x0 = max(0, (b.left - m * b.width).rounded(.towardZero))
            x1 = min(W, (b.right + m * b.width).rounded(.towardZero) + 1)
            y0 = max(0, (b.top - m * b.height).rounded(.towardZero))
            y1 = min(H, (b.bottom + m * b.height).rounded(.towardZero) + 1)
        case .align(let size, _, _):
            let m = try alignTransform(for: face)!
            // Inverse of [A | t] with A = [[a, -b], [b, a]]: the crop's corners in the frame.
            let a = m[0], b = m[3], det = a * a + b * b
            let corners = [(0.0, 0.0), (Double(size), 0), (0, Double(size)), (Double(size), Double(size))].map { (u, v) -> Point in
                let du = u - m[2], dv = v - m[5]
                return Point((a * du + b * dv) / det, (-b * du + a * dv) / det)
            }
            x0 = max(0, corners.map(\.x).min()!.rounded(.down)); x1 = min(W, corners.map(\.x).max()!.rounded(.up))
            y0 = max(0, corners.map(\.y).min()!.rounded(.down)); y1 = min(H, corners.map(\.y).max()!.rounded(.up))
        }
        guard x1 - x0 >= 2, y1 - y0 >= 2 else { throw VisionError("face crop is empty (face outside the frame)") }
        return (Int(x0), Int(y0), Int(x1), Int(y1))
    }
}
