// A blend (morph) manipulation: the source face is warped densely onto the target's geometry (every one of the 68
// landmarks lands on the target's, moving least squares, Warp.swift), colour-matched to the target inside the
// region, and alpha-blended over the inner face at a partial opacity. Unlike the face swap (a similarity-aligned,
// opaque replacement of the whole jaw-and-brow hull), the result is a superposition of two faces: ghosted
// features and doubled edges where the warp is imperfect, texture averaged with the target's, and a boundary
// inside the face, not along its outline.
import DFKImaging
import DFKRecords
import Foundation

public enum Blend {
    /// Which part of the face is blended.
    public enum Region: String, Sendable, CaseIterable {
        /// Brows down to the chin, cheek to cheek, without the outer jaw line (jaw points 2-14 and the brows).
        case inner
        /// Brows, eyes, nose and mouth (brows, nose base and outer lips).
        case core

        public func points(_ p: [Point]) -> [Point] {
            switch self {
            case .inner: return (Array(2...14) + Array(17...26)).map { p[$0] }
            case .core: return (Array(17...26) + Array(31...35) + Array(48...59)).map { p[$0] }
            }
        }
    }

    /// Per-video draws.
    public struct Parameters: Sendable, Equatable {
        /// Opacity of the source face, in [0.4, 0.7].
        public var alpha: Double
        public var region: Region
        /// Feather width as a fraction of the face width, in [0.08, 0.2].
        public var feather: Double
        public init(alpha: Double, region: Region, feather: Double) { self.alpha = alpha; self.region = region; self.feather = feather }
        public static func draw(_ rng: inout SampleRNG, _ draws: inout Draws) -> Parameters {
            let p = Parameters(alpha: rng.uniform(0.4, 0.7), region: rng.pick(Region.allCases), feather: rng.uniform(0.08, 0.2))
            draws.set("alpha", p.alpha); draws.set("region", p.region.rawValue); draws.set("feather", p.feather)
            return p
        }
    }

    /// The blending weight: the region's hull, feathered inside its outline, times alpha (float32, target size).
    public static func mask(targetPoints: [Point], width: Int, height: Int, parameters: Parameters) throws -> Image {
        let pts = parameters.region.points(targetPoints)
        let ext = Box.bounding(Array(targetPoints[0..<68]))
        let hull = try Image.mask(width: width, height: height, float: true)
        try hull.fillPolygon(pts.map { ($0.x, $0.y) }, hull: true, value: 1, line: .antiAliased)
        let k = max(3, Int(ext.width * parameters.feather) | 1)
        // Blur, then keep only the upper half of the ramp (2m - 1, clamped at 0): the feather ends inside the hull.
        let inner = try hull.blurred(.gaussian, kernel: k).converted(float: true, scale: 2 * parameters.alpha, shift: -parameters.alpha)
        return try inner.maximum(try Image.mask(width: width, height: height, float: true))
    }

    /// Blends the face of `source` (landmarks `sourcePoints`) into the face of `target` (landmarks `targetPoints`).
    public static func blend(source: Image, sourcePoints: [Point], target: Image, targetPoints: [Point],
                             parameters: Parameters) throws -> Image {
        try ManipulationError.checkImage(source, what: "blend: the source image")
        try ManipulationError.checkImage(target, what: "blend: the target image")
        try ManipulationError.checkLandmarks(sourcePoints, what: "blend: the source face", in: source)
        try ManipulationError.checkLandmarks(targetPoints, what: "blend: the target face", in: target)
        guard (0.0...1.0).contains(parameters.alpha), parameters.feather > 0 else {
            throw ManipulationError("blend: alpha must lie in [0, 1] and the feather be positive (alpha \(parameters.alpha), feather \(parameters.feather))")
        }
        let s = Array(sourcePoints[0..<68]), t = Array(targetPoints[0..<68])
        let w = target.width, h = target.height
        let m = try mask(targetPoints: t, width: w, height: h, parameters: parameters)
        let region = grownExtent(t, fx: 0.1, fy: 0.1)
        let warped = try LandmarkWarp.warp(source, from: s, to: t, width: w, height: h, region: region)
        let hull = try Image.mask(width: w, height: h, float: true)
        try hull.fillPolygon(parameters.region.points(t).map { ($0.x, $0.y) }, hull: true, value: 1, line: .antiAliased)
        let corrected = try FaceSwap.matchColours(warped, to: target, mask: hull)
        return try corrected.blended(over: target, mask: m)
    }
}
