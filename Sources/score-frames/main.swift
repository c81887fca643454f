// score-frames: frame (or image) records -> a fake score per frame. For datasets released as frames or face crops
// (WildDeepfake, DeepfakeBench's preprocessed frames), where score-video, which decodes videos, does not apply.
import ArgumentParser
import DFKDetect
import DFKEval
import DFKImaging
import DFKImagingTool
import DFKNetTool
import DFKRecords
import DFKTensor
import DFKTool
import Foundation

/// Where the faces of a frame come from.
enum FaceSource: String, ExpressibleByArgument, CaseIterable {
    /// The record's "faces" when it has them (from `landmarks` or a DeepfakeBench landmark file), else detect.
    case auto
    /// Only the record's "faces"; a record without them has no face.
    case records
    /// dlib's detector on the image, as score-video does on video frames.
    case detect
    /// The whole image is the face crop (frames that are face crops already, e.g. WildDeepfake); the
    /// checkpoint's crop rule is not applied.
    case whole
}

struct ScoreFrames: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-frames",
        abstract: "Score frame records (\"image\") with a trained detector; print each record with its \"score\".",
        discussion: """
        For datasets that come as frames or face crops. Each record needs "image"; every other field is kept. The \
        faces of a frame come from --faces; each is cropped with the checkpoint's own test crop and scored (softmax \
        fake probability); faces smaller than --min-face-ratio of the frame's largest face are dropped and the frame \
        scores the maximum over the rest, as in score-video. A frame without a face gets "score": null and \
        "no_face": true; an unreadable image also gets an "error" (and the run exits non-zero at the end). Every \
        record gets "level": "frame", "checkpoint" and "protocol". `metrics` computes frame-level metrics from \
        these records and video-level ones by grouping frames on "video" (the mean over frames with a face).
        """)

    @Argument(help: "Image files (default: records with an \"image\" field on stdin).")
    var images: [String] = []
    @Option(help: "Detector checkpoint written by `train`.")
    var checkpoint: String
    @Option(help: "Where faces come from: \(FaceSource.allCases.map(\.rawValue).joined(separator: ", ")).")
    var faces: FaceSource = .auto
    @Option(help: "Crop rule; must equal the checkpoint's (it is read from the checkpoint when omitted).")
    var crop: CropRule?
    @Option(help: Flags.minFaceRatio.help("Drop faces whose box area is below this fraction of the frame's largest face."))
    var minFaceRatio = 0.5
    @Option(help: Flags.upsample.help("dlib detector upsampling (--faces detect/auto). Default: faces of every size, as landmarks."))
    var upsample: Int?
    @Option(help: Flags.batch.help("Faces per forward pass."))
    var batch = 32
    @Option(help: Flags.threads.help("Threads (image decoding and face detection in parallel; libtorch intra-op threads). Default: all cores."))
    var threads = Inputs.cores
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false
    @OptionGroup(title: "Device and precision")
    var engine: ExecutionOptions
    @OptionGroup(title: "Sharding (identity: the \"image\" path)") var sharding: ShardOptions

    func validate() throws {
        try Flags.minFaceRatio.check(minFaceRatio); try Flags.upsample.check(upsample)
        try Flags.batch.check(batch); try Flags.threads.check(threads)
    }

    /// One record on its way through: the faces' crops and areas once loaded.
    struct Pending {
        var place: String
        var record: Record
        var crops: [Image] = []
        var areas: [Double] = []
        var failure: String?
        var passThrough = false
    }

    func run() throws {
        Torch.setThreads(threads)
        Vision.setThreads(1)
        let detector: Detector
        let execution = try engine.resolve()
        do { detector = try Detector(checkpoint: checkpoint, execution: execution) } catch { throw ToolError("\(error)") }
        if let crop, crop != detector.crop {
            throw ToolError("--crop \(crop.name) differs from the crop the checkpoint was trained for (\(detector.spec.testCrop)); "
                            + "scoring with another crop gives meaningless numbers (omit --crop to use the checkpoint's)")
        }
        var proto = VideoProtocol()
        proto.minFaceAreaRatio = minFaceRatio
        let analyzer: FaceAnalyzer? = faces == .auto || faces == .detect
            ? try { var o = FaceAnalysisOptions(); o.upsample = upsample; return try FaceAnalyzer(options: o, workers: self.threads) }()
            : nil
        let faceText: String
        switch faces {
        case .auto: faceText = "faces from the record, else dlib (\(upsample.map { "upsample \($0)" } ?? "faces of every size"))"
        case .records: faceText = "faces from the record"
        case .detect: faceText = "faces found with dlib (\(upsample.map { "upsample \($0)" } ?? "faces of every size"))"
        case .whole: faceText = "the whole image as the face crop (checkpoint crop not applied)"
        }
        let protocolText = "frame level; \(faceText); " + (faces == .whole ? "" : "crop \(detector.spec.testCrop); ")
            + "faces below \(Int(minFaceRatio * 100))% of the largest face's area dropped; frame score = max over faces"
        let writer = NDJSONWriter()
        let progress = Progress("score-frames", total: images.isEmpty ? nil : sharding.select(paths: images).count, quiet: quiet)
        let (threads, faces, crop) = (self.threads, self.faces, detector.crop)

        // Records are read in chunks: images decoded and faces found in parallel, crops scored in batches,
        // records written in input order.
        let chunkSize = max(batch, 4 * threads)
        var chunk: [Pending] = []
        func flush() throws {
            guard !chunk.isEmpty else { return }
            let todo = chunk
            chunk.removeAll(keepingCapacity: true)
            var loaded = [Result<(crops: [Image], areas: [Double]), Error>?](repeating: nil, count: todo.count)
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: threads) { w in
                var i = w
                while i < todo.count {
                    if !todo[i].passThrough {
                        let r = ScoreFrames.load(todo[i].record, faces: faces, crop: crop, analyzer: analyzer, worker: w)
                        lock.lock(); loaded[i] = r; lock.unlock()
                    }
                    i += threads
                }
            }
            var done = todo
            for i in done.indices {
                switch loaded[i] {
                case .success(let v)?: done[i].crops = v.crops; done[i].areas = v.areas
                case .failure(let e)?: done[i].failure = Diagnostics.describe(e)
                case nil: break
                }
            }
            let all = done.flatMap(\.crops)
            let probs = try detector.fakeProbabilities(all, batchSize: batch)
            var next = 0
            for var p in done {
                if p.passThrough { try writer.write(p.record); progress.advance(); continue }
                p.record["checkpoint"] = .string(checkpoint)
                p.record["protocol"] = .string(protocolText)
                p.record["level"] = .string("frame")
                if let f = p.failure {
                    Diagnostics.fail(p.record.image ?? p.place, f)
                    p.record.error = "score-frames: \(f)"
                    p.record["score"] = .null
                    try writer.write(p.record); progress.advance(failed: 1)
                    continue
                }
                let scored = zip(probs[next..<next + p.crops.count], p.areas).map { ScoredFace(score: $0, area: $1) }
                next += p.crops.count
                if let s = proto.frameScore(scored) {
                    p.record.score = (s * 1e6).rounded() / 1e6
                    p.record["no_face"] = nil
                } else {
                    p.record["score"] = .null
                    p.record["no_face"] = .bool(true)
                }
                p.record["faces_scored"] = .array(scored.map { .array([.double(($0.score * 1e6).rounded() / 1e6), .double($0.area)]) })
                try writer.write(p.record)
                progress.advance()
            }
        }

        for item in sharding.records(paths: images, field: "image", keys: ["image"]) {
            try Cancellation.check()   // a safe point between records
            guard case .success(var rec) = item.record else {
                if case .failure(let e) = item.record { Diagnostics.fail(e.source + ":\(e.line)", e.message) }
                progress.advance(failed: 1)
                continue
            }
            if rec.error != nil {
                chunk.append(Pending(place: item.place, record: rec, passThrough: true))
            } else if rec.image == nil {
                Diagnostics.fail(item.place, "record has no \"image\" field")
                rec.error = "score-frames: record has no \"image\" field"
                chunk.append(Pending(place: item.place, record: rec, passThrough: true))
            } else {
                chunk.append(Pending(place: item.place, record: rec))
            }
            if chunk.count >= chunkSize { try flush() }
        }
        try flush()
        progress.finish()
    }

    /// The face crops of one record and their box areas.
    static func load(_ rec: Record, faces: FaceSource, crop: CropRule, analyzer: FaceAnalyzer?, worker: Int)
        -> Result<(crops: [Image], areas: [Double]), Error> {
        Result {
            guard let path = rec.image else { throw ToolError("record has no \"image\" field") }
            let img: Image
            do { img = try Image.read(path) } catch { throw ToolError("\(path): cannot read image (\(Diagnostics.describe(error)))") }
            if faces == .whole { return ([img], [Double(img.width * img.height)]) }
            let given = rec.faces ?? []
            let found: [Face]
            switch faces {
            case .records: found = given
            case .detect: found = try analyzer!.faces(in: img, worker: worker)
            case .auto: found = rec.faces != nil ? given : try analyzer!.faces(in: img, worker: worker)
            case .whole: found = []
            }
            var crops: [Image] = [], areas: [Double] = []
            for f in found {
                // A face the rule cannot cut (e.g. outside the frame) is skipped. (Written as region check, then cut:
                // `guard let c = try? crop.faceImage(...)` here crashes Swift 6.3.1's release optimiser, SILCombine.)
                guard (try? crop.region(for: f, width: img.width, height: img.height)) != nil else { continue }
                crops.append(try crop.faceImage(from: img, face: f))
                areas.append(f.box.area)
            }
            return (crops, areas)
        }
    }
}

ToolMain.run(ScoreFrames.self)
