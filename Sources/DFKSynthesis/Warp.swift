// Dense landmark-driven warps, shared by the `reenact` and `blend` manipulations: moving-least-squares
// deformation with similarity transforms (Schaefer, McPhail & Warren, "Image deformation using moving least
// squares", SIGGRAPH 2006). Every output pixel v gets its own similarity f_v, the one that best maps the control
// points' output positions p_i onto their input positions q_i with weights w_i = 1 / |p_i - v|^(2 alpha); the
// output is the input sampled at f_v(v) (a backward map, so there are no holes). f_v(p_i) = q_i exactly, the
// field is smooth between the points, and points with p_i = q_i pin the image (anchors).
import DFKImaging
import DFKRecords
import Foundation

public enum LandmarkWarp {
    /// The backward map at `v`: where in the input the output pixel `v` samples from.
    /// `p`: control points in the output, `q`: the same points in the input.
    public static func source(of v: Point, p: [Point], q: [Point], alpha: Double = 1) -> Point {
        precondition(p.count == q.count && !p.isEmpty)
        var w = 0.0, px = 0.0, py = 0.0, qx = 0.0, qy = 0.0, re = 0.0, im = 0.0, pp = 0.0
        for i in p.indices {
            let dx = p[i].x - v.x, dy = p[i].y - v.y
            let d2 = dx * dx + dy * dy
            if d2 < 1e-12 { return q[i] }
            let wi = alpha == 1 ? 1 / d2 : 1 / pow(d2, alpha)
            w += wi
            px += wi * p[i].x; py += wi * p[i].y; qx += wi * q[i].x; qy += wi * q[i].y
            re += wi * (p[i].x * q[i].x + p[i].y * q[i].y)
            im += wi * (p[i].x * q[i].y - p[i].y * q[i].x)
            pp += wi * (p[i].x * p[i].x + p[i].y * p[i].y)
        }
        return similarityMap(v, w: w, px: px, py: py, qx: qx, qy: qy, re: re, im: im, pp: pp)
    }

    /// Closed form of the weighted similarity (complex a = sum w conj(p^) q^ / sum w |p^|^2, centred sums).
    @inline(__always)
    static func similarityMap(_ v: Point, w: Double, px: Double, py: Double, qx: Double, qy: Double,
                              re: Double, im: Double, pp: Double) -> Point {
        let cpx = px / w, cpy = py / w, cqx = qx / w, cqy = qy / w
        let cre = re - w * (cpx * cqx + cpy * cqy)
        let cim = im - w * (cpx * cqy - cpy * cqx)
        let cpp = pp - w * (cpx * cpx + cpy * cpy)
        guard cpp > 1e-9 else { return Point(v.x - cpx + cqx, v.y - cpy + cqy) }   // one effective point: translation
        let ar = cre / cpp, ai = cim / cpp
        let dx = v.x - cpx, dy = v.y - cpy
        return Point(ar * dx - ai * dy + cqx, ai * dx + ar * dy + cqy)
    }

    /// Warps `image` so that its points `from` land on `to` in a `width` x `height` output. Only the pixels of
    /// `region` (clipped to the output) are moved; elsewhere the output samples the input at the same place.
    public static func warp(_ image: Image, from: [Point], to: [Point], width: Int, height: Int, region: Box,
                            alpha: Double = 1, border: Image.Border = .reflect101) throws -> Image {
        precondition(from.count == to.count && !from.isEmpty)
        var mapX = [Float](repeating: 0, count: width * height), mapY = mapX
        for y in 0..<height { for x in 0..<width { mapX[y * width + x] = Float(x); mapY[y * width + x] = Float(y) } }
        let x0 = max(0, Int(region.left.rounded(.down))), x1 = min(width, Int(region.right.rounded(.up)))
        let y0 = max(0, Int(region.top.rounded(.down))), y1 = min(height, Int(region.bottom.rounded(.up)))
        if x0 < x1 && y0 < y1 {
            let n = to.count
            let p = to.flatMap { [$0.x, $0.y] }, q = from.flatMap { [$0.x, $0.y] }
            p.withUnsafeBufferPointer { p in
                q.withUnsafeBufferPointer { q in
                    mapX.withUnsafeMutableBufferPointer { mx in
                        mapY.withUnsafeMutableBufferPointer { my in
                            for y in y0..<y1 {
                                let vy = Double(y)
                                for x in x0..<x1 {
                                    let vx = Double(x)
                                    var w = 0.0, px = 0.0, py = 0.0, qx = 0.0, qy = 0.0, re = 0.0, im = 0.0, pp = 0.0
                                    var hit = -1
                                    for i in 0..<n {
                                        let ax = p[2 * i], ay = p[2 * i + 1], bx = q[2 * i], by = q[2 * i + 1]
                                        let dx = ax - vx, dy = ay - vy
                                        let d2 = dx * dx + dy * dy
                                        if d2 < 1e-12 { hit = i; break }
                                        let wi = alpha == 1 ? 1 / d2 : 1 / pow(d2, alpha)
                                        w += wi
                                        px += wi * ax; py += wi * ay; qx += wi * bx; qy += wi * by
                                        re += wi * (ax * bx + ay * by)
                                        im += wi * (ax * by - ay * bx)
                                        pp += wi * (ax * ax + ay * ay)
                                    }
                                    let s = hit >= 0 ? Point(q[2 * hit], q[2 * hit + 1])
                                        : similarityMap(Point(vx, vy), w: w, px: px, py: py, qx: qx, qy: qy, re: re, im: im, pp: pp)
                                    mx[y * width + x] = Float(s.x); my[y * width + x] = Float(s.y)
                                }
                            }
                        }
                    }
                }
            }
        }
        return try image.remapped(mapX: mapX, mapY: mapY, width: width, height: height, interpolation: .linear, border: border)
    }

    /// `count` points evenly spaced on the ellipse inscribed in `box` (anchors that pin the image around a face).
    public static func ellipse(_ box: Box, count: Int) -> [Point] {
        let c = box.center, a = box.width / 2, b = box.height / 2
        return (0..<count).map { k in
            let t = 2 * Double.pi * Double(k) / Double(count)
            return Point(c.x + a * cos(t), c.y + b * sin(t))
        }
    }
}

/// The 68-point extent of a face grown by `fx` x its width left and right and `fy` x its height above and below.
func grownExtent(_ pts: [Point], fx: Double, fy: Double) -> Box {
    let b = Box.bounding(pts)
    return Box(left: b.left - fx * b.width, top: b.top - fy * b.height, right: b.right + fx * b.width, bottom: b.bottom + fy * b.height)
}

/// Why a manipulation refused its input (one line, naming what is wrong).
public struct ManipulationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }

    /// 8-bit BGR images only (what video frames and image files decode to).
    static func checkImage(_ image: Image, what: String) throws {
        guard image.channels == 3, !image.isFloat else {
            throw ManipulationError("\(what) must be an 8-bit colour image (has \(image.channels) channel(s)\(image.isFloat ? ", float" : ""))")
        }
    }

    /// 68 finite landmarks (the iBUG layout; more are allowed and ignored) spanning at least `minSize` pixels, and,
    /// when an image is given, lying on it (a tenth of the face's size of slack for a chin at the border).
    static func checkLandmarks(_ pts: [Point], what: String, in image: Image? = nil, minSize: Double = 16) throws {
        guard pts.count >= 68 else { throw ManipulationError("\(what) has \(pts.count) landmarks; the 68-point layout is needed") }
        let p = Array(pts[0..<68])
        guard p.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else { throw ManipulationError("\(what) has non-finite landmarks") }
        let b = Box.bounding(p)
        guard b.width >= minSize && b.height >= minSize else {
            throw ManipulationError("\(what) is too small (\(Int(b.width))x\(Int(b.height)) px landmark extent; \(Int(minSize)) px at least)")
        }
        if let image {
            let slack = 0.1 * max(b.width, b.height)
            let frame = Box(left: 0, top: 0, right: Double(image.width), bottom: Double(image.height))
            guard p.allSatisfy({ frame.contains($0, tolerance: slack) }) else {
                throw ManipulationError("\(what) has landmarks outside the \(image.width)x\(image.height) image")
            }
        }
    }
}
