// The face-detector flags `landmarks` and `score-video` share, so that test-time faces come from the detector the
// training faces came from (the papers' protocols differ here: dlib HOG, MTCNN, RetinaFace).
import ArgumentParser
import DFKDetect
import DFKImaging
import DFKModels
import DFKTensor
import DFKTool

public enum DetectorChoice: String, ExpressibleByArgument, CaseIterable, Sendable { case hog, mmod, mtcnn, retinaface }
public enum RetinaWeightsChoice: String, ExpressibleByArgument, CaseIterable, Sendable { case auto, ternaus, biubug6 }

public struct FaceDetectorOptions: ParsableArguments {
    public init() {}

    @Option(help: "Face detector: hog (dlib HOG, built in), mmod (dlib CNN, needs --detector-model), mtcnn (MTCNN, the P-/R-/O-Net cascade; weights: --detector-model DIR with pnet.pt, rnet.pt, onet.pt, default \(MTCNNDetector.defaultDirectory)) or retinaface (RetinaFace ResNet-50 / MobileNet-0.25, needs --detector-model).")
    public var detector = DetectorChoice.hog
    @Option(help: "Detector model file: dlib MMOD (mmod_human_face_detector.dat; implies --detector mmod), with --detector mtcnn the directory of facenet-pytorch's pnet.pt, rnet.pt and onet.pt, or, with --detector retinaface, published RetinaFace PyTorch weights (retinaface-pytorch's resnet50_2020-07-20, Pytorch_Retinaface's Resnet50_Final.pth or mobilenet0.25_Final.pth).")
    public var detectorModel: String?
    @Option(help: "RetinaFace weight family (input preprocessing and NMS): auto (guessed from the file), ternaus (PyPI retinaface-pytorch, SBI's detector) or biubug6 (Pytorch_Retinaface).")
    public var retinaWeights = RetinaWeightsChoice.auto
    @Option(help: "RetinaFace: keep faces whose face probability exceeds this (SBI: 0.7).")
    public var retinaConfidence = 0.7
    @Option(help: "RetinaFace: NMS IoU threshold (SBI: 0.4).")
    public var retinaNms = 0.4
    @Option(help: "RetinaFace: resize the longest image side to this before detection (0: never). Default: 2048 for retinaface-pytorch weights (as SBI), none for Pytorch_Retinaface weights.")
    public var retinaMaxSize: Int?

    /// The detector as faces record it ("hog", "mtcnn", "retinaface", ...).
    public var name: String { detectorModel != nil && detector == .hog ? "mmod" : detector.rawValue }

    public func validate() throws {
        if detector != .hog && detector != .mtcnn && detectorModel == nil { throw ValidationError("--detector \(detector.rawValue) needs --detector-model FILE") }
        if detector == .retinaface {
            guard retinaConfidence >= 0 && retinaConfidence < 1 else { throw ValidationError("--retina-confidence must be in [0, 1)") }
            guard retinaNms > 0 && retinaNms <= 1 else { throw ValidationError("--retina-nms must be in (0, 1]") }
            if let m = retinaMaxSize, m != 0 && m < 32 { throw ValidationError("--retina-max-size must be 0 (never resize) or at least 32") }
        }
    }

    /// Why faces from this detector cannot be cut by `crop` (nil when they can): RetinaFace boxes need RetinaFace,
    /// an alignment on the detector's five points needs MTCNN or RetinaFace.
    public func mismatch(with crop: CropRule) -> String? {
        switch crop {
        case .margin(_, .retina) where detector != .retinaface:
            return "crop \(crop.name) needs RetinaFace boxes: add --detector retinaface --detector-model FILE (without RetinaFace weights, use margin:F:retina-approx)"
        case .align(_, _, .detector) where detector != .mtcnn && detector != .retinaface:
            return "crop \(crop.name) aligns on the detector's five points: add --detector mtcnn (or retinaface --detector-model FILE)"
        default: return nil
        }
    }

    /// Puts the chosen detector into `opts` (loading its weights), logging which one runs.
    public func configure(_ opts: inout FaceAnalysisOptions, threads: Int) throws {
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
    }
}
