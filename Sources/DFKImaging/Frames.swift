// Frame sampling and extraction from videos.
import DFKCore
import DFKRecords
import Foundation

public enum FrameSampling: Sendable, Equatable {
    /// N frames evenly spaced from the first to the last: numpy's int(linspace(0, count-1, N)) (SBI, DeepfakeBench).
    case evenly(Int)
    /// Every K-th frame, starting at frame 0.
    case every(Int)
    case all

    /// The sorted, distinct frame indices to take from a video of `count` frames.
    public func indices(frameCount count: Int) -> [Int] {
        guard count > 0 else { return [] }
        switch self {
        case .all: return Array(0..<count)
        case .every(let k): return Array(stride(from: 0, to: count, by: max(1, k)))
        case .evenly(let n): return EvenSampling.indices(count: count, n: n)
        }
    }
    public var description: String {
        switch self {
        case .evenly(let n): return "evenly:\(n)"
        case .every(let k): return "every:\(k)"
        case .all: return "all"
        }
    }
}

public struct ExtractedFrame: Sendable {
    public var index: Int
    public var path: String
    public var time: Double?
}

public struct ExtractionResult: Sendable {
    public var frames: [ExtractedFrame]
    /// Frame count used for sampling, and where it came from ("container" or "decoded").
    public var frameCount: Int
    public var countSource: String
    public var fps: Double
    public var width: Int
    public var height: Int
    /// Frames written by this call (the others already existed).
    public var written: Int
}

/// Extracts sampled frames of one video into `directory` as `NNNNNN.png|jpg` (index zero-padded to 6).
///
/// Frame indices mean what sequential decoding from the start means (as in the SBI reference, which reads
/// every frame). Seeking is only a shortcut and is used only where it is exact: when the stream's first
/// timestamps show a constant frame rate equal to the reported one (variable-frame-rate files, common from
/// phones, make OpenCV land on the wrong frame), and every seek is checked against the expected timestamp,
/// falling back to decoding forward if it is off. When the container's frame count is missing, or turns out
/// too high (a wanted frame past the real end), the frames are counted by decoding and the sampling redone,
/// so the result is always the sampling of the true count. Frames whose file already exists are not decoded.
public struct FrameExtractor: Sendable {
    public var sampling: FrameSampling
    public var format: ImageFormat
    /// Seek when the next wanted frame is further ahead than this; Int.max never seeks.
    public var seekGap: Int
    public var decoderThreads: Int

    public init(sampling: FrameSampling, format: ImageFormat = .png(level: 1), seekGap: Int = 300, decoderThreads: Int = 0) {
        self.sampling = sampling; self.format = format; self.seekGap = seekGap; self.decoderThreads = decoderThreads
    }

    public func fileName(for index: Int) -> String {
        let s = String(index)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s + "." + format.fileExtension
    }

    public func extract(video path: String, into directory: String) throws -> ExtractionResult {
        var video = try Video(path: path, threads: decoderThreads)
        try Paths.makeDirectory(directory)
        AtomicFile.sweepStaleTemporaries(in: directory)
        let writer = ParallelWriter(format: format)
        var writtenNow: [String] = []
        func file(_ i: Int) -> String { directory + "/" + fileName(for: i) }
        let write: (Int, Image) -> Void = { i, img in writer.submit(img, to: file(i)); writtenNow.append(file(i)) }

        var count: Int
        var source: String
        var indices: [Int]
        if sampling == .all {
            // One pass: count while writing the frames that are not there yet.
            var i = 0
            while video.grab() {
                try Cancellation.check()   // a safe point between frames
                if !Paths.exists(file(i)) { write(i, try video.retrieve()) }
                i += 1
            }
            count = i
            source = "decoded"
            indices = Array(0..<count)
        } else {
            count = video.reportedFrameCount
            source = "container"
            if count <= 0 {
                count = try countFrames(path)
                source = "decoded"
                video = try Video(path: path, threads: decoderThreads)
            }
            indices = sampling.indices(frameCount: count)
            let complete = try decode(&video, path: path, wanted: indices.filter { !Paths.exists(file($0)) }, write: write)
            if !complete {
                // The container over-reported its length: count by decoding, resample, decode again.
                try writer.finish()
                count = try countFrames(path)
                source = "decoded"
                let fresh = sampling.indices(frameCount: count)
                let keep = Set(fresh.map(file))
                for p in writtenNow where !keep.contains(p) { unlink(p) }
                writtenNow = writtenNow.filter { keep.contains($0) }
                indices = fresh
                video = try Video(path: path, threads: decoderThreads)
                guard try decode(&video, path: path, wanted: fresh.filter { !Paths.exists(file($0)) }, seek: false, write: write) else {
                    throw VisionError("video ended early twice while decoding (unstable stream)")
                }
            }
        }
        try writer.finish()
        guard count > 0 else { throw VisionError("video has no decodable frames") }
        let frames = indices.map { i in
            ExtractedFrame(index: i, path: file(i), time: video.fps > 0 ? Double(i) / video.fps : nil)
        }
        return ExtractionResult(frames: frames, frameCount: count, countSource: source, fps: video.fps,
                                width: video.width, height: video.height, written: writtenNow.count)
    }

    /// Decodes the sorted frame indices `wanted` from the start of `video`. Returns false if the stream
    /// ended before the last one.
    func decode(_ video: inout Video, path: String, wanted: [Int], seek: Bool = true,
                write: (Int, Image) -> Void) throws -> Bool {
        var pos = 0                  // index of the frame the next grab returns
        var constantRate: Bool? = nil // known after the first few frames
        var stamps: [Double] = []
        let frameMs = video.fps > 0 ? 1000 / video.fps : 0
        let probe = 4

        func grabNext() -> Bool {
            guard video.grab() else { return false }
            if constantRate == nil {
                stamps.append(video.msec)
                if stamps.count == probe {
                    let mean = (stamps[probe - 1] - stamps[0]) / Double(probe - 1)
                    let steady = zip(stamps.dropFirst(), stamps).allSatisfy { abs(($0 - $1) - frameMs) <= 0.1 * frameMs }
                    constantRate = frameMs > 0 && steady && abs(mean - frameMs) <= 0.003 * frameMs + 0.05
                }
            }
            pos += 1
            return true
        }

        next: for t in wanted {
            try Cancellation.check()   // a safe point between frames
            while pos < t {
                if seek, constantRate == true, t - pos > seekGap {
                    try video.seek(to: t)
                    if video.grab() && abs(video.msec - (stamps[0] + Double(t) * frameMs)) <= 0.5 * frameMs {
                        pos = t + 1
                        write(t, try video.retrieve())
                        continue next
                    }
                    // The seek did not land where a constant frame rate says: decode forward from the start.
                    constantRate = false
                    video = try Video(path: path, threads: decoderThreads)
                    pos = 0
                }
                guard grabNext() else { return false }
            }
            guard grabNext() else { return false }
            write(t, try video.retrieve())
        }
        return true
    }

    /// Decodes the sampled frames into memory (no files), with the same sampling and count correction as `extract`.
    public func decodeInMemory(video path: String) throws -> (frames: [(index: Int, image: Image)], frameCount: Int, fps: Double) {
        var video = try Video(path: path, threads: decoderThreads)
        var frames: [(index: Int, image: Image)] = []
        let keep: (Int, Image) -> Void = { frames.append((index: $0, image: $1)) }
        var count = video.reportedFrameCount
        if sampling == .all {
            var i = 0
            while video.grab() { keep(i, try video.retrieve()); i += 1 }
            guard i > 0 else { throw VisionError("video has no decodable frames") }
            return (frames, i, video.fps)
        }
        if count <= 0 {
            count = try countFrames(path)
            video = try Video(path: path, threads: decoderThreads)
        }
        guard count > 0 else { throw VisionError("video has no decodable frames") }
        if !(try decode(&video, path: path, wanted: sampling.indices(frameCount: count), write: keep)) {
            frames.removeAll()
            count = try countFrames(path)
            guard count > 0 else { throw VisionError("video has no decodable frames") }
            video = try Video(path: path, threads: decoderThreads)
            guard try decode(&video, path: path, wanted: sampling.indices(frameCount: count), seek: false, write: keep) else {
                throw VisionError("video ended early twice while decoding (unstable stream)")
            }
        }
        return (frames, count, video.fps)
    }

    /// Counts the frames of a video by decoding it (no colour conversion).
    public func countFrames(_ path: String) throws -> Int {
        let v = try Video(path: path, threads: decoderThreads)
        var n = 0
        while v.grab() { n += 1 }
        return n
    }
}

/// Encodes and writes frames on background threads while the caller keeps decoding.
/// At most `limit` frames wait in memory; the first error is re-thrown by `finish`.
final class ParallelWriter: @unchecked Sendable {
    let format: ImageFormat
    let group = DispatchGroup()
    let slots: DispatchSemaphore
    let lock = NSLock()
    var firstError: Error?

    init(format: ImageFormat, limit: Int = 8) {
        self.format = format
        slots = DispatchSemaphore(value: limit)
    }

    func submit(_ image: Image, to path: String) {
        slots.wait()
        group.enter()
        DispatchQueue.global().async {
            defer { self.slots.signal(); self.group.leave() }
            do { try image.write(to: path, format: self.format) } catch {
                self.lock.lock()
                if self.firstError == nil { self.firstError = error }
                self.lock.unlock()
            }
        }
    }

    func finish() throws {
        group.wait()
        lock.lock(); defer { lock.unlock() }
        if let e = firstError { firstError = nil; throw e }
    }
}
