// A landmark-based face swap between two people, for the demo's test fakes: a manipulation of another kind than
// the training pseudo-fakes (cross-identity, whole-face replacement with colour transfer, not self-blending).
// The source face is aligned to the target's 68 landmarks by a least-squares similarity transform (Umeyama),
// colour-matched inside the face (per-channel mean and standard deviation) and blended with a feathered hull mask.
import DFKImaging
import DFKRecords
import Foundation

public enum FaceSwap {
    /// The similarity transform (2x3, row-major) that best maps `from` onto `to` in the least-squares sense.
    public static func similarity(from: [Point], to: [Point]) -> [Double] {
        let n = Double(from.count)
        let mx = from.reduce(0) { $0 + $1.x } / n, my = from.reduce(0) { $0 + $1.y } / n
        let nx = to.reduce(0) { $0 + $1.x } / n, ny = to.reduce(0) { $0 + $1.y } / n
        var a = 0.0, b = 0.0, v = 0.0
        for (p, q) in zip(from, to) {
            let px = p.x - mx, py = p.y - my, qx = q.x - nx, qy = q.y - ny
            a += px * qx + py * qy
            b += px * qy - py * qx
            v += px * px + py * py
        }
        let sa = a / max(v, 1e-9), sb = b / max(v, 1e-9)   // s*cos, s*sin
        return [sa, -sb, nx - (sa * mx - sb * my), sb, sa, ny - (sb * mx + sa * my)]
    }

    /// Pastes the face of `source` (landmarks `sourcePoints`) onto the face of `target` (landmarks `targetPoints`).
    public static func swap(source: Image, sourcePoints: [Point], target: Image, targetPoints: [Point]) throws -> Image {
        precondition(sourcePoints.count >= 68 && targetPoints.count >= 68)
        let m = similarity(from: Array(sourcePoints[0..<68]), to: Array(targetPoints[0..<68]))
        let warped = try source.warpedAffine(m, width: target.width, height: target.height, interpolation: .linear, border: .reflect101)
        // Face region: hull of the jaw and the brows, shrunk a little and feathered.
        let ext = Box.bounding(Array(targetPoints[0..<68]))
        let mask = try Image.mask(width: target.width, height: target.height, float: true)
        try mask.fillPolygon((Array(0...26)).map { (targetPoints[$0].x, targetPoints[$0].y) }, hull: true, value: 1, line: .antiAliased)
        let k = max(3, Int(ext.width * 0.12) | 1)
        // Colour transfer inside the hull.
        let corrected = try matchColours(warped, to: target, mask: mask)
        // Keep the feathered edge inside the hull: erode by the feather width first.
        let inner = try mask.blurred(.gaussian, kernel: k).converted(float: true, scale: 2, shift: -1)
        let alpha = try inner.maximum(try Image.mask(width: target.width, height: target.height, float: true))
        return try corrected.blended(over: target, mask: alpha)
    }

    /// Shifts and scales each channel of `image` so that its mean and standard deviation inside `mask` match `reference`'s.
    static func matchColours(_ image: Image, to reference: Image, mask: Image) throws -> Image {
        let w = image.width, h = image.height
        var s1 = [Double](repeating: 0, count: 3), s2 = s1, r1 = s1, r2 = s1
        var n = 0.0
        let mb = mask.withBytes { Array($0.bindMemory(to: Float.self)) }
        let mrow = mask.rowBytes / 4
        image.withBytes { ib in
            reference.withBytes { rb in
                for y in 0..<h {
                    for x in 0..<w where mb[y * mrow + x] > 0.5 {
                        n += 1
                        for c in 0..<3 {
                            let a = Double(ib[y * image.rowBytes + x * 3 + c]), b = Double(rb[y * reference.rowBytes + x * 3 + c])
                            s1[c] += a; s2[c] += a * a; r1[c] += b; r2[c] += b * b
                        }
                    }
                }
            }
        }
        guard n > 10 else { return image }
        let out = image.clone()
        var scale = [Double](repeating: 1, count: 3), shift = scale
        for c in 0..<3 {
            let m1 = s1[c] / n, m2 = r1[c] / n
            let sd1 = max(sqrt(max(s2[c] / n - m1 * m1, 0)), 1), sd2 = sqrt(max(r2[c] / n - m2 * m2, 0))
            scale[c] = sd2 / sd1; shift[c] = m2 - m1 * scale[c]
        }
        out.withMutableBytes { ob in
            for y in 0..<h {
                for x in 0..<w {
                    for c in 0..<3 {
                        let i = y * out.rowBytes + x * 3 + c
                        ob[i] = UInt8(max(0, min(255, (Double(ob[i]) * scale[c] + shift[c]).rounded())))
                    }
                }
            }
        }
        return out
    }
}
