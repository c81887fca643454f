// Swift wrappers over the CVision C shim: images and video.
import CVision
import DFKCore
import Foundation

public struct VisionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Calls a shim function that reports failures through `char **err`.
@inline(__always)
func native<T>(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> T?) throws -> T {
    var err: UnsafeMutablePointer<CChar>? = nil
    if let v = body(&err) { return v }
    let msg = err.map { String(cString: $0) } ?? "unknown error"
    dfk_string_free(err)
    throw VisionError(msg)
}
@inline(__always)
func nativeStatus(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32) throws -> Int32 {
    var err: UnsafeMutablePointer<CChar>? = nil
    let r = body(&err)
    if r >= 0 { return r }
    let msg = err.map { String(cString: $0) } ?? "unknown error"
    dfk_string_free(err)
    throw VisionError(msg)
}

public enum Vision {
    /// Threads OpenCV may use inside one call (resize, colour conversion...).
    public static func setThreads(_ n: Int) { dfk_set_num_threads(Int32(n)) }
}

/// Output image formats.
public enum ImageFormat: Sendable, Equatable {
    /// Lossless PNG with a zlib level (OpenCV's default is 1: fast, larger files).
    case png(level: Int)
    case jpeg(quality: Int)
    /// TIFF, lossless for 32-bit float images (masks).
    case tiff
    public var fileExtension: String {
        switch self { case .png: return "png"; case .jpeg: return "jpg"; case .tiff: return "tiff" }
    }
}

/// An image in memory (8-bit BGR, 8-bit gray or 32-bit float), backed by a cv::Mat.
public final class Image: @unchecked Sendable {
    let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }
    deinit { dfk_image_free(handle) }

    /// Reads a PNG/JPEG/... file as 8-bit BGR.
    public static func read(_ path: String) throws -> Image {
        Image(handle: try native { dfk_image_read(path, $0) })
    }
    public static func decode(_ bytes: [UInt8], unchanged: Bool = false) throws -> Image {
        Image(handle: try native { err in bytes.withUnsafeBufferPointer { dfk_image_decode($0.baseAddress, $0.count, unchanged ? 1 : 0, err) } })
    }
    /// A zero-filled image, or a copy of `data` (rows packed).
    public init(width: Int, height: Int, channels: Int, float: Bool = false, data: UnsafeRawPointer? = nil) throws {
        handle = try native { dfk_image_new(Int32(width), Int32(height), Int32(channels), float ? Int32(DFK_F32) : Int32(DFK_U8), data, 0, $0) }
    }

    public var width: Int { var w: Int32 = 0; dfk_image_info(handle, &w, nil, nil, nil, nil); return Int(w) }
    public var height: Int { var h: Int32 = 0; dfk_image_info(handle, nil, &h, nil, nil, nil); return Int(h) }
    public var channels: Int { var c: Int32 = 0; dfk_image_info(handle, nil, nil, &c, nil, nil); return Int(c) }
    public var isFloat: Bool { var d: Int32 = 0; dfk_image_info(handle, nil, nil, nil, &d, nil); return d == DFK_F32 }
    public var rowBytes: Int { var s: Int = 0; dfk_image_info(handle, nil, nil, nil, nil, &s); return s }

    /// Raw access to the pixel rows (`rowBytes` apart).
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: dfk_image_data(handle), count: rowBytes * height))
    }
    public func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: dfk_image_data(handle), count: rowBytes * height))
    }
    /// The 8-bit value at (x, y, channel).
    public func byte(x: Int, y: Int, channel: Int = 0) -> UInt8 {
        withBytes { $0[y * rowBytes + x * channels + channel] }
    }

    public func clone() -> Image { Image(handle: dfk_image_clone(handle)!) }

    public func encoded(_ format: ImageFormat) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var len = 0
        let ext: String, param: Int
        switch format {
        case .png(let level): ext = ".png"; param = level
        case .jpeg(let q): ext = ".jpg"; param = q
        case .tiff: ext = ".tiff"; param = -1
        }
        _ = try nativeStatus { dfk_image_encode(handle, ext, Int32(param), &out, &len, $0) }
        defer { dfk_buffer_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }

    /// Encodes and writes atomically (temporary file, then rename).
    public func write(to path: String, format: ImageFormat) throws {
        let bytes = try encoded(format)
        try AtomicFile.write(bytes, to: path)
    }

    /// Copy of a region that must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> Image {
        Image(handle: try native { dfk_image_crop(handle, Int32(x), Int32(y), Int32(w), Int32(h), $0) })
    }

    public enum Interpolation: Int32, Sendable { case nearest = 0, linear = 1, cubic = 2, area = 3 }
    public func resized(width w: Int, height h: Int, interpolation: Interpolation = .linear) throws -> Image {
        Image(handle: try native { dfk_image_resize(handle, Int32(w), Int32(h), interpolation.rawValue, $0) })
    }
}

/// A video opened with OpenCV's FFmpeg backend.
public final class Video {
    let handle: OpaquePointer
    public let path: String
    /// Frame count as the container reports it (can be 0 or wrong).
    public let reportedFrameCount: Int
    public let fps: Double
    public let width: Int
    public let height: Int

    public init(path: String, threads: Int = 0) throws {
        self.path = path
        handle = try native { dfk_video_open(path, Int32(threads), $0) }
        var n: Int64 = 0, f = 0.0
        var w: Int32 = 0, h: Int32 = 0
        dfk_video_props(handle, &n, &f, &w, &h)
        reportedFrameCount = Int(max(0, n))
        fps = f.isFinite && f > 0 ? f : 0
        width = Int(w); height = Int(h)
    }
    deinit { dfk_video_free(handle) }

    /// Positions the decoder so that the next `grab` returns frame `index`.
    public func seek(to index: Int) throws { _ = try nativeStatus { dfk_video_seek(handle, Int64(index), $0) } }
    /// Index of the frame the next `grab` returns, as reported by the backend.
    public var position: Int { Int(dfk_video_position(handle)) }
    /// Presentation time of the last grabbed frame, in milliseconds from the stream start.
    public var msec: Double { dfk_video_msec(handle) }
    /// Decodes the next frame (without colour conversion). False at the end of the stream.
    public func grab() -> Bool { dfk_video_grab(handle) == 1 }
    /// The last grabbed frame as 8-bit BGR.
    public func retrieve() throws -> Image { Image(handle: try native { dfk_video_retrieve(handle, $0) }) }
}

/// Writes a video (OpenCV's FFmpeg backend). Call `close` to finish the file.
public final class VideoWriter {
    private var handle: OpaquePointer?
    public let width: Int, height: Int

    /// `fourcc`: "MJPG" for Motion-JPEG in AVI, "mp4v" for MPEG-4 Part 2 in MP4.
    public init(path: String, fourcc: String = "MJPG", fps: Double, width: Int, height: Int) throws {
        self.width = width; self.height = height
        handle = try native { dfk_video_writer_open(path, fourcc, fps, Int32(width), Int32(height), $0) }
    }
    public func write(_ frame: Image) throws {
        guard let handle else { throw VisionError("video writer is closed") }
        _ = try nativeStatus { dfk_video_writer_write(handle, frame.handle, $0) }
    }
    public func close() {
        if let h = handle { dfk_video_writer_close(h) }
        handle = nil
    }
    deinit { close() }
}
