// Fixture trees in each benchmark's official layout (tiny generated videos, real list-file formats).
import DFKCore
import DFKDatasets
import DFKImaging
import DFKRecords
import Foundation
import XCTest

enum DatasetFixtures {
    /// A 2-frame Motion-JPEG video.
    static func video(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let w = try VideoWriter(path: path, fourcc: "MJPG", fps: 25, width: 32, height: 32)
        let f = try Image(width: 32, height: 32, channels: 3)
        try w.write(f); try w.write(f)
        w.close()
    }
    static func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// An empty placeholder file (for layouts the indexer only lists).
    static func touch(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data()) else { throw DatasetError("cannot create \(path)") }
    }

    /// FF++ with ids 000-009: train pairs (000,001) (002,003), val (004,005), test (006,007) (008,009).
    /// `placeholders`: empty files instead of decodable videos.
    static func ffpp(_ root: String, methods: [String] = DatasetIndex.ffppMethods, compression c: String = "c23",
                     placeholders: Bool = false) throws {
        let make = placeholders ? touch : video
        let splits = ["train": [["000", "001"], ["002", "003"]], "val": [["004", "005"]], "test": [["006", "007"], ["008", "009"]]]
        for (name, pairs) in splits {
            try write(String(decoding: try JSONSerialization.data(withJSONObject: pairs), as: UTF8.self), "\(root)/splits/\(name).json")
            for p in pairs {
                for id in p { try make("\(root)/original_sequences/youtube/\(c)/videos/\(id).mp4") }
                for m in methods {
                    try make("\(root)/manipulated_sequences/\(m)/\(c)/videos/\(p[0])_\(p[1]).mp4")
                    try make("\(root)/manipulated_sequences/\(m)/\(c)/videos/\(p[1])_\(p[0]).mp4")
                }
            }
        }
    }

    /// A version-1 .npy file of little-endian float32 values.
    static func npy(shape: [Int], _ values: [Float], fortran: Bool = false) -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(dims), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        d.append(contentsOf: Array(header.utf8))
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }
}

final class DatasetTests: XCTestCase {
    func testFFPPSplitsLabelsAndTheRealOnlyTrainingSet() throws {
        let root = Fixtures.tempDir("ffpp")
        try DatasetFixtures.ffpp(root)
        let all = try DatasetIndex.index(.ffpp, root: root)
        XCTAssertTrue(all.missing.isEmpty)
        XCTAssertEqual(all.records.count, 10 + 4 * 10)
        XCTAssertEqual(all.records.filter { $0.split == "test" && $0.label == 1 }.count, 4 * 4)
        XCTAssertEqual(Set(all.records.filter { $0.label == 1 }.map { $0.method! }), Set(DatasetIndex.ffppMethods))
        let train = try DatasetIndex.index(.ffpp, root: root, split: "train", includeFakes: false).records
        XCTAssertEqual(train.count, 4)
        XCTAssertTrue(train.allSatisfy { $0.label == 0 && $0.split == "train" && $0["compression"]?.stringValue == "c23" })
        let testIDs = Set(all.records.filter { $0.split == "test" }.flatMap { Paths.stem($0.video!).split(separator: "_").map(String.init) })
        XCTAssertTrue(train.allSatisfy { !testIDs.contains(Paths.stem($0.video!)) }, "a test identity in the training set")
        XCTAssertNotNil(train[0]["list_fingerprint"]?.stringValue)
        // Missing videos are reported and skipped; a missing list is an error naming it.
        try FileManager.default.removeItem(atPath: "\(root)/original_sequences/youtube/c23/videos/000.mp4")
        let run = try runTool("index-dataset", ["ffpp", root, "--split", "train", "--real-only"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(try records(run).count, 3)
        XCTAssertTrue(run.stderr.contains("000.mp4: listed but missing; skipped"), run.stderr)
        try FileManager.default.removeItem(atPath: "\(root)/splits/val.json")
        XCTAssertThrowsError(try DatasetIndex.index(.ffpp, root: root)) { XCTAssertTrue("\($0)".contains("splits/val.json: missing"), "\($0)") }
        XCTAssertThrowsError(try DatasetIndex.index(.ffpp, root: root + "/nope")) { XCTAssertTrue("\($0)".contains("nope: missing"), "\($0)") }
    }

    func testCDFDFDCDFDCPAndFFIW() throws {
        let cdf = Fixtures.tempDir("cdf")
        for v in ["Celeb-real/id0_0000.mp4", "YouTube-real/00000.mp4", "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0000.mp4"] {
            try DatasetFixtures.video(cdf + "/" + v)
        }
        try DatasetFixtures.write("1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n0 Celeb-synthesis/id1_id0_0000.mp4\n",
                                  cdf + "/List_of_testing_videos.txt")
        let c = try DatasetIndex.index(.cdf, root: cdf).records
        XCTAssertEqual(c.map { $0.label! }, [0, 0, 1, 1])   // label = 1 - first column
        XCTAssertTrue(c.allSatisfy { $0.dataset == "CDF" && $0.split == "test" })
        try DatasetFixtures.write("1 Celeb-real/id0_0000.mp4\nbroken line\n", cdf + "/List_of_testing_videos.txt")
        XCTAssertThrowsError(try DatasetIndex.index(.cdf, root: cdf)) { XCTAssertTrue("\($0)".contains("List_of_testing_videos.txt:2: malformed"), "\($0)") }

        let dfdc = Fixtures.tempDir("dfdc")
        for v in ["aaa.mp4", "bbb.mp4", "ccc.mp4"] { try DatasetFixtures.video(dfdc + "/" + v) }
        try DatasetFixtures.write("filename,label\naaa.mp4,1\nbbb.mp4,0\nccc.mp4,1\nddd.mp4,0\n", dfdc + "/labels.csv")
        let d = try DatasetIndex.index(.dfdc, root: dfdc)
        XCTAssertEqual(d.records.map { $0.label! }, [1, 0, 1]); XCTAssertEqual(d.missing.count, 1)

        let dfdcp = Fixtures.tempDir("dfdcp")
        for v in ["method_A/1/a.mp4", "original_videos/1/b.mp4", "method_B/2/c.mp4"] { try DatasetFixtures.video(dfdcp + "/" + v) }
        try DatasetFixtures.write(#"{"method_A/1/a.mp4": {"label": "fake", "set": "test"}, "original_videos/1/b.mp4": {"label": "real", "set": "test"}, "method_B/2/c.mp4": {"label": "fake", "set": "train"}}"#,
                                  dfdcp + "/dataset.json")
        let p = try DatasetIndex.index(.dfdcp, root: dfdcp).records
        XCTAssertEqual(p.count, 2); XCTAssertEqual(Set(p.map { $0.label! }), [0, 1])

        let ffiw = Fixtures.tempDir("ffiw")
        for v in ["source/val/videos/0001.mp4", "source/val/videos/0002.mp4", "target/val/videos/0001.mp4"] {
            try DatasetFixtures.video(ffiw + "/FFIW10K-v1-release/" + v)
        }
        let f = try DatasetIndex.index(.ffiw, root: ffiw).records
        XCTAssertEqual(f.map { $0.label! }, [0, 0, 1])
        XCTAssertThrowsError(try DatasetIndex.index(.ffiw, root: Fixtures.tempDir("empty"))) { XCTAssertTrue("\($0)".contains("source/val/videos: missing"), "\($0)") }
    }

    // MARK: FF++ methods, domains and DFD

    func testFFPPChosenMethodsFaceShifterAndDomainLabels() throws {
        let root = Fixtures.tempDir("ffpp5")
        try DatasetFixtures.ffpp(root, methods: FFPPMethod.allCases.map(\.rawValue), placeholders: true)
        // Default: the four classic methods, FaceShifter left out.
        let classic = try DatasetIndex.index(.ffpp, root: root).records
        XCTAssertEqual(classic.count, 10 + 4 * 10)
        XCTAssertFalse(classic.contains { $0.method == "FaceShifter" })
        XCTAssertNil(classic[0]["domain"])
        var o = IndexOptions()
        o.methods = [.FaceShifter, .Deepfakes]; o.domains = true; o.split = "test"
        let r = try DatasetIndex.index(.ffpp, root: root, options: o).records
        XCTAssertEqual(r.count, 4 + 2 * 4)
        XCTAssertTrue(r.allSatisfy { $0.split == "test" && $0["compression"]?.stringValue == "c23" && $0.dataset == "FF++" })
        for x in r {
            let expected = ["real": 0, "FaceShifter": 1, "Deepfakes": 2][x.method!]!
            XCTAssertEqual(x["domain"]?.intValue, expected, x.video!)
            XCTAssertEqual(x.label, x.method == "real" ? 0 : 1)
        }
        XCTAssertEqual(Set(r.filter { $0.method == "FaceShifter" }.map { Paths.stem($0.video!) }), ["006_007", "007_006", "008_009", "009_008"])
        // All five, c40 absent: an error naming the folder; a method folder absent: an error naming it.
        o.methods = FFPPMethod.allCases; o.compression = "c40"
        XCTAssertThrowsError(try DatasetIndex.index(.ffpp, root: root, options: o)) { XCTAssertTrue("\($0)".contains("youtube/c40/videos: missing"), "\($0)") }
        try FileManager.default.removeItem(atPath: root + "/manipulated_sequences/FaceShifter")
        o.compression = "c23"
        XCTAssertThrowsError(try DatasetIndex.index(.ffpp, root: root, options: o)) {
            XCTAssertTrue("\($0)".contains("FaceShifter/c23/videos: missing"), "\($0)")
        }
        // The CLI: short names, in order, with domains.
        let run = try runTool("index-dataset", ["ffpp", root, "--split", "val", "--methods", "NT", "f2f", "--domains"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let recs = try records(run)
        XCTAssertEqual(recs.map { $0.method! }, ["real", "real", "NeuralTextures", "NeuralTextures", "Face2Face", "Face2Face"])
        XCTAssertEqual(recs.map { $0["domain"]!.intValue! }, [0, 0, 1, 1, 2, 2])
        let bad = try runTool("index-dataset", ["ffpp", root, "--methods", "DeepFakeDetection"])
        XCTAssertEqual(bad.status, 64)
        // A malformed split list: one line naming the file and the pair.
        try DatasetFixtures.write("[[\"000\", \"001\"],\n [\"002\" \"003\"]]", root + "/splits/val.json")
        XCTAssertThrowsError(try DatasetIndex.index(.ffpp, root: root)) { XCTAssertTrue("\($0)".contains("val.json:2:9: malformed JSON"), "\($0)") }
        try DatasetFixtures.write(#"[["000", "001"], ["002"]]"#, root + "/splits/train.json")
        XCTAssertThrowsError(try DatasetIndex.index(.ffpp, root: root)) { XCTAssertTrue("\($0)".contains("train.json: pair 2 is malformed"), "\($0)") }
    }

    func testDeepFakeDetectionIsOneTestSet() throws {
        let root = Fixtures.tempDir("dfd")
        for v in ["01__exit_phone_room.mp4", "02__walking_outside.mp4"] { try DatasetFixtures.touch(root + "/original_sequences/actors/c23/videos/" + v) }
        for v in ["01_02__exit_phone_room__YVGY8LOK.mp4", "02_01__walking_outside__X1Y2Z3.mp4", "03_04__talking__ABC.mp4"] {
            try DatasetFixtures.touch(root + "/manipulated_sequences/DeepFakeDetection/c23/videos/" + v)
        }
        let r = try DatasetIndex.index(.dfd, root: root).records
        XCTAssertEqual(r.map { $0.label! }, [0, 0, 1, 1, 1])
        XCTAssertEqual(r.map { $0.method! }, ["real", "real", "DeepFakeDetection", "DeepFakeDetection", "DeepFakeDetection"])
        XCTAssertTrue(r.allSatisfy { $0.dataset == "DFD" && $0.split == "test" })
        XCTAssertThrowsError(try DatasetIndex.index(.dfd, root: root, split: "train")) { XCTAssertTrue("\($0)".contains("only a test set"), "\($0)") }
        XCTAssertThrowsError(try DatasetIndex.index(.dfd, root: root, compression: "raw")) { XCTAssertTrue("\($0)".contains("actors/raw/videos: missing"), "\($0)") }
    }

    // MARK: Celeb-DF v1, UADFV

    func testCelebDFv1AndUADFV() throws {
        let cdf = Fixtures.tempDir("cdf1")
        let listed = ["1 Celeb-real/id0_0000.mp4", "1 YouTube-real/00000.mp4", "0 Celeb-synthesis/id0_id1_0000.mp4", "0 Celeb-synthesis/id1_id0_0001.mp4"]
        for l in listed.dropLast() { try DatasetFixtures.touch(cdf + "/" + l.dropFirst(2)) }
        try DatasetFixtures.touch(cdf + "/Celeb-real/id0_0009.mp4")   // on disk, not in the test list
        try DatasetFixtures.write(listed.joined(separator: "\n") + "\n\n", cdf + "/List_of_testing_videos.txt")
        let c = try DatasetIndex.index(.cdf1, root: cdf)
        XCTAssertEqual(c.records.map { $0.label! }, [0, 0, 1])
        XCTAssertEqual(c.records.map { $0.method! }, ["Celeb-real", "YouTube-real", "Celeb-synthesis"])
        XCTAssertTrue(c.records.allSatisfy { $0.dataset == "CDF-v1" && $0.split == "test" })
        XCTAssertEqual(c.missing, [cdf + "/Celeb-synthesis/id1_id0_0001.mp4"])
        // The CLI: missing videos reported with their count, exit status 1, the rest still listed.
        let run = try runTool("index-dataset", ["cdf1", cdf])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(try records(run).count, 3)
        XCTAssertTrue(run.stderr.contains("id1_id0_0001.mp4: listed but missing; skipped"), run.stderr)
        XCTAssertTrue(run.stderr.contains("3 videos (2 real, 1 fake), 1 listed but missing (skipped)"), run.stderr)
        try DatasetFixtures.write("1 Celeb-real/id0_0000.mp4\n1 Celeb-synthesis/id0_id1_0000.mp4\n", cdf + "/List_of_testing_videos.txt")
        XCTAssertThrowsError(try DatasetIndex.index(.cdf1, root: cdf)) {
            XCTAssertTrue("\($0)".contains("List_of_testing_videos.txt:2: label 1 contradicts the folder Celeb-synthesis"), "\($0)")
        }
        let bad = try runTool("index-dataset", ["cdf1", cdf])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr)

        let ua = Fixtures.tempDir("uadfv")
        for v in ["real/0000.mp4", "real/0001.mp4", "fake/0000_fake.mp4", "fake/0001_fake.mp4", "fake/notes.txt"] { try DatasetFixtures.touch(ua + "/" + v) }
        let u = try DatasetIndex.index(.uadfv, root: ua).records
        XCTAssertEqual(u.map { $0.label! }, [0, 0, 1, 1])
        XCTAssertEqual(u.map { $0.method! }, ["real", "real", "fake", "fake"])
        XCTAssertTrue(u.allSatisfy { $0.dataset == "UADFV" && $0.split == "test" && $0["list_fingerprint"]?.stringValue?.count == 16 })
        try FileManager.default.removeItem(atPath: ua + "/fake")
        XCTAssertThrowsError(try DatasetIndex.index(.uadfv, root: ua)) { XCTAssertTrue("\($0)".contains("fake: missing"), "\($0)") }
    }

    // MARK: DeeperForensics-1.0

    func testDeeperForensicsSplitsVariantAndFFPPReals() throws {
        let root = Fixtures.tempDir("df1"), ff = Fixtures.tempDir("df1ffpp")
        let lists = ["train": ["000_M101.mp4", "001_W102.mp4", "000_M103.mp4"], "val": ["002_M104.mp4"], "test": ["003_W105.mp4", "004_M106"]]
        for (s, names) in lists {
            try DatasetFixtures.write(names.joined(separator: "\n") + "\n", "\(root)/lists/splits/\(s).txt")
            for n in names {
                let file = n.hasSuffix(".mp4") ? n : n + ".mp4"
                for variant in ["end_to_end", "end_to_end_level_3"] where !(variant == "end_to_end_level_3" && file == "004_M106.mp4") {
                    try DatasetFixtures.touch("\(root)/manipulated_videos/\(variant)/\(file)")
                }
                try DatasetFixtures.touch("\(ff)/original_sequences/youtube/c23/videos/\(file.prefix(3)).mp4")
            }
        }
        XCTAssertThrowsError(try DatasetIndex.index(.df1, root: root)) { XCTAssertTrue("\($0)".contains("--real-root"), "\($0)") }
        var o = IndexOptions()
        o.realRoot = ff
        let all = try DatasetIndex.index(.df1, root: root, options: o)
        XCTAssertTrue(all.missing.isEmpty)
        let train = all.records.filter { $0.split == "train" }
        XCTAssertEqual(train.map { $0.label! }, [0, 0, 1, 1, 1])   // 2 distinct targets, 3 fakes
        XCTAssertEqual(train.filter { $0.label == 0 }.map { Paths.stem($0.video!) }, ["000", "001"])
        XCTAssertTrue(train.filter { $0.label == 0 }.allSatisfy { $0.video!.hasPrefix(ff) && $0.method == "real" })
        XCTAssertTrue(all.records.filter { $0.label == 1 }.allSatisfy { $0.method == "end_to_end" && $0.dataset == "DF-1.0" })
        XCTAssertEqual(all.records.filter { $0.split == "test" }.count, 4)
        o.split = "test"; o.variant = .level3
        let test = try DatasetIndex.index(.df1, root: root, options: o)
        XCTAssertEqual(test.records.map { $0.label! }, [0, 0, 1])
        XCTAssertEqual(test.missing, [root + "/manipulated_videos/end_to_end_level_3/004_M106.mp4"])
        o.includeFakes = false
        XCTAssertEqual(try DatasetIndex.index(.df1, root: root, options: o).records.count, 2)
        o.includeFakes = true; o.variant = .mix2
        XCTAssertThrowsError(try DatasetIndex.index(.df1, root: root, options: o)) { XCTAssertTrue("\($0)".contains("end_to_end_mix_2_distortions: missing"), "\($0)") }
        // Reals that are FF++ training videos are left out of the test reals, and the count is reported.
        o.variant = .endToEnd; o.split = "test"
        try DatasetFixtures.write(#"[["003", "010"]]"#, ff + "/splits/train.json")
        o.excludeFFPPSplits = ["train"]
        let clean = try DatasetIndex.index(.df1, root: root, options: o)
        XCTAssertEqual(clean.records.filter { $0.label == 0 }.map { Paths.stem($0.video!) }, ["004"])
        XCTAssertEqual(clean.records.filter { $0.label == 1 }.count, 2)
        XCTAssertTrue(clean.warnings.contains { $0.contains("1 of its 2 real (FF++ target) videos are in FF++'s train split; left out") }, "\(clean.warnings)")
        o.excludeFFPPSplits = ["val"]
        XCTAssertThrowsError(try DatasetIndex.index(.df1, root: root, options: o)) { XCTAssertTrue("\($0)".contains("val.json"), "\($0)") }
        o.excludeFFPPSplits = []; o.split = nil
        try DatasetFixtures.write("003_W105.mp4\nM106_004.mp4\n", root + "/lists/splits/test.txt")
        XCTAssertThrowsError(try DatasetIndex.index(.df1, root: root, options: o)) { XCTAssertTrue("\($0)".contains("lists/splits/test.txt:2: malformed line"), "\($0)") }
    }

    // MARK: WildDeepfake

    func testWildDeepfakeFaceSequencesAsFrameRecords() throws {
        let root = Fixtures.tempDir("wdf")
        // Extracted archives: <split folder>/<tar id>/<real|fake>/<sequence>/<frame>.png
        for (folder, seqs) in [("real_test", ["1/real/10": 3, "1/real/11": 2]), ("fake_test", ["7/fake/3": 4]), ("real_train", ["2/real/5": 1]),
                               ("fake_train", ["9/fake/8": 2])] {
            for (seq, n) in seqs { for f in [0, 2, 10, 1, 5].prefix(n) { try DatasetFixtures.touch("\(root)/\(folder)/\(seq)/\(f).png") } }
        }
        try DatasetFixtures.touch(root + "/real_test/1.tar.gz")   // the archive left beside its extracted folder
        let all = try DatasetIndex.index(.wdf, root: root)
        XCTAssertEqual(all.records.count, 3 + 2 + 4 + 1 + 2)
        let test = try DatasetIndex.index(.wdf, root: root, split: "test").records
        XCTAssertEqual(test.count, 9)
        XCTAssertEqual(Set(test.map { $0.video! }).count, 3)
        XCTAssertTrue(test.allSatisfy { $0.dataset == "WDF" && $0.split == "test" && $0.image!.hasPrefix($0.video! + "/") })
        XCTAssertEqual(test.filter { $0.label == 0 }.count, 5); XCTAssertEqual(test.filter { $0.method == "fake" }.count, 4)
        let seq = test.filter { $0.video == root + "/real_test/1/real/10" }
        XCTAssertEqual(seq.map { $0.frame! }, [0, 2, 10])   // frame order, not name order
        XCTAssertThrowsError(try DatasetIndex.index(.wdf, root: root, split: "val")) { XCTAssertTrue("\($0)".contains("no val split"), "\($0)") }
        // Archives not extracted: the error says so.
        let packed = Fixtures.tempDir("wdfpacked")
        for f in ["real_test/1.tar.gz", "real_test/2.tar.gz", "fake_test/1.tar.gz"] { try DatasetFixtures.touch(packed + "/" + f) }
        XCTAssertThrowsError(try DatasetIndex.index(.wdf, root: packed)) { XCTAssertTrue("\($0)".contains("real_test: 2 archives not extracted"), "\($0)") }
        let run = try runTool("index-dataset", ["wdf", root, "--split", "test"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("9 frames in 3 videos (5 real, 4 fake)"), run.stderr)
        // N evenly spaced frames of each sequence (PIM: 32 per video): 2 of 3, 2 of 2, 2 of 4 (the first and last).
        let two = try runTool("index-dataset", ["wdf", root, "--split", "test", "--frames-per-video", "2"])
        XCTAssertEqual(two.status, 0, two.stderr)
        let kept = two.lines.compactMap { try? JSON.parse($0).objectValue }
        XCTAssertEqual(kept.count, 6)
        XCTAssertEqual(kept.filter { $0["video"]?.stringValue == root + "/fake_test/7/fake/3" }.compactMap { $0["frame"]?.intValue }, [0, 10])
        let videosOnly = try runTool("index-dataset", ["uadfv", root, "--frames-per-video", "2"])
        XCTAssertNotEqual(videosOnly.status, 0)
        XCTAssertTrue(videosOnly.stderr.contains("extract-frames --frames"), videosOnly.stderr)
    }

    // MARK: DeepfakeBench dataset JSON

    func testDeepfakeBenchJSONFramesAndLandmarks() throws {
        let root = Fixtures.tempDir("dfb")
        let real = (0..<3).map { "FaceForensics++/original_sequences/youtube/c23/frames/000/\(String(format: "%03d", $0)).png" }
        for p in real { try DatasetFixtures.touch(root + "/" + p) }
        let fakeDir = "FaceForensics++/manipulated_sequences/Deepfakes/c23/frames/000_003"
        let fake = (0..<2).map { "\(fakeDir)/\(String(format: "%03d", $0)).png" }
        for p in fake { try DatasetFixtures.touch(root + "/" + p) }
        // Landmarks for two real frames (81 x 2 float32), one malformed file for the fake's first frame.
        let pts = (0..<162).map { Float($0) }
        for p in real.prefix(2) {
            let lp = root + "/" + p.replacingOccurrences(of: "c23/frames/", with: "c23/landmarks/").replacingOccurrences(of: ".png", with: ".npy")
            try DatasetFixtures.touch(lp)
            try DatasetFixtures.npy(shape: [81, 2], pts).write(to: URL(fileURLWithPath: lp))
        }
        let badNpy = root + "/FaceForensics++/manipulated_sequences/Deepfakes/c23/landmarks/000_003/000.npy"
        try DatasetFixtures.write("not an npy", badNpy)
        // Windows-written paths (backslashes), a missing frame, directory order (002 before 000).
        let json: [String: Any] = ["FF-DF": [
            "FF-real": ["train": ["c23": ["000": ["label": "FF-real", "frames": [real[2], real[0].replacingOccurrences(of: "/", with: "\\"), real[1]]]],
                                  "c40": [String: Any]()],
                        "test": ["c23": [String: Any]()]],
            "FF-DF": ["train": ["c23": ["000_003": ["label": "FF-DF", "frames": fake + [fakeDir + "/099.png"]]]]],
        ]]
        let jsonPath = root + "/dataset_json/FF-DF.json"
        try DatasetFixtures.write(String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self), jsonPath)
        var o = IndexOptions()
        o.framesRoot = root
        let r = try DatasetIndex.index(.dfb, root: jsonPath, options: o)
        XCTAssertEqual(r.missing, [root + "/" + fakeDir + "/099.png"])
        XCTAssertEqual(r.records.count, 5)
        let reals = r.records.filter { $0.label == 0 }
        XCTAssertEqual(reals.map { $0.frame! }, [0, 1, 2])
        XCTAssertTrue(reals.allSatisfy { $0.method == "real" && $0.dataset == "FF++" && $0.split == "train" && $0["compression"]?.stringValue == "c23" })
        XCTAssertEqual(Set(reals.map { $0.video! }), [root + "/FaceForensics++/original_sequences/youtube/c23/frames/000"])
        let face = try XCTUnwrap(reals[1].faces?.first)
        XCTAssertEqual(face.layout, "ibug81"); XCTAssertEqual(face.landmarks.count, 81)
        XCTAssertEqual(face.landmarks[3].x, 6); XCTAssertEqual(face.landmarks[3].y, 7)
        XCTAssertEqual(face.box.right, 160); XCTAssertEqual(face.box.bottom, 161)
        XCTAssertNil(reals[2].faces)   // no landmark file for frame 002
        let fakes = r.records.filter { $0.label == 1 }
        XCTAssertEqual(fakes.map { $0.method! }, ["Deepfakes", "Deepfakes"])
        XCTAssertEqual(fakes.map { $0["dfb_label"]!.stringValue! }, ["FF-DF", "FF-DF"])
        XCTAssertTrue(fakes[0].error?.contains("000.npy: not a valid .npy file") ?? false, "\(fakes[0].fields)")
        XCTAssertNil(fakes[1].error)
        o.split = "test"
        XCTAssertTrue(try DatasetIndex.index(.dfb, root: jsonPath, options: o).records.isEmpty)
        o.split = nil; o.compression = "c40"
        let c40 = try DatasetIndex.index(.dfb, root: jsonPath, options: o)
        XCTAssertTrue(c40.records.isEmpty)
        XCTAssertTrue(c40.warnings.contains { $0.contains("FF-DF/FF-DF/train has no c40 videos") }, "\(c40.warnings)")

        // A file without compression levels (Celeb-DF-v1), the DFDC val quirk, absolute paths.
        let cdfFrame = root + "/Celeb-DF-v1/Celeb-synthesis/frames/id0_id1_0000/000.png"
        try DatasetFixtures.touch(cdfFrame)
        let cjson: [String: Any] = ["Celeb-DF-v1": [
            "CelebDFv1_fake": ["test": ["id0_id1_0000": ["label": "CelebDFv1_fake", "frames": [cdfFrame]]],
                               "val": ["label": "CelebDFv1_fake", "frames": [cdfFrame]]],
            "CelebDFv1_real": ["test": [String: Any]()]]]
        let cpath = root + "/dataset_json/Celeb-DF-v1.json"
        try DatasetFixtures.write(String(decoding: try JSONSerialization.data(withJSONObject: cjson), as: UTF8.self), cpath)
        let c = try DatasetIndex.index(.dfb, root: cpath, options: IndexOptions())
        XCTAssertEqual(c.records.count, 1)
        XCTAssertEqual(c.records[0].dataset, "CDF-v1"); XCTAssertEqual(c.records[0].method, "CelebDFv1_fake"); XCTAssertEqual(c.records[0].label, 1)
        XCTAssertNil(c.records[0]["compression"])
        XCTAssertTrue(c.warnings.contains { $0.contains("CelebDFv1_fake/val is one video entry") }, "\(c.warnings)")
        // Malformed entries: one line naming the file and the entry.
        try DatasetFixtures.write(#"{"UADFV": {"UADFV_Odd": {"test": {"v1": {"label": "UADFV_Odd", "frames": []}}}}}"#, cpath)
        XCTAssertThrowsError(try DatasetIndex.index(.dfb, root: cpath)) { XCTAssertTrue("\($0)".contains("Celeb-DF-v1.json: UADFV/UADFV_Odd/test/v1: label \"UADFV_Odd\" is neither"), "\($0)") }
        try DatasetFixtures.write(#"{"UADFV": {"UADFV_Real": {"test": {"v1": {"label": "UADFV_Real"}}}}}"#, cpath)
        XCTAssertThrowsError(try DatasetIndex.index(.dfb, root: cpath)) { XCTAssertTrue("\($0)".contains("UADFV/UADFV_Real/test/v1: malformed video entry"), "\($0)") }
        try DatasetFixtures.write("{\n  \"UADFV\": {\n    \"UADFV_Real\": {,}}}", cpath)
        XCTAssertThrowsError(try DatasetIndex.index(.dfb, root: cpath)) { XCTAssertTrue("\($0)".contains("Celeb-DF-v1.json:3:20: malformed JSON"), "\($0)") }
        try DatasetFixtures.write("[]", cpath)
        XCTAssertThrowsError(try DatasetIndex.index(.dfb, root: cpath)) { XCTAssertTrue("\($0)".contains("Celeb-DF-v1.json: malformed (expected"), "\($0)") }
        // The CLI with --frames-root.
        let run = try runTool("index-dataset", ["dfb", jsonPath, "--frames-root", root, "--split", "train"])
        XCTAssertEqual(run.status, 1)   // one frame listed but missing
        XCTAssertEqual(try records(run).count, 5)
        XCTAssertTrue(run.stderr.contains("5 frames in 2 videos (3 real, 2 fake), 1 listed but missing"), run.stderr)
    }

    func testNPYReader() throws {
        let a = try NPY.parse([UInt8](DatasetFixtures.npy(shape: [2, 3], [1, 2, 3, 4, 5, 6])), name: "a.npy")
        XCTAssertEqual(a.shape, [2, 3]); XCTAssertEqual(a.values, [1, 2, 3, 4, 5, 6])
        // Fortran order: the same bytes are the columns.
        let f = try NPY.parse([UInt8](DatasetFixtures.npy(shape: [2, 3], [1, 2, 3, 4, 5, 6], fortran: true)), name: "f.npy")
        XCTAssertEqual(f.values, [1, 3, 5, 2, 4, 6])
        // float64 and int16, written by hand.
        func file(_ descr: String, _ shape: String, _ payload: [UInt8]) -> [UInt8] {
            var h = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
            while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
            h += "\n"
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.utf8.count), 0] + Array(h.utf8) + payload
        }
        var d: [UInt8] = []
        for v in [1.5, -2.25] { withUnsafeBytes(of: v.bitPattern.littleEndian) { d += $0 } }
        XCTAssertEqual(try NPY.parse(file("<f8", "(2,)", d), name: "d").values, [1.5, -2.25])
        XCTAssertEqual(try NPY.parse(file("<i2", "(2,)", [0xff, 0xff, 0x02, 0x01]), name: "i").values, [-1, 258])
        XCTAssertEqual(try NPY.parse(file(">i2", "(1,)", [0x01, 0x02]), name: "b").values, [258])
        XCTAssertThrowsError(try NPY.parse(file("<f4", "(81, 2)", [0, 0, 0, 0]), name: "t.npy")) { XCTAssertTrue("\($0)".contains("t.npy: not a valid .npy file (data truncated"), "\($0)") }
        XCTAssertThrowsError(try NPY.parse(file("<U8", "(1,)", Array(repeating: 0, count: 32)), name: "u")) { XCTAssertTrue("\($0)".contains("unsupported dtype <U8"), "\($0)") }
        XCTAssertThrowsError(try NPY.parse(Array("PK\u{3}\u{4}xxxxxxxx".utf8), name: "z.npz")) { XCTAssertTrue("\($0)".contains("no \\x93NUMPY magic"), "\($0)") }
    }
}
