// Landmark facts used by the synthesis: flip permutations and the landmark hulls of Face X-ray's "landmark
// augmentation library" (LAL) and SLADD's facial-feature regions, as described in reference-pipelines.md B.
import DFKImaging
import DFKRecords
import Foundation

public enum FaceRegions {
    /// Index permutation that maps landmarks to their mirror image after a horizontal flip.
    public static func flipPermutation(count: Int) -> [Int]? {
        switch count {
        case 5: return [2, 3, 0, 1, 4]
        case 68, 81:
            var p = Array(0..<count)
            func pair(_ a: Int, _ b: Int) { p[a] = b; p[b] = a }
            for i in 0...7 { pair(i, 16 - i) }                        // jaw
            for i in 0...4 { pair(17 + i, 26 - i) }                   // brows
            pair(31, 35); pair(32, 34)                                // nostrils
            pair(36, 45); pair(37, 44); pair(38, 43); pair(39, 42); pair(40, 47); pair(41, 46)  // eyes
            pair(48, 54); pair(49, 53); pair(50, 52); pair(55, 59); pair(56, 58)                // outer lips
            pair(60, 64); pair(61, 63); pair(65, 67)                                          // inner lips
            if count == 81 {
                let sweep = LandmarkLayout.foreheadSweepOrder
                for j in 0..<6 { pair(sweep[j], sweep[12 - j]) }
            }
            return p
        default: return nil
        }
    }

    /// Landmarks and box after flipping an image of width `width` horizontally (pixel x -> width - 1 - x).
    public static func flip(_ pts: [Point], width: Int) -> [Point]? {
        guard let perm = flipPermutation(count: pts.count) else { return nil }
        let w = Double(width - 1)
        return perm.map { Point(w - pts[$0].x, pts[$0].y) }
    }
    public static func flip(_ b: Box, width: Int) -> Box {
        Box(left: Double(width) - b.right, top: b.top, right: Double(width) - b.left, bottom: b.bottom)
    }

    // MARK: Face X-ray's landmark hull types (68-point indices; 81 points only matter for `facehull`).

    public enum HullType: String, CaseIterable, Sendable {
        case dflFull = "dfl_full", components, extended, facehull
    }

    /// The point groups whose convex hulls make up a hull type's mask.
    public static func hullGroups(_ type: HullType, _ p: [Point]) -> [[Point]] {
        func r(_ a: ClosedRange<Int>) -> [Point] { a.map { p[$0] } }
        func i(_ a: [Int]) -> [Point] { a.map { p[$0] } }
        switch type {
        case .dflFull:
            return [r(0...16) + r(48...67) + i([0, 8, 16]),
                    r(27...30) + i([33]),
                    r(17...26) + i([0, 27, 16, 33])]
        case .components, .extended:
            var q = p
            if type == .extended { q = liftBrows(p) }
            func rq(_ a: ClosedRange<Int>) -> [Point] { a.map { q[$0] } }
            func iq(_ a: [Int]) -> [Point] { a.map { q[$0] } }
            return [rq(0...8) + iq([17]),
                    rq(8...16) + iq([26]),
                    rq(17...19) + iq([8]),
                    rq(24...26) + iq([8]),
                    rq(19...24) + iq([8]),
                    rq(17...21) + iq([27]) + rq(31...35) + iq([8]),
                    rq(22...26) + iq([27]) + rq(31...35) + iq([8]),
                    rq(27...30) + rq(31...35)]
        case .facehull:
            return [p]
        }
    }

    /// Face X-ray's "extended" rule: each brow point moves up by half the vector from the eye-top contour
    /// point below it, which takes part of the forehead into the mask.
    public static func liftBrows(_ p: [Point]) -> [Point] {
        var q = p
        func mid(_ a: Point, _ b: Point) -> Point { Point((a.x + b.x) / 2, (a.y + b.y) / 2) }
        let outerR = mid(p[36], mid(p[36], p[0]))   // a quarter of the way from the eye corner to the temple
        let outerL = mid(p[45], mid(p[45], p[16]))
        let belowR = [outerR, p[36], p[37], p[38], p[39]]
        let belowL = [p[42], p[43], p[44], p[45], outerL]
        for k in 0..<5 {
            q[17 + k] = Point(p[17 + k].x + (p[17 + k].x - belowR[k].x) / 2, p[17 + k].y + (p[17 + k].y - belowR[k].y) / 2)
            q[22 + k] = Point(p[22 + k].x + (p[22 + k].x - belowL[k].x) / 2, p[22 + k].y + (p[22 + k].y - belowL[k].y) / 2)
        }
        return q
    }

    // MARK: SLADD's facial-feature regions

    public enum Part: String, CaseIterable, Sendable { case leftEye = "left_eye", rightEye = "right_eye", bothEyes = "both_eyes", nose, mouth }

    /// The 10 region choices of SLADD (the subject's left/right).
    public static let localChoices: [[Part]] = [
        [.leftEye], [.rightEye], [.bothEyes], [.nose], [.mouth],
        [.nose, .leftEye], [.nose, .rightEye], [.nose, .bothEyes], [.nose, .mouth], [.leftEye, .rightEye, .nose, .mouth],
    ]

    /// A part as a thick line segment (a 2-pixel line dilated by a disk, which a round-capped line of that
    /// thickness draws directly): endpoints and thickness in pixels. `narrow` scales the dilation (BBMG variant 2).
    public static func partStroke(_ part: Part, _ p: [Point], narrow: Double = 1) -> (Point, Point, Double) {
        func mean(_ r: ClosedRange<Int>) -> Point {
            let s = r.reduce(Point(0, 0)) { Point($0.x + p[$1].x, $0.y + p[$1].y) }
            return Point(s.x / Double(r.count), s.y / Double(r.count))
        }
        func dist(_ a: Point, _ b: Point) -> Double { hypot(a.x - b.x, a.y - b.y) }
        let rightEye = mean(36...41), leftEye = mean(42...47)
        let eyesMid = Point((rightEye.x + leftEye.x) / 2, (rightEye.y + leftEye.y) / 2)
        switch part {
        case .rightEye: return (p[36], p[39], 2 + narrow * dist(p[36], p[39]))
        case .leftEye: return (p[42], p[45], 2 + narrow * dist(p[42], p[45]))
        case .bothEyes: return (rightEye, leftEye, 2 + narrow * dist(rightEye, leftEye) / 4)
        case .nose: return (p[33], eyesMid, 2 + narrow * dist(rightEye, leftEye) / 4)
        case .mouth: return (p[48], p[54], 2 + narrow * dist(p[48], p[54]) / 3)
        }
    }
}
