// face-swap: makes a manipulated video (face swap, expression reenactment or blend) or, with `--method real`, a
// re-encoded real one, for the demo's labelled sets and test fakes.
import ArgumentParser
import DFKImaging
import DFKRecords
import DFKSynthesis
import DFKTool
import Foundation

enum Method: String, ExpressibleByArgument, CaseIterable {
    case faceSwap = "face-swap", reenact, blend, real
    var label: Int { self == .real ? 0 : 1 }
}

struct FaceSwapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "face-swap",
        abstract: "Write a manipulated copy of a video (face swap, reenactment or blend); print its record.",
        discussion: """
        --method face-swap (default): the source face (an image, or the first frame of a video that has one) is \
        aligned to every target face's 68 landmarks, colour-matched and pasted with a feathered hull. \
        --method reenact: the target's brows, eyes, mouth and chin follow the driving video given as --source \
        (landmark-driven warp, docs/synthesis.md). --method blend: the source face is warped onto the target's \
        landmarks and alpha-blended over the inner face (alpha drawn in [0.4, 0.7]). --method real: no \
        manipulation, the target written the same way (same codec and frames) with label 0. \
        The target may be an image: it becomes a --still-frames video with a slow seeded drift (pan, zoom, \
        tilt), the same for every method. In a frame with several faces, the largest is manipulated, then the \
        one nearest to it in the next frames. Random draws come from --seed and the file names of source and target \
        (not their folders). Target frames without a face are copied. The output is Motion-JPEG in AVI (--out \
        NAME.avi) or MPEG-4 Part 2 in MP4 (--out NAME.mp4: a lossy inter-frame codec, the other compression a test \
        set can mix in), written atomically; the record printed has "label" (1, or 0 for real), "method", and the draws under "synth"; \
        an existing output is not made again.
        """)

    @Option(help: "Manipulation: face-swap, reenact, blend, or real (none).")
    var method: Method = .faceSwap
    @Option(help: "Image or video holding the source face (for reenact: the driving video). Not used by real.")
    var source: String?
    @Option(help: "Video (or image: see --still-frames) whose faces are manipulated.")
    var target: String
    @Option(help: "Output video: .avi (Motion-JPEG) or .mp4 (MPEG-4 Part 2).")
    var out: String
    @Option(help: Self.maxFramesRange.help("Use at most this many frames of the target (from --start-frame)."))
    var maxFrames: Int?
    @Option(help: Self.startFrameRange.help("Skip this many frames at the start of a target video (clips of one video)."))
    var startFrame = 0
    @Option(help: Self.stillFramesRange.help("Frames of the video made from a target image."))
    var stillFrames = 48
    @Option(help: "Seed of the random draws.")
    var seed: UInt64 = 0
    @Option(help: Self.upsampleRange.help("dlib HOG upsampling for the face detector (1 finds smaller faces; 0 is 4x faster on large faces)."))
    var upsample = 1
    @Option(help: Self.qualityRange.help("JPEG quality of the output frames."))
    var quality = 95

    static let maxFramesRange = FlagRange("--max-frames", 1...1_000_000)
    static let stillFramesRange = FlagRange("--still-frames", 1...10_000)
    static let startFrameRange = FlagRange("--start-frame", 0...1_000_000)
    static let upsampleRange = FlagRange("--upsample", 0...3)
    static let qualityRange = FlagRange("--quality", 1...100)

    func validate() throws {
        if method != .real && source == nil { throw ValidationError("--method \(method.rawValue) needs --source") }
        try Self.maxFramesRange.check(maxFrames); try Self.stillFramesRange.check(stillFrames)
        try Self.startFrameRange.check(startFrame)
        if startFrame > 0 && Image.isStillImage(target) { throw ValidationError("--start-frame applies to a target video, not an image") }
        try Self.upsampleRange.check(upsample); try Self.qualityRange.check(quality)
        guard Self.container(out) != nil else { throw ValidationError("--out must name an .avi (Motion-JPEG) or .mp4 (MPEG-4) file: \(out)") }
    }

    static func name(_ path: String) -> String { (path as NSString).lastPathComponent }

    /// The container (file extension) and codec of an output name: .avi is Motion-JPEG, .mp4 MPEG-4 Part 2.
    static func container(_ path: String) -> (ext: String, fourcc: String)? {
        switch (path as NSString).pathExtension.lowercased() {
        case "avi": return ("avi", "MJPG")
        case "mp4": return ("mp4", "mp4v")
        default: return nil
        }
    }

    /// The record of this video, with the draws (which depend only on the seed and the file names).
    func record(draws: Draws) -> Record {
        var r = Record(); r.video = out; r.label = method.label; r.method = method.rawValue
        if let source, method != .real { r["source"] = .string(source) }
        r["target"] = .string(target)
        r["codec"] = .string(Self.container(out)?.fourcc ?? "")
        if startFrame > 0 { r["target_start_frame"] = .int(startFrame) }
        var synth = draws.fields
        synth["seed"] = .string(String(seed))
        r["synth"] = .object(synth)
        return r
    }

    func run() throws {
        var draws = Draws()
        var rng = SampleRNG(seed: seed, key: "\(method.rawValue):\(source.map(Self.name) ?? "-")->\(Self.name(target))\(startFrame > 0 ? "@\(startFrame)" : "")")
        var reenactParameters: Reenact.Parameters?
        var blendParameters: Blend.Parameters?
        switch method {
        case .reenact: reenactParameters = .draw(&rng, &draws)
        case .blend: blendParameters = .draw(&rng, &draws)
        case .faceSwap, .real: break
        }
        let frames = try TargetFrames(path: target, start: startFrame, maxFrames: maxFrames, stillFrames: stillFrames, seed: seed)
        frames.describe(&draws)
        if Paths.exists(out) {   // finished earlier: re-runs skip the work
            try NDJSONWriter().write(record(draws: draws))
            return
        }
        var options = FaceAnalysisOptions()
        options.upsample = upsample
        let analyzer = try FaceAnalyzer(options: options, workers: 1)

        // What each target frame becomes.
        var edit: (Int, Image, [Point]) throws -> Image
        switch method {
        case .real:
            edit = { _, frame, _ in frame }
        case .faceSwap:
            let (src, pts) = try sourceFace(analyzer)
            edit = { _, frame, t in try FaceSwap.swap(source: src, sourcePoints: pts, target: frame, targetPoints: t) }
        case .blend:
            let (src, pts) = try sourceFace(analyzer)
            let p = blendParameters!
            edit = { _, frame, t in try Blend.blend(source: src, sourcePoints: pts, target: frame, targetPoints: t, parameters: p) }
        case .reenact:
            edit = try reenactment(analyzer, frames: frames, parameters: reenactParameters!)
        }

        let dir = (out as NSString).deletingLastPathComponent
        if !dir.isEmpty { try Paths.makeDirectory(dir) }
        let kind = Self.container(out)!
        let tmp = Temporaries.name(for: out, extension: kind.ext)   // removed if a signal ends the run
        AtomicFile.sweepStaleTemporaries(in: dir.isEmpty ? "." : dir)
        Temporaries.register(tmp)
        defer { Temporaries.unregister(tmp) }
        let writer: VideoWriter
        do {
            writer = try VideoWriter(path: tmp, fourcc: kind.fourcc, fps: frames.fps, width: frames.width, height: frames.height)
        } catch { throw ToolError("\(out): cannot write video: \(error)") }
        var n = 0, changed = 0, refused = 0
        var tracker = FaceTracker()
        do {
            try frames.forEach { i, frame in
                try Cancellation.check()   // a safe point between frames
                var img = frame
                if method == .real {
                    img = frame
                } else if let f = tracker.pick(try analyzer.faces(in: frame)) {
                    do {
                        img = try edit(i, frame, f.landmarks)
                        changed += 1
                    } catch let e as ManipulationError {   // e.g. a face half out of the frame: copied unchanged
                        if refused == 0 { Diagnostics.warn("\(target): frame \(i): \(e); such frames are copied unchanged") }
                        refused += 1
                    }
                }
                try writer.write(img)
                n += 1
            }
        } catch {
            writer.close(); unlink(tmp)
            throw error
        }
        writer.close()
        guard n > 0 else { unlink(tmp); throw ToolError("\(target): no decodable frames") }
        guard method == .real || changed > 0 else {   // a "fake" without a manipulated frame would be mislabelled
            unlink(tmp)
            throw ToolError("\(target): no face manipulated in \(n) frames\(upsample == 0 ? " (faces too small for --upsample 0?)" : "")")
        }
        guard rename(tmp, out) == 0 else { unlink(tmp); throw ToolError("\(out): cannot write") }
        Diagnostics.info(method == .real ? "\(out): \(n) frames"
                         : "\(out): \(changed) of \(n) frames manipulated (\(method.rawValue))\(refused > 0 ? ", \(refused) refused" : "")")
        try NDJSONWriter().write(record(draws: draws))
    }

    func sourceFace(_ analyzer: FaceAnalyzer) throws -> (Image, [Point]) {
        let source = source!
        if let img = try? Image.read(source) {
            guard let f = try analyzer.faces(in: img).first else { throw ToolError("\(source): no face found") }
            return (img, f.landmarks)
        }
        let frames: [(index: Int, image: Image)]
        do { frames = try FrameExtractor(sampling: .evenly(16)).decodeInMemory(video: source).frames } catch {
            throw ToolError("\(source): not a readable image or video (\(error))")
        }
        for fr in frames { if let f = try analyzer.faces(in: fr.image).first { return (fr.image, f.landmarks) } }
        throw ToolError("\(source): no face found")
    }

    /// Reenactment: the target's landmarks over the whole clip give its neutral shape; the driving video, from a
    /// drawn start (wrapping around), gives one expression per target frame (3-frame moving average).
    func reenactment(_ analyzer: FaceAnalyzer, frames: TargetFrames, parameters: Reenact.Parameters) throws -> (Int, Image, [Point]) throws -> Image {
        let source = source!
        if Image.isStillImage(source) { throw ToolError("\(source): reenact needs a driving video, not an image") }
        var targetFaces: [Int: [Point]] = [:]
        var tracker = FaceTracker()
        try frames.forEach { i, frame in
            if let f = tracker.pick(try analyzer.faces(in: frame)), f.landmarks.count >= 68 { targetFaces[i] = f.landmarks }
        }
        guard !targetFaces.isEmpty else { throw ToolError("\(target): no face found") }
        let targetNeutral = try Reenact.neutral(Array(targetFaces.values))

        let driver: Video
        do { driver = try Video(path: source) } catch { throw ToolError("\(source): \(error)") }
        var count = driver.reportedFrameCount
        if count <= 0 { count = try FrameExtractor(sampling: .all).countFrames(source) }
        let need = frames.count
        let start = min(count - 1, Int(parameters.start * Double(count)))
        let wanted = (0..<need).map { (start + $0) % max(count, 1) }
        let wantedSet = Set(wanted)
        var driving: [Int: [Point]] = [:]
        var i = 0
        while i <= (wantedSet.max() ?? -1), driver.grab() {
            if wantedSet.contains(i), let f = try analyzer.faces(in: try driver.retrieve()).first, f.landmarks.count >= 68 {
                driving[i] = f.landmarks
            }
            i += 1
        }
        guard driving.count >= 2 else { throw ToolError("\(source): fewer than 2 driving frames with a face") }
        let drivingNeutral = try Reenact.neutral(Array(driving.values))
        // Driving expression per target frame (the last one seen where a driving frame has no face), smoothed.
        var expressions: [[Point]] = []
        var last = Reenact.expression(driving.values.first!, neutral: drivingNeutral).offsets
        for d in wanted {
            if let pts = driving[d] { last = Reenact.expression(pts, neutral: drivingNeutral).offsets }
            expressions.append(last)
        }
        let smoothed = expressions.indices.map { k -> [Point] in
            let ks = [k - 1, k, k + 1].filter { expressions.indices.contains($0) }
            return (0..<68).map { j in
                Point(ks.reduce(0) { $0 + expressions[$1][j].x } / Double(ks.count), ks.reduce(0) { $0 + expressions[$1][j].y } / Double(ks.count))
            }
        }
        // The driving "face" whose expression is smoothed[k]: the neutral shape plus the expression.
        let drivingShapes = smoothed.map { e in (0..<68).map { Point(drivingNeutral[$0].x + e[$0].x, drivingNeutral[$0].y + e[$0].y) } }
        return { k, frame, pts in
            let goal = try Reenact.goal(target: pts, targetNeutral: targetNeutral, driving: drivingShapes[min(k, drivingShapes.count - 1)],
                                        drivingNeutral: drivingNeutral, strength: parameters.strength)
            return try Reenact.reenact(target: frame, targetPoints: pts, goal: goal)
        }
    }
}

/// The face manipulated in each frame: the largest in the first frame with a face, then the one nearest to the
/// last pick (so a frame with several faces of about the same size does not switch people).
struct FaceTracker {
    var last: Point?
    mutating func pick(_ faces: [Face]) -> Face? {
        guard let first = faces.first else { return nil }
        let chosen = last.map { l in
            faces.min { a, b in
                hypot(a.box.center.x - l.x, a.box.center.y - l.y) < hypot(b.box.center.x - l.x, b.box.center.y - l.y)
            }!
        } ?? first
        last = chosen.box.center
        return chosen
    }
}

/// The target's frames: a video's (from --start-frame, up to --max-frames), or a still image's with a slow seeded drift.
struct TargetFrames {
    let path: String
    let start: Int
    let maxFrames: Int?
    let still: Image?
    /// Per frame of a still: the similarity (2x3) applied to the image.
    let drift: [[Double]]
    let drawn: JSONObject
    let fps: Double, width: Int, height: Int, count: Int

    init(path: String, start: Int = 0, maxFrames: Int?, stillFrames: Int, seed: UInt64) throws {
        self.path = path
        self.start = start
        self.maxFrames = maxFrames
        if Image.isStillImage(path) {
            let img: Image
            do { img = try Image.read(path) } catch { throw ToolError("\(path): \(error)") }
            still = img
            width = img.width & ~1; height = img.height & ~1
            fps = 24
            count = min(stillFrames, maxFrames ?? stillFrames)
            // Drift: pan up to 3% of the size, zoom in by up to 6%, tilt up to 2 degrees, eased over the clip.
            // Keyed on the image's file name only, so its real and manipulated versions move alike.
            var rng = SampleRNG(seed: seed, key: "drift:\(FaceSwapCommand.name(path))")
            let dx = rng.uniform(-0.03, 0.03) * Double(width), dy = rng.uniform(-0.03, 0.03) * Double(height)
            let zoom = rng.uniform(0.0, 0.06), tilt = rng.uniform(-2, 2) * Double.pi / 180
            var d = Draws()
            d.set("drift", [dx, dy, zoom, tilt * 180 / Double.pi])
            drawn = d.fields
            let cx = Double(width) / 2, cy = Double(height) / 2
            let n = count
            drift = (0..<n).map { k in
                let t = n > 1 ? 0.5 - 0.5 * cos(Double.pi * Double(k) / Double(n - 1)) : 0
                let s = 1 + zoom * t, a = tilt * t
                let c = s * cos(a), sn = s * sin(a)
                // Scale and rotate about the centre (a little zoom hides the border), then pan.
                return [c, -sn, cx - c * cx + sn * cy + dx * t, sn, c, cy - sn * cx - c * cy + dy * t]
            }
        } else {
            still = nil; drift = []; drawn = JSONObject()
            let v: Video
            do { v = try Video(path: path) } catch { throw ToolError("\(path): \(error)") }
            fps = v.fps > 0 ? v.fps : 25
            width = v.width; height = v.height
            let total = v.reportedFrameCount > 0 ? v.reportedFrameCount : try FrameExtractor(sampling: .all).countFrames(path)
            guard start < total else { throw ToolError("\(path): --start-frame \(start) is past the video's \(total) frames") }
            count = min(total - start, maxFrames ?? total)
        }
    }

    func describe(_ draws: inout Draws) { for (k, v) in drawn { draws.set(k, v) } }

    /// Calls `body` with each frame in order (a video is decoded again on every call).
    func forEach(_ body: (Int, Image) throws -> Void) throws {
        if let still {
            for (k, m) in drift.enumerated() {
                try body(k, try still.warpedAffine(m, width: width, height: height, interpolation: .linear, border: .reflect101))
            }
            return
        }
        let v: Video
        do { v = try Video(path: path) } catch { throw ToolError("\(path): \(error)") }
        var skipped = 0
        while skipped < start, v.grab() { skipped += 1 }
        var n = 0
        while v.grab() {
            if let maxFrames, n >= maxFrames { break }
            try body(n, try v.retrieve())
            n += 1
        }
    }
}

extension Image {
    /// Whether a path names a still image (by extension) rather than a video.
    static func isStillImage(_ path: String) -> Bool {
        ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"].contains((path as NSString).pathExtension.lowercased())
    }
}

ToolMain.run(FaceSwapCommand.self)
