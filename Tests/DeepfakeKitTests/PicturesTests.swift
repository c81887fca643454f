// Pictures people look at: metrics --plot (ROC curves, score histograms), train's curves and TensorBoard event
// files (read back with Python's tensorboard package when the parity venv has it), score-video --sheet.
import DFKImaging
import DFKRecords
import DFKTool
import DFKTrain
import Foundation
import XCTest

final class PicturesTests: XCTestCase {
    /// A decoded PNG of the expected size that is not one flat colour, with pixels of `colors` (BGR, +-40) in it.
    func checkPicture(_ path: String, width: Int = 640, height: Int = 480, colors: [(Int, Int, Int)] = [],
                      file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "\(path) missing", file: file, line: line)
        let img = try Image.read(path)
        XCTAssertEqual(img.width, width, path, file: file, line: line); XCTAssertEqual(img.height, height, path, file: file, line: line)
        var nonWhite = 0
        var found = [Bool](repeating: false, count: colors.count)
        for y in 0..<img.height {
            for x in 0..<img.width {
                let b = Int(img.byte(x: x, y: y, channel: 0)), g = Int(img.byte(x: x, y: y, channel: 1)), r = Int(img.byte(x: x, y: y, channel: 2))
                if b < 240 || g < 240 || r < 240 { nonWhite += 1 }
                for (k, c) in colors.enumerated() where abs(b - c.0) < 40 && abs(g - c.1) < 40 && abs(r - c.2) < 40 { found[k] = true }
            }
        }
        // Axes, ticks, labels and curves: well above a few hundred pixels, far below the whole image.
        XCTAssertGreaterThan(nonWhite, 2000, "\(path) looks blank", file: file, line: line)
        XCTAssertLessThan(nonWhite, width * height * 3 / 4, "\(path) looks filled", file: file, line: line)
        for (k, c) in colors.enumerated() { XCTAssertTrue(found[k], "\(path): no pixel of colour \(c)", file: file, line: line) }
    }

    // MARK: TensorBoard framing (pure Swift)

    func testCRC32CAndEventEncoding() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        // RFC 3720 B.4: 32 bytes of zeros -> 0x8A9136AA, 32 bytes of 0xFF -> 0x62A8AB43.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        // Event { wall_time: 0, step: 3, summary { value { tag: "a", simple_value: 1.0 } } }
        let e = TensorBoardEvent.encode(wallTime: 0, step: 3, scalars: [("a", 1)])
        XCTAssertEqual(e, [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x03, 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 0x61, 0x15, 0x00, 0x00, 0x80, 0x3F])
        let v = TensorBoardEvent.encode(wallTime: 1.5, step: 0, fileVersion: "brain.Event:2")
        XCTAssertEqual(Array(v[0..<9]), [0x09] + withUnsafeBytes(of: (1.5).bitPattern.littleEndian) { Array($0) })
        XCTAssertEqual(Array(v[9...]), [0x1A, 13] + Array("brain.Event:2".utf8))
        // TFRecord: uint64 length, masked crc32c of it, the data, masked crc32c of the data.
        let r = TensorBoardEvent.record(e)
        XCTAssertEqual(r.count, 8 + 4 + e.count + 4)
        func u32(_ a: ArraySlice<UInt8>) -> UInt32 { a.reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        XCTAssertEqual(Array(r[0..<8]), [UInt8(e.count), 0, 0, 0, 0, 0, 0, 0])
        func masked(_ c: UInt32) -> UInt32 { ((c >> 15) | (c << 17)) &+ 0xA282_EAD8 }
        XCTAssertEqual(u32(r[8..<12]), masked(CRC32C.checksum(Array(r[0..<8]))))
        XCTAssertEqual(Array(r[12..<(12 + e.count)]), e)
        XCTAssertEqual(u32(r[(12 + e.count)...]), masked(CRC32C.checksum(e)))
        // A long tag and a step beyond 7 bits use multi-byte varints.
        let big = TensorBoardEvent.encode(wallTime: 0, step: 300, scalars: [(String(repeating: "t", count: 200), 2)])
        XCTAssertEqual(Array(big[9..<12]), [0x10, 0xAC, 0x02])
    }

    // MARK: metrics --plot

    func scoreRecords() -> String {
        var lines: [String] = []
        // Deterministic scores: fakes mostly above the reals, with overlap.
        for ds in ["ff++/Deepfakes", "celeb-df"] {
            for i in 0..<40 {
                let label = i % 2
                let base = 0.3 + 0.35 * Double(label) + 0.3 * sin(Double(i) * 1.7)
                let s = min(1, max(0, base))
                let frames = (0..<3).map { k in #"{"score":\#(min(1, max(0, s + 0.05 * Double(k - 1))))}"# }.joined(separator: ",")
                lines.append(#"{"dataset":"\#(ds)","label":\#(label),"score":\#(s),"frames":[\#(frames)]}"#)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func testMetricsPlotWritesROCAndHistograms() throws {
        let dir = Fixtures.tempDir("metrics-plot")
        let run = try runTool("metrics", ["--plot", dir + "/plots"], stdin: scoreRecords())
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("| ff++/Deepfakes | video |"))
        let expected = ["roc-ff++_Deepfakes-video", "hist-ff++_Deepfakes-video", "roc-ff++_Deepfakes-frame", "hist-ff++_Deepfakes-frame",
                        "roc-celeb-df-video", "hist-celeb-df-video", "roc-celeb-df-frame", "hist-celeb-df-frame"]
        // Every path printed to stderr, in order.
        XCTAssertEqual(run.stderrLines.filter { $0.contains("plot: ") }.map { ($0.components(separatedBy: "plot: ")[1] as NSString).lastPathComponent },
                       expected.map { $0 + ".png" })
        for name in expected {
            // ROC: the blue curve; histograms: the real (blue) and fake (red) bars.
            try checkPicture(dir + "/plots/" + name + ".png",
                             colors: name.hasPrefix("roc") ? [(180, 119, 31)] : [(180, 119, 31), (40, 39, 214)])
        }
        // Nothing else was written (no temporaries left behind).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/plots").sorted(), expected.map { $0 + ".png" }.sorted())
        // A dataset with only one class gets a histogram and no ROC curve.
        let one = try runTool("metrics", ["--plot", dir + "/one"], stdin: #"{"label":0,"score":0.2}"# + "\n" + #"{"label":0,"score":0.4}"# + "\n")
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/one"), ["hist-all-video.png"])
        // An unwritable plot directory is a one-line error.
        let bad = try runTool("metrics", ["--plot", "/proc/nope/plots"], stdin: scoreRecords())
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("/proc/nope/plots"), bad.stderr)
    }

    func testPlotTicksAndRanges() {
        XCTAssertEqual(Plot.ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1.0].map { $0 }, accuracy: 1e-12)
        XCTAssertEqual(Plot.ticks(0, 8), [0, 2, 4, 6, 8], accuracy: 1e-12)
        XCTAssertEqual(Plot.ticks(0.31, 0.69, target: 4), [0.4, 0.5, 0.6], accuracy: 1e-12)
        let r = Plot.range([2, 2])
        XCTAssertLessThan(r.0, 2); XCTAssertGreaterThan(r.1, 2)
        XCTAssertEqual(Plots.slug("ff++/Deepfakes"), "ff++_Deepfakes")
        XCTAssertEqual(Plots.slug(".."), "_..")
    }

    // MARK: train: curves and TensorBoard

    func testTrainDrawsCurvesAndWritesTensorBoardEvents() throws {
        let dir = Fixtures.tempDir("train-pictures")
        let data = try TrainTests.faces(frames: 12)
        let out = dir + "/model", board = dir + "/tb"
        let run = try runTool("train", [data.train, "--recipe", "cpu-demo", "--out", out, "--epochs", "2", "--size", "64",
                                        "--batch", "8", "--seed", "11", "--val", data.val,
                                        "--tensorboard", board, "--tensorboard-every", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("curves: \(out)/curves-loss.png"), run.stderr)
        XCTAssertTrue(run.stderr.contains("curves: \(out)/curves-val-auc.png"), run.stderr)
        try checkPicture(out + "/curves-loss.png", colors: [(180, 119, 31)])
        try checkPicture(out + "/curves-val-auc.png", colors: [(44, 160, 44)])
        let log = try String(contentsOfFile: out + "/train-log.ndjson", encoding: .utf8).split(separator: "\n")
            .map { try JSON.parse(String($0)).objectValue! }
        XCTAssertEqual(log.count, 2)

        // The events file: the TFRecord framing checks out in Swift, whatever Python has.
        let files = try FileManager.default.contentsOfDirectory(atPath: board)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(files[0].hasPrefix("events.out.tfevents."), files[0])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: board + "/" + files[0])))
        var offset = 0, records = 0
        while offset < bytes.count {
            let len = Int(bytes[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            XCTAssertLessThanOrEqual(offset + 16 + len, bytes.count)
            XCTAssertEqual(TensorBoardEvent.record(Array(bytes[(offset + 12)..<(offset + 12 + len)])), Array(bytes[offset..<(offset + 16 + len)]))
            offset += 16 + len; records += 1
        }
        XCTAssertEqual(offset, bytes.count)

        // Python's tensorboard reads the same scalars as the log holds.
        let python = Fixtures.cache.appendingPathComponent("parity-venv/bin/python").path
        let probe = FileManager.default.isExecutableFile(atPath: python)
            ? try runTool(python, ["-c", "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator"]) : nil
        guard let probe, probe.status == 0 else {
            throw MissingEnvironment("Python's tensorboard package is not importable from .cache/parity-venv")
        }
        let script = """
        import json, sys
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
        ea.Reload()
        print(json.dumps({"version": ea.file_version, "scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}}))
        """
        let read = try runTool(python, ["-c", script, board])
        XCTAssertEqual(read.status, 0, read.stderr)
        let o = try JSON.parse(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).objectValue!
        XCTAssertEqual(o["version"]?.doubleValue, 2, "file_version brain.Event:2, which EventAccumulator parses to 2.0")
        let scalars = o["scalars"]!.objectValue!
        func series(_ tag: String) -> [(Int, Double)] {
            (scalars[tag]?.arrayValue ?? []).map { ($0.arrayValue![0].intValue!, $0.arrayValue![1].doubleValue!) }
        }
        XCTAssertEqual(Set(scalars.keys), ["epoch/loss", "epoch/val_auc", "epoch/lr", "epoch/images_per_s", "train/loss", "train/lr"])
        let steps = series("train/loss")
        XCTAssertGreaterThanOrEqual(steps.count, 2)
        XCTAssertEqual(steps.map(\.0), Array(0..<steps.count), "every step with --tensorboard-every 1")
        XCTAssertEqual(records, 1 + 2 + steps.count, "file version, two epochs, one event per step")
        for (k, entry) in log.enumerated() {
            for (tag, key) in [("epoch/loss", "loss"), ("epoch/val_auc", "val_auc"), ("epoch/lr", "lr"), ("epoch/images_per_s", "images_per_s")] {
                let want = entry[key]!.doubleValue!, got = series(tag)[k].1
                // float32 in the event, 6 decimals (loss, AUC) or 2 (images/s) in the log
                XCTAssertEqual(got, want, accuracy: max(abs(want) * 1e-6, key == "images_per_s" ? 0.01 : 2e-6), "\(tag) epoch \(k)")
            }
            // An epoch's scalars sit at the step where the epoch ends.
            XCTAssertEqual(series("epoch/loss")[k].0, (k + 1) * steps.count / 2)
        }
    }

    // MARK: score-video --sheet

    func testScoreVideoSheetShowsTheWorstVideos() throws {
        let ck = try ScoreVideoTests.checkpoint()
        let dir = Fixtures.tempDir("score-sheet")
        let input = [#"{"video":"\#(try Fixtures.media("single_face.mp4"))","label":0}"#,
                     #"{"video":"\#(try Fixtures.media("WolfgangLanger_Pexels.mp4"))","label":1}"#,
                     #"{"video":"\#(try Fixtures.media("no_face.mp4"))","label":0}"#].joined(separator: "\n") + "\n"
        let plain = try runTool("score-video", ["-q", "--checkpoint", ck, "--frames", "3"], stdin: input)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let run = try runTool("score-video", ["--checkpoint", ck, "--frames", "3", "--sheet", dir + "/sheet.png", "--sheet-frames", "2"], stdin: input)
        XCTAssertEqual(run.status, 0, run.stderr)
        // The sheet changes nothing in the scores.
        XCTAssertEqual(run.stdout, plain.stdout)
        XCTAssertTrue(run.stderr.contains("sheet: \(dir)/sheet.png"), run.stderr)
        // Rows: the real group's heading and video, the fake group's heading and video (the video without a face is
        // not shown: no face drove its score); columns: the video, then 2 x (frame, face crop); 160 px tiles, 4 px gaps,
        // a 30 px title band.
        let img = try Image.read(dir + "/sheet.png")
        XCTAssertEqual(img.width, 5 * 164 + 4)
        XCTAssertEqual(img.height, 4 * 164 + 4 + 30)
        // The face crops are pictures: many distinct colours in the first video's first crop tile.
        var colours = Set<Int>()
        let x0 = 4 + 2 * 164, y0 = 30 + 4 + 164
        for y in stride(from: y0 + 20, to: y0 + 140, by: 2) {
            for x in stride(from: x0 + 10, to: x0 + 150, by: 2) {
                colours.insert(Int(img.byte(x: x, y: y, channel: 0)) << 16 | Int(img.byte(x: x, y: y, channel: 1)) << 8 | Int(img.byte(x: x, y: y, channel: 2)))
            }
        }
        XCTAssertGreaterThan(colours.count, 500)
        let bad = try runTool("score-video", ["--checkpoint", ck, "--sheet", dir + "/sheet.jpg", try Fixtures.media("single_face.mp4")])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--sheet must name a .png file"), bad.stderr)
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(a) vs \(b)", file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, "\(a) vs \(b)", file: file, line: line) }
}
