// Swift face of the synthesis building blocks in the CVision shim (ops.cpp). Every operation returns a new image.
import CVision
import Foundation

extension Image {
    public enum LineType: Int32, Sendable { case line8 = 8, antiAliased = 16 }
    public enum BlurKind: Int32, Sendable, CaseIterable {
        case gaussian = 0, average = 1, median = 2
        /// The word for it on command lines and in result-cache keys: gaussian, average, median.
        public var name: String {
            switch self { case .gaussian: return "gaussian"; case .average: return "average"; case .median: return "median" }
        }
        public init?(name: String) {
            guard let k = BlurKind.allCases.first(where: { $0.name == name }) else { return nil }
            self = k
        }
    }
    public enum Border: Int32, Sendable { case constant = 0, reflect101 = 1 }

    /// A zero-filled one-channel mask.
    public static func mask(width: Int, height: Int, float: Bool) throws -> Image {
        try Image(width: width, height: height, channels: 1, float: float)
    }
    public func converted(float: Bool, scale: Double = 1, shift: Double = 0) throws -> Image {
        Image(handle: try native { dfk_convert(handle, float ? Int32(DFK_F32) : Int32(DFK_U8), scale, shift, $0) })
    }
    public func flippedHorizontally() throws -> Image { Image(handle: try native { dfk_flip_horizontal(handle, $0) }) }

    /// Fills the polygon (or its convex hull) with `value` on every channel.
    public func fillPolygon(_ points: [(Double, Double)], hull: Bool = true, value: Double, line: LineType = .line8) throws {
        var xy: [Double] = []
        xy.reserveCapacity(points.count * 2)
        for p in points { xy.append(p.0); xy.append(p.1) }
        _ = try nativeStatus { dfk_fill_poly_inplace(handle, xy, Int32(points.count), hull ? 1 : 0, value, line.rawValue, $0) }
    }
    public func drawLine(from a: (Double, Double), to b: (Double, Double), thickness: Int, value: Double, line: LineType = .line8) throws {
        _ = try nativeStatus { dfk_draw_line_inplace(handle, a.0, a.1, b.0, b.1, Int32(thickness), value, line.rawValue, $0) }
    }
    public func blurred(_ kind: BlurKind, kernel: Int, sigma: Double = 0) throws -> Image {
        Image(handle: try native { dfk_blur(handle, kind.rawValue, Int32(kernel), sigma, $0) })
    }
    public var maxValue: Double { dfk_max_value(handle) }
    public func maximum(_ other: Image) throws -> Image { Image(handle: try native { dfk_combine(handle, other.handle, 0, $0) }) }
    /// max(self - other, 0)
    public func subtractingClamped(_ other: Image) throws -> Image { Image(handle: try native { dfk_combine(handle, other.handle, 1, $0) }) }
    public func multiplied(_ other: Image) throws -> Image { Image(handle: try native { dfk_combine(handle, other.handle, 2, $0) }) }
    public func zeroBelow(_ threshold: Double) throws { _ = try nativeStatus { dfk_zero_below_inplace(handle, threshold, $0) } }

    /// Affine warp with the 2x3 matrix `m` (row-major) into a `width` x `height` image.
    public func warpedAffine(_ m: [Double], width: Int, height: Int, interpolation: Interpolation = .linear,
                             border: Border = .constant) throws -> Image {
        precondition(m.count == 6)
        return Image(handle: try native { dfk_warp_affine(handle, m, Int32(width), Int32(height), interpolation.rawValue, border.rawValue, $0) })
    }
    /// Elastic deformation by the fields dx, dy (values in [-1, 1], row-major, image size). `kernel` 0 smooths the
    /// fields as scipy.ndimage.gaussian_filter(sigma) does (albumentations' non-approximate path: radius
    /// int(4 sigma + 0.5), 'reflect' border, float64); a positive odd `kernel` uses OpenCV's GaussianBlur of that size.
    public func elastic(dx: [Float], dy: [Float], alpha: Double, sigma: Double, kernel: Int,
                        interpolation: Interpolation = .nearest, border: Border = .reflect101) throws -> Image {
        precondition(dx.count == width * height && dy.count == width * height)
        return Image(handle: try native { dfk_elastic(handle, dx, dy, alpha, sigma, Int32(kernel), interpolation.rawValue, border.rawValue, $0) })
    }
    /// scipy.ndimage.gaussian_filter(self, sigma) of a float32 one-channel image (float64 arithmetic, kernel radius
    /// int(4 sigma + 0.5), 'reflect' border): the smoothing `elastic(kernel: 0)` applies to its fields.
    public func gaussianFiltered(sigma: Double) throws -> Image {
        Image(handle: try native { dfk_gaussian_filter(handle, sigma, $0) })
    }
    /// Backward remap into a `width` x `height` image: output(x, y) = self(mapX[y * width + x], mapY[y * width + x]).
    public func remapped(mapX: [Float], mapY: [Float], width: Int, height: Int, interpolation: Interpolation = .linear,
                         border: Border = .reflect101) throws -> Image {
        precondition(mapX.count == width * height && mapY.count == width * height)
        return Image(handle: try native { dfk_remap(handle, mapX, mapY, Int32(width), Int32(height), interpolation.rawValue, border.rawValue, $0) })
    }
    public func rgbShifted(r: Int, g: Int, b: Int) throws -> Image {
        Image(handle: try native { dfk_rgb_shift(handle, Int32(r), Int32(g), Int32(b), $0) })
    }
    public func hsvShifted(hue: Double, saturation: Double, value: Double) throws -> Image {
        Image(handle: try native { dfk_hsv_shift(handle, hue, saturation, value, $0) })
    }
    public func brightnessContrast(brightness: Double, contrast: Double) throws -> Image {
        Image(handle: try native { dfk_brightness_contrast(handle, brightness, contrast, $0) })
    }
    public func sharpened(alpha: Double, lightness: Double) throws -> Image {
        Image(handle: try native { dfk_sharpen(handle, alpha, lightness, $0) })
    }
    public func jpegRoundTrip(quality: Int) throws -> Image {
        Image(handle: try native { dfk_jpeg_roundtrip(handle, Int32(quality), $0) })
    }
    /// mask * source + (1 - mask) * target, rounded to 8 bits (or, with `truncate`, computed in float64 and
    /// truncated like NumPy's astype(np.uint8)). `self` is the source.
    public func blended(over target: Image, mask: Image, truncate: Bool = false) throws -> Image {
        Image(handle: try native { dfk_blend_cast(handle, target.handle, mask.handle, truncate ? 1 : 0, $0) })
    }
    public func toBGR() throws -> Image { Image(handle: try native { dfk_to_bgr(handle, $0) }) }
    public func paste(_ tile: Image, x: Int, y: Int) throws {
        _ = try nativeStatus { dfk_paste_inplace(handle, tile.handle, Int32(x), Int32(y), $0) }
    }
    /// Maps an 8-bit image through lookup tables of 256 entries: one table for every channel, or one per channel
    /// (in the image's channel order).
    public func lookedUp(_ tables: [[UInt8]]) throws -> Image {
        precondition(!tables.isEmpty && tables.allSatisfy { $0.count == 256 })
        let flat = tables.flatMap { $0 }
        return Image(handle: try native { dfk_lut(handle, flat, Int32(tables.count), $0) })
    }
    /// Swaps the first and third channels (BGR <-> RGB).
    public func swappedRedBlue() throws -> Image { Image(handle: try native { dfk_swap_rb(handle, $0) }) }
    /// Float value at (x, y, channel) of a float image.
    public func float(x: Int, y: Int, channel: Int = 0) -> Float {
        withBytes { $0.load(fromByteOffset: y * rowBytes + (x * channels + channel) * 4, as: Float.self) }
    }
}

/// A grid of thumbnails (rows of images side by side) for a person to look at.
public struct ContactSheet {
    public let tile: Int
    public let columns: Int
    private var rows: [[Image]] = []
    public init(tile: Int = 160, columns: Int) { self.tile = tile; self.columns = columns }
    public var count: Int { rows.count }

    /// Adds a row; float masks in [0, 1] are shown as gray.
    public mutating func add(_ images: [Image]) throws {
        rows.append(try images.map(fitted))
    }

    /// An image as its tile: 8-bit BGR, fitted inside tile x tile (aspect kept, centred on black). Tiles made
    /// here pass through `add` unchanged, so a caller can draw on them at their final size.
    public func fitted(_ img: Image) throws -> Image {
        var x = img
        if x.isFloat { x = try x.converted(float: false, scale: 255) }
        x = try x.toBGR()
        if x.width == tile && x.height == tile { return x }
        // Fit inside the tile, keeping the aspect ratio.
        let scale = Double(tile) / Double(max(x.width, x.height))
        let w = max(1, Int(Double(x.width) * scale)), h = max(1, Int(Double(x.height) * scale))
        let t = try Image(width: tile, height: tile, channels: 3)
        try t.paste(try x.resized(width: w, height: h, interpolation: .area), x: (tile - w) / 2, y: (tile - h) / 2)
        return t
    }

    public func render() throws -> Image {
        let gap = 4
        let sheet = try Image(width: columns * (tile + gap) + gap, height: max(1, rows.count) * (tile + gap) + gap, channels: 3)
        for (r, row) in rows.enumerated() {
            for (c, img) in row.enumerated() where c < columns {
                try sheet.paste(img, x: gap + c * (tile + gap), y: gap + r * (tile + gap))
            }
        }
        return sheet
    }
}
