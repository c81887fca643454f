// Blending masks: SBI's convex hull, Face X-ray's landmark hulls (LAL), SLADD's feature regions, and SBI's
// mask blur. The knobs of BBMG/NRS Table 3 (data type, value, line type) are part of `MaskStyle`.
import DFKCore
import DFKImaging
import DFKRecords
import Foundation

/// How a binary mask is drawn before blurring (BBMG/NRS paper, Table 3).
public struct MaskStyle: Sendable, Equatable {
    /// Draw and blur the mask as 8-bit (OpenCV then rounds every blurred value) or as 32-bit float.
    public var float: Bool
    /// Fill value: 1 or 255.
    public var value: Double
    public var line: Image.LineType

    public init(float: Bool, value: Double, line: Image.LineType) { self.float = float; self.value = value; self.line = line }
    /// SBI's own global mask: LINE_8, uint8, value 1 (Table 3, first row).
    public static let sbiReference = MaskStyle(float: false, value: 1, line: .line8)
    /// Face X-ray's library: float32, value 255, anti-aliased (Table 3, last row).
    public static let lalReference = MaskStyle(float: true, value: 255, line: .antiAliased)

    public var name: String { "\(float ? "float32" : "uint8"),\(Int(value)),\(line == .antiAliased ? "LINE_AA" : "LINE_8")" }
}

public enum MaskError: Error, CustomStringConvertible {
    case empty(String)
    public var description: String { switch self { case .empty(let s): return s } }
}

public enum Masks {
    /// The convex hull of all landmarks (SBI's reference mask when the LAL library is not used).
    public static func convexHull(_ pts: [Point], width: Int, height: Int, style: MaskStyle) throws -> Image {
        let m = try Image.mask(width: width, height: height, float: style.float)
        try m.fillPolygon(pts.map { ($0.x, $0.y) }, hull: true, value: style.value, line: style.line)
        return m
    }

    /// One of Face X-ray's landmark hull types.
    public static func hull(_ type: FaceRegions.HullType, _ pts: [Point], width: Int, height: Int, style: MaskStyle) throws -> Image {
        let m = try Image.mask(width: width, height: height, float: style.float)
        for g in FaceRegions.hullGroups(type, pts) {
            try m.fillPolygon(g.map { ($0.x, $0.y) }, hull: true, value: style.value, line: style.line)
        }
        return m
    }

    /// SLADD-style feature regions (union of thick strokes).
    public static func local(_ parts: [FaceRegions.Part], _ pts: [Point], width: Int, height: Int, style: MaskStyle,
                             narrow: Double = 1) throws -> Image {
        let m = try Image.mask(width: width, height: height, float: style.float)
        for part in parts {
            let (a, b, t) = FaceRegions.partStroke(part, pts, narrow: narrow)
            try m.drawLine(from: (a.x, a.y), to: (b.x, b.y), thickness: max(1, Int(t.rounded())), value: style.value, line: style.line)
        }
        return m
    }

    /// SBI's mask blur (reference-pipelines.md A.6): resize to a random size in [192, 256]^2, Gaussian blur with
    /// an odd kernel in 5...25 (automatic sigma) in the mask's own data type, divide by the maximum, zero every
    /// value below 1 (an erosion by the blur radius), blur again (odd kernel 5...25, integer sigma 5...45),
    /// divide by the maximum, resize back. Returns float32 in [0, 1].
    /// `kind` and `kernel` replace the Gaussian blurs and their random kernels for the Table 4 / Fig. 5 ablations
    /// (the second blur's sigma only applies to Gaussian blur).
    /// `prefix` goes before every draw's key (BBMG blurs two parts).
    public static func sbiBlur(_ mask: Image, kind: Image.BlurKind = .gaussian, kernel: Int? = nil,
                               rng: inout SampleRNG, draws: inout Draws, prefix: String = "") throws -> Image {
        let w = mask.width, h = mask.height
        let sh = rng.int(192...256), sw = rng.int(192...256)
        var k1 = rng.odd(5, 25), k2 = rng.odd(5, 25)
        let sigma2 = rng.int(5...45)
        if let kernel { k1 = kernel; k2 = kernel }
        if kind != .gaussian { draws.set(prefix + "blur_kind", "\(kind)") }
        draws.set(prefix + "blur_size", .array([.int(sw), .int(sh)]))
        draws.set(prefix + "blur_k1", k1); draws.set(prefix + "blur_k2", k2); draws.set(prefix + "blur_sigma2", sigma2)
        var m = try mask.resized(width: sw, height: sh, interpolation: .linear)
        m = try m.blurred(kind, kernel: k1)
        var f = try m.converted(float: true)
        let mx1 = f.maxValue
        guard mx1 > 0 else { throw MaskError.empty("mask is empty after the first blur (face too small?)") }
        f = try f.converted(float: true, scale: 1 / mx1)
        try f.zeroBelow(1)
        f = try f.blurred(kind, kernel: k2, sigma: Double(sigma2))
        let mx2 = f.maxValue
        guard mx2 > 0 else { throw MaskError.empty("mask vanished in the erosion step (face too small for the kernel)") }
        f = try f.converted(float: true, scale: 1 / mx2)
        return try f.resized(width: w, height: h, interpolation: .linear)
    }

    /// Scales any mask to float32 in [0, 1] (divides by the drawing value).
    public static func unit(_ mask: Image, style: MaskStyle) throws -> Image {
        try mask.converted(float: true, scale: 1 / style.value)
    }
}

extension MaskStyle {
    /// The mask's data type word: uint8 or float32.
    public enum DType: String, Sendable, CaseIterable { case uint8, float32 }

    /// A line-type word: 8 (or line_8) or aa (or line_aa, 16), in any case; nil for another word.
    public static func line(named word: String) -> Image.LineType? {
        switch word.lowercased() {
        case "8", "line_8": return .line8
        case "aa", "line_aa", "16": return .antiAliased
        default: return nil
        }
    }

    /// Whether a fill value is one the papers use (1 or 255).
    public static func isFillValue(_ v: Double) -> Bool { v == 1 || v == 255 }

    /// `self` with the given choices applied (nil keeps this style's own).
    public func with(dtype: DType?, value: Double?, line: Image.LineType?) -> MaskStyle {
        var s = self
        if let dtype { s.float = dtype == .float32 }
        if let value { s.value = value }
        if let line { s.line = line }
        return s
    }
}

/// Output naming shared by the synthesis tools: OUT/<frame folder>-<hash>/<frame stem><suffix>.
public enum SynthesisPaths {
    public static func directory(out: String, image: String) -> String {
        out + "/" + Paths.stableName(for: (Paths.absolute(image) as NSString).deletingLastPathComponent)
    }
}
