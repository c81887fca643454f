// PyTorch weight files written by Python PyTorch 1.13 (Debian's python3-torch): both formats, dtypes, views,
// and the files that must be refused (code-running pickles, truncation, wrong architecture).
import DFKModels
import DFKTensor
import Foundation
import XCTest

/// Runs Debian's Python (which has torch) with a script; returns stdout.
@discardableResult
func python(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    p.arguments = ["-c", script]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw MissingEnvironment("/usr/bin/python3 with Debian's python3-torch failed: \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
}

final class WeightFileTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dfk-weights-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func testBothFormatsDtypesAndViewsMatchPython() throws {
        let out = try python("""
        import torch, json, collections
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
        sd = m.state_dict()
        base = torch.randn(3, 5)
        sd['extra.transposed'] = base.t()            # a non-contiguous view
        sd['extra.slice'] = base[1]                   # a view with an offset into a shared storage
        sd['extra.half'] = torch.randn(4).half()
        sd['extra.double'] = torch.randn(2, 2).double()
        torch.save(sd, '\(dir!)/zip.pth')
        torch.save(sd, '\(dir!)/legacy.pth', _use_new_zipfile_serialization=False)
        torch.save({'epoch': 3, 'state_dict': sd}, '\(dir!)/wrapped.pth')
        print(json.dumps({k: [list(v.shape), v.double().flatten().tolist()] for k, v in sd.items()}))
        """)
        let want = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [Any]]
        for file in ["zip.pth", "legacy.pth", "wrapped.pth"] {
            let w = try WeightFile.read("\(dir!)/\(file)")
            XCTAssertEqual(w.format, file == "legacy.pth" ? "legacy" : "zip")
            XCTAssertEqual(w.names.sorted(), want.keys.sorted(), file)
            XCTAssertEqual(w.names.first, "0.weight", "file order kept")
            for (name, t) in w.tensors {
                let (shape, values) = (want[name]![0] as! [Int], want[name]![1] as! [Double])
                XCTAssertEqual(t.shape, shape, "\(file) \(name)")
                let got = try t.doubles()
                for (a, b) in zip(got, values) { XCTAssertEqual(a, b, accuracy: name == "extra.half" ? 1e-3 : 1e-6, "\(file) \(name)") }
            }
            XCTAssertEqual(w["1.num_batches_tracked"]?.dtype, .int64)
        }
    }

    func testCodeRunningPicklesAreRefusedBeforeAnythingRuns() throws {
        let marker = "\(dir!)/pwned"
        try python("""
        import torch, os
        class Evil:
            def __reduce__(self):
                return (os.system, ('touch \(marker)',))
        torch.save({'w': torch.zeros(1), 'x': Evil()}, '\(dir!)/evil_zip.pth')
        torch.save({'w': torch.zeros(1), 'x': Evil()}, '\(dir!)/evil_legacy.pth', _use_new_zipfile_serialization=False)
        """)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
        for f in ["evil_zip.pth", "evil_legacy.pth"] {
            XCTAssertThrowsError(try WeightFile.read("\(dir!)/\(f)")) { e in
                XCTAssertTrue("\(e)".contains("refusing to load") && "\(e)".contains("system"), "\(e)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the pickle ran")
    }

    func testTruncatedCorruptAndWrongArchitectureFilesGiveClearErrors() throws {
        try python("""
        import torch
        m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
        torch.save(m.state_dict(), '\(dir!)/small_zip.pth')
        torch.save(m.state_dict(), '\(dir!)/small_legacy.pth', _use_new_zipfile_serialization=False)
        """)
        for f in ["small_zip.pth", "small_legacy.pth"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/\(f)"))
            for cut in [data.count / 3, data.count - 10] {
                let t = "\(dir!)/cut-\(cut)-\(f)"
                try data.prefix(cut).write(to: URL(fileURLWithPath: t))
                XCTAssertThrowsError(try WeightFile.read(t)) { e in
                    XCTAssertTrue("\(e)".contains("truncated") || "\(e)".contains("corrupt") || "\(e)".contains("cut short"), "\(f) cut at \(cut): \(e)")
                }
            }
        }
        try "not weights".write(toFile: "\(dir!)/text.pth", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WeightFile.read("\(dir!)/text.pth")) { XCTAssertTrue("\($0)".contains("not a PyTorch weight file")) }
        XCTAssertThrowsError(try WeightFile.read("\(dir!)/missing.pth")) { XCTAssertTrue("\($0)".contains("cannot open file")) }
        // Loading weights of another architecture names what is missing and unexpected.
        let model = try EfficientNet(EfficientNetConfig.named("lite0")!, classes: 2)
        XCTAssertThrowsError(try model.load(try WeightFile.read("\(dir!)/small_zip.pth").tensors)) { e in
            XCTAssertTrue("\(e)".contains("missing") && "\(e)".contains("unexpected 7") && "\(e)".contains("0.weight"), "\(e)")
        }
    }
}
