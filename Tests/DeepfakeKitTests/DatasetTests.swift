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

    /// FF++ with ids 000-009: train pairs (000,001) (002,003), val (004,005), test (006,007) (008,009).
    static func ffpp(_ root: String) throws {
        let splits = ["train": [["000", "001"], ["002", "003"]], "val": [["004", "005"]], "test": [["006", "007"], ["008", "009"]]]
        for (name, pairs) in splits {
            try write(String(decoding: try JSONSerialization.data(withJSONObject: pairs), as: UTF8.self), "\(root)/splits/\(name).json")
            for p in pairs {
                for id in p { try video("\(root)/original_sequences/youtube/c23/videos/\(id).mp4") }
                for m in DatasetIndex.ffppMethods {
                    try video("\(root)/manipulated_sequences/\(m)/c23/videos/\(p[0])_\(p[1]).mp4")
                    try video("\(root)/manipulated_sequences/\(m)/c23/videos/\(p[1])_\(p[0]).mp4")
                }
            }
        }
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
}
