// Expression reenactment by a landmark-driven warp (a Face2Face-like manipulation: the target keeps its identity
// and pose, its brows, eyes, mouth and chin follow a driving face).
//
// 1. Expressions are measured in a canonical frame: a face's 68 points are mapped by the least-squares similarity
//    of its stable points (temples, nose, eye corners) onto its identity's neutral shape (the mean over a
//    sequence, in eye-corner units: eye centres 1 apart, horizontal). The expression is the difference to the
//    neutral shape, so it carries no identity and no pose.
// 2. The goal landmarks are the target's with the moved points (lower jaw, brows, eyes, mouth) shifted by
//    strength x (driving expression), mapped back into the target's frame by the target's own fit; each shift
//    is capped at `limit` eye distances. The target's own expression is kept, not subtracted: a 2-D similarity
//    cannot tell a nod from an expression, and subtracting a nodding target's "expression" crushes its mouth.
// 3. The target's face is warped so that its landmarks land on the goal (moving least squares, Warp.swift, pinned
//    by a ring of anchors around the face); the inner mouth gains a dark cavity where the goal opens it wider than
//    the target; the result is blended back with a feathered elliptic mask that ends inside the anchor ring.
import DFKImaging
import DFKRecords
import Foundation

public enum Reenact {
    /// Points that follow the driving expression: lower jaw (chin follows the mouth), brows, eyes, mouth.
    public static let movedPoints: [Int] = Array(4...12) + Array(17...26) + Array(36...47) + Array(48...67)
    /// Points that fix a face's pose: temples, nose bridge and base, eye corners.
    public static let stablePoints: [Int] = [0, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45]

    /// Per-video draws: how strongly the driving expression is applied and where in the driving video to start.
    public struct Parameters: Sendable, Equatable {
        public var strength: Double
        /// Start in the driving sequence, as a fraction of its length.
        public var start: Double
        public init(strength: Double, start: Double) { self.strength = strength; self.start = start }
        public static func draw(_ rng: inout SampleRNG, _ draws: inout Draws) -> Parameters {
            let p = Parameters(strength: rng.uniform(1.0, 1.5), start: rng.unit())
            draws.set("strength", p.strength); draws.set("driving_start", p.start)
            return p
        }
    }

    /// The similarity (2x3) taking a face's eye corners to the canonical frame (eye centres at (-0.5, 0), (0.5, 0)).
    static func canonicalTransform(_ pts: [Point]) -> [Double] {
        let r = Point((pts[36].x + pts[39].x) / 2, (pts[36].y + pts[39].y) / 2)
        let l = Point((pts[42].x + pts[45].x) / 2, (pts[42].y + pts[45].y) / 2)
        return FaceSwap.similarity(from: [r, l], to: [Point(-0.5, 0), Point(0.5, 0)])
    }

    static func apply(_ m: [Double], _ p: Point) -> Point { Point(m[0] * p.x + m[1] * p.y + m[2], m[3] * p.x + m[4] * p.y + m[5]) }
    /// The linear part of the inverse of a similarity, applied to a vector.
    static func inverseLinear(_ m: [Double], _ v: Point) -> Point {
        let det = m[0] * m[4] - m[1] * m[3]
        return Point((m[4] * v.x - m[1] * v.y) / det, (-m[3] * v.x + m[0] * v.y) / det)
    }
    static func fit(_ pts: [Point], to neutral: [Point]) -> [Double] {
        FaceSwap.similarity(from: stablePoints.map { pts[$0] }, to: stablePoints.map { neutral[$0] })
    }

    /// The neutral shape of an identity, in canonical units: the mean of its faces in the eye-corner frame, then
    /// the mean again after fitting every face's stable points to that first mean.
    public static func neutral(_ faces: [[Point]]) throws -> [Point] {
        guard !faces.isEmpty else { throw ManipulationError("reenact: no face to take a neutral expression from") }
        for f in faces { try ManipulationError.checkLandmarks(f, what: "reenact: a face", minSize: 0) }
        func mean(_ shapes: [[Point]]) -> [Point] {
            (0..<68).map { i in
                Point(shapes.reduce(0) { $0 + $1[i].x } / Double(shapes.count), shapes.reduce(0) { $0 + $1[i].y } / Double(shapes.count))
            }
        }
        let first = mean(faces.map { f in let m = canonicalTransform(f); return (0..<68).map { apply(m, f[$0]) } })
        return mean(faces.map { f in let m = fit(f, to: first); return (0..<68).map { apply(m, f[$0]) } })
    }

    /// A face's expression: its points fitted to `neutral` minus `neutral` (canonical units), and the fit.
    public static func expression(_ pts: [Point], neutral: [Point]) -> (offsets: [Point], fit: [Double]) {
        let m = fit(pts, to: neutral)
        return ((0..<68).map { let p = apply(m, pts[$0]); return Point(p.x - neutral[$0].x, p.y - neutral[$0].y) }, m)
    }

    /// The target's landmarks with the moved points following the driving face's expression (see the file header).
    public static func goal(target: [Point], targetNeutral: [Point], driving: [Point], drivingNeutral: [Point],
                            strength: Double, limit: Double = 0.25) throws -> [Point] {
        try ManipulationError.checkLandmarks(target, what: "reenact: the target face")
        try ManipulationError.checkLandmarks(driving, what: "reenact: the driving face", minSize: 0)
        guard targetNeutral.count == 68, drivingNeutral.count == 68 else { throw ManipulationError("reenact: a neutral shape needs 68 points") }
        let (_, m) = expression(target, neutral: targetNeutral)
        let (drive, _) = expression(driving, neutral: drivingNeutral)
        var g = Array(target[0..<68])
        for i in movedPoints {
            var d = Point(strength * drive[i].x, strength * drive[i].y)
            let len = (d.x * d.x + d.y * d.y).squareRoot()
            if len > limit { d = Point(d.x * limit / len, d.y * limit / len) }
            let v = inverseLinear(m, d)
            g[i] = Point(g[i].x + v.x, g[i].y + v.y)
        }
        return g
    }

    /// Warps the target's face so that its 68 landmarks move to `goal`, and blends it back (see the file header).
    public static func reenact(target: Image, targetPoints: [Point], goal: [Point]) throws -> Image {
        try ManipulationError.checkImage(target, what: "reenact: the target image")
        try ManipulationError.checkLandmarks(targetPoints, what: "reenact: the target face", in: target)
        try ManipulationError.checkLandmarks(goal, what: "reenact: the goal landmarks")
        let t = Array(targetPoints[0..<68]), g = Array(goal[0..<68])
        let w = target.width, h = target.height
        // Anchor ring: an ellipse around the face, generous enough for a dropping chin and raised brows.
        let outer = grownExtent(t + g, fx: 0.3, fy: 0.35)
        let anchors = LandmarkWarp.ellipse(outer, count: 32)
        var warped = try LandmarkWarp.warp(target, from: t + anchors, to: g + anchors, width: w, height: h, region: outer)
        warped = try mouthCavity(warped, target: t, goal: g)
        // Feathered mask: the ellipse shrunk by the feather width, blurred, so it reaches zero inside the ring.
        let feather = max(3, Int(outer.width * 0.12) | 1)
        let inset = Double(feather)
        let inner = Box(left: outer.left + inset, top: outer.top + inset, right: outer.right - inset, bottom: outer.bottom - inset)
        let mask = try Image.mask(width: w, height: h, float: true)
        try mask.fillPolygon(LandmarkWarp.ellipse(inner, count: 64).map { ($0.x, $0.y) }, hull: true, value: 1, line: .antiAliased)
        return try warped.blended(over: target, mask: try mask.blurred(.gaussian, kernel: feather))
    }

    /// Darkens the inner mouth (points 60-67 of the goal) where the goal opens it wider than the target, as the
    /// shadowed mouth cavity would look; a mouth that does not open is left alone.
    static func mouthCavity(_ image: Image, target: [Point], goal: [Point]) throws -> Image {
        func gap(_ p: [Point]) -> Double {   // mean distance between the inner upper and lower lip
            ([61, 62, 63].map { p[$0] }.enumerated().reduce(0.0) { acc, e in
                let lower = p[[67, 66, 65][e.offset]]
                return acc + ((e.element.x - lower.x) * (e.element.x - lower.x) + (e.element.y - lower.y) * (e.element.y - lower.y)).squareRoot()
            }) / 3
        }
        let width = ((goal[54].x - goal[48].x) * (goal[54].x - goal[48].x) + (goal[54].y - goal[48].y) * (goal[54].y - goal[48].y)).squareRoot()
        let opening = gap(goal) - gap(target)
        guard width > 4, opening > 0.04 * width else { return image }
        let strength = min(1, opening / (0.25 * width)) * 0.85
        let m = try Image.mask(width: image.width, height: image.height, float: true)
        try m.fillPolygon((60...67).map { (goal[$0].x, goal[$0].y) }, hull: false, value: strength, line: .antiAliased)
        let k = max(3, Int(width * 0.12) | 1)
        let dark = try image.brightnessContrast(brightness: -0.04, contrast: -0.72)
        return try dark.blended(over: image, mask: try m.blurred(.gaussian, kernel: k))
    }
}
