// face-swap: makes a fake video by swapping another person's face into every frame (the demo's test fakes).
import ArgumentParser
import DFKImaging
import DFKRecords
import DFKSynthesis
import DFKTool
import Foundation

struct FaceSwapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "face-swap",
        abstract: "Write a face-swapped copy of a video (landmark-aligned, colour-matched, feathered); print its record.",
        discussion: """
        The source face comes from an image or from the first frame of a video that has one. Every target frame \
        with a face gets the source face aligned to its 68 landmarks; frames without a face are copied. The \
        output is Motion-JPEG in AVI, written atomically; the record printed has "label": 1 and "method": "face-swap".
        """)

    @Option(help: "Image or video holding the source face.")
    var source: String
    @Option(help: "Video whose faces are replaced.")
    var target: String
    @Option(help: "Output video (.avi).")
    var out: String
    @Option(help: "Use at most this many frames of the target (from the start).")
    var maxFrames: Int?
    @Option(help: "JPEG quality of the output frames.")
    var quality = 95

    func sourceFace(_ analyzer: FaceAnalyzer) throws -> (Image, [Point]) {
        if let img = try? Image.read(source) {
            guard let f = try analyzer.faces(in: img).first else { throw ToolError("\(source): no face found") }
            return (img, f.landmarks)
        }
        let frames = try FrameExtractor(sampling: .evenly(16)).decodeInMemory(video: source).frames
        for fr in frames { if let f = try analyzer.faces(in: fr.image).first { return (fr.image, f.landmarks) } }
        throw ToolError("\(source): no face found")
    }

    func run() throws {
        if Paths.exists(out) {   // finished earlier: re-runs skip the work
            var r = Record(); r.video = out; r.label = 1; r.method = "face-swap"
            r["source"] = .string(source); r["target"] = .string(target)
            try NDJSONWriter().write(r)
            return
        }
        let analyzer = try FaceAnalyzer(options: FaceAnalysisOptions(), workers: 1)
        let (src, srcPts) = try sourceFace(analyzer)
        let video: Video
        do { video = try Video(path: target) } catch { throw ToolError("\(target): \(error)") }
        let dir = (out as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "" : dir + "/") + ".\((out as NSString).lastPathComponent).tmp-\(getpid()).avi"
        let writer = try VideoWriter(path: tmp, fourcc: "MJPG", fps: video.fps > 0 ? video.fps : 25, width: video.width, height: video.height)
        var n = 0, swapped = 0
        while video.grab() {
            if let maxFrames, n >= maxFrames { break }
            var frame = try video.retrieve()
            if let f = try analyzer.faces(in: frame).first {
                frame = try FaceSwap.swap(source: src, sourcePoints: srcPts, target: frame, targetPoints: f.landmarks)
                swapped += 1
            }
            try writer.write(frame)
            n += 1
        }
        writer.close()
        guard n > 0 else { unlink(tmp); throw ToolError("\(target): no decodable frames") }
        guard rename(tmp, out) == 0 else { unlink(tmp); throw ToolError("\(out): cannot write") }
        Diagnostics.info("\(out): \(swapped) of \(n) frames swapped")
        var r = Record(); r.video = out; r.label = 1; r.method = "face-swap"
        r["source"] = .string(source); r["target"] = .string(target)
        try NDJSONWriter().write(r)
    }
}

ToolMain.run(FaceSwapCommand.self)
