// PRLE (PRLE.swift, prle-cam-fuse): Grad-CAM against eq. 3 on a hand-built network, the fusion rules on
// hand-made maps, the exploitation transform (exactly ceil(alpha |V|) top pixels, deterministic per seed), the
// tool on real faces (maps written, fields passed through, re-runs reuse maps, crop guard, bad faces reported).
import DFKCore
import DFKDetect
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
import DFKTensor
@testable import DFKTrain
import Foundation
import XCTest

final class PRLETests: XCTestCase {
    // MARK: Grad-CAM

    /// A network with a hand-written head: H = [x, 1 - x] at tap "map" (2 channels), logits
    /// z_real = 0.1 sum(H), z_fake = sum(a * H_0) - 0.5 sum(H_1^2). So d(z_fake - z_real)/dH_0 = a - 0.1 and
    /// d/dH_1 = -H_1 - 0.1; eq. 3's weights are their spatial means (w_1 < 0, so the ReLU clips some pixels).
    func testGradCAMOfAHandBuiltNetworkEqualsEquation3() throws {
        let (n, h, w) = (2, 2, 3)
        let xv: [Float] = [0.2, 0.9, 0.4, 0.1, 0.6, 0.3, /* image 2 */ 0.8, 0.1, 0.5, 0.7, 0.0, 0.9]
        let av: [Float] = [2.0, 1.5, 0.3, 1.2, 0.8, 1.0]
        let x = try Tensor(xv, shape: [n, 1, h, w])
        let a = try Tensor(av, shape: [1, 1, h, w])
        let cams = try GradCAM.maps(input: x, tap: "map") { x, tap in
            let hmap = try tap("map", try Tensor.cat([x, try 1.0 - x], dim: 1))
            let h0 = try hmap.narrow(1, start: 0, length: 1), h1 = try hmap.narrow(1, start: 1, length: 1)
            let zReal = try hmap.sum(dims: [1, 2, 3], keepDim: false) * 0.1
            let zFake = try (try (h0 * a).sum(dims: [1, 2, 3], keepDim: false)) + (try h1.square().sum(dims: [1, 2, 3], keepDim: false) * -0.5)
            return try Tensor.stack([zReal, zFake], dim: 1)
        }
        XCTAssertEqual(cams.count, n)
        let k = h * w
        let w0 = av.reduce(0, +) / Float(k) - 0.1
        for i in 0..<n {
            let x0 = Array(xv[(i * k)..<((i + 1) * k)]), x1 = x0.map { 1 - $0 }
            let w1 = -x1.reduce(0, +) / Float(k) - 0.1
            let expected = (0..<k).map { max(0, w0 * x0[$0] + w1 * x1[$0]) }
            XCTAssertEqual(cams[i].width, w); XCTAssertEqual(cams[i].height, h)
            for j in 0..<k { XCTAssertEqual(cams[i].values[j], expected[j], accuracy: 1e-5, "image \(i) pixel \(j)") }
        }
        // The ReLU matters here: both images have negative and positive pixels before it.
        for c in cams { XCTAssertTrue(c.values.contains(0)); XCTAssertTrue(c.values.contains { $0 > 0.1 }) }
        XCTAssertThrowsError(try GradCAM.maps(input: x, tap: "nowhere") { x, _ in try x.sum(dims: [1, 2, 3]).unsqueeze(1) })
    }

    func testGradCAMOfRegisteredBackbonesAtTheirMapTap() throws {
        Init.reset(seed: 3)
        let x = try Tensor.rand([2, 3, 64, 64], seed: 7)
        for (name, side) in [("efficientnet-lite0", 2), ("resnet18", 2), ("vgg16_bn", 4)] {
            let b = try Backbone.make(name, classes: 2, imageSize: 64)
            b.module.eval()
            let maps = try GradCAM.maps(b, input: x)
            XCTAssertEqual(maps.count, 2, name)
            XCTAssertEqual(maps[0].width, side, name); XCTAssertEqual(maps[0].height, side, name)
            XCTAssertTrue(maps.allSatisfy { $0.values.allSatisfy { $0 >= 0 && $0.isFinite } }, name)
        }
    }

    func testNormaliseAndResize() {
        let m = PRLEMap(width: 2, height: 1, values: [2, 6]).minMaxNormalised()
        XCTAssertEqual(m.values, [0, 1])
        XCTAssertEqual(PRLEMap(width: 2, height: 1, values: [3, 3]).minMaxNormalised().values, [0, 0])
        // Half-pixel bilinear: 2 -> 4 gives 0, 0.25, 0.75, 1 (OpenCV INTER_LINEAR).
        XCTAssertEqual(m.resized(width: 4, height: 1).values, [0, 0.25, 0.75, 1])
    }

    // MARK: Fusion

    /// A1: 0.8 at the centre of a 3 x 3 map, A2: all 0.
    let a1 = PRLEMap(width: 3, height: 3, values: [0, 0, 0, 0, 0.8, 0, 0, 0, 0])
    let a2 = PRLEMap(width: 3, height: 3)

    func testAverageFusionThresholdsTheMean() {
        // Mean: 0.4 at the centre (> 0.3 kept), 0 elsewhere.
        XCTAssertEqual(PRLEFusion.average([a1, a2], tau1: 0.3).values, [0, 0, 0, 0, 0.4, 0, 0, 0, 0])
        XCTAssertEqual(PRLEFusion.average([a1, a2], tau1: 0.45).values, [Float](repeating: 0, count: 9))
        let b = PRLEMap(width: 2, height: 1, values: [0.9, 0.2]), c = PRLEMap(width: 2, height: 1, values: [0.5, 0.3])
        XCTAssertEqual(PRLEFusion.average([b, c], tau1: 0.3).values, [0.7, 0])
    }

    func testNeighbourFusionByHand() {
        // Corner (0,0): N has 4 pixels, mean |A1(x_a) - A_k(x)| = 0.8 / 4 = 0.2 > 0.15 -> max over N = 0.8.
        // Edge (1,0): N has 6 pixels, 0.8 / 6 = 0.133 for every pair -> 0.
        // Centre: mean |A1(x_a) - A1(x)| = 8 x 0.8 / 9 = 0.71 > 0.15 -> 0.8.
        let expected: [Float] = [0.8, 0, 0.8, 0, 0.8, 0, 0.8, 0, 0.8]
        XCTAssertEqual(PRLEFusion.neighbour([a1, a2], lambda: 0.15, distinctPairs: false).values, expected)
        XCTAssertEqual(PRLEFusion.neighbour([a1, a2], lambda: 0.15, distinctPairs: true).values, expected)
        // Edges fire once lambda is below 0.8 / 6; nothing fires above 0.8 (the centre against A2: mean |0 - 0.8|).
        XCTAssertEqual(PRLEFusion.neighbour([a1, a2], lambda: 0.13, distinctPairs: false).values, [Float](repeating: 0.8, count: 9))
        XCTAssertEqual(PRLEFusion.neighbour([a1, a2], lambda: 0.81, distinctPairs: false).values, [Float](repeating: 0, count: 9))
        // Between 8 x 0.8 / 9 and 0.8 only that pair (j = 2, k = 1) fires, at the centre; with one map, nothing.
        XCTAssertEqual(PRLEFusion.neighbour([a1, a2], lambda: 0.75, distinctPairs: false).values, [0, 0, 0, 0, 0.8, 0, 0, 0, 0])
        XCTAssertEqual(PRLEFusion.neighbour([a1], lambda: 0.75, distinctPairs: false).values, [Float](repeating: 0, count: 9))
        // One map: pairs of distinct maps do not exist; j = k compares the map with itself.
        XCTAssertEqual(PRLEFusion.neighbour([a1], lambda: 0.15, distinctPairs: true).values, [Float](repeating: 0, count: 9))
        XCTAssertEqual(PRLEFusion.neighbour([a1], lambda: 0.15, distinctPairs: false).values, expected)
        // A flat map: no contrast anywhere, so eq. 8 alone gives nothing (the union keeps the average's region).
        let flat = PRLEMap(width: 3, height: 3, values: [Float](repeating: 0.6, count: 9))
        XCTAssertEqual(PRLEFusion.neighbour([flat, flat], lambda: 0.15, distinctPairs: false).values, [Float](repeating: 0, count: 9))
    }

    func testFusionRules() throws {
        var f = PRLEFusion()
        XCTAssertEqual(f.rule, .union); XCTAssertEqual(f.tau1, 0.3); XCTAssertEqual(f.lambda, 0.15)
        // Union: max(average [centre 0.4], neighbour [corners and centre 0.8]).
        XCTAssertEqual(try f.fuse([a1, a2]).values, [0.8, 0, 0.8, 0, 0.8, 0, 0.8, 0, 0.8])
        let flat = PRLEMap(width: 3, height: 3, values: [Float](repeating: 0.6, count: 9))
        XCTAssertEqual(try f.fuse([flat, flat]).values, flat.values)
        f.rule = .average
        XCTAssertEqual(try f.fuse([a1, a2]).values, [0, 0, 0, 0, 0.4, 0, 0, 0, 0])
        f.rule = .neighbour
        XCTAssertEqual(try f.fuse([flat, flat]).values, [Float](repeating: 0, count: 9))
        XCTAssertThrowsError(try f.fuse([]))
        XCTAssertThrowsError(try f.fuse([a1, PRLEMap(width: 2, height: 2)]))
    }

    // MARK: Dynamic exploitation

    /// A 4 x 4 map with 10 non-zero pixels of distinct values, two tied.
    static let map = PRLEMap(width: 4, height: 4, values: [0, 0.9, 0.2, 0,
                                                          0.5, 0, 0.7, 0.3,
                                                          0, 0.5, 0.1, 0,
                                                          0.6, 0, 0.4, 0.8])
    static func image() throws -> Image {
        try [UInt8](repeating: 200, count: 4 * 4 * 3).withUnsafeBytes { try Image(width: 4, height: 4, channels: 3, data: $0.baseAddress) }
    }
    static func zeroed(_ img: Image) -> [Int] {
        (0..<16).filter { i in (0..<3).allSatisfy { img.byte(x: i % 4, y: i / 4, channel: $0) == 0 } }
    }

    func testExploitZeroesExactlyTheTopCeilAlphaPixels() throws {
        // Ranking: 0.9 (1), 0.8 (15), 0.7 (6), 0.6 (12), 0.5 (4, then 9: raster order), 0.4 (14), 0.3 (7), 0.2, 0.1.
        let ranking = [1, 15, 6, 12, 4, 9, 14, 7, 2, 10]
        for (alpha, n) in [(0.3, 3), (0.05, 1), (0.31, 4), (0.5, 5), (0.55, 6), (1.0, 10)] {
            let sel = PRLEExploit.selected(PRLETests.map, alpha: alpha)
            XCTAssertEqual(sel, Array(ranking.prefix(n)), "alpha \(alpha)")
            let out = try PRLEExploit.zeroing(try PRLETests.image(), pixels: sel)
            XCTAssertEqual(PRLETests.zeroed(out), sel.sorted(), "alpha \(alpha)")
            // Every other pixel is untouched.
            XCTAssertEqual((0..<16).filter { out.byte(x: $0 % 4, y: $0 / 4) == 200 }.count, 16 - n)
        }
        XCTAssertEqual(PRLEExploit.selected(PRLEMap(width: 4, height: 4), alpha: 1), [])
    }

    func testTransformIsAlgorithm1AndDeterministicForASeed() throws {
        let dir = Fixtures.tempDir()
        let mapPath = dir + "/m.png"
        try PRLETests.map.image().write(to: mapPath, format: .png(level: 1))
        XCTAssertEqual(try PRLEMap.read(mapPath).values.map { ($0 * 255).rounded() }, PRLETests.map.values.map { ($0 * 255).rounded() })
        let face = Face(box: Box(left: 0, top: 0, right: 4, bottom: 4), landmarks: [])
        let samples = (0..<200).map { TrainSample(image: "frame\($0).png", face: face, label: $0 % 2, key: "k\($0)") }
        var index = PRLEIndex()
        for s in samples { index.entries[s.image] = PRLEEntry(map: mapPath, crop: "margin:0.125:retina-approx", box: [0, 0, 4, 4]) }
        var o = PRLEOptions()
        o.enabled = true
        let t = try PRLETransform(options: o, index: index, samples: samples, trainCrop: "margin:0.125:retina-approx")
        let ranking = [1, 15, 6, 12, 4, 9, 14, 7, 2, 10]
        var masked = 0, sizes = Set<Int>()
        for s in samples {
            var r1 = SampleRNG(seed: 5, key: s.key), r2 = SampleRNG(seed: 5, key: s.key)
            let z1 = PRLETests.zeroed(try t.apply(try PRLETests.image(), sample: s, rng: &r1))
            let z2 = PRLETests.zeroed(try t.apply(try PRLETests.image(), sample: s, rng: &r2))
            XCTAssertEqual(z1, z2, "same seed and key, same mask")
            if z1.isEmpty { continue }
            masked += 1
            sizes.insert(z1.count)
            // The masked pixels are always a top-k prefix of the ranking, k = ceil(alpha |V|) for the drawn alpha.
            XCTAssertEqual(z1, Array(ranking.prefix(z1.count)).sorted())
            // Replay the draws: chance(p), then alpha = 1 - u.
            var r = SampleRNG(seed: 5, key: s.key)
            XCTAssertTrue(r.chance(0.5))
            let alpha = 1 - r.unit()
            XCTAssertEqual(z1.count, Int((alpha * 10 - 1e-9).rounded(.up)))
        }
        XCTAssertTrue((70...130).contains(masked), "p = 0.5 masks about half: \(masked) of 200")
        XCTAssertGreaterThan(sizes.count, 5, "alpha varies")
        // Another seed gives other draws.
        let other = try samples.map { s -> [Int] in
            var r = SampleRNG(seed: 6, key: s.key)
            return PRLETests.zeroed(try t.apply(try PRLETests.image(), sample: s, rng: &r))
        }
        let base = try samples.map { s -> [Int] in
            var r = SampleRNG(seed: 5, key: s.key)
            return PRLETests.zeroed(try t.apply(try PRLETests.image(), sample: s, rng: &r))
        }
        XCTAssertNotEqual(other, base)
        // alpha fixed at 1 ("without exploitation"), p = 1: the whole support, every time.
        o.alpha = 1; o.p = 1
        let whole = try PRLETransform(options: o, index: index, samples: samples, trainCrop: "margin:0.125:retina-approx")
        var r = SampleRNG(seed: 1, key: "x")
        XCTAssertEqual(PRLETests.zeroed(try whole.apply(try PRLETests.image(), sample: samples[0], rng: &r)), ranking.sorted())
        // Random rectangles: alpha x random_area of the image.
        o.mask = .random; o.randomArea = 0.5
        let rect = try PRLETransform(options: o, index: PRLEIndex(), samples: samples, trainCrop: "sbi")
        let z = PRLETests.zeroed(try rect.apply(try PRLETests.image(), sample: samples[0], rng: &r))
        XCTAssertTrue((4...12).contains(z.count), "\(z)")   // about 0.5 x 16 pixels, aspect in [1/2, 2]
        let xs = z.map { $0 % 4 }, ys = z.map { $0 / 4 }
        XCTAssertEqual(z.count, (xs.max()! - xs.min()! + 1) * (ys.max()! - ys.min()! + 1), "a filled rectangle")
    }

    func testTransformRefusesMissingMapsAndAnotherCrop() throws {
        let face = Face(box: Box(left: 0, top: 0, right: 4, bottom: 4), landmarks: [])
        let samples = [TrainSample(image: "a.png", face: face, label: 0), TrainSample(image: "b.png", face: face, label: 1)]
        var index = PRLEIndex()
        index.entries["a.png"] = PRLEEntry(map: "/tmp/a.png", crop: "margin:0.125:retina-approx", box: nil)
        var o = PRLEOptions()
        o.enabled = true
        XCTAssertThrowsError(try PRLETransform(options: o, index: index, samples: samples, trainCrop: "margin:0.125:retina-approx")) {
            XCTAssertTrue("\($0)".contains("1 of 2 training faces have no \"prle_map\" map (first: b.png)"), "\($0)")
        }
        index.entries["b.png"] = PRLEEntry(map: "/tmp/b.png", crop: "margin:0.125:retina-approx", box: nil)
        XCTAssertThrowsError(try PRLETransform(options: o, index: index, samples: samples, trainCrop: "sbi")) {
            XCTAssertTrue("\($0)".contains("the recipe trains on crop sbi"), "\($0)")
        }
        XCTAssertNoThrow(try PRLETransform(options: o, index: index, samples: samples, trainCrop: "margin:0.125:retina-approx"))
    }

    func testRecipes() throws {
        let r = try Recipe.load("prle")
        let p = r[PRLEOptions.self]
        XCTAssertTrue(p.enabled); XCTAssertEqual(p.p, 0.5); XCTAssertEqual(p.alpha, 0); XCTAssertEqual(p.mask, .map)
        XCTAssertEqual(r.backbone, "efficientnet-b4"); XCTAssertEqual(r.size, 256); XCTAssertEqual(r.batch, 64)
        XCTAssertEqual(r.optimizer, .adam); XCTAssertEqual(r.lr, 2e-4); XCTAssertEqual(r.source, .labelled)
        for (name, backbone) in [("prle-zoo-xception", "xception"), ("prle-zoo-efficientnet-b4", "efficientnet-b4"), ("prle-zoo-vgg16", "vgg16_bn")] {
            let z = try Recipe.load(name)
            XCTAssertEqual(z.backbone, backbone); XCTAssertFalse(z[PRLEOptions.self].enabled); XCTAssertEqual(z.testCrop, r.testCrop)
            XCTAssertEqual(z.size, 256)
        }
        var c = r
        XCTAssertThrowsError(try c.set("prle.mask", "everywhere", source: "--set"))
        try c.set("prle.mask", "landmarks", source: "--set")
        XCTAssertEqual(c[PRLEOptions.self].mask, .landmarks)
    }



    /// The landmark ablation hides the hull of the nose, both eyes or the mouth, mapped from frame to crop pixels.
    func testLandmarkRegionsAblation() throws {
        // 68 points in the frame region [100, 200) x [50, 150), which the 50 px training image shows at half scale.
        var pts = [Point](repeating: Point(150, 100), count: 68)
        for i in 27...35 { pts[i] = Point(100 + 45 + Double(i % 3) * 5, 50 + 40 + Double(i % 4) * 5) }
        for i in 36...41 { pts[i] = Point(100 + 20 + Double(i % 3) * 5, 50 + 25 + Double(i % 2) * 6) }
        for i in 42...47 { pts[i] = Point(100 + 70 + Double(i % 3) * 5, 50 + 25 + Double(i % 2) * 6) }
        for i in 48...67 { pts[i] = Point(100 + 35 + Double(i % 6) * 6, 50 + 70 + Double(i % 3) * 5) }
        let face = Face(box: Box(left: 100, top: 50, right: 200, bottom: 150), landmarks: pts)
        let s = TrainSample(image: "f.png", face: face, label: 1)
        var index = PRLEIndex()
        index.entries["f.png"] = PRLEEntry(map: nil, crop: "margin:0.125:retina-approx", box: [100, 50, 200, 150])
        var o = PRLEOptions()
        o.enabled = true; o.p = 1; o.mask = .landmarks
        let t = try PRLETransform(options: o, index: index, samples: [s], trainCrop: "margin:0.125:retina-approx")
        let img = try [UInt8](repeating: 200, count: 50 * 50 * 3).withUnsafeBytes { try Image(width: 50, height: 50, channels: 3, data: $0.baseAddress) }
        var seen = Set<String>()
        for k in 0..<30 {
            var rng = SampleRNG(seed: 2, key: "k\(k)")
            let out = try t.apply(img, sample: s, rng: &rng)
            let z = (0..<2500).filter { out.byte(x: $0 % 50, y: $0 / 50) == 0 }
            XCTAssertFalse(z.isEmpty)
            let ys = Set(z.map { $0 / 50 }), xs = Set(z.map { $0 % 50 })
            // In image pixels: nose rows 20-27.5, columns 22.5-27.5; eyes rows 12.5-15.5, columns 10-15 and 35-40
            // (two hulls); mouth rows 35-40, columns 17.5-32.5.
            if ys.isSubset(of: Set(19...29)) { seen.insert("nose"); XCTAssertTrue(xs.isSubset(of: Set(21...29)), "\(xs.sorted())") }
            else if ys.isSubset(of: Set(11...17)) {
                seen.insert("eyes")
                XCTAssertTrue(xs.contains(12) && xs.contains(37) && !xs.contains(25), "\(xs.sorted())")
            } else if ys.isSubset(of: Set(34...41)) { seen.insert("mouth"); XCTAssertTrue(xs.isSubset(of: Set(16...34)), "\(xs.sorted())") }
            else { XCTFail("zeroed rows \(ys.sorted()) are no facial region") }
        }
        XCTAssertEqual(seen, ["nose", "eyes", "mouth"])
        // Without a box (maps not made by prle-cam-fuse) the recipe is refused.
        XCTAssertThrowsError(try PRLETransform(options: o, index: PRLEIndex(), samples: [s], trainCrop: "margin:0.125:retina-approx"))
    }

    // MARK: Wiring in the trainer

    /// The trainer masks labelled training faces with their maps before augmentation, exactly as Algorithm 1 with
    /// the sample's keyed draws says, and never touches validation faces.
    func testTrainerMasksTrainingFacesBeforeAugmentation() throws {
        let dir = Fixtures.tempDir()
        let lm = try runTool("landmarks", ["-q", try Fixtures.media("single_face.jpg")])
        guard case .object(let o) = try JSON.parse(lm.lines[0]) else { return XCTFail("no record") }
        let rec = Record(o)
        // A hand-made map: a ramp over the upper half of the crop, zero below.
        var map = PRLEMap(width: 256, height: 256)
        for y in 0..<128 { for x in 0..<256 { map[x: x, y: y] = Float(x + 1) / 256 } }
        try map.image().write(to: dir + "/map.png", format: .png(level: 1))
        var recipe = try Recipe.load("prle")
        try recipe.set("backbone", "efficientnet-lite0", source: "test"); try recipe.set("input.size", "64", source: "test")
        try recipe.set("batch", "2", source: "test"); try recipe.set("data.augment", "none", source: "test")
        let samples = [TrainSample(image: rec.image!, face: rec.faces![0], label: 0, key: "a"),
                       TrainSample(image: rec.image!, face: rec.faces![0], label: 1, key: "b")]
        var index = PRLEIndex()
        index.entries[rec.image!] = PRLEEntry(map: dir + "/map.png", crop: recipe.trainCrop.name, box: nil)
        let trainer = try Trainer(recipe: recipe, seed: 5, train: samples, val: samples, out: dir + "/run", threads: 1, pretrained: nil, data: ["prle": index])
        XCTAssertEqual(trainer.transforms.map(\.name), ["prle"])
        let small = PRLEMap(image: try map.image()).resized(width: 64, height: 64)
        var masked = 0
        for e in 0..<12 {
            let a = trainer.assemble([.single(0), .single(1)], from: samples, tag: "e\(e)", train: true)
            XCTAssertEqual(a.failures, [])
            for (k, img) in a.images.enumerated() {
                let s = samples[a.samples[k]]
                var expected = try trainer.cropFace(s, crop: recipe.trainCrop)
                var rng = SampleRNG(seed: 5, key: "\(s.key)#e\(e)#prle")
                if rng.chance(0.5) {
                    masked += 1
                    expected = try PRLEExploit.zeroing(expected, pixels: PRLEExploit.selected(small, alpha: 1 - rng.unit()))
                }
                XCTAssertEqual(try img.withBytes { Array($0) }, try expected.withBytes { Array($0) }, "epoch \(e), sample \(s.key)")
            }
        }
        XCTAssertTrue((4...20).contains(masked), "\(masked) of 24 masked")
        let val = trainer.assemble([.single(0)], from: samples, tag: "val", train: false)
        XCTAssertEqual(try val.images[0].withBytes { Array($0) }, try trainer.cropFace(samples[0], crop: recipe.testCrop).withBytes { Array($0) })
        // The maps are part of the run's identity: one epoch, then the same run with other maps is refused.
        try recipe.set("epochs", "1", source: "test")
        let one = try Trainer(recipe: recipe, seed: 5, train: samples, val: [], out: dir + "/run1", threads: 1, pretrained: nil, data: ["prle": index])
        try one.run { _ in }
        XCTAssertNoThrow(try Trainer(recipe: recipe, seed: 5, train: samples, val: [], out: dir + "/run1", threads: 1, pretrained: nil, data: ["prle": index]))
        var other = index
        try FileManager.default.copyItem(atPath: dir + "/map.png", toPath: dir + "/map2.png")
        other.entries[rec.image!]?.map = dir + "/map2.png"
        XCTAssertThrowsError(try Trainer(recipe: recipe, seed: 5, train: samples, val: [], out: dir + "/run1", threads: 1, pretrained: nil, data: ["prle": other])) {
            XCTAssertTrue("\($0)".contains("training records differ"), "\($0)")
        }
        // With augmentation, PRLE still comes first; maps made on another crop are refused.
        try recipe.set("data.augment", "deepfakebench", source: "test")
        XCTAssertEqual(try Trainer(recipe: recipe, seed: 5, train: samples, val: [], out: dir + "/run2", threads: 1, pretrained: nil, data: ["prle": index])
            .transforms.map(\.name), ["prle", "augment"])
        try recipe.set("input.train_crop", "sbi", source: "test")
        XCTAssertThrowsError(try Trainer(recipe: recipe, seed: 5, train: samples, val: [], out: dir + "/run3", threads: 1, pretrained: nil, data: ["prle": index]))
    }

    // MARK: The tool

    func testToolWritesMapsPassesFieldsThroughAndReusesThem() throws {
        let ck = try ScoreVideoTests.checkpoint()
        let dir = Fixtures.tempDir()
        let lm = try runTool("landmarks", ["-q", try Fixtures.media("0-f15-hao-ph.jpg"), try Fixtures.media("single_face.jpg")])
        XCTAssertEqual(lm.status, 0, lm.stderr)
        var lines = lm.lines.map { #"{"note":"kept","# + $0.dropFirst() }
        lines.append(#"{"image":"\#(try Fixtures.media("no_face.mp4"))","faces":[],"label":0}"#)
        let input = lines.joined(separator: "\n") + "\n"
        let args = ["-q", "--zoo", ck, "--zoo", ck, "--out", dir + "/maps", "--cams", "--overlay", dir + "/sheet.png", "--threads", "2"]
        let run = try runTool("prle-cam-fuse", args, stdin: input)
        XCTAssertEqual(run.status, 0, run.stderr)
        let recs = try run.lines.map { l -> Record in guard case .object(let o) = try JSON.parse(l) else { throw TensorError("not an object") }; return Record(o) }
        XCTAssertEqual(recs.count, 3)
        for r in recs.prefix(2) {
            XCTAssertEqual(r["note"]?.stringValue, "kept")
            XCTAssertNotNil(r.faces?.first)
            let path = try XCTUnwrap(r["prle_map"]?.stringValue)
            let m = try PRLEMap.read(path)
            XCTAssertEqual(m.width, 256); XCTAssertEqual(m.height, 256)
            XCTAssertGreaterThan(m.support, 0)
            XCTAssertEqual(r["prle_crop"]?.stringValue, "margin:0.125:retina-approx")
            XCTAssertEqual(r["prle_box"]?.arrayValue?.count, 4)
            let cams = try XCTUnwrap(r["prle_cams"]?.arrayValue?.compactMap(\.stringValue))
            XCTAssertEqual(cams.count, 2)
            // Two copies of one model: identical CAMs, min-max normalised at the feature map's size, then resized
            // bilinearly (so the extremes fall just inside [0, 1] at 256 px).
            let c0 = try PRLEMap.read(cams[0]), c1 = try PRLEMap.read(cams[1])
            XCTAssertEqual(c0, c1)
            XCTAssertGreaterThan(c0.values.max()!, 0.9); XCTAssertLessThan(c0.values.min()!, 0.1)
            // The fused map follows from the CAMs (union of eq. 6 and eq. 8, within 8-bit quantisation).
            let fused = try PRLEFusion().fuse([c0, c1])
            let off = zip(fused.values, m.values).filter { abs($0 - $1) > 1.5 / 255 }.count
            XCTAssertLessThan(off, 256 * 256 / 100, "pixels where the written map differs from fusing the written CAMs")
        }
        XCTAssertNil(recs[2]["prle_map"]); XCTAssertEqual(recs[2]["label"]?.intValue, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/sheet.png"))
        let sheet = try Image.read(dir + "/sheet.png")
        XCTAssertEqual(sheet.width, 4 * 164 + 4)   // face | CAM | CAM | fused
        // A re-run reuses the maps (files untouched) and prints the same records.
        let mapPath = recs[0]["prle_map"]!.stringValue!
        let before = try FileManager.default.attributesOfItem(atPath: mapPath)[.modificationDate] as! Date
        Thread.sleep(forTimeInterval: 1.1)
        let again = try runTool("prle-cam-fuse", args, stdin: input)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, run.stdout)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: mapPath)[.modificationDate] as! Date, before)
    }

    func testToolRefusesZooOfOtherCropsAndReportsFacesWithoutAMap() throws {
        let a = try ScoreVideoTests.checkpoint(), b = try ScoreVideoTests.checkpoint(crop: "sbi")
        let dir = Fixtures.tempDir()
        let mixed = try runTool("prle-cam-fuse", ["-q", "--zoo", a, "--zoo", b, "--out", dir], stdin: "")
        XCTAssertEqual(mixed.status, 1)
        XCTAssertEqual(mixed.stderrLines.count, 1, mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("crop faces differently"), mixed.stderr)
        let noZoo = try runTool("prle-cam-fuse", ["--out", dir], stdin: "")
        XCTAssertEqual(noZoo.status, 64)
        // A face whose image cannot be read: an "error" record, one line on stderr, exit 1 at the end.
        let lm = try runTool("landmarks", ["-q", try Fixtures.media("single_face.jpg")])
        let bad = #"{"image":"\#(dir)/missing.png","faces":[{"box":[0,0,50,50],"landmarks":[]}],"id":"x"}"#
        let run = try runTool("prle-cam-fuse", ["-q", "--zoo", a, "--out", dir + "/maps", "--threads", "1"], stdin: bad + "\n" + lm.stdout)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.lines.count, 2)
        XCTAssertTrue(run.lines[0].contains(#""error":"prle-cam-fuse: "#), run.lines[0])
        XCTAssertTrue(run.lines[1].contains("prle_map"), run.lines[1])
        XCTAssertTrue(run.stderr.contains("missing.png"), run.stderr)
    }

    /// Table II's two rows differ by PRLE alone: the baseline recipe is the prle recipe with the masking off.
    func testBaselineRecipeDiffersFromPRLEOnlyInPRLE() throws {
        let prle = try Recipe.load("prle"), base = try Recipe.load("prle-baseline")
        XCTAssertEqual(base.differences(from: prle).filter { !$0.hasPrefix("name:") && !$0.hasPrefix("description:") },
                       ["prle.enabled: true -> false"])
        XCTAssertEqual(base.batch, 64); XCTAssertEqual(base.pretrained, .required)
    }

}
