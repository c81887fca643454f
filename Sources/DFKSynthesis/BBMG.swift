// Boundary Blur Mask Generator (BBMG/NRS paper, section 3.3, eqs. 2-3; ablations of Tables 3, 4, 12, Fig. 5).
//
//   M_landmark : a landmark hull mask (Face X-ray's LAL hull types, chosen uniformly, as the paper's SBI w/ LAL
//                baseline), M_local: randomly selected facial features (SLADD's 10 region choices), inside M_landmark.
//   M_global   = M_landmark - M_local                                  (eq. 2)
//   M_final    = max(blur(M_global), blur(M_local))                    (eq. 3)
//
// The blur (`BBMGBlur`, docs/synthesis.md "BBMG's blur"): by default one boundary blur at SBI's working scale - each
// part resized to a random size in [192, 256]^2, blurred once (Gaussian with a random odd kernel in 5...25 and
// OpenCV's automatic sigma, or a fixed kind and kernel for the ablations), divided by the drawing value, resized
// back; no erosion, no second blur, no division by the maximum. Section 3.3 names only "Gaussian Blur"; the
// paper gives no kernel, so SBI's first-blur range is the default. `.sbi` runs SBI's two-stage mask blur on each
// part instead (the blur of the SBI baseline BBMG is compared against), for the ablation.
import DFKImaging
import DFKRecords
import Foundation

/// Which boundary blur BBMG applies to M_global and M_local.
public enum BBMGBlur: String, Sendable, CaseIterable {
    /// One Gaussian blur (odd kernel 5-25, automatic sigma), as section 3.3 describes it (the default).
    case single
    /// SBI's two-stage mask blur (blur, erosion to the part's core, second blur, divide by the maximum) per part.
    case sbi
}

public struct BBMGOptions: Sendable, Equatable {
    /// Table 12: 1 = blurred global mask only, 2 = narrowed local features, 3 = the full method (default).
    public var variant: Int = 3
    /// Table 4: Gaussian (default), average or median boundary blur.
    public var blur: Image.BlurKind = .gaussian
    /// Fig. 5: a fixed odd kernel size; nil draws an odd kernel in 5...25 per part.
    public var kernel: Int?
    /// Table 3: data type, value and line type of the drawn masks.
    public var style: MaskStyle = .lalReference
    /// Factor applied to the local features' stroke widths in variant 2.
    public var narrowFactor: Double = 0.5
    /// The boundary blur of each part: one Gaussian (default) or SBI's two-stage blur.
    public var blurMode: BBMGBlur = .single
    public init() {}

    public var description: String {
        "variant=\(variant),blur=\(blur),kernel=\(kernel.map(String.init) ?? "5..25"),\(style.name)"
            + (blurMode == .single ? "" : ",bbmg_blur=\(blurMode.rawValue)")
    }
}

public enum BBMG {
    /// The two drawn parts before blurring, already intersected (local inside landmark).
    public struct Parts {
        public var landmark: Image
        public var local: Image
    }

    /// Draws M_landmark and M_local for `pts` on a width x height canvas.
    public static func parts(_ pts: [Point], width: Int, height: Int, options: BBMGOptions,
                             rng: inout SampleRNG, draws: inout Draws) throws -> Parts {
        guard pts.count >= 68 else { throw MaskError.empty("BBMG needs 68 or 81 landmarks, got \(pts.count)") }
        let hullType = rng.pick(FaceRegions.HullType.allCases)
        let parts = rng.pick(FaceRegions.localChoices)
        draws.set("hull", hullType.rawValue)
        draws.set("local", .array(parts.map { .string($0.rawValue) }))
        let landmark = try Masks.hull(hullType, pts, width: width, height: height, style: options.style)
        let narrow = options.variant == 2 ? options.narrowFactor : 1
        var local = try Masks.local(parts, pts, width: width, height: height, style: options.style, narrow: narrow)
        // Keep the features inside the face mask: min(local, landmark) = local - (local - landmark)+.
        local = try local.subtractingClamped(try local.subtractingClamped(landmark))
        return Parts(landmark: landmark, local: local)
    }

    /// Blurs and merges the parts into the final mask (float32 in [0, 1]).
    public static func finalMask(_ p: Parts, options: BBMGOptions, rng: inout SampleRNG, draws: inout Draws) throws -> Image {
        let global = try p.landmark.subtractingClamped(p.local)                     // eq. 2
        guard global.maxValue > 0 else { throw MaskError.empty("empty landmark mask (face outside the image?)") }
        let globalB = try boundaryBlur(global, name: "global", options: options, rng: &rng, draws: &draws)
        if options.variant == 1 { return globalB }
        guard p.local.maxValue > 0 else { return globalB }                        // features outside the image
        let localB = try boundaryBlur(p.local, name: "local", options: options, rng: &rng, draws: &draws)
        return try globalB.maximum(localB)                                          // eq. 3
    }

    static func boundaryBlur(_ m: Image, name: String, options: BBMGOptions, rng: inout SampleRNG, draws: inout Draws) throws -> Image {
        if options.blurMode == .sbi {
            return try Masks.sbiBlur(m, kind: options.blur, kernel: options.kernel, rng: &rng, draws: &draws, prefix: name + "_")
        }
        let w = m.width, h = m.height
        let sh = rng.int(192...256), sw = rng.int(192...256)
        let k = options.kernel ?? rng.odd(5, 25)
        draws.set("\(name)_blur", .array([.string("\(options.blur)"), .int(k), .int(sw), .int(sh)]))
        var x = try m.resized(width: sw, height: sh, interpolation: .linear)
        x = try x.blurred(options.blur, kernel: k)
        x = try Masks.unit(x, style: options.style)
        return try x.resized(width: w, height: h, interpolation: .linear)
    }
}

extension BBMG {
    /// The BBMG mask of one face over a whole frame: drawn and blurred on SBI's wide crop of the face (so the
    /// blur scale matches what `synth-sbi` uses), elastically deformed like SBI's masks, pasted into a
    /// frame-size float32 mask.
    public static func frameMask(width: Int, height: Int, landmarks: [Point], options: BBMGOptions,
                                 rng: inout SampleRNG, draws: inout Draws) throws -> Image {
        try validateFace(landmarks, width: width, height: height)
        let ext = Box.bounding(Array(landmarks[0..<68]))
        let r = try CropRule.sbi.region(for: Face(box: ext, landmarks: landmarks), width: width, height: height)
        let w = r.x1 - r.x0, h = r.y1 - r.y0
        let pts = landmarks.map { Point($0.x - Double(r.x0), $0.y - Double(r.y0)) }
        var p = try parts(pts, width: w, height: h, options: options, rng: &rng, draws: &draws)
        let (dx, dy) = SBI.elasticField(width: w, height: h, rng: &rng)
        p.landmark = try p.landmark.elastic(dx: dx, dy: dy, alpha: 50, sigma: 7, kernel: 0)
        p.local = try p.local.elastic(dx: dx, dy: dy, alpha: 50, sigma: 7, kernel: 0)
        let m = try finalMask(p, options: options, rng: &rng, draws: &draws)
        let full = try Image.mask(width: width, height: height, float: true)
        try full.paste(m, x: r.x0, y: r.y0)
        draws.set("region", .array([.int(r.x0), .int(r.y0), .int(r.x1), .int(r.y1)]))
        return full
    }
}
