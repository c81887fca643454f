// The reproduce pipelines end to end on fixture trees standing in for the benchmarks (CI-sized: a small backbone,
// one epoch, a few frames): Table 8 with all five datasets and with some missing, Table 9, and Table 10.
import DFKModels
import Foundation
import XCTest

final class ReproduceTests: XCTestCase {
    func make(_ args: [String], file: String = "pipelines/reproduce.mk") throws -> ToolRun {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        p.currentDirectoryURL = Fixtures.repo
        p.arguments = ["--no-print-directory", "-f", file, "BIN=\(Fixtures.products.path)"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        final class Box: @unchecked Sendable { var d = Data() }
        let e = Box()
        let g = DispatchGroup(); g.enter()
        DispatchQueue.global().async { e.d = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        g.wait(); p.waitUntilExit()
        return ToolRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e.d, as: UTF8.self))
    }

    /// Every paper's pipeline, given its data but not the ImageNet weights its paper starts from, refuses before any
    /// work with one line naming the missing weights, how to fetch them and FROM_SCRATCH=1.
    func testPaperPipelinesRefuseWithoutTheirImageNetWeights() throws {
        let root = Fixtures.tempDir()
        try FileManager.default.createDirectory(atPath: root + "/FF++", withIntermediateDirectories: true)
        let cases: [(String, String)] = [("pim", "convnext_base"), ("roga", "resnet34"), ("prle", "efficientnet-b4 vgg16_bn"),
                                         ("did", "efficientnetv2_l")]
        for (paper, what) in cases {
            let start = Date()
            let run = try make(["tables", "OUT=\(root)/out-\(paper)", "FFPP=\(root)/FF++", "CDF=\(root)/FF++"], file: "pipelines/reproduce-\(paper).mk")
            XCTAssertEqual(run.status, 2, "\(paper): \(run.stderr)")
            let line = try XCTUnwrap(run.stderrLines.first, paper)
            XCTAssertTrue(line.hasPrefix("reproduce-\(paper): no ImageNet weights") && line.contains("fetch-weights.sh")
                          && line.contains("FROM_SCRATCH=1") && line.contains(paper == "pim" || paper == "prle" ? what : "PRETRAINED=FILE"), line)
            // PRLE's zoo Xception is not ImageNet-initialised (Sec. IV-B), so its weights are not asked for.
            if paper == "prle" { XCTAssertTrue(line.contains("for \(what) ") && !line.contains("xception"), line) }
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(root)/out-\(paper)"), "\(paper): work started")
            XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        }
        // A weight file that is not there is named.
        let missing = try make(["tables", "OUT=\(root)/out-x", "FFPP=\(root)/FF++", "PRETRAINED=\(root)/none.pth"], file: "pipelines/reproduce-roga.mk")
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("none.pth: no such weight file"), missing.stderr)
    }

    /// The fixture benchmarks, built once per test process (the script skips a finished tree).
    nonisolated(unsafe) static var fixtureDir: String?
    // The fixture benchmarks take about 1 GB: gone with the test class.
    override class func tearDown() {
        if let d = fixtureDir { try? FileManager.default.removeItem(atPath: d) }
        fixtureDir = nil
    }
    func fixtures() throws -> String {
        let fx = ReproduceTests.fixtureDir ?? Fixtures.tempDir("fixtures")
        ReproduceTests.fixtureDir = fx
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/bin/bash")
        build.currentDirectoryURL = Fixtures.repo
        build.arguments = ["scripts/benchmark_fixtures.sh", fx, Fixtures.products.path]
        try build.run(); build.waitUntilExit()
        XCTAssertEqual(build.terminationStatus, 0)
        return fx
    }

    /// PIM's Tables IV and V: labelled FF++ training (base and +PIM, and PIM on SBI pairs), videos scored with
    /// score-video, WildDeepfake's frame sequences with score-frames, tables beside the paper's numbers.
    func testPIMTablesOnFixtureBenchmarks() throws {
        let fx = try fixtures()
        let lite0 = Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path
        let run = try make(["tables", "OUT=\(fx)/out-pim", "FFPP=\(fx)/FF++", "CDF=\(fx)/Celeb-DF-v2", "WDF=\(fx)/WDF", "DETECTOR=hog",
                            "BACKBONES=efficientnet-lite0", "SBI_BACKBONE=efficientnet-lite0", "FRAMES=4",
                            "PRETRAINED_efficientnet-lite0=\(lite0)", "TRAIN_FLAGS=--size 96 --epochs 1 --batch 8",
                            "SCORE_FLAGS=--frames 3"], file: "pipelines/reproduce-pim.mk")
        XCTAssertEqual(run.status, 0, run.stderr)
        let t4 = try String(contentsOfFile: "\(fx)/out-pim/table4.md")
        let rows = t4.split(separator: "\n").map(String.init)
        let base = try XCTUnwrap(rows.first { $0.hasPrefix("| efficientnet-lite0 | base (ours) |") }, t4)
        let pim = try XCTUnwrap(rows.first { $0.hasPrefix("| efficientnet-lite0 | +PIM (ours) |") }, t4)
        for r in [base, pim] {
            // CDF and WDF scored, DFDCP and DFDC not given; the init is recorded in the checkpoint.
            let cells = r.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertNotNil(Double(cells[2]), r); XCTAssertEqual(cells[3], "not provided", r)
            XCTAssertEqual(cells[4], "not provided", r); XCTAssertNotNil(Double(cells[5]), r)
            XCTAssertEqual(cells[7], "pretrained:efficientnet-lite0-57934424.pth", r)
        }
        let t5 = try String(contentsOfFile: "\(fx)/out-pim/table5.md")
        XCTAssertTrue(t5.contains("| Ours (FF++-real + SBI), paper | 99.17 | 95.14 | 85.75 | 74.65 | 74.40 |"), t5)
        let sbi = try XCTUnwrap(t5.split(separator: "\n").first { $0.hasPrefix("| Ours (FF++-real + SBI), ours") }, t5)
        XCTAssertNotNil(Double(sbi.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }[2]), String(sbi))
        // WildDeepfake: frame records grouped into their sequences.
        let wdf = try String(contentsOfFile: "\(fx)/out-pim/scores/pim-efficientnet-lite0/wdf.ndjson")
        XCTAssertEqual(wdf.split(separator: "\n").count, 12)
        XCTAssertTrue(wdf.contains(#""level":"frame""#))
        let m = try String(contentsOfFile: "\(fx)/out-pim/metrics/pim-efficientnet-lite0/wdf.csv")
        XCTAssertTrue(m.contains("WDF,video,4,2,2,"), m)
        XCTAssertTrue(m.contains("WDF,frame,12,6,6,"), m)
        // The baseline's recipe is pim's with a plain ERM step: nothing else differs.
        let a = try runTool("train", ["--recipe", "pim", "--print-recipe"]).stdout.split(separator: "\n")
        let b = try runTool("train", ["--recipe", "pim-base", "--print-recipe"]).stdout.split(separator: "\n")
        XCTAssertEqual(a.count, b.count)
        let differing = zip(a, b).filter { $0 != $1 }.map { String($0.1).trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(differing.count, 3, "\(differing)")
        XCTAssertTrue(differing[0].hasPrefix("name: \"pim-base\"") && differing[1].hasPrefix("description:"), "\(differing)")
        XCTAssertEqual(differing[2], "name: \"erm\"")
    }

    /// RoGA's Tables I, II and IV under the DeepfakeBench protocol: domain-balanced training on the FF++ methods,
    /// leave-one-out data, frame- and video-level AUC, the optimiser rows (CI-sized: a subset of the rows).
    func testRoGATablesOnFixtureBenchmarks() throws {
        let fx = try fixtures()
        let lite0 = Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path
        let common = ["OUT=\(fx)/out-roga", "FFPP=\(fx)/FF++", "CDF=\(fx)/Celeb-DF-v2", "UADFV=\(fx)/UADFV", "FRAMES=4",
                      "METHODS=Deepfakes", "OPTIMIZERS=sgd roga", "PRETRAINED=\(lite0)",
                      "TRAIN_FLAGS=--backbone efficientnet-lite0 --size 96 --epochs 1 --batch 10", "SCORE_FLAGS=--frames 3"]
        let run = try make(["tables", "TABLES=1 2 4"] + common, file: "pipelines/reproduce-roga.mk")
        XCTAssertEqual(run.status, 0, run.stderr)
        let t1 = try String(contentsOfFile: "\(fx)/out-roga/table1.md")
        XCTAssertTrue(t1.contains("| RoGA, ResNet-34 (paper) | 0.877 | 0.858 | 0.959 | 0.751 | 0.753 |"), t1)
        let roga = try XCTUnwrap(t1.split(separator: "\n").first { $0.hasPrefix("| RoGA (ours), frame level") }, t1)
        let cells = roga.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        // CDF-v1 not given, CDF-v2 and UADFV scored, DFDC and DFDCP not given, in-domain FF++ scored.
        XCTAssertEqual(cells[1], "not provided"); XCTAssertNotNil(Double(cells[2])); XCTAssertNotNil(Double(cells[3]))
        XCTAssertEqual(cells[4], "not provided"); XCTAssertNotNil(Double(cells[7]), String(roga))
        // Leave one out: the held-out method's fakes never reach training.
        let train = try String(contentsOfFile: "\(fx)/out-roga/faces/no-Deepfakes-train.ndjson")
        let all = try String(contentsOfFile: "\(fx)/out-roga/faces/all-train.ndjson")
        XCTAssertFalse(train.contains(#""method":"Deepfakes""#))
        XCTAssertTrue(all.contains(#""method":"Deepfakes""#))
        XCTAssertEqual(all.split(separator: "\n").filter { !$0.contains(#""method":"Deepfakes""#) }.count, train.split(separator: "\n").count)
        let t2 = try String(contentsOfFile: "\(fx)/out-roga/table2.md")
        XCTAssertTrue(t2.contains("| RoGA (paper) | 80.13 | 90.08 |"), t2)
        XCTAssertFalse(t2.split(separator: "\n").first { $0.hasPrefix("| RoGA (ours)") }!.contains("not provided"), t2)
        let t4 = try String(contentsOfFile: "\(fx)/out-roga/table4.md")
        XCTAssertTrue(t4.contains("| RoGA (paper) | 93.63 | 85.30 | 95.95 | 62.08 |"), t4)
        let sgd = try XCTUnwrap(t4.split(separator: "\n").first { $0.hasPrefix("| SGD (ours)") }, t4)
        XCTAssertFalse(sgd.contains("not provided"), String(sgd))
        // The models differ in their steps, as recorded in their checkpoints' recipes.
        for (model, step) in [("all-sgd", "erm"), ("all-roga", "roga"), ("all-sam", "sam")] {
            let meta = try Checkpoint.read("\(fx)/out-roga/models/\(model)/best.safetensors").metadata
            let recipe = try XCTUnwrap(meta["recipe_json"])
            XCTAssertTrue(recipe.contains(#""step.name":"\#(step)""#), "\(model): \(recipe)")
            XCTAssertTrue(recipe.contains(#""data.sampler":"domain-balanced""#), recipe)
        }
    }

    /// PRLE's Table II: a zoo, prle-cam-fuse maps of the training faces, the plain and the PRLE detector, an ablation.
    func testPRLETablesOnFixtureBenchmarks() throws {
        let fx = try fixtures()
        let lite0 = Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path
        let run = try make(["tables", "OUT=\(fx)/out-prle", "FFPP=\(fx)/FF++", "DFDC=\(fx)/dfdc", "CDF=\(fx)/Celeb-DF-v2",
                            "METHODS=Deepfakes Face2Face FaceSwap NeuralTextures", "FRAMES=4", "ZOO=efficientnet-lite0",
                            "BACKBONES=efficientnet-lite0", "ABLATIONS=random", "PRETRAINED_efficientnet-lite0=\(lite0)",
                            "TRAIN_FLAGS=--size 96 --epochs 1 --batch 8", "SCORE_FLAGS=--frames 3", "FUSE_FLAGS=--size 64"],
                       file: "pipelines/reproduce-prle.mk")
        XCTAssertEqual(run.status, 0, run.stderr)
        let t2 = try String(contentsOfFile: "\(fx)/out-prle/table2.md")
        let rows = t2.split(separator: "\n").map(String.init)
        for kind in ["backbone (ours)", "+PRLE (ours)"] {
            let r = try XCTUnwrap(rows.first { $0.hasPrefix("| efficientnet-lite0 | \(kind) |") }, t2)
            let cells = r.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            // DFDC ACC/AUC scored, DF-1.0 not given, Celeb-DF scored; AVG needs all three.
            XCTAssertNotNil(Double(cells[2]), r); XCTAssertNotNil(Double(cells[3]), r)
            XCTAssertEqual(cells[4], "not provided", r); XCTAssertNotNil(Double(cells[7]), r)
            XCTAssertEqual(cells[8], "not provided", r)
            XCTAssertEqual(cells[10], "pretrained:efficientnet-lite0-57934424.pth", r)
        }
        // Every training face got a map, and the PRLE model was trained on them.
        let maps = try String(contentsOfFile: "\(fx)/out-prle/maps-union.ndjson").split(separator: "\n")
        XCTAssertFalse(maps.isEmpty)
        XCTAssertTrue(maps.allSatisfy { $0.contains(#""prle_map":"#) || $0.contains(#""faces":[]"#) })
        let meta = try Checkpoint.read("\(fx)/out-prle/models/prle-efficientnet-lite0/best.safetensors").metadata
        XCTAssertTrue(meta["recipe_json"]!.contains(#""prle.enabled":true"#), meta["recipe_json"]!)
        // The baseline row is the prle recipe with the masking off, not the zoo's supervised recipe.
        let base = try Checkpoint.read("\(fx)/out-prle/models/base-efficientnet-lite0/best.safetensors").metadata
        XCTAssertEqual(base["recipe"], "prle-baseline")
        XCTAssertTrue(base["recipe_json"]!.contains(#""prle.enabled":false"#), base["recipe_json"]!)
        let abl = try String(contentsOfFile: "\(fx)/out-prle/ablations.md")
        XCTAssertTrue(abl.contains("| Random rectangles (Table IV), ours |"), abl)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(fx)/out-prle/overlay.png"))
    }

    /// CrossDF's Tables I and III: DID, the BCE baseline trained the same way, an ablation; in-domain and cross-dataset.
    func testDIDTablesOnFixtureBenchmarks() throws {
        let fx = try fixtures()
        let lite0 = Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path
        let run = try make(["tables", "OUT=\(fx)/out-did", "FFPP=\(fx)/FF++", "CDF=\(fx)/Celeb-DF-v2", "FRAMES=4",
                            "ABLATIONS=no-t", "PRETRAINED=\(lite0)", "TRAIN_FLAGS=--backbone efficientnet-lite0 --size 96 --epochs 1",
                            "SCORE_FLAGS=--frames 3"], file: "pipelines/reproduce-did.mk")
        XCTAssertEqual(run.status, 0, run.stderr)
        let t1 = try String(contentsOfFile: "\(fx)/out-did/table1.md")
        XCTAssertTrue(t1.contains("| DID (paper) | 0.970 | 0.779 | |"), t1)
        for name in ["DID (ours)", "BCE baseline (ours)"] {
            let r = try XCTUnwrap(t1.split(separator: "\n").first { $0.hasPrefix("| \(name) |") }, t1)
            let cells = r.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertNotNil(Double(cells[1]), String(r)); XCTAssertNotNil(Double(cells[2]), String(r))
            XCTAssertEqual(cells[3], "pretrained:efficientnet-lite0-57934424.pth")
        }
        // MTCNN faces aligned on its five points, grayscale, c23: as the paper; the card lists the small backbone.
        let card = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(fx)/out-did/card.json"))) as? [String: Any])
        let differs = try XCTUnwrap(card["differs_from_the_paper"] as? [String])
        XCTAssertTrue(differs.contains { $0.contains("did") && $0.contains("backbone efficientnet-lite0, the paper's efficientnetv2_l") }, "\(differs)")
        XCTAssertFalse(differs.contains { $0.contains("face detector") || $0.contains("test crop") || $0.contains("grayscale") || $0.contains("compression") }, "\(differs)")
        let t3 = try String(contentsOfFile: "\(fx)/out-did/table3.md")
        XCTAssertTrue(t3.contains("| without T (paper) | 0.759 | 0.305 |"), t3)
        XCTAssertFalse(t3.split(separator: "\n").first { $0.hasPrefix("| without T (ours)") }!.contains("not provided"), t3)
        // The three models: DID with and without T, and the BCE baseline (a plain step; grayscale like DID).
        for (model, step, t) in [("did", "did", "true"), ("no-t", "did", "false"), ("bce", "erm", "true")] {
            let meta = try Checkpoint.read("\(fx)/out-did/models/\(model)/best.safetensors").metadata
            let recipe = try XCTUnwrap(meta["recipe_json"])
            XCTAssertTrue(recipe.contains(#""step.name":"\#(step)""#), recipe)
            XCTAssertTrue(recipe.contains(#""did.decorrelation":\#(t)"#), recipe)
            XCTAssertTrue(recipe.contains(#""input.grayscale":true"#), recipe)
        }
    }

    func testTables8To10OnFixtureBenchmarks() throws {
        let fx = try fixtures()
        let lite0 = Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path
        // dlib HOG faces: no RetinaFace weights here (the card lists the difference).
        let common = ["FFPP=\(fx)/FF++", "TRAIN_FLAGS=--backbone efficientnet-lite0 --pretrained \(lite0) --size 96 --epochs 1 --batch 8",
                      "SCORE_FLAGS=--frames 3", "RECIPES=sbi", "DETECTOR=hog"]
        // Partial data: FF++ and CDF only; the others become "not provided".
        let partial = try make(["table8", "OUT=\(fx)/out-partial", "CDF=\(fx)/Celeb-DF-v2"] + common)
        XCTAssertEqual(partial.status, 0, partial.stderr)
        let t = try String(contentsOfFile: "\(fx)/out-partial/table8.md")
        XCTAssertTrue(t.contains("| SBI* (paper) | 91.23 | 72.10 | 86.25 | 83.68 | 83.32 |"), t)
        let ours = try XCTUnwrap(t.split(separator: "\n").first { $0.hasPrefix("| SBI* (ours)") })
        XCTAssertEqual(ours.components(separatedBy: "not provided").count - 1, 3, String(ours))
        XCTAssertTrue(t.contains("Video-level AUC"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(fx)/out-partial/table8.csv"))
        // All five, then Tables 9 and 10 reusing the same checkpoint.
        let all = common + ["OUT=\(fx)/out", "CDF=\(fx)/Celeb-DF-v2", "DFDC=\(fx)/dfdc", "DFDCP=\(fx)/dfdcp", "FFIW=\(fx)/FFIW"]
        let t8 = try make(["table8"] + all)
        XCTAssertEqual(t8.status, 0, t8.stderr)
        let full = try String(contentsOfFile: "\(fx)/out/table8.md")
        XCTAssertFalse(full.split(separator: "\n").first { $0.hasPrefix("| SBI* (ours)") }!.contains("not provided"), full)
        // The card: what produced the rows, and what differs from the paper (here: dlib faces, a small backbone).
        let card = try String(contentsOfFile: "\(fx)/out/card.md")
        XCTAssertTrue(card.contains("## Differs from the paper"), card)
        XCTAssertTrue(card.contains("sbi: face detector hog, the paper's retinaface"), card)
        XCTAssertTrue(card.contains("sbi: backbone efficientnet-lite0, the paper's efficientnet-b4"), card)
        let differs = try XCTUnwrap(card.components(separatedBy: "## Differs from the paper").last)
        XCTAssertFalse(differs.contains("FF++ compression"), card)   // raw, as the paper
        XCTAssertFalse(differs.contains("test faces found with"), card)   // the same detector at training and test time
        XCTAssertTrue(card.contains("sbi on cdf: 4 videos (2 real, 2 fake)") && card.contains("video level; 3 frames per video"), card)
        let t9 = try make(["table9"] + all)
        XCTAssertEqual(t9.status, 0, t9.stderr)
        let nine = try String(contentsOfFile: "\(fx)/out/table9.md")
        XCTAssertTrue(nine.contains("| DF | F2F | FS | NT | FF++ |"), nine)
        XCTAssertFalse(nine.split(separator: "\n").first { $0.hasPrefix("| SBI* (ours)") }!.contains("not provided"), nine)
        let t10 = try make(["table10", "DISTORTIONS=jpeg-50 blur-3"] + all)
        XCTAssertEqual(t10.status, 0, t10.stderr)
        let ten = try String(contentsOfFile: "\(fx)/out/table10.md")
        XCTAssertTrue(ten.contains("| jpeg-50 | 92.48 | 81.95 | 93.35 | 83.04 |"), ten)
        let scores = try String(contentsOfFile: "\(fx)/out/scores/sbi/cdf@jpeg-50.ndjson")
        XCTAssertTrue(scores.contains("frames distorted: jpeg:50"))
        // Without PREDICTOR81 the landmarks carry the 13 derived forehead points (landmarks --forehead), so LAL's
        // facehull masks can include the forehead as the reference's 81-point masks do.
        let trainFaces = try String(contentsOfFile: "\(fx)/out/faces/ffpp-train.ndjson")
        XCTAssertTrue(trainFaces.contains("\"layout\":\"ibug81\""), String(trainFaces.prefix(600)))
        // One model for every table: trained once.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(fx)/out/models"), ["sbi"])
        // Without ImageNet weights (PRETRAINED, FROM_SCRATCH or --pretrained in TRAIN_FLAGS) the pipeline says what
        // is missing and stops before any work.
        let noWeights = try make(["table8", "OUT=\(fx)/out-noweights", "FFPP=\(fx)/FF++", "CDF=\(fx)/Celeb-DF-v2", "RECIPES=sbi", "DETECTOR=hog"])
        XCTAssertEqual(noWeights.status, 2, noWeights.stderr)
        XCTAssertTrue(noWeights.stderr.contains("PRETRAINED=") && noWeights.stderr.contains("fetch-weights.sh")
                      && noWeights.stderr.contains("FROM_SCRATCH=1"), noWeights.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(fx)/out-noweights/faces"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(fx)/out-noweights/models"))
        // A bad root is a clear error naming it (FROM_SCRATCH=1 gets past the weights check).
        let bad = try make(["table8", "OUT=\(fx)/out-bad", "FFPP=\(fx)/nope", "RECIPES=sbi", "FROM_SCRATCH=1", "DETECTOR=hog"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("nope: missing"), bad.stderr)
    }
}
