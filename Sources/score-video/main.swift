// score-video: videos -> a fake score per video with the papers' protocol, and per-frame details.
import ArgumentParser
import DFKDetect
import DFKEval
import DFKImaging
import DFKImagingTool
import DFKNetTool
import DFKModels
import DFKRecords
import DFKTensor
import DFKTool
import Foundation

extension VideoProtocol.NoFace: ExpressibleByArgument {}

struct ScoreVideo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-video",
        abstract: "Score videos with a trained detector; print one record per video with \"score\" and per-frame details.",
        discussion: """
        Videos come from the arguments or from records with a "video" field (label, dataset and other fields are \
        kept). For each video: N evenly spaced frames, faces found with dlib (as in preprocessing), each face \
        cropped with the checkpoint's own test crop and scored (softmax fake probability); faces smaller than half \
        the largest face of the frame are dropped, a frame scores the maximum over its faces, and the video the mean \
        over frames with a face. A video without any face, or that cannot be read, scores 0.5 (see --no-face); the \
        latter is also reported and gets an "error". Compute metrics with `metrics`. \
        --sheet FILE.png draws the worst-scored videos of this run (of its shard with --shard): the real videos with the \
        highest scores and the fake videos with the lowest (by "label"; videos without one: the highest scores), up to \
        --sheet-videos each, every row the video's score and its --sheet-frames frames that pushed the score the wrong \
        way, each with the deciding face boxed, then that face's crop and score.
        """)

    @Argument(help: "Video files (default: records with a \"video\" field on stdin).")
    var videos: [String] = []
    @Option(help: "Detector checkpoint written by `train`.")
    var checkpoint: String
    @Option(help: Self.framesRange.help("Frames per video, evenly spaced (the papers use 32)."))
    var frames = 32
    @Option(help: "Crop rule; must equal the checkpoint's (it is read from the checkpoint when omitted).")
    var crop: CropRule?
    @Option(help: "Score of a video without a face or that cannot be read: half (0.5), exclude, fake (1).")
    var noFace: VideoProtocol.NoFace = .half
    @Option(help: Flags.minFaceRatio.help("Drop faces whose box area is below this fraction of the frame's largest face."))
    var minFaceRatio = 0.5
    @Option(help: Flags.upsample.help("dlib detector upsampling (as in preprocessing). Default: faces of every size, as landmarks."))
    var upsample: Int?
    @Option(help: "dlib shape predictor file (68 or 81 points).")
    var predictor = LandmarkPredictor.defaultPath
    @OptionGroup(title: "Face detector (as the training faces were found: landmarks' flags)") var faceDetector: FaceDetectorOptions
    @Option(help: "Distort every frame first (robustness, Table 10): resize:S (down to SxS and back; S \(Self.resizeRange.text)), blur:K (Gaussian; K \(Self.blurRange.text)), jpeg:Q (Q \(Self.jpegRange.text)).")
    var distort: String?
    @Option(help: Flags.batch.help("Faces per forward pass."))
    var batch = 32
    @Option(help: Flags.threads.help("Threads (face detection in parallel; libtorch intra-op threads). Default: all cores."))
    var threads = Inputs.cores
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false
    @OptionGroup(title: "Device and precision")
    var engine: ExecutionOptions
    @OptionGroup(title: "Sharding (identity: the \"video\" path)") var sharding: ShardOptions
    @Option(help: ArgumentHelp("Write a contact sheet of the worst-scored videos (PNG).", valueName: "file.png"))
    var sheet: String?
    @Option(help: Self.sheetVideosRange.help("Videos per group on the sheet (real scored fake, fake scored real, unlabelled)."))
    var sheetVideos = 4
    @Option(help: Self.sheetFramesRange.help("Frames per video on the sheet."))
    var sheetFrames = 3

    static let framesRange = FlagRange("--frames", 1...10_000)
    static let resizeRange = FlagRange("--distort resize:S", 8...4096)
    static let blurRange = FlagRange("--distort blur:K", 1...255, odd: true)
    static let jpegRange = FlagRange("--distort jpeg:Q", 1...100)
    static let sheetVideosRange = FlagRange("--sheet-videos", 1...100)
    static let sheetFramesRange = FlagRange("--sheet-frames", 1...32)

    func validate() throws {
        try Self.framesRange.check(frames)
        try Flags.minFaceRatio.check(minFaceRatio); try Flags.upsample.check(upsample)
        try Flags.batch.check(batch); try Flags.threads.check(threads)
        try Self.sheetVideosRange.check(sheetVideos); try Self.sheetFramesRange.check(sheetFrames)
        if let sheet, !sheet.lowercased().hasSuffix(".png") { throw ValidationError("--sheet must name a .png file, got '\(sheet)'") }
        if let distort {
            let p = distort.split(separator: ":", maxSplits: 1).map(String.init)
            let ranges = ["resize": Self.resizeRange, "blur": Self.blurRange, "jpeg": Self.jpegRange]
            guard p.count == 2, let r = ranges[p[0]], let v = Int(p[1]) else {
                throw ValidationError("--distort must be resize:S, blur:K or jpeg:Q, got '\(distort)'")
            }
            try r.check(v)
            guard ScoreVideo.distortion(distort) != nil else { throw ValidationError("--distort must be resize:S, blur:K or jpeg:Q") }
        }
    }

    /// The frame distortion of Table 10, or nil when the description is malformed.
    static func distortion(_ d: String) -> ((Image) throws -> Image)? {
        let p = d.split(separator: ":")
        guard p.count == 2, let v = Int(p[1]), v > 0 else { return nil }
        switch p[0] {
        case "resize": return { img in try img.resized(width: v, height: v, interpolation: .linear).resized(width: img.width, height: img.height, interpolation: .linear) }
        case "blur": return v % 2 == 1 ? { try $0.blurred(.gaussian, kernel: v) } : nil
        case "jpeg": return v <= 100 ? { try $0.jpegRoundTrip(quality: v) } : nil
        default: return nil
        }
    }

    func run() throws {
        Torch.setThreads(threads)
        let distortFrame = distort.flatMap(ScoreVideo.distortion)
        Vision.setThreads(1)
        let detector: Detector
        let execution = try engine.resolve()
        do { detector = try Detector(checkpoint: checkpoint, execution: execution) } catch { throw ToolError("\(error)") }
        if let crop, crop != detector.crop {
            throw ToolError("--crop \(crop.name) differs from the crop the checkpoint was trained for (\(detector.spec.testCrop)); "
                            + "scoring with another crop gives meaningless numbers (omit --crop to use the checkpoint's)")
        }
        if let why = faceDetector.mismatch(with: detector.crop) { throw ToolError("\(checkpoint): " + why) }
        var proto = VideoProtocol()
        proto.noFaceVideo = noFace
        proto.minFaceAreaRatio = minFaceRatio
        var opts = FaceAnalysisOptions()
        opts.upsample = upsample
        opts.predictorPath = predictor
        try faceDetector.configure(&opts, threads: threads)
        let analyzer = try FaceAnalyzer(options: opts, workers: threads)
        let extractor = FrameExtractor(sampling: .evenly(frames))
        let writer = NDJSONWriter()
        let progress = Progress("score-video", total: videos.isEmpty ? nil : sharding.select(paths: videos).count, quiet: quiet)
        let protocolText = "\(frames) frames per video; " + proto.videoDescription + "; detector \(faceDetector.name); crop \(detector.spec.testCrop)"
            + (distort.map { "; frames distorted: \($0)" } ?? "")
        let (threads, batch) = (self.threads, self.batch)
        // Only with --sheet are frames and crops of a video kept past its scoring (and only when it is among the worst).
        var worst = sheet.map { _ in WorstVideosSheet(videosPerGroup: sheetVideos, framesPerVideo: sheetFrames) }

        for item in sharding.records(paths: videos, field: "video", keys: ["video"]) {
            try Cancellation.check()   // a safe point between videos
            guard case .success(var rec) = item.record else {
                if case .failure(let e) = item.record { Diagnostics.fail(e.source + ":\(e.line)", e.message) }
                progress.advance(failed: 1)
                continue
            }
            if rec.error != nil && rec.video == nil { try writer.write(rec); progress.advance(); continue }
            guard let path = rec.video else {
                Diagnostics.fail(item.place, "record has no \"video\" field")
                rec.error = "score-video: record has no \"video\" field"
                try writer.write(rec); progress.advance(failed: 1)
                continue
            }
            rec["checkpoint"] = .string(checkpoint)
            rec["protocol"] = .string(protocolText)
            rec["level"] = .string("video")
            do {
                var decoded = try extractor.decodeInMemory(video: path)
                if let distortFrame {
                    decoded.frames = try decoded.frames.map { (index: $0.index, image: try distortFrame($0.image)) }
                }
                // Faces per frame, detected in parallel.
                var perFrame = [[Face]](repeating: [], count: decoded.frames.count)
                let lock = NSLock()
                var firstError: Error?
                DispatchQueue.concurrentPerform(iterations: threads) { w in
                    var i = w
                    while i < decoded.frames.count {
                        do {
                            let f = try analyzer.faces(in: decoded.frames[i].image, worker: w)
                            lock.lock(); perFrame[i] = f; lock.unlock()
                        } catch { lock.lock(); if firstError == nil { firstError = error }; lock.unlock() }
                        i += threads
                    }
                }
                if let firstError { throw firstError }
                // Crops with the checkpoint's rule, scored in batches.
                var crops: [Image] = []
                var owner: [(frame: Int, face: Int)] = []
                for (fi, faces) in perFrame.enumerated() {
                    let img = decoded.frames[fi].image
                    for (k, face) in faces.enumerated() {
                        guard let c = try? detector.crop.faceImage(from: img, face: face) else { continue }
                        crops.append(c)
                        owner.append((fi, k))
                    }
                }
                let probs = try detector.fakeProbabilities(crops, batchSize: batch)
                var scored = [[ScoredFace]](repeating: [], count: perFrame.count)
                for (j, o) in owner.enumerated() {
                    scored[o.frame].append(ScoredFace(score: probs[j], area: perFrame[o.frame][o.face].box.area))
                }
                var frameRecs: [JSONValue] = []
                for (fi, faces) in scored.enumerated() {
                    var fr = JSONObject()
                    fr["frame"] = .int(decoded.frames[fi].index)
                    fr["score"] = proto.frameScore(faces).map { .double(($0 * 1e6).rounded() / 1e6) } ?? .null
                    fr["faces"] = .array(faces.map { .array([.double(($0.score * 1e6).rounded() / 1e6), .double($0.area)]) })
                    frameRecs.append(.object(fr))
                }
                let video = proto.videoScore(scored)
                rec.score = video.map { ($0 * 1e6).rounded() / 1e6 }
                if video == nil { rec["excluded"] = .bool(true) }
                rec["frames_with_face"] = .int(scored.filter { !$0.isEmpty }.count)
                rec["frames"] = .array(frameRecs)
                if let v = video, worst?.wants(label: rec.label, score: v) == true {
                    var framesForSheet: [WorstVideosSheet.Frame] = decoded.frames.enumerated().map { fi, f in
                        WorstVideosSheet.Frame(index: f.index, image: f.image, faces: [], score: proto.frameScore(scored[fi]))
                    }
                    for (j, o) in owner.enumerated() {
                        framesForSheet[o.frame].faces.append((perFrame[o.frame][o.face].box, crops[j], probs[j]))
                    }
                    // The faces the small-face rule keeps (those the frame score comes from).
                    for k in framesForSheet.indices {
                        let largest = framesForSheet[k].faces.map(\.box.area).max() ?? 0
                        framesForSheet[k].faces.removeAll { $0.box.area < proto.minFaceAreaRatio * largest }
                    }
                    try worst!.add(video: path, label: rec.label, score: v, frames: framesForSheet)
                }
                try writer.write(rec)
                progress.advance()
            } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(path, msg)
                rec.error = "score-video: \(msg)"
                rec.score = proto.unreadableVideoScore
                if rec.score == nil { rec["excluded"] = .bool(true) }
                rec["frames_with_face"] = .int(0)
                try writer.write(rec)
                progress.advance(failed: 1)
            }
        }
        progress.finish()
        if let sheet, let worst {
            let title = worst.isEmpty ? "score-video: no video with a scored face" :
                "score-video: worst-scored videos (\((checkpoint as NSString).lastPathComponent)); per row: video, then frames (face boxed) and face crops"
            try worst.render(title: title).write(to: sheet, format: .png(level: 3))
            if !quiet { Diagnostics.info("sheet: \(sheet)") }
        }
    }
}

ToolMain.run(ScoreVideo.self)
