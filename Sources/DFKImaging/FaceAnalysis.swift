// Frames -> faces with landmarks (and crops): the work of the `landmarks` tool, as a library.
import DFKCore
import DFKRecords
import Foundation

public struct FaceAnalysisOptions: Sendable {
    public var detector: FaceDetector.Kind = .hog
    /// A detector from outside dlib (RetinaFace); when set, it replaces `detector` (upsample and threshold unused).
    public var boxDetector: (any FaceBoxDetector)?
    /// dlib upsample_num_times (SBI's preprocessing uses 1); nil: faces of every size (FaceDetector.detectAuto).
    public var upsample: Int? = nil
    public var threshold: Double = 0
    public var predictorPath: String = LandmarkPredictor.defaultPath
    /// Add the 13 forehead points of the 81-point layout to 68-point landmarks (marked as derived).
    public var deriveForehead = false
    public var crop: CropRule?
    /// Where crops and the per-frame result cache go; nil: nothing is written.
    public var outputDirectory: String?
    public var cropFormat: ImageFormat = .png(level: 1)
    public init() {}

    /// Everything that changes the result: a cached result is reused only under the same key.
    public func cacheKey(predictorSize: Int) -> String {
        var parts = [boxDetector?.cacheKey ?? detector.name, upsample.map { "up\($0)" } ?? "upauto", "th\(threshold)", "\(predictorPath)#\(predictorSize)"]
        if boxDetector == nil, case .mmod(let p) = detector { parts.append(p) }
        parts.append(deriveForehead ? "forehead" : "noforehead")
        parts.append(crop?.name ?? "nocrop")
        parts.append("\(cropFormat)")
        return parts.joined(separator: "|")
    }
}

public final class FaceAnalyzer: @unchecked Sendable {
    public let options: FaceAnalysisOptions
    public let predictor: LandmarkPredictor
    private let detectors: [FaceDetector]
    private let key: String

    /// Loads the predictor once (shared) and prepares one detector slot per worker thread.
    public init(options: FaceAnalysisOptions, workers: Int) throws {
        self.options = options
        predictor = try LandmarkPredictor(path: options.predictorPath)
        if options.deriveForehead && predictor.numParts != 68 {
            throw VisionError("--forehead needs a 68-point predictor; \(options.predictorPath) has \(predictor.numParts) points")
        }
        if options.crop == .sbi && predictor.numParts < 68 {
            throw VisionError("--crop sbi needs a 68- or 81-point predictor; \(options.predictorPath) has \(predictor.numParts) points")
        }
        // dlib detectors keep scratch state: one per worker thread.
        detectors = options.boxDetector != nil ? [] : try (0..<max(1, workers)).map { _ in try FaceDetector(options.detector) }
        let size = (try? FileManager.default.attributesOfItem(atPath: options.predictorPath)[.size] as? Int) ?? 0
        key = options.cacheKey(predictorSize: size)
    }

    /// Detects, predicts and sorts the faces of an image (largest detector box first). With a `boxDetector`
    /// (RetinaFace), its key points are kept as "detector_points".
    public func faces(in image: Image, worker: Int = 0) throws -> [Face] {
        let dets: [FaceBoxDetection]
        if let bd = options.boxDetector {
            dets = try bd.detect(image)
        } else {
            dets = try detectors[worker % detectors.count].detect(image, upsample: options.upsample, threshold: options.threshold)
                .map { FaceBoxDetection(box: $0.box, score: $0.score) }
        }
        var faces: [Face] = []
        for d in dets {
            var pts = try predictor.predict(image, in: d.box)
            var face = Face(box: d.box, score: (d.score * 1e4).rounded() / 1e4, detector: options.boxDetector?.name ?? options.detector.name,
                            layout: predictor.layout, landmarks: pts)
            if !d.points.isEmpty {
                face.extra["detector_points"] = .array(d.points.map { .array([.double($0.x), .double($0.y)]) })
            }
            if options.deriveForehead {
                pts += LandmarkLayout.deriveForehead(pts).map { Point(($0.x * 100).rounded() / 100, ($0.y * 100).rounded() / 100) }
                face.landmarks = pts
                face.layout = "ibug81"
                face.derived = Array(68..<81)
                face.derivedBy = "ellipse-arc"
            }
            faces.append(face)
        }
        faces.sort { $0.box.area > $1.box.area }
        // SBI's training pairs each landmark set with the best-IoU box among the two largest RetinaFace boxes.
        if options.boxDetector != nil {
            let candidates = Array(faces.prefix(2).map(\.box))
            for k in faces.indices {
                if let j = FaceBoxRule.bestIoU(landmarks: faces[k].landmarks, among: candidates), candidates[j] != faces[k].box {
                    faces[k].extra["retina_box"] = .array([candidates[j].left, candidates[j].top, candidates[j].right, candidates[j].bottom].map { .double($0) })
                }
            }
        }
        return faces
    }

    /// Paths of the crop of face `k` and of the result cache for one image under `outputDirectory`.
    public func outputPaths(forImage path: String) -> (dir: String, stem: String)? {
        guard let out = options.outputDirectory else { return nil }
        let parent = (Paths.absolute(path) as NSString).deletingLastPathComponent
        return (out + "/" + Paths.stableName(for: parent), Paths.stem(path))
    }

    /// The cached result of an earlier run for this image, if it is complete and was made with the same options.
    public func cachedFaces(imagePath: String) -> [Face]? {
        guard let out = outputPaths(forImage: imagePath) else { return nil }
        guard let fp = Paths.fingerprint(imagePath) else { return nil }
        return readCache("\(out.dir)/\(out.stem).faces.json", image: Paths.absolute(imagePath), source: fp)
    }

    /// Analyses a decoded image. Crops and the cache entry are written through `writes` (in the background:
    /// call `writes.wait()` before handing the result on); the cache entry is written after the crops.
    public func analyze(image: Image, imagePath: String, worker: Int, writes: PendingWrites) throws -> [Face] {
        var faces = try faces(in: image, worker: worker)
        guard let out = outputPaths(forImage: imagePath) else { return faces }
        try Paths.makeDirectory(out.dir)
        var crops: [(Image, String)] = []
        if let rule = options.crop {
            for k in faces.indices {
                let (crop, r, m) = try rule.extract(from: image, face: faces[k])
                let cropPath = "\(out.dir)/\(out.stem)_\(k).\(options.cropFormat.fileExtension)"
                crops.append((crop, cropPath))
                let local = faces[k].landmarks.map { Point(m[0] * $0.x + m[1] * $0.y + m[2], m[3] * $0.x + m[4] * $0.y + m[5]) }
                faces[k].crop = FaceCrop(image: cropPath,
                                         box: Box(left: Double(r.x0), top: Double(r.y0), right: Double(r.x1), bottom: Double(r.y1)),
                                         spec: rule.name, landmarks: local)
            }
        }
        var o = JSONObject()
        o["key"] = .string(key)
        o["image"] = .string(Paths.absolute(imagePath))
        // The image file this result was made from: a file replaced at the same path is analysed again.
        if let fp = Paths.fingerprint(imagePath) { o["source"] = .string(fp) }
        o["faces"] = .array(faces.map { .object($0.json) })
        let entry = JSON.serialize(.object(o)) + "\n"
        let cachePath = "\(out.dir)/\(out.stem).faces.json"
        let format = options.cropFormat
        writes.add {
            for (crop, path) in crops { try crop.write(to: path, format: format) }
            try AtomicFile.write(entry, to: cachePath)
        }
        return faces
    }

    private func readCache(_ path: String, image: String, source: String) -> [Face]? {
        guard let data = FileManager.default.contents(atPath: path),
              case .object(let o)? = try? JSON.parse([UInt8](data)),
              o["key"]?.stringValue == key, o["image"]?.stringValue == image, o["source"]?.stringValue == source,
              let arr = o["faces"]?.arrayValue else { return nil }
        let faces = arr.compactMap { $0.objectValue.map(Face.init(json:)) }
        // A cached result is complete only if every crop it names is still there.
        for f in faces { if let c = f.crop, !Paths.exists(c.image) { return nil } }
        return faces
    }
}
