// Outside numbers checked where they enter: non-finite or huge face geometry, numeric flags out of range, unusable
// detector specs in checkpoints, unusable training faces: each ends in a one-line error naming it, with the right exit code.
import DFKDetect
import DFKModels
import DFKRecords
import Foundation
import XCTest

final class InputCheckTests: XCTestCase {
    // MARK: non-finite geometry

    static let badLines = [
        #"{"image":"a.png","faces":[{"box":[0,0,10,10],"landmarks":[[1e999,2],[3,4]]}]}"#,
        #"{"image":"b.png","faces":[{"box":[0,-1e300,10,10],"landmarks":[[1,2]]}]}"#,
        #"{"image":"c.png","faces":[{"box":[0,0,10,10],"landmarks":[[1,2]],"crop":{"image":"x","box":[0,0,1,1],"landmarks":[[-1e999,0]]}}]}"#,
    ]

    func testNonFiniteOrHugeCoordinatesAreAnErrorForTheirLine() throws {
        let path = NSTemporaryDirectory() + "dfk-geometry-\(getpid()).ndjson"
        let ok = #"{"image":"d.png","faces":[{"box":[0,0,10,10],"landmarks":[[1.5,-2],[999999,0]]}],"note":1e999}"#
        try (InputCheckTests.badLines + [ok]).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let items = Array(try NDJSONReader(path: path))
        XCTAssertEqual(items.count, 4)
        for (i, where_) in ["faces[0].landmarks[0][0] is 1e999", "faces[0].box[1] is -1e300", "faces[0].crop.landmarks[0][0] is -1e999"].enumerated() {
            guard case .failure(let e) = items[i].record else { XCTFail("line \(i + 1) accepted"); continue }
            XCTAssertEqual(e.line, i + 1)
            XCTAssertTrue(e.description.hasPrefix("\(path):\(i + 1): \(where_)"), e.description)
        }
        // Finite coordinates (also slightly outside an image) and non-geometry fields are not its business.
        XCTAssertEqual(try items[3].record.get().faces?.first?.landmarks.count, 2)
    }

    /// Each tool that turns landmarks into pixels: an error naming the line, exit 1 (not a trap), later records kept.
    func testToolsReportBadGeometryAndKeepGoing() throws {
        let dir = Fixtures.tempDir()
        let passed = #"{"image":"later.png","error":"from an earlier tool"}"#
        let input = ([InputCheckTests.badLines[0], passed]).joined(separator: "\n") + "\n"
        for (tool, args) in [("synth-sbi", ["-q", "--out", dir + "/s"]), ("bbmg-mask", ["-q", "--out", dir + "/b"]),
                             ("score-frames", ["-q", "--checkpoint", dir + "/none.safetensors", "--faces", "given"])] {
            let r = try runTool(tool, args, stdin: input)
            if tool == "score-frames" { XCTAssertNotEqual(r.status, 132, r.stderr); continue }   // checkpoint missing: still no trap
            XCTAssertEqual(r.status, 1, "\(tool): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("<stdin>:1: faces[0].landmarks[0][0] is 1e999, not a usable coordinate"), "\(tool): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("later.png"), "\(tool) lost the later record")
        }
        let t = try runTool("train", ["-q", "--recipe", "cpu-demo", "--out", dir + "/t", "--size", "64"], stdin: input)
        XCTAssertEqual(t.status, 1, t.stderr)
        XCTAssertTrue(t.stderr.contains("<stdin>:1: faces[0].landmarks[0][0] is 1e999"), t.stderr)
    }

    // MARK: numeric flags

    func testNumericFlagsOutsideTheirRangeAreUsageErrors() throws {
        let cases: [(String, [String], String)] = [
            ("extract-frames", ["--out", "/tmp/x", "--threads", "100000", "x.mp4"], "--threads must be within 1...256"),
            ("extract-frames", ["--out", "/tmp/x", "--seek-gap=-5", "x.mp4"], "--seek-gap must be within"),
            ("bbmg-mask", ["--out", "/tmp/x", "--blur-kernel", "1000001"], "--blur-kernel must be an odd number within 1...255"),
            ("synth-sbi", ["--out", "/tmp/x", "--blur-kernel", "4"], "--blur-kernel must be an odd number"),
            ("score-video", ["--checkpoint", "x", "--distort", "blur:99999", "v.mp4"], "--distort blur:K must be an odd number within 1...255"),
            ("score-video", ["--checkpoint", "x", "--distort", "resize:100000", "v.mp4"], "--distort resize:S must be within 8...4096"),
            ("score-video", ["--checkpoint", "x", "--upsample", "9", "v.mp4"], "--upsample must be within 0...4"),
            ("score-frames", ["--checkpoint", "x", "--batch", "0"], "--batch must be within 1...4096"),
            ("landmarks", ["--threshold", "nan", "x.png"], "--threshold must be within"),
            ("face-swap", ["--target", "t.mp4", "--out", "o.avi", "--method", "real", "--quality", "1000"], "--quality must be within 1...100"),
            ("prle-cam-fuse", ["--zoo", "z", "--out", "o", "--tau1", "2"], "--tau1 must be within 0.0...1.0"),
            ("synth-sbi", ["--out", "/tmp/x", "--threads", "0"], "--threads must be within 1...256"),
            ("train", ["--out", "/tmp/x", "--size", "0"], "input.size: must be at least 16"),
            ("train", ["--out", "/tmp/x", "--size", "100000"], "input.size: must be at most 2048"),
            ("train", ["--out", "/tmp/x", "--lr", "nan"], "optimizer.lr: expected a finite number"),
            ("train", ["--out", "/tmp/x", "--threads", "0"], "--threads must be within 1...256"),
            ("train", ["--out", "/tmp/x", "--batch", "3"], "batch must be even with data.source pseudo-fakes"),
            ("train", ["--out", "/tmp/x", "--recipe", "erm", "--sampler", "label-balanced", "--batch", "5"], "batch must be even with data.sampler label-balanced"),
        ]
        for (tool, args, want) in cases {
            let r = try runTool(tool, args)
            XCTAssertEqual(r.status, 64, "\(tool) \(args): \(r.stderr)")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(want), "\(tool) \(args): \(r.stderr)")
        }
        // The ranges are in --help.
        for (tool, flag, range) in [("extract-frames", "--threads", "Valid: 1-256"), ("bbmg-mask", "--blur-kernel", "Valid: odd, 1-255"),
                                    ("score-video", "--distort", "K odd, 1-255"), ("train", "--size", "integer 16-2048"),
                                    ("landmarks", "--upsample", "Valid: 0-4")] {
            let help = try runTool(tool, ["--help"]).stdout.replacingOccurrences(of: "\n ", with: " ")
                .split(separator: " ").filter { !$0.isEmpty }.joined(separator: " ")
            guard let at = help.range(of: flag + " <", options: .backwards) else { XCTFail("\(tool) --help lacks \(flag)"); continue }
            XCTAssertTrue(help[at.lowerBound...].prefix(400).contains(range), "\(tool) --help: \(flag) lacks \(range)")
        }
    }

    // MARK: checkpoint preprocessing

    func testUnusableDetectorSpecIsRefusedBeforeAnythingIsBuilt() throws {
        let dir = Fixtures.tempDir()
        let good = DetectorSpec(backbone: "resnet18", size: 64, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], testCrop: "margin:0.125:retina-approx").metadata
        let cases: [(String, String, String)] = [
            ("mean", "nan,0.5,0.5", "unusable \"mean\""), ("std", "0,0.25,0.25", "unusable \"std\""), ("std", "inf,1,1", "unusable \"std\""),
            ("classes", "1000000000", "unusable class count"), ("classes", "1", "unusable class count"),
            ("size", "100000", "unusable input size"), ("size", "0", "unusable input size"),
        ]
        for (key, value, want) in cases {
            var meta = good
            meta[key] = value
            let p = "\(dir)/\(key)-\(value).safetensors"
            try Checkpoint(tensors: [], metadata: meta).write(to: p)
            let t0 = Date()
            XCTAssertThrowsError(try Detector(checkpoint: p)) { e in
                XCTAssertTrue("\(e)".hasPrefix(p) && "\(e)".contains(want) && !"\(e)".contains("\n"), "\(key)=\(value): \(e)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
        }
    }

    // MARK: train reports lost faces

    func testTrainReportsUnreadableImagesAndOutOfImageLandmarksAndExitsNonZero() throws {
        let dir = Fixtures.tempDir()
        let f = try runTool("extract-frames", ["-q", "--frames", "6", "--out", dir + "/F", try Fixtures.media("single_face.mp4")])
        let l = try runTool("landmarks", ["-q"], stdin: f.stdout)
        XCTAssertEqual(l.status, 0, l.stderr)
        var lines = l.lines
        var missing = try JSON.parse(lines[0]).objectValue!
        missing["image"] = .string(dir + "/gone.png")
        missing["frame"] = .int(1000)
        var shifted = Record(try JSON.parse(lines[1]).objectValue!)
        var face = shifted.faces![0]
        face.landmarks = face.landmarks.map { Point($0.x + 5000, $0.y + 5000) }
        face.box = Box(left: face.box.left + 5000, top: face.box.top + 5000, right: face.box.right + 5000, bottom: face.box.bottom + 5000)
        shifted.faces = [face]
        shifted["frame"] = .int(1001)
        lines += [JSON.serialize(.object(missing)), JSON.serialize(.object(shifted.fields))]
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/train.ndjson", atomically: true, encoding: .utf8)
        let r = try runTool("train", [dir + "/train.ndjson", "-q", "--recipe", "cpu-demo", "--out", dir + "/m", "--epochs", "1", "--size", "64",
                                      "--batch", "2", "--set", "data.max_failed_fraction=0.9"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("2 training faces could not be used"), r.stderr)
        XCTAssertTrue(r.stderr.contains("gone.png") && r.stderr.contains("outside the image"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/m/last.safetensors"), "the usable faces were still trained")
    }
}
