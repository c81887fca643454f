// landmarks: frame records -> faces (dlib detector + shape predictor), optional crops.
import ArgumentParser
import DFKDetect
import DFKImaging
import DFKImagingTool
import DFKNetTool
import DFKModels
import DFKRecords
import DFKTensor
import DFKTool
import Foundation

struct Landmarks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "landmarks",
        abstract: "Detect faces and landmarks in frame records; add a \"faces\" list to each record.",
        discussion: """
        Reads records with an "image" field (from extract-frames, or image paths as arguments). Faces are sorted \
        by detector-box area, largest first; a frame without a face gets "faces": []. With --out, face crops and \
        a per-frame result cache are written there, and a re-run reuses them. Records that carry an "error" \
        pass through untouched. Unreadable images are reported and get an "error"; the exit status is then 1.
        """)

    @Argument(help: "Image files (default: records with an \"image\" field on stdin).")
    var images: [String] = []

    @OptionGroup(title: "Face detector") var faceDetector: FaceDetectorOptions
    @Option(help: Flags.upsample.help("Upsample the image this many times before detection, exactly as dlib does (finds smaller faces; 4x slower each). Default: faces of every size: the image at its own size and dlib's pyramid down, plus, for frames up to 1080 px on the shorter side, the doubled image (small faces), merged by NMS. dlib detectors only."))
    var upsample: Int?
    @Option(help: Self.thresholdRange.help("Detector score threshold (dlib's adjust_threshold). dlib detectors only."))
    var threshold = 0.0
    @Option(help: "dlib shape predictor file (5, 68 or 81 points).")
    var predictor = LandmarkPredictor.defaultPath
    @Flag(help: "Derive the 13 forehead points of the 81-point layout from 68 points (marked as derived).")
    var forehead = false

    @Option(help: "Write face crops: sbi (SBI's wide crop), margin:F (F x box on each side of a RetinaFace-like box), margin:F:RULE (RULE: detector, landmarks, retina-approx, retina; retina needs --detector retinaface) or align:SIZE[:SCALE[:POINTS]] (a SIZE x SIZE face aligned on five points, the template shrunk by SCALE, default 1.3; POINTS: landmarks, or detector for MTCNN/RetinaFace points).")
    var crop: CropRule?
    @Option(help: "Directory for crops and the result cache.")
    var out: String?
    @Option(help: Flags.jpeg.help("Write crops as JPEG with this quality instead of PNG."))
    var jpeg: Int?

    @Option(help: Flags.threads.help("Worker threads. Default: all cores."))
    var threads = Inputs.cores
    @Flag(help: "Treat a frame without a face as an error.")
    var requireFace = false
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false
    @OptionGroup(title: "Sharding (identity: the \"image\" path)") var sharding: ShardOptions

    static let thresholdRange = FlagRange("--threshold", -10.0...10.0)

    func validate() throws {
        try Flags.upsample.check(upsample); try Self.thresholdRange.check(threshold)
        if let crop {
            if let why = faceDetector.mismatch(with: crop) { throw ValidationError("--" + why) }
            guard out != nil else { throw ValidationError("--crop needs --out DIR") }
        }
        try Flags.jpeg.check(jpeg); try Flags.threads.check(threads)
    }

    func run() throws {
        var opts = FaceAnalysisOptions()
        try faceDetector.configure(&opts, threads: threads)
        opts.upsample = upsample
        opts.threshold = threshold
        opts.predictorPath = predictor
        opts.deriveForehead = forehead
        opts.crop = crop
        opts.outputDirectory = out
        if let jpeg { opts.cropFormat = .jpeg(quality: jpeg) }
        if let out { try Paths.makeDirectory(out) }
        Vision.setThreads(1)
        let analyzer = try FaceAnalyzer(options: opts, workers: threads)

        let writer = NDJSONWriter()
        let progress = Progress("landmarks", total: images.isEmpty ? nil : sharding.select(paths: images).count, quiet: quiet)
        let requireFace = self.requireFace
        // Per-video summary of frames without faces.
        var currentVideo: String?
        var framesSeen = 0, framesEmpty = 0
        func closeVideo() {
            if let v = currentVideo, framesEmpty > 0 {
                Diagnostics.info("\(v): no face in \(framesEmpty) of \(framesSeen) frames")
            }
            currentVideo = nil; framesSeen = 0; framesEmpty = 0
        }

        // Frames are decoded ahead of the detector (on the other core while it works), and crops are written
        // behind it; a record goes out once its files are complete.
        typealias Item = (item: InputItem, image: Result<Image, Error>?, cached: [Face]?)
        let input = Prefetch(sharding.records(paths: images, field: "image", keys: ["image"]), depth: threads + 1) { item -> Item in
            guard case .success(let rec) = item.record, rec.error == nil, let path = rec.image else { return (item, nil, nil) }
            if let cached = analyzer.cachedFaces(imagePath: path) { return (item, nil, cached) }
            do { return (item, .success(try Image.read(path)), nil) } catch {
                return (item, .failure(VisionError("\(path): \(error)")), nil)
            }
        }
        try orderedParallelMap(input, workers: threads, transform: { worker, x -> (Record, PendingWrites?)? in
            let item = x.item
            guard case .success(var rec) = item.record else {
                if case .failure(let e) = item.record { Diagnostics.fail(e.source + ":\(e.line)", e.message) }
                return nil
            }
            if rec.error != nil { return (rec, nil) }
            guard let path = rec.image else {
                Diagnostics.fail(item.place, "record has no \"image\" field")
                rec.error = "landmarks: record has no \"image\" field"
                return (rec, nil)
            }
            if let cached = x.cached { rec.faces = cached; return (rec, nil) }
            do {
                let writes = PendingWrites()
                rec.faces = try analyzer.analyze(image: try x.image!.get(), imagePath: path, worker: worker, writes: writes)
                return (rec, writes)
            } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(item.place, msg.hasPrefix(path) ? String(msg.dropFirst(path.count + 2)) : msg)
                rec.error = "landmarks: \(msg)"
                return (rec, nil)
            }
        }, emit: { result in
            guard let (first, writes) = result else { progress.advance(failed: 1); return }
            var rec = first
            do { try writes?.wait() } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(rec.image ?? "?", msg)
                rec.error = "landmarks: \(msg)"
                rec.faces = nil
            }
            try writer.write(rec)
            progress.advance(failed: rec.error != nil ? 1 : 0)
            guard rec.error == nil, let faces = rec.faces else { return }
            if let v = rec.video {
                if v != currentVideo { closeVideo(); currentVideo = v }
                framesSeen += 1
                if faces.isEmpty { framesEmpty += 1 }
            } else if faces.isEmpty {
                closeVideo()
                Diagnostics.info("\(rec.image ?? "?"): no face found")
            }
            if faces.isEmpty && requireFace {
                Diagnostics.fail(rec.image ?? "?", "no face found (--require-face)")
            }
        })
        closeVideo()
        progress.finish()
    }
}

ToolMain.run(Landmarks.self)
