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
        case .evenly(let n):
            guard n > 0 else { return [] }
            if n == 1 { return [0] }
            // numpy: step = (stop - start) / (num - 1); y = arange(num) * step; y[-1] = stop; then truncate.
            let step = Double(count - 1) / Double(n - 1)
            var out: [Int] = []
            out.reserveCapacity(n)
            for i in 0..<n {
                let v = i == n - 1 ? count - 1 : Int(Double(i) * step)
                if out.last != v { out.append(v) }
            }
            return out
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
/// Decoding seeks to each wanted frame when it is more than `seekGap` frames ahead, and otherwise decodes
/// forward without colour conversion. When the container's frame count is missing, or turns out to be too
/// high (a wanted frame past the real end), the frames are counted by decoding and the sampling is redone,
/// so the result is always the sampling of the true count. Frames whose file already exists are not decoded.
public struct FrameExtractor: Sendable {
    public var sampling: FrameSampling
    public var format: ImageFormat
    /// Seek when the next wanted frame is further ahead than this; 0 always seeks, Int.max never seeks.
    public var seekGap: Int
    public var decoderThreads: Int

    public init(sampling: FrameSampling, format: ImageFormat = .png(level: 1), seekGap: Int = 48, decoderThreads: Int = 0) {
        self.sampling = sampling; self.format = format; self.seekGap = seekGap; self.decoderThreads = decoderThreads
    }

    public func fileName(for index: Int) -> String {
        let s = String(index)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s + "." + format.fileExtension
    }

    public func extract(video path: String, into directory: String) throws -> ExtractionResult {
        var video = try Video(path: path, threads: decoderThreads)
        var count = video.reportedFrameCount
        var source = "container"
        if count <= 0 && sampling != .all {
            count = try countFrames(path)
            source = "decoded"
            video = try Video(path: path, threads: decoderThreads)
        }
        guard count > 0 || sampling == .all else { throw VisionError("video has no decodable frames") }
        try Paths.makeDirectory(directory)
        AtomicFile.sweepStaleTemporaries(in: directory)

        var written = 0
        var writtenNow: [String] = []
        let encoder = ParallelWriter(format: format)

        // Sequential decoding of the whole stream (used for --all and as the fallback).
        func sequential(_ video: Video, missing: Set<Int>) throws {
            var i = 0
            while video.grab() {
                if missing.contains(i) {
                    let p = directory + "/" + fileName(for: i)
                    encoder.submit(try video.retrieve(), to: p)
                    writtenNow.append(p)
                }
                i += 1
            }
        }

        var indices: [Int]
        if sampling == .all {
            // Count and write in one pass; existing frames are skipped by checking each path.
            var i = 0
            while video.grab() {
                let p = directory + "/" + fileName(for: i)
                if !Paths.exists(p) { encoder.submit(try video.retrieve(), to: p); writtenNow.append(p) }
                i += 1
            }
            count = i
            source = "decoded"
            indices = Array(0..<count)
        } else {
            indices = sampling.indices(frameCount: count)
            var missing = indices.filter { !Paths.exists(directory + "/" + fileName(for: $0)) }
            var shortfall = false
            var pos = 0
            for t in missing {
                if t - pos > seekGap {
                    try video.seek(to: t)
                    pos = t
                }
                while pos < t && video.grab() { pos += 1 }
                guard pos == t, video.grab() else { shortfall = true; break }
                pos += 1
                let p = directory + "/" + fileName(for: t)
                encoder.submit(try video.retrieve(), to: p)
                writtenNow.append(p)
            }
            if shortfall {
                // The container over-reported its length: count by decoding, resample, decode sequentially.
                try encoder.finish()
                count = try countFrames(path)
                source = "decoded"
                guard count > 0 else { throw VisionError("video has no decodable frames") }
                let fresh = sampling.indices(frameCount: count)
                let keep = Set(fresh.map { directory + "/" + fileName(for: $0) })
                for p in writtenNow where !keep.contains(p) { unlink(p) }
                writtenNow = writtenNow.filter { keep.contains($0) }
                indices = fresh
                missing = fresh.filter { !Paths.exists(directory + "/" + fileName(for: $0)) }
                if !missing.isEmpty {
                    video = try Video(path: path, threads: decoderThreads)
                    try sequential(video, missing: Set(missing))
                }
            }
        }
        try encoder.finish()
        written = writtenNow.count
        let frames = indices.map { i in
            ExtractedFrame(index: i, path: directory + "/" + fileName(for: i), time: video.fps > 0 ? Double(i) / video.fps : nil)
        }
        return ExtractionResult(frames: frames, frameCount: count, countSource: source, fps: video.fps,
                                width: video.width, height: video.height, written: written)
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
