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

public enum CropRule: Sendable, Equatable {
    /// SBI's wide crop: 68-landmark extent (w, h) plus w/2 left and right, h above, 0.4h below, clipped.
    case sbi
    /// A fixed margin on every side, as a fraction of the box width (left/right) and height (top/bottom).
    case margin(Double, FaceBoxRule)

    public var name: String {
        switch self {
        case .sbi: return "sbi"
        case .margin(let m, let rule): return "margin:\(m):\(rule.rawValue)"
        }
    }

    /// Parses "sbi", "margin:F" (RetinaFace-like box) or "margin:F:RULE".
    public static func parse(_ s: String) -> CropRule? {
        if s == "sbi" { return .sbi }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts.count <= 3, parts[0] == "margin", let m = Double(parts[1]), m >= 0, m <= 4 else { return nil }
        let rule = parts.count == 3 ? FaceBoxRule(rawValue: parts[2]) : .retinaApprox
        return rule.map { .margin(m, $0) }
    }

    /// The integer crop region [x0, x1) x [y0, y1) inside a width x height frame.
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
        }
        guard x1 - x0 >= 2, y1 - y0 >= 2 else { throw VisionError("face crop is empty (face outside the frame)") }
        return (Int(x0), Int(y0), Int(x1), Int(y1))
    }
}
