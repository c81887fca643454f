// landmarks: frame records -> faces (dlib detector + shape predictor), optional crops.
import ArgumentParser
import DFKDetect
import DFKImaging
import DFKImagingTool
import DFKModels
import DFKRecords
import DFKTensor
import DFKTool
import Foundation

enum DetectorChoice: String, ExpressibleByArgument, CaseIterable { case hog, mmod, mtcnn, retinaface }
enum RetinaWeightsChoice: String, ExpressibleByArgument, CaseIterable { case auto, ternaus, biubug6 }

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

    @Option(help: "Face detector: hog (dlib HOG, built in), mmod (dlib CNN, needs --detector-model), mtcnn (MTCNN, the P-/R-/O-Net cascade; weights: --detector-model DIR with pnet.pt, rnet.pt, onet.pt, default \(MTCNNDetector.defaultDirectory)) or retinaface (RetinaFace ResNet-50 / MobileNet-0.25, needs --detector-model).")
    var detector = DetectorChoice.hog
    @Option(help: "Detector model file: dlib MMOD (mmod_human_face_detector.dat; implies --detector mmod), with --detector mtcnn the directory of facenet-pytorch's pnet.pt, rnet.pt and onet.pt, or, with --detector retinaface, published RetinaFace PyTorch weights (retinaface-pytorch's resnet50_2020-07-20, Pytorch_Retinaface's Resnet50_Final.pth or mobilenet0.25_Final.pth).")
    var detectorModel: String?
    @Option(help: Flags.upsample.help("Upsample the image this many times before detection, exactly as dlib does (finds smaller faces; 4x slower each). Default: faces of every size: the image at its own size and dlib's pyramid down, plus, for frames up to 1080 px on the shorter side, the doubled image (small faces), merged by NMS. dlib detectors only."))
    var upsample: Int?
    @Option(help: Self.thresholdRange.help("Detector score threshold (dlib's adjust_threshold). dlib detectors only."))
    var threshold = 0.0
    @Option(help: "RetinaFace weight family (input preprocessing and NMS): auto (guessed from the file), ternaus (PyPI retinaface-pytorch, SBI's detector) or biubug6 (Pytorch_Retinaface).")
    var retinaWeights = RetinaWeightsChoice.auto
    @Option(help: "RetinaFace: keep faces whose face probability exceeds this (SBI: 0.7).")
    var retinaConfidence = 0.7
    @Option(help: "RetinaFace: NMS IoU threshold (SBI: 0.4).")
    var retinaNms = 0.4
    @Option(help: "RetinaFace: resize the longest image side to this before detection (0: never). Default: 2048 for retinaface-pytorch weights (as SBI), none for Pytorch_Retinaface weights.")
    var retinaMaxSize: Int?
    @Option(help: "dlib shape predictor file (5, 68 or 81 points).")
    var predictor = LandmarkPredictor.defaultPath
    @Flag(help: "Derive the 13 forehead points of the 81-point layout from 68 points (marked as derived).")
    var forehead = false

    @Option(help: "Write face crops: sbi (SBI's wide crop), margin:F (F x box on each side of a RetinaFace-like box) or margin:F:RULE (RULE: detector, landmarks, retina-approx, retina; retina needs --detector retinaface).")
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
        if detector != .hog && detector != .mtcnn && detectorModel == nil { throw ValidationError("--detector \(detector.rawValue) needs --detector-model FILE") }
        if detector == .retinaface {
            guard retinaConfidence >= 0 && retinaConfidence < 1 else { throw ValidationError("--retina-confidence must be in [0, 1)") }
            guard retinaNms > 0 && retinaNms <= 1 else { throw ValidationError("--retina-nms must be in (0, 1]") }
            if let m = retinaMaxSize, m != 0 && m < 32 { throw ValidationError("--retina-max-size must be 0 (never resize) or at least 32") }
        }
        try Flags.upsample.check(upsample); try Self.thresholdRange.check(threshold)
        if let crop {
            if case .margin(_, .retina) = crop, detector != .retinaface {
                throw ValidationError("--crop \(crop.name) needs RetinaFace boxes: add --detector retinaface --detector-model FILE (without RetinaFace weights, use margin:F:retina-approx)")
            }
            guard out != nil else { throw ValidationError("--crop needs --out DIR") }
        }
        try Flags.jpeg.check(jpeg); try Flags.threads.check(threads)
    }

    func run() throws {
        var opts = FaceAnalysisOptions()
        if detector == .retinaface, let path = detectorModel {
            var ro = RetinaFaceDetector.Options()
            ro.weights = retinaWeights == .auto ? nil : RetinaFaceWeights(rawValue: retinaWeights.rawValue)
            ro.confidence = retinaConfidence
            ro.nms = retinaNms
            ro.maxSize = retinaMaxSize
            let rf: RetinaFaceDetector
            do { rf = try RetinaFaceDetector(path: path, options: ro) } catch { throw ToolError("\(error)") }
            Torch.setThreads(threads)
            Diagnostics.info("\(rf.name): \(path) (\(rf.weights.rawValue) preprocessing, longest side \(rf.maxSize.map(String.init) ?? "unchanged"))")
            opts.boxDetector = rf
        } else if detector == .mtcnn {
            let dir = detectorModel ?? MTCNNDetector.defaultDirectory
            let m: MTCNNDetector
            do { m = try MTCNNDetector(directory: dir) } catch { throw ToolError("\(error)") }
            Torch.setThreads(threads)
            Diagnostics.info("mtcnn: \(dir)")
            opts.boxDetector = m
        } else {
            opts.detector = detectorModel.map { .mmod(path: $0) } ?? .hog
        }
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
