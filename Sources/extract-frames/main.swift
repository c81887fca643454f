// extract-frames: videos -> sampled frames as image files, one NDJSON record per frame.
import ArgumentParser
import DFKImaging
import DFKRecords
import DFKTool
import Foundation

struct ExtractFrames: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract-frames",
        abstract: "Extract sampled frames of videos as images; print one NDJSON record per frame.",
        discussion: """
        Videos come from the arguments, or from records with a "video" field on stdin (other fields are copied \
        to every frame record). Frames go to OUT/<video stem>-<hash>/<index>.png; existing frames are not \
        decoded again. A video that cannot be read is reported on stderr and becomes one record with an \
        "error" field; the others go on, and the exit status is 1 at the end.
        Example: extract-frames --frames 32 --out frames video.mp4 | landmarks --crop sbi --out crops
        """)

    @Argument(help: "Video files (default: records with a \"video\" field on stdin).")
    var videos: [String] = []

    @Option(help: Self.framesRange.help("Take N frames evenly spaced from the first to the last (integer linspace, as SBI). Default 32."))
    var frames: Int?
    @Option(help: Self.everyRange.help("Take every K-th frame, starting with the first."))
    var every: Int?
    @Flag(help: "Take every frame.")
    var all = false

    @Option(help: "Directory for the frame images.")
    var out: String
    @Option(help: Flags.jpeg.help("Write JPEG with this quality instead of lossless PNG."))
    var jpeg: Int?
    @Option(help: Self.pngRange.help("PNG zlib compression level (OpenCV's default 1 is fast; 9 is smallest)."))
    var pngLevel = 1

    @Option(help: Flags.threads.help("Worker threads (videos decoded in parallel). Default: all cores."))
    var threads = Inputs.cores
    @Option(help: Self.seekRange.help("Seek instead of decoding forward when the next wanted frame is more than this many frames ahead (seeking restarts at a keyframe, so it pays off only past the keyframe interval; x264 uses 250)."))
    var seekGap = 300
    @Flag(help: "Never seek: decode every frame up to the last wanted one.")
    var noSeek = false
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false
    @OptionGroup(title: "Sharding (identity: the \"video\" path)") var sharding: ShardOptions

    static let framesRange = FlagRange("--frames", 1...1_000_000)
    static let everyRange = FlagRange("--every", 1...1_000_000)
    static let pngRange = FlagRange("--png-level", 0...9)
    static let seekRange = FlagRange("--seek-gap", 0...1_000_000)

    func validate() throws {
        let modes = [frames != nil, every != nil, all].filter { $0 }.count
        guard modes <= 1 else { throw ValidationError("use only one of --frames, --every, --all") }
        try Self.framesRange.check(frames); try Self.everyRange.check(every); try Flags.jpeg.check(jpeg)
        try Self.pngRange.check(pngLevel); try Flags.threads.check(threads); try Self.seekRange.check(seekGap)
    }

    var sampling: FrameSampling {
        if all { return .all }
        if let every { return .every(every) }
        return .evenly(frames ?? 32)
    }

    func run() throws {
        try Paths.makeDirectory(out)
        let single = videos.count == 1
        let workers = single ? 1 : threads
        Vision.setThreads(single ? threads : 1)
        let extractor = FrameExtractor(
            sampling: sampling, format: jpeg.map { .jpeg(quality: $0) } ?? .png(level: pngLevel),
            seekGap: noSeek ? Int.max : seekGap, decoderThreads: single ? threads : 1)
        let writer = NDJSONWriter()
        let progress = Progress("extract-frames", total: videos.isEmpty ? nil : sharding.select(paths: videos).count, quiet: quiet)
        let outDir = out

        try orderedParallelMap(sharding.records(paths: videos, field: "video", keys: ["video"]), workers: workers, transform: { _, item -> [Record] in
            guard case .success(var rec) = item.record else {
                if case .failure(let e) = item.record { Diagnostics.fail(e.source + ":\(e.line)", e.message) }
                return []
            }
            if rec.error != nil { return [rec] }  // failed upstream: pass through
            guard let path = rec.video else {
                Diagnostics.fail(item.place, "record has no \"video\" field")
                rec.error = "record has no \"video\" field"
                return [rec]
            }
            do {
                let r = try extractor.extract(video: path, into: outDir + "/" + Paths.stableName(for: path))
                return r.frames.map { f in
                    var fr = rec
                    fr.frame = f.index
                    fr.time = f.time.map { ($0 * 1e6).rounded() / 1e6 }
                    fr.image = f.path
                    fr["width"] = .int(r.width)
                    fr["height"] = .int(r.height)
                    fr["fps"] = .double((r.fps * 1e4).rounded() / 1e4)
                    fr["video_frames"] = .int(r.frameCount)
                    fr["sampling"] = .string(extractor.sampling.description)
                    return fr
                }
            } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(path, msg)
                rec.error = "extract-frames: \(msg)"
                return [rec]
            }
        }, emit: { recs in
            for r in recs { try writer.write(r) }
            progress.advance(failed: recs.count == 1 && recs[0].error != nil ? 1 : 0)
        })
        progress.finish()
    }
}

ToolMain.run(ExtractFrames.self)
