// Face detectors that live outside this module (RetinaFace runs on libtorch, in DFKDetect): `FaceAnalyzer` takes
// their boxes in place of dlib's and predicts the landmarks inside them.
import DFKRecords

/// One detected face: its box in image pixels, a score and the detector's own key points (RetinaFace: 5).
public struct FaceBoxDetection: Sendable {
    public var box: Box
    public var score: Double
    public var points: [Point]
    public init(box: Box, score: Double, points: [Point] = []) { self.box = box; self.score = score; self.points = points }
}

public protocol FaceBoxDetector: AnyObject, Sendable {
    /// Recorded as each face's "detector" (e.g. "retinaface-resnet50").
    var name: String { get }
    /// Everything that changes the detections (model file, thresholds): part of the result cache key.
    var cacheKey: String { get }
    /// Faces in a BGR image. Must be safe to call from several threads.
    func detect(_ image: Image) throws -> [FaceBoxDetection]
}

/// Intersection over union of two boxes (continuous coordinates).
public func intersectionOverUnion(_ a: Box, _ b: Box) -> Double {
    let w = max(0, min(a.right, b.right) - max(a.left, b.left)), h = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    let inter = w * h
    let union = max(0, a.width) * max(0, a.height) + max(0, b.width) * max(0, b.height) - inter
    return union > 0 ? inter / union : 0
}
