// Plots people look at: line charts (ROC curves, training curves) and overlaid histograms, drawn with OpenCV
// through the CVision shim (draw.cpp) and written as PNG. metrics, train and score-video share this one module.
import CVision
import DFKCore
import Foundation

/// A colour as (red, green, blue), 0-255.
public struct PlotColor: Sendable, Equatable {
    public var r: Double, g: Double, b: Double
    public init(_ r: Double, _ g: Double, _ b: Double) { self.r = r; self.g = g; self.b = b }
    public static let black = PlotColor(0, 0, 0), white = PlotColor(255, 255, 255)
    public static let gray = PlotColor(150, 150, 150), lightGray = PlotColor(225, 225, 225)
    /// Tableau-like categorical colours; `palette[i % count]` for the i-th series.
    public static let palette: [PlotColor] = [
        PlotColor(31, 119, 180), PlotColor(214, 39, 40), PlotColor(44, 160, 44), PlotColor(255, 127, 14),
        PlotColor(148, 103, 189), PlotColor(140, 86, 75), PlotColor(227, 119, 194), PlotColor(23, 190, 207),
    ]
    public static let real = PlotColor(31, 119, 180), fake = PlotColor(214, 39, 40)
}

extension Image {
    /// A blank 8-bit BGR image of one colour.
    public static func canvas(width: Int, height: Int, color: PlotColor = .white) throws -> Image {
        let img = try Image(width: width, height: height, channels: 3)
        try img.fillRect(x: 0, y: 0, width: width, height: height, color: color)
        return img
    }
    public func polyline(_ points: [(Double, Double)], color: PlotColor, thickness: Int = 1, closed: Bool = false,
                         antiAliased: Bool = true) throws {
        guard points.count >= 2 else { return }
        var xy: [Double] = []
        xy.reserveCapacity(points.count * 2)
        for p in points { xy.append(p.0); xy.append(p.1) }
        _ = try nativeStatus { dfk_draw_polyline_bgr(handle, xy, Int32(points.count), closed ? 1 : 0, color.b, color.g, color.r,
                                                     Int32(thickness), antiAliased ? 16 : 8, $0) }
    }
    /// Fills a rectangle (clipped to the image) with `color` at opacity `alpha`.
    public func fillRect(x: Int, y: Int, width: Int, height: Int, color: PlotColor, alpha: Double = 1) throws {
        _ = try nativeStatus { dfk_fill_rect_bgr(handle, Int32(x), Int32(y), Int32(width), Int32(height), color.b, color.g, color.r, alpha, $0) }
    }
    /// ASCII text (other characters become '?') with its baseline starting at (x, y); `vertical` reads upwards.
    public func text(_ s: String, x: Int, y: Int, scale: Double = 0.45, color: PlotColor = .black, thickness: Int = 1,
                     vertical: Bool = false) throws {
        let ascii = Plot.ascii(s)
        _ = try nativeStatus { dfk_draw_text_bgr(handle, ascii, Int32(x), Int32(y), scale, color.b, color.g, color.r,
                                                 Int32(thickness), vertical ? 1 : 0, $0) }
    }
    /// Width and height (above the baseline) of `s` as `text` draws it.
    public static func textSize(_ s: String, scale: Double = 0.45, thickness: Int = 1) -> (width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0, b: Int32 = 0
        dfk_text_size(Plot.ascii(s), scale, Int32(thickness), &w, &h, &b)
        return (Int(w), Int(h) + Int(b))
    }
}

public enum Plot {
    /// One line of a chart: points in data coordinates, drawn in order.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: PlotColor
        public var thickness: Int
        /// Also mark each point with a small square (few points, e.g. one per epoch).
        public var markers: Bool
        public init(name: String, points: [(x: Double, y: Double)], color: PlotColor, thickness: Int = 2, markers: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.thickness = thickness; self.markers = markers
        }
    }
    /// One distribution of a histogram.
    public struct Group: Sendable {
        public var name: String, values: [Double], color: PlotColor
        public init(name: String, values: [Double], color: PlotColor) { self.name = name; self.values = values; self.color = color }
    }

    static func ascii(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.isASCII && $0.value >= 32 ? $0 : "?" }))
    }

    /// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `target` of them.
    public static func ticks(_ lo: Double, _ hi: Double, target: Int = 6) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(1, target))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var v = ceil(lo / step - 1e-9) * step
        while v <= hi + step * 1e-9 { out.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return out
    }
    static func label(_ v: Double, step: Double) -> String {
        let decimals = max(0, min(6, Int(-floor(log10(step) + 1e-9))))
        return String(format: "%.\(decimals)f", v)
    }
    /// A range that holds every value, padded by 5% (a flat series gets +-0.5 or +-5%).
    public static func range(_ values: [Double]) -> (Double, Double) {
        let v = values.filter(\.isFinite)
        guard let lo = v.min(), let hi = v.max() else { return (0, 1) }
        if hi == lo { let d = lo == 0 ? 0.5 : abs(lo) * 0.05; return (lo - d, hi + d) }
        let pad = (hi - lo) * 0.05
        return (lo - pad, hi + pad)
    }

    /// The frame every chart shares: title, axes with ticks and labels; returns the canvas and a mapping from data to pixels.
    struct Frame {
        let image: Image
        let left: Int, top: Int, right: Int, bottom: Int
        let x: (Double, Double), y: (Double, Double)
        func px(_ vx: Double, _ vy: Double) -> (Double, Double) {
            (Double(left) + (vx - x.0) / (x.1 - x.0) * Double(right - left),
             Double(bottom) - (vy - y.0) / (y.1 - y.0) * Double(bottom - top))
        }
    }
    static func frame(title: String, xLabel: String, yLabel: String, x: (Double, Double), y: (Double, Double),
                      width: Int, height: Int) throws -> Frame {
        let img = try Image.canvas(width: width, height: height)
        let f = Frame(image: img, left: 72, top: 42, right: width - 20, bottom: height - 52, x: x, y: y)
        // grid and ticks
        let xs = ticks(x.0, x.1), ys = ticks(y.0, y.1)
        let xStep = xs.count > 1 ? xs[1] - xs[0] : 1, yStep = ys.count > 1 ? ys[1] - ys[0] : 1
        for t in xs {
            let (px, _) = f.px(t, y.0)
            try img.polyline([(px, Double(f.top)), (px, Double(f.bottom))], color: .lightGray, antiAliased: false)
            try img.polyline([(px, Double(f.bottom)), (px, Double(f.bottom + 5))], color: .black, antiAliased: false)
            let s = label(t, step: xStep), w = Image.textSize(s, scale: 0.4).width
            try img.text(s, x: Int(px) - w / 2, y: f.bottom + 20, scale: 0.4)
        }
        for t in ys {
            let (_, py) = f.px(x.0, t)
            try img.polyline([(Double(f.left), py), (Double(f.right), py)], color: .lightGray, antiAliased: false)
            try img.polyline([(Double(f.left - 5), py), (Double(f.left), py)], color: .black, antiAliased: false)
            let s = label(t, step: yStep), w = Image.textSize(s, scale: 0.4).width
            try img.text(s, x: f.left - 8 - w, y: Int(py) + 5, scale: 0.4)
        }
        try img.polyline([(Double(f.left), Double(f.top)), (Double(f.right), Double(f.top)), (Double(f.right), Double(f.bottom)),
                          (Double(f.left), Double(f.bottom))], color: .black, closed: true, antiAliased: false)
        // title (shortened to fit), axis labels
        var t = title
        while Image.textSize(t, scale: 0.55).width > width - 20 && t.count > 4 { t = String(t.dropLast(4)) + "..." }
        let tw = Image.textSize(t, scale: 0.55).width
        try img.text(t, x: max(4, (width - tw) / 2), y: 26, scale: 0.55)
        let xw = Image.textSize(xLabel).width
        try img.text(xLabel, x: (f.left + f.right - xw) / 2, y: height - 12)
        let yw = Image.textSize(yLabel).width
        try img.text(yLabel, x: 20, y: (f.top + f.bottom + yw) / 2, vertical: true)
        return f
    }

    static func legend(_ f: Frame, _ entries: [(String, PlotColor)], corner: Corner) throws {
        guard !entries.isEmpty else { return }
        let scale = 0.4, lineH = 17
        let w = (entries.map { Image.textSize($0.0, scale: scale).width }.max() ?? 0) + 40
        let h = entries.count * lineH + 8
        let x0 = corner == .bottomRight || corner == .topRight ? f.right - w - 8 : f.left + 8
        let y0 = corner == .bottomRight ? f.bottom - h - 8 : f.top + 8
        try f.image.fillRect(x: x0, y: y0, width: w, height: h, color: .white, alpha: 0.85)
        try f.image.polyline([(Double(x0), Double(y0)), (Double(x0 + w), Double(y0)), (Double(x0 + w), Double(y0 + h)),
                              (Double(x0), Double(y0 + h))], color: .gray, closed: true, antiAliased: false)
        for (i, e) in entries.enumerated() {
            let y = Double(y0 + 4 + i * lineH + lineH / 2)
            try f.image.polyline([(Double(x0 + 6), y), (Double(x0 + 28), y)], color: e.1, thickness: 3)
            try f.image.text(e.0, x: x0 + 34, y: Int(y) + 5, scale: scale)
        }
    }
    public enum Corner: Sendable { case topLeft, topRight, bottomRight }

    /// A line chart. `diagonal` draws the chance line y = x (ROC curves). Ranges default to the data's, padded.
    public static func lines(_ series: [Series], title: String, xLabel: String, yLabel: String,
                             xRange: (Double, Double)? = nil, yRange: (Double, Double)? = nil, diagonal: Bool = false,
                             legend corner: Corner = .topRight, width: Int = 640, height: Int = 480) throws -> Image {
        let xr = xRange ?? range(series.flatMap { $0.points.map(\.x) })
        let yr = yRange ?? range(series.flatMap { $0.points.map(\.y) })
        let f = try frame(title: title, xLabel: xLabel, yLabel: yLabel, x: xr, y: yr, width: width, height: height)
        if diagonal {
            let lo = max(xr.0, yr.0), hi = min(xr.1, yr.1)
            // dashed chance line
            let n = 40
            for k in stride(from: 0, to: n, by: 2) {
                let a = lo + (hi - lo) * Double(k) / Double(n), b = lo + (hi - lo) * Double(k + 1) / Double(n)
                try f.image.polyline([f.px(a, a), f.px(b, b)], color: .gray)
            }
        }
        for s in series {
            // Non-finite points split the line.
            var run: [(Double, Double)] = []
            for p in s.points {
                if p.x.isFinite && p.y.isFinite { run.append(f.px(p.x, p.y)) } else {
                    try f.image.polyline(run, color: s.color, thickness: s.thickness); run = []
                }
            }
            try f.image.polyline(run, color: s.color, thickness: s.thickness)
            if s.markers || s.points.count == 1 {
                for p in s.points where p.x.isFinite && p.y.isFinite {
                    let (px, py) = f.px(p.x, p.y)
                    try f.image.fillRect(x: Int(px) - 3, y: Int(py) - 3, width: 7, height: 7, color: s.color)
                }
            }
        }
        try legend(f, series.filter { !$0.name.isEmpty }.map { ($0.name, $0.color) }, corner: corner)
        return f.image
    }

    /// Overlaid histograms over [lo, hi] in `bins` equal bins, each group normalised to its own count (a density,
    /// so classes of different sizes compare), drawn as translucent bars with an outline.
    public static func histogram(_ groups: [Group], title: String, xLabel: String, range: (Double, Double) = (0, 1),
                                 bins: Int = 20, width: Int = 640, height: Int = 480) throws -> Image {
        let binW = (range.1 - range.0) / Double(bins)
        let density: [[Double]] = groups.map { g in
            var c = [Double](repeating: 0, count: bins)
            let finite = g.values.filter(\.isFinite)
            for v in finite {
                let k = min(bins - 1, max(0, Int(((v - range.0) / binW).rounded(.down))))
                c[k] += 1
            }
            return finite.isEmpty ? c : c.map { $0 / Double(finite.count) / binW }
        }
        let top = (density.flatMap { $0 }.max() ?? 1) * 1.1
        let f = try frame(title: title, xLabel: xLabel, yLabel: "density", x: range, y: (0, top > 0 ? top : 1),
                          width: width, height: height)
        for (g, d) in zip(groups, density) {
            var outline: [(Double, Double)] = [f.px(range.0, 0)]
            for k in 0..<bins {
                let a = f.px(range.0 + Double(k) * binW, d[k]), b = f.px(range.0 + Double(k + 1) * binW, 0)
                try f.image.fillRect(x: Int(a.0.rounded()), y: Int(a.1.rounded()), width: Int((b.0 - a.0).rounded()),
                                     height: Int((b.1 - a.1).rounded()), color: g.color, alpha: 0.35)
                outline.append((a.0, a.1)); outline.append((b.0, a.1))
            }
            outline.append(f.px(range.1, 0))
            try f.image.polyline(outline, color: g.color, thickness: 2)
        }
        try legend(f, groups.map { ("\($0.name) (n=\($0.values.count))", $0.color) }, corner: .topLeft)
        return f.image
    }

    /// Writes a plot as PNG atomically.
    public static func write(_ image: Image, to path: String) throws {
        try image.write(to: path, format: .png(level: 3))
    }
}
