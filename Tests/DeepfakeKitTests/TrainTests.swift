// train on real faces: the loss goes down, and a run killed mid-epoch resumes to exactly the weights of an
// uninterrupted run with the same seed; BBMG + NRS runs its weighted loss; bad input is refused clearly.
import DFKModels
import DFKRecords
import DFKTensor
import Foundation
import XCTest

final class TrainTests: XCTestCase {
    /// Face records of `frames` frames of single_face.mp4 (train) and 4 of WolfgangLanger_Pexels.mp4 (val).
    static func faces(frames: Int = 24) throws -> (train: String, val: String) {
        let dir = Fixtures.tempDir("train-faces-\(frames)")
        let f = try runTool("extract-frames", ["-q", "--frames", String(frames), "--out", dir + "/F", try Fixtures.media("single_face.mp4")])
        let l = try runTool("landmarks", ["-q"], stdin: f.stdout)
        let v = try runTool("extract-frames", ["-q", "--frames", "4", "--out", dir + "/V", try Fixtures.media("WolfgangLanger_Pexels.mp4")])
        let lv = try runTool("landmarks", ["-q"], stdin: v.stdout)
        try l.stdout.write(toFile: dir + "/train.ndjson", atomically: true, encoding: .utf8)
        try lv.stdout.write(toFile: dir + "/val.ndjson", atomically: true, encoding: .utf8)
        return (dir + "/train.ndjson", dir + "/val.ndjson")
    }

    func args(_ out: String, _ data: (train: String, val: String), epochs: Int = 4, extra: [String] = []) -> [String] {
        [data.train, "-q", "--recipe", "cpu-demo", "--pretrained", Fixtures.cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth").path,
         "--out", out, "--epochs", String(epochs), "--size", "96", "--batch", "8", "--val", data.val, "--seed", "3", "--lr", "0.002"] + extra
    }

    func weights(_ path: String) throws -> [Float] {
        try Checkpoint.read(path).group("model.").flatMap { $0.tensor.dtype == .float32 ? try $0.tensor.floats() : [] }
    }

    func testLossFallsAndAKilledRunResumesToTheSameWeights() throws {
        let data = try TrainTests.faces()
        let a = Fixtures.tempDir("train-a"), b = Fixtures.tempDir("train-b")
        let full = try runTool("train", args(a, data))
        XCTAssertEqual(full.status, 0, full.stderr)
        let log = try String(contentsOfFile: a + "/train-log.ndjson").split(separator: "\n").map { try JSON.parse(String($0)).objectValue! }
        XCTAssertEqual(log.count, 4)
        let losses = log.map { $0["loss"]!.doubleValue! }
        XCTAssertLessThan(losses.last!, losses.first!, "loss did not go down: \(losses)")
        XCTAssertLessThan(losses.first!, 0.75)
        XCTAssertNotNil(log[0]["val_auc"]?.doubleValue)

        // Kill a second run (SIGKILL) once its first epoch is saved, i.e. during the second epoch; then resume.
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent("train")
        p.arguments = args(b, data)
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        while !FileManager.default.fileExists(atPath: b + "/last.safetensors") && p.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let epochsDone = (try? String(contentsOfFile: b + "/train-log.ndjson"))?.split(separator: "\n").count ?? 0
        XCTAssertLessThan(epochsDone, 4, "the run finished before it could be killed")
        let resumed = try runTool("train", args(b, data))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try weights(a + "/last.safetensors"), try weights(b + "/last.safetensors"), "resumed run differs from the uninterrupted one")
        XCTAssertEqual(try String(contentsOfFile: b + "/train-log.ndjson").split(separator: "\n").count, 4)
        // Nothing left to do: a third call says so.
        let again = try runTool("train", args(b, data))
        XCTAssertEqual(again.status, 0); XCTAssertTrue(again.stderr.contains("already trained"), again.stderr)
        // Another seed is another run: refused in the same directory.
        var other = args(b, data); other[other.firstIndex(of: "--seed")! + 1] = "4"
        let clash = try runTool("train", other)
        XCTAssertEqual(clash.status, 1); XCTAssertTrue(clash.stderr.contains("belongs to another run"), clash.stderr)
        // The checkpoint scores videos with its own crop.
        let s = try runTool("score-video", ["-q", "--checkpoint", a + "/last.safetensors", "--frames", "2", try Fixtures.media("single_face.mp4")])
        XCTAssertEqual(s.status, 0, s.stderr)
    }

    func testBBMGWithNoiseRefinementRuns() throws {
        let data = try TrainTests.faces()
        let out = Fixtures.tempDir("train-nrs")
        let run = try runTool("train", args(out, data, epochs: 2, extra: ["--mask", "bbmg", "--nrs-start", "1"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let ck = try Checkpoint.read(out + "/last.safetensors")
        XCTAssertEqual(ck["nrs.centres"]?.shape.first, 5)
        let log = try String(contentsOfFile: out + "/train-log.ndjson").split(separator: "\n").map { try JSON.parse(String($0)).objectValue! }
        XCTAssertEqual(log.count, 2)
        XCTAssertNotNil(log[1]["nrs_downweighted"]?.intValue)
        let bad = try runTool("train", ["/nonexistent.ndjson", "--out", out])
        XCTAssertEqual(bad.status, 1); XCTAssertTrue(bad.stderr.contains("cannot open file"), bad.stderr)
        let empty = try runTool("train", ["--out", Fixtures.tempDir("train-empty"), "--recipe", "cpu-demo"], stdin: #"{"image":"x.png","faces":[]}"#)
        XCTAssertEqual(empty.status, 1); XCTAssertTrue(empty.stderr.contains("no usable training faces"), empty.stderr)
    }
}

import DFKTrain

/// train's behaviour on real faces: BBMG with NRS, same seed wherever the frames live, resume refusing a changed
/// recipe, NRS weights with SAM, lost faces, labelled training, frames per video.
final class TrainBehaviourTests: XCTestCase {
    func log(_ dir: String) throws -> [JSONObject] {
        try String(contentsOfFile: dir + "/train-log.ndjson", encoding: .utf8).split(separator: "\n").map { try JSON.parse(String($0)).objectValue! }
    }
    func small(_ out: String, _ train: String, epochs: Int = 1, extra: [String] = []) -> [String] {
        [train, "-q", "--recipe", "cpu-demo", "--out", out, "--epochs", String(epochs), "--size", "64", "--batch", "8", "--seed", "11"] + extra
    }

    /// The same seed gives the same model wherever the frames were written (two clones, two output folders).
    func testSameSeedSameWeightsWhereverTheFramesLive() throws {
        var files: [String] = []
        for d in ["clone-a", "clone-b"] {
            let dir = Fixtures.tempDir(d)
            let f = try runTool("extract-frames", ["-q", "--frames", "12", "--out", dir + "/somewhere/frames", try Fixtures.media("single_face.mp4")])
            let l = try runTool("landmarks", ["-q"], stdin: f.stdout)
            XCTAssertEqual(l.status, 0, l.stderr)
            try l.stdout.write(toFile: dir + "/faces.ndjson", atomically: true, encoding: .utf8)
            files.append(dir)
        }
        XCTAssertNotEqual(try String(contentsOfFile: files[0] + "/faces.ndjson"), try String(contentsOfFile: files[1] + "/faces.ndjson"))
        for d in files { XCTAssertEqual(try runTool("train", small(d + "/model", d + "/faces.ndjson")).status, 0) }
        let a = try Checkpoint.read(files[0] + "/model/last.safetensors").group("model."), b = try Checkpoint.read(files[1] + "/model/last.safetensors").group("model.")
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) where x.tensor.dtype == .float32 { XCTAssertEqual(try x.tensor.floats(), try y.tensor.floats(), x.name) }
    }

    /// The resolved recipe is the run's identity: another learning rate (or mask, size, backbone) is refused.
    func testResumeRefusesAChangedRecipe() throws {
        let data = try TrainTests.faces()
        let out = Fixtures.tempDir("train-identity")
        XCTAssertEqual(try runTool("train", small(out, data.train, extra: ["--lr", "0.002"])).status, 0)
        let other = try runTool("train", small(out, data.train, epochs: 2, extra: ["--lr", "0.003"]))
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("belongs to another run") && other.stderr.contains("optimizer.lr"), other.stderr)
        let mask = try runTool("train", small(out, data.train, extra: ["--lr", "0.002", "--mask", "sbi"]))
        XCTAssertTrue(mask.stderr.contains("synthesis.mask"), mask.stderr)
        let ck = try Checkpoint.read(out + "/last.safetensors")
        guard case .object(let o)? = try? JSON.parse(ck.metadata["recipe_json"] ?? "") else { return XCTFail("no resolved recipe in the checkpoint") }
        XCTAssertEqual(try Recipe(json: o, source: "ck").lr, 0.002)
    }

    /// With SAM, NRS weighs each pseudo-fake once per step (it ran twice and counted twice).
    func testSAMWithNRSWeighsEachPseudoFakeOnce() throws {
        let data = try TrainTests.faces()
        let out = Fixtures.tempDir("train-sam-nrs")
        let run = try runTool("train", small(out, data.train, epochs: 2, extra: ["--step", "sam", "--nrs-start", "1", "--nrs-lambda", "10",
                                                                              "--nrs-k", "2", "--nrs-memory", "8"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let faces = try String(contentsOfFile: data.train).split(separator: "\n").filter { $0.contains("\"landmarks\"") }.count
        let pseudoFakes = (faces / 4) * 4   // batches of 4 pairs, drop-last
        let n = try log(out)[1]["nrs_downweighted"]!.intValue!
        XCTAssertGreaterThan(n, 0)
        XCTAssertLessThanOrEqual(n, pseudoFakes, "counted more pseudo-fakes than the epoch has")
    }

    /// A face that cannot be used is counted and named; too many fail the run.
    func testFailedFacesAreReportedAndCanFailTheRun() throws {
        let data = try TrainTests.faces()
        var text = try String(contentsOfFile: data.train, encoding: .utf8)
        let firstFace = text.split(separator: "\n").first { $0.contains("\"landmarks\"") }!
        text += firstFace.replacingOccurrences(of: "\"image\":\"", with: "\"image\":\"/nonexistent/") + "\n"
        let bad = Fixtures.tempDir("train-fail") + "/faces.ndjson"
        try text.write(toFile: bad, atomically: true, encoding: .utf8)
        let out = Fixtures.tempDir("train-fail-out")
        let run = try runTool("train", small(out, bad, extra: ["--set", "data.max_failed_fraction=0.5"]))
        // Within the tolerated fraction the run finishes, and still ends non-zero with the count.
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("training faces could not be used"), run.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/last.safetensors"))
        // The bad face is replaced by another real face (keyed draw), as the reference retries another index: each
        // failure is one retry and the batches stay full (was: failed <= 1 and the batch shrank).
        let entry = try log(out)[0]
        let failed = entry["failed"]!.intValue!, retries = entry["retries"]!.intValue!
        XCTAssertLessThanOrEqual(failed, 2)
        XCTAssertEqual(retries, failed)
        let strict = try runTool("train", small(Fixtures.tempDir("train-fail-strict"), bad, epochs: 3, extra: ["--set", "data.max_failed_fraction=0", "--batch", "2"]))
        XCTAssertEqual(strict.status, 1, strict.stderr)
        XCTAssertTrue(strict.stderr.contains("/nonexistent/") && strict.stderr.contains("max_failed_fraction"), strict.stderr)
    }

    /// Labelled real and fake faces with the supervised recipe: trains, validates, and the checkpoint scores.
    func testLabelledTrainingWithTheERMRecipe() throws {
        let data = try TrainTests.faces()
        let dir = Fixtures.tempDir("train-erm")
        let fakeFrames = try runTool("extract-frames", ["-q", "--frames", "16", "--out", dir + "/F", try Fixtures.media("WolfgangLanger_Pexels.mp4")])
        let fakes = try runTool("landmarks", ["-q"], stdin: fakeFrames.stdout)
        func labelled(_ text: String, _ label: Int, _ method: String) -> [String] {
            text.split(separator: "\n").map { $0.dropLast() + ",\"label\":\(label),\"method\":\"\(method)\"}" }
        }
        let all = labelled(try String(contentsOfFile: data.train), 0, "real") + labelled(fakes.stdout, 1, "other-person")
        let train = all.enumerated().filter { $0.offset % 4 != 0 }.map(\.element), val = all.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        try (train.joined(separator: "\n") + "\n").write(toFile: dir + "/train.ndjson", atomically: true, encoding: .utf8)
        try (val.joined(separator: "\n") + "\n").write(toFile: dir + "/val.ndjson", atomically: true, encoding: .utf8)
        let out = dir + "/model"
        let run = try runTool("train", [dir + "/train.ndjson", "-q", "--recipe", "erm", "--from-scratch", "--backbone", "resnet18", "--size", "64", "--batch", "8",
                                        "--epochs", "2", "--sampler", "label-balanced", "--val", dir + "/val.ndjson", "--out", out])
        XCTAssertEqual(run.status, 0, run.stderr)
        let l = try log(out)
        XCTAssertEqual(l.count, 2)
        XCTAssertNotNil(l[1]["val_auc"]?.doubleValue)
        let ck = try Checkpoint.read(out + "/last.safetensors")
        XCTAssertEqual(ck.metadata["recipe"], "erm"); XCTAssertEqual(ck.metadata["backbone"], "resnet18")
        let s = try runTool("score-video", ["-q", "--checkpoint", out + "/best.safetensors", "--frames", "2", try Fixtures.media("single_face.mp4")])
        XCTAssertEqual(s.status, 0, s.stderr)
        // A labelled recipe with only real faces, and a record with a bad label, are refused clearly.
        let reals = try runTool("train", [data.train, "-q", "--recipe", "erm", "--from-scratch", "--out", dir + "/m2", "--size", "64"])
        XCTAssertEqual(reals.status, 1); XCTAssertTrue(reals.stderr.contains("only real faces") || reals.stderr.contains("label"), reals.stderr)
    }
}

final class TrainingSetTests: XCTestCase {
    /// SBI trains on 8 of the 32 extracted frames of each video, evenly spaced (rounded linspace).
    func testFramesPerVideoSubsampling() throws {
        let face = Face(json: JSONObject([("box", .array([0, 0, 10, 10].map { .int($0) }))]))
        var samples: [TrainSample] = []
        for v in ["a.mp4", "b.mp4"] {
            for f in stride(from: 0, to: 32 * 15, by: 15).reversed() {   // out of order on purpose
                samples.append(TrainSample(image: "\(v)/\(f).png", face: face, video: v, frame: f))
            }
        }
        samples.append(TrainSample(image: "still.jpg", face: face))
        let kept = TrainSample.evenFrames(samples, perVideo: 8)
        XCTAssertEqual(kept.count, 17)
        // indices round(linspace(0, 31, 8)) = 0, 4, 9, 13, 18, 22, 27, 31 (of 32 frames 15 apart)
        XCTAssertEqual(kept.filter { $0.video == "a.mp4" }.map(\.frame).sorted(), [0, 4, 9, 13, 18, 22, 27, 31].map { $0 * 15 })
        XCTAssertTrue(kept.contains { $0.image == "still.jpg" })
        XCTAssertEqual(TrainSample.evenFrames(samples, perVideo: 40).count, samples.count)
    }
}

/// --device, --precision and --channels-last on the tools that run a network. No GPU here: CUDA must be a
/// one-line error, and bf16 autocast runs on the CPU.
final class DeviceToolTests: XCTestCase {
    func testNetworkToolsTakeADeviceAndCUDAWithoutAGPUIsOneLine() throws {
        try XCTSkipIf(Torch.cudaDeviceCount > 0, "this machine has a GPU")
        let data = try TrainTests.faces()
        let dir = Fixtures.tempDir("device-tools")
        // ResNet: libtorch 1.13 has CPU bf16 kernels for its ops (not for hardtanh's backward, EfficientNet-Lite's ReLU6).
        let t = try runTool("train", [data.train, "-q", "--recipe", "cpu-demo", "--backbone", "resnet18", "--out", dir + "/m", "--epochs", "1",
                                      "--size", "64", "--batch", "8", "--device", "cpu", "--precision", "bf16", "--channels-last", "--seed", "1"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let ck = try Checkpoint.read(dir + "/m/last.safetensors")
        XCTAssertEqual(ck.metadata["precision"], "bf16")
        XCTAssertEqual(ck.metadata["device"], "cpu")
        XCTAssertEqual(ck.metadata["memory_format"], "channels_last")
        let log = try String(contentsOfFile: dir + "/m/train-log.ndjson")
        XCTAssertTrue(try JSON.parse(String(log.split(separator: "\n")[0])).objectValue!["loss"]!.doubleValue!.isFinite, log)
        let video = try Fixtures.media("single_face.mp4")
        let s = try runTool("score-video", ["-q", "--checkpoint", dir + "/m/last.safetensors", "--frames", "2", "--precision", "bf16", video])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertNotNil(try JSON.parse(s.lines[0]).objectValue!["score"]?.doubleValue, s.stdout)

        let ck0 = dir + "/m/last.safetensors"
        let runs: [(String, [String])] = [
            ("train", [data.train, "-q", "--recipe", "cpu-demo", "--out", dir + "/m2", "--size", "64"]),
            ("score-video", ["-q", "--checkpoint", ck0, video]),
            ("score-frames", ["-q", "--checkpoint", ck0, data.val]),
            ("prle-cam-fuse", ["-q", "--zoo", ck0, "--out", dir + "/maps", data.val]),
        ]
        for (tool, args) in runs {
            let help = try runTool(tool, ["--help"])
            XCTAssertTrue(help.stdout.contains("--device") && help.stdout.contains("--precision") && help.stdout.contains("--channels-last"), tool)
            for d in ["cuda", "cuda:1"] {
                let r = try runTool(tool, args + ["--device", d])
                XCTAssertEqual(r.status, 1, "\(tool) \(d): \(r.stderr)")
                XCTAssertEqual(r.stderrLines.count, 1, "\(tool): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("sees no CUDA device"), "\(tool): \(r.stderr)")
            }
            let bad = try runTool(tool, args + ["--device", "tpu"])
            XCTAssertNotEqual(bad.status, 0, tool)
            XCTAssertTrue(bad.stderr.contains("expected auto, cpu, cuda, cuda:N or mps"), "\(tool): \(bad.stderr)")
            let badP = try runTool(tool, args + ["--precision", "fp8"])
            XCTAssertNotEqual(badP.status, 0, tool)
            XCTAssertTrue(badP.stderr.contains("fp32") && badP.stderr.contains("bf16"), "\(tool): \(badP.stderr)")
        }
        // fp16 needs loss scaling: refused where libtorch has no CPU fp16 autocast, and for steps that do not scale.
        let f16 = try runTool("train", [data.train, "-q", "--recipe", "cpu-demo", "--out", dir + "/m3", "--size", "64", "--step", "pim",
                                        "--precision", "fp16", "--device", "cpu"])
        XCTAssertEqual(f16.status, 1, f16.stderr)
        XCTAssertTrue(f16.stderr.contains("fp16"), f16.stderr)
    }
}
