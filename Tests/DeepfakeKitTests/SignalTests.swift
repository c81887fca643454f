// Ctrl-C and SIGTERM in the middle of every tool's run: exit 130 / 143 with exactly one "interrupted" line, no
// crash (train and synth-sbi used to die of SIGSEGV: exit() ran libtorch's and OpenCV's static destructors under
// live threads), and no temporary file left behind. Inputs: made from the sample media.
import DFKCore
import DFKRecords
import Foundation
import XCTest

final class SignalTests: XCTestCase {
    struct Outcome {
        var status: Int32
        var reason: Process.TerminationReason
        var stderr: String
        var seconds: Double   // from the signal to the exit
        var sawOutput: Bool
    }

    /// Inputs made from the sample media (no demo set needed): frames of two sample videos and their faces.
    static func inputs() throws -> (records: String, frames: [String], videos: [String]) {
        let dir = Fixtures.tempDir("signal-inputs")
        let videos = [try Fixtures.media("single_face.mp4"), try Fixtures.media("WolfgangLanger_Pexels.mp4")]
        let f = try runTool("extract-frames", ["-q", "--frames", "48", "--out", dir + "/F"] + videos)
        XCTAssertEqual(f.status, 0, f.stderr)
        let l = try runTool("landmarks", ["-q"], stdin: f.stdout)
        XCTAssertEqual(l.status, 0, l.stderr)
        let records = dir + "/faces.ndjson"
        try l.stdout.write(toFile: records, atomically: true, encoding: .utf8)
        let frames = f.lines.compactMap { (try? JSON.parse($0))?.objectValue?["image"]?.stringValue }
        XCTAssertGreaterThanOrEqual(frames.count, 90)
        return (records, frames, videos)
    }

    /// Runs `tool` from the repository root, sends `sig` once it has printed to stdout (or after `after` seconds,
    /// for tools that print only at the end), and waits for it to exit.
    func interrupt(_ tool: String, _ args: [String], stdin: String? = nil, sig: Int32, after: Double? = nil,
                   env: [String: String] = [:]) throws -> Outcome {
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent(tool)
        p.arguments = args
        p.currentDirectoryURL = Fixtures.repo
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var out = Data(), err = Data()
        }
        let box = Box()
        let g = DispatchGroup()
        g.enter(); g.enter()
        DispatchQueue.global().async {
            while case let d = out.fileHandleForReading.availableData, !d.isEmpty { box.lock.lock(); box.out += d; box.lock.unlock() }
            g.leave()
        }
        DispatchQueue.global().async {
            let d = err.fileHandleForReading.readDataToEndOfFile()
            box.lock.lock(); box.err = d; box.lock.unlock()
            g.leave()
        }
        try p.run()
        let start = Date()
        var sawOutput = false
        while p.isRunning {
            box.lock.lock(); sawOutput = !box.out.isEmpty; box.lock.unlock()
            let waited = Date().timeIntervalSince(start)
            if let after { if waited >= after { break } } else if sawOutput { break }
            if waited > 120 { break }
            usleep(20_000)
        }
        XCTAssertTrue(p.isRunning, "\(tool) finished before the signal; give it more work")
        let sent = Date()
        kill(p.processIdentifier, sig)
        var killed = false
        while p.isRunning {
            if Date().timeIntervalSince(sent) > 30 { kill(p.processIdentifier, SIGKILL); killed = true; break }
            usleep(20_000)
        }
        p.waitUntilExit()
        g.wait()
        XCTAssertFalse(killed, "\(tool) did not exit within 30 s of the signal")
        return Outcome(status: p.terminationStatus, reason: p.terminationReason,
                       stderr: String(decoding: box.err, as: UTF8.self), seconds: Date().timeIntervalSince(sent), sawOutput: sawOutput)
    }

    func check(_ tool: String, _ o: Outcome, sig: Int32, noTemporariesIn dirs: [String], file: StaticString = #filePath, line: UInt = #line) {
        let name = sig == SIGINT ? "SIGINT" : "SIGTERM"
        XCTAssertEqual(o.reason, .exit, "\(tool) died of a signal: \(o.stderr)", file: file, line: line)
        XCTAssertEqual(o.status, 128 + sig, "\(tool) on \(name): \(o.stderr)", file: file, line: line)
        let lines = o.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.contains("interrupted") }, ["\(tool): interrupted (\(name))"], o.stderr, file: file, line: line)
        XCTAssertEqual(lines.last, "\(tool): interrupted (\(name))", o.stderr, file: file, line: line)
        XCTAssertFalse(o.stderr.contains("crashed") || o.stderr.contains("Backtrac") || o.stderr.contains("Fatal error"), o.stderr,
                       file: file, line: line)
        for dir in dirs {
            let left = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter { $0.contains(".tmp-") }
            XCTAssertEqual(left, [], "\(tool) left temporaries in \(dir)", file: file, line: line)
        }
    }

    /// Each tool, each signal: stopped mid-run, clean exit code, one line, no temporaries.
    func testEveryToolStopsCleanlyOnSIGINTAndSIGTERM() throws {
        let made = try SignalTests.inputs()
        let dir = Fixtures.tempDir()
        let frames = made.frames
        // Enough work that no tool finishes before the signal: records repeated under different names where
        // a cache would otherwise make the repeats free.
        let trainRecords = try String(contentsOfFile: made.records, encoding: .utf8)
        let sbiInput = dir + "/sbi.ndjson"
        try String(repeating: trainRecords, count: 20).write(toFile: sbiInput, atomically: true, encoding: .utf8)
        var metricsLines: [String] = []
        for i in 0..<200_000 { metricsLines.append(#"{"label":\#(i % 2),"score":0.\#(i % 10),"dataset":"d\#(i % 3)","frames":[{"score":0.5}]}"#) }
        let metricsInput = dir + "/scores.ndjson"
        try (metricsLines.joined(separator: "\n") + "\n").write(toFile: metricsInput, atomically: true, encoding: .utf8)
        let videos = made.videos
        let target = try Fixtures.media("WolfgangLanger_Pexels.mp4"), still = try Fixtures.media("0-f15-hao-ph.jpg")

        for sig in [SIGINT, SIGTERM] {
            let tag = sig == SIGINT ? "int" : "term"
            var o = try interrupt("synth-sbi", ["--out", dir + "/sbi-\(tag)", "--threads", "2", "-q"], stdin: sbiInput, sig: sig)
            check("synth-sbi", o, sig: sig, noTemporariesIn: [dir + "/sbi-\(tag)"])
            o = try interrupt("bbmg-mask", ["--out", dir + "/bbmg-\(tag)", "--threads", "2", "-q"], stdin: sbiInput, sig: sig)
            check("bbmg-mask", o, sig: sig, noTemporariesIn: [dir + "/bbmg-\(tag)"])
            o = try interrupt("landmarks", ["--out", dir + "/lm-\(tag)", "--threads", "2", "-q"] + frames, sig: sig)
            check("landmarks", o, sig: sig, noTemporariesIn: [dir + "/lm-\(tag)"])
            o = try interrupt("extract-frames", ["--all", "--out", dir + "/fr-\(tag)", "--threads", "2", "-q"] + videos + [target], sig: sig, after: 1.5)
            check("extract-frames", o, sig: sig, noTemporariesIn: [dir + "/fr-\(tag)"])
            try FileManager.default.createDirectory(atPath: dir + "/m-\(tag)", withIntermediateDirectories: true)
            o = try interrupt("metrics", ["--csv", dir + "/m-\(tag)/table.csv", metricsInput], sig: sig, after: 1)
            check("metrics", o, sig: sig, noTemporariesIn: [dir + "/m-\(tag)"])
            o = try interrupt("face-swap", ["--method", "blend", "--source", still, "--target", target, "--out", dir + "/fs-\(tag)/x.avi"],
                              sig: sig, after: 3)
            check("face-swap", o, sig: sig, noTemporariesIn: [dir + "/fs-\(tag)"])
            o = try interrupt("train", [made.records, "--recipe", "cpu-demo", "--out", dir + "/tr-\(tag)", "--threads", "2", "-q"],
                              sig: sig, after: 4)
            check("train", o, sig: sig, noTemporariesIn: [dir + "/tr-\(tag)"])
        }
    }

    /// A second Ctrl-C ends the run at once, even while the first waits for a safe point.
    func testSecondSignalExitsAtOnce() throws {
        let dir = Fixtures.tempDir()
        // stdin is a FIFO that never delivers a line: no safe point is reached, the grace period is long.
        let fifo = dir + "/in.fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let keepOpen = open(fifo, O_RDWR)   // a writer that never writes
        defer { close(keepOpen) }
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent("synth-sbi")
        p.arguments = ["--out", dir + "/o", "-q"]
        var env = ProcessInfo.processInfo.environment
        env["DFK_SIGNAL_GRACE"] = "60"
        p.environment = env
        p.standardInput = FileHandle(forReadingAtPath: fifo)
        let err = Pipe()
        p.standardError = err
        try p.run()
        usleep(800_000)
        kill(p.processIdentifier, SIGINT)
        usleep(300_000)
        XCTAssertTrue(p.isRunning, "the first SIGINT waits for a safe point")
        let t0 = Date()
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 130)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(text, "synth-sbi: interrupted (SIGINT)\n")
    }

    /// The registry of temporaries and the names the sweep recognises.
    func testTemporaryNamesAndSweep() throws {
        let dir = Fixtures.tempDir()
        let dead: Int32 = 2_000_000_000   // above any pid_max
        let names = [".a.png.tmp-\(dead)", ".x.avi.tmp-\(dead).avi", ".mine.tmp-\(getpid())", "keep.tmp-\(dead)", ".b.tmp-12x"]
        for n in names { FileManager.default.createFile(atPath: dir + "/" + n, contents: Data("x".utf8)) }
        AtomicFile.sweepStaleTemporaries(in: dir)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        XCTAssertEqual(left, [".mine.tmp-\(getpid())", "keep.tmp-\(dead)", ".b.tmp-12x"])
        XCTAssertEqual(Temporaries.name(for: "d/v.avi", extension: "avi"), "d/.v.avi.tmp-\(getpid()).avi")
    }
}
