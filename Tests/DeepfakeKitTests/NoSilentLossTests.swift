// Nothing lost or silently wrong: metrics report every bad score, output errors on stdout fail the run, caches keyed on what made
// them, atomic writes through links and never over special files, stale temporaries swept by every tool, EXIF
// orientation, bounded detection of huge images, Foundation errors as one line, records without a face.
import DFKCore
import DFKImaging
import DFKRecords
import Foundation
import XCTest

private func hbRecord(_ line: String) throws -> Record {
    guard case .object(let o) = try JSON.parse(line) else { throw ToolError("not an object: \(line)") }
    return Record(o)
}

final class NoSilentLossTests: XCTestCase {
    // MARK: metrics and standard output

    func testMetricsReportsEveryBadScoreWithItsLineAndExitsNonZero() throws {
        let input = [
            #"{"label":0,"score":0.2}"#,
            #"{"label":1,"score":0.9}"#,
            #"{"label":1}"#,                                   // 3: missing
            #"{"label":0,"score":"0.3"}"#,                     // 4: string
            #"{"label":1,"score":-5}"#,                        // 5: below 0
            #"{"label":0,"score":2}"#,                         // 6: above 1
            #"{"label":1,"score":1e999}"#,                     // 7: infinity
            #"{"label":0,"score":0.1,"frames":"x"}"#,          // 8: frames not an array
            #"{"label":1,"score":0.8,"frames":[{"score":7}]}"#, // 9: frame score out of range
            #"{"label":1,"score":0.8,"frames":[3]}"#,          // 10: frame not an object
            #"{"label":0,"score":null}"#,                      // 11: excluded video: documented, not an error
            #"{"label":0,"score":0.4,"frames":[{"score":null},{"score":0.4}]}"#,
        ].joined(separator: "\n") + "\n"
        let run = try runTool("metrics", [], stdin: input)
        XCTAssertEqual(run.status, 1, run.stderr)
        let lines = run.stderrLines
        XCTAssertEqual(lines.count, 8, run.stderr)
        guard lines.count == 8 else { return }
        for (k, n) in [3, 4, 5, 6, 7, 8, 9, 10].enumerated() {
            XCTAssertTrue(lines[k].hasPrefix("metrics: error: <stdin>:\(n): "), lines[k])
        }
        XCTAssertTrue(lines[0].contains("without a \"score\""), lines[0])
        XCTAssertTrue(lines[1].contains("must be a number"), lines[1])
        XCTAssertTrue(lines[2].contains("outside [0, 1]") && lines[3].contains("outside [0, 1]"), run.stderr)
        XCTAssertTrue(lines[4].contains("not a finite number"), lines[4])
        XCTAssertTrue(lines[5].contains("\"frames\" must be an array"), lines[5])
        XCTAssertTrue(lines[6].contains("\"frames\"[0].score"), lines[6])
        XCTAssertTrue(run.stdout.contains("1 videos excluded"), run.stdout)   // the null score, counted under the table
    }

    func testOutputToAFullDeviceFails() throws {
        let p = Process()
        p.executableURL = Fixtures.products.appendingPathComponent("metrics")
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let inPipe = Pipe(), err = Pipe()
        p.standardInput = inPipe
        p.standardError = err
        try p.run()
        inPipe.fileHandleForWriting.write(Data(#"{"label":0,"score":0.2}"#.utf8 + [10] + #"{"label":1,"score":0.9}"#.utf8 + [10]))
        try inPipe.fileHandleForWriting.close()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1, text)
        XCTAssertEqual(text, "metrics: error: standard output: write failed: No space left on device\n")
        // Records through NDJSONWriter and `print` through the shared flush fail the same way.
        let q = Process()
        q.executableURL = Fixtures.products.appendingPathComponent("train")
        q.arguments = ["--print-recipe"]
        q.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let err2 = Pipe()
        q.standardError = err2
        try q.run()
        q.waitUntilExit()
        XCTAssertEqual(q.terminationStatus, 1)
        XCTAssertTrue(String(decoding: err2.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("No space left on device"))
        // Records (NDJSONWriter) fail with the same line.
        let r = Process()
        r.executableURL = Fixtures.products.appendingPathComponent("landmarks")
        r.arguments = ["-q", try Fixtures.media("single_face.jpg")]
        r.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let err3 = Pipe()
        r.standardError = err3
        try r.run()
        r.waitUntilExit()
        XCTAssertEqual(r.terminationStatus, 1)
        XCTAssertEqual(String(decoding: err3.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                       "landmarks: error: standard output: write failed: No space left on device\n")
    }

    // MARK: atomic writes and stale temporaries

    func testAtomicWritesGoThroughLinksAndRefuseSpecialFiles() throws {
        let dir = Fixtures.tempDir()
        let target = dir + "/real.csv", link = dir + "/link.csv"
        try "old".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o600)
        XCTAssertEqual(symlink("real.csv", link), 0)
        try AtomicFile.write("new", to: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), "real.csv")   // still a link
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "new")
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int), 0o600)
        // A dangling link: the target is created.
        XCTAssertEqual(symlink(dir + "/made.csv", dir + "/dangling.csv"), 0)
        try AtomicFile.write("x", to: dir + "/dangling.csv")
        XCTAssertEqual(try String(contentsOfFile: dir + "/made.csv", encoding: .utf8), "x")
        // A FIFO, a device and a directory are refused with one line, and left as they are.
        let fifo = dir + "/pipe.csv"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try AtomicFile.write("x", to: fifo)) { e in
            XCTAssertEqual("\(e)", "\(fifo): not a regular file (a FIFO); refusing to replace it")
        }
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        XCTAssertThrowsError(try AtomicFile.write("x", to: "/dev/null")) { e in XCTAssertTrue("\(e)".contains("a device"), "\(e)") }
        XCTAssertEqual(symlink(fifo, dir + "/to-fifo"), 0)
        XCTAssertThrowsError(try AtomicFile.write("x", to: dir + "/to-fifo")) { e in XCTAssertTrue("\(e)".contains("FIFO"), "\(e)") }
        // Through a tool: metrics --csv on a FIFO is an error, not a replaced FIFO.
        let run = try runTool("metrics", ["--csv", fifo], stdin: #"{"label":0,"score":0.2}"# + "\n" + #"{"label":1,"score":0.9}"# + "\n")
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderrLines, ["metrics: error: \(fifo): not a regular file (a FIFO); refusing to replace it"])
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        XCTAssertEqual((try FileManager.default.contentsOfDirectory(atPath: dir)).filter { $0.contains(".tmp-") }, [])
    }

    func testEveryToolSweepsStaleTemporariesWhereItWrites() throws {
        let dir = Fixtures.tempDir()
        let dead: Int32 = 2_000_000_000
        let stale = dir + "/.table.csv.tmp-\(dead)", live = dir + "/.other.csv.tmp-1"   // pid 1 is alive
        for p in [stale, live] { FileManager.default.createFile(atPath: p, contents: Data(repeating: 7, count: 1000)) }
        let run = try runTool("metrics", ["--csv", dir + "/table.csv"], stdin: #"{"label":0,"score":0.2}"# + "\n" + #"{"label":1,"score":0.9}"# + "\n")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(Paths.exists(stale), "a dead run's temporary survived")
        XCTAssertTrue(Paths.exists(live), "a live process's temporary was removed")
        XCTAssertTrue(Paths.exists(dir + "/table.csv"))
    }

    // MARK: caches keyed on what produced them

    func testLandmarksCacheNoticesAReplacedImage() throws {
        let dir = Fixtures.tempDir()
        let img = dir + "/photo.jpg"
        try FileManager.default.copyItem(atPath: try Fixtures.media("single_face.jpg"), toPath: img)
        let first = try runTool("landmarks", ["-q", "--out", dir + "/lm", img])
        XCTAssertEqual(first.status, 0, first.stderr)
        let n1 = try hbRecord(first.lines[0]).faces?.count
        XCTAssertEqual(n1, 1)
        try FileManager.default.removeItem(atPath: img)
        try FileManager.default.copyItem(atPath: try Fixtures.media("multi_face.jpg"), toPath: img)
        let second = try runTool("landmarks", ["-q", "--out", dir + "/lm", img])
        XCTAssertEqual(second.status, 0, second.stderr)
        let n2 = try hbRecord(second.lines[0]).faces?.count ?? 0
        XCTAssertGreaterThan(n2, 1, "the faces of the replaced image came from the cache")
        // Unchanged: reused (same result, including the crop paths).
        let third = try runTool("landmarks", ["-q", "--out", dir + "/lm", img])
        XCTAssertEqual(third.stdout, second.stdout)
    }

    func testSynthSBIRemakesAPairWhenTheLandmarksChange() throws {
        let dir = Fixtures.tempDir()
        let lm = try runTool("landmarks", ["-q", try Fixtures.media("0-f15-hao-ph.jpg")])
        XCTAssertEqual(lm.status, 0, lm.stderr)
        var rec = try hbRecord(lm.lines[0])
        let args = ["-q", "--out", dir + "/o", "--crop", "test", "--size", "128", "--threads", "1"]
        let a = try runTool("synth-sbi", args, stdin: lm.lines[0] + "\n")
        XCTAssertEqual(a.status, 0, a.stderr)
        let realPath = try XCTUnwrap(try hbRecord(a.lines[0]).image)
        let before = try Data(contentsOf: URL(fileURLWithPath: realPath))
        // Same landmarks: reused byte for byte.
        XCTAssertEqual(try runTool("synth-sbi", args, stdin: lm.lines[0] + "\n").stdout, a.stdout)
        // Moved landmarks (a re-run of landmarks with other settings): the pair is made again.
        var faces = try XCTUnwrap(rec.faces)
        faces[0].landmarks = faces[0].landmarks.map { Point($0.x + 9, $0.y + 5) }
        rec.faces = faces
        let b = try runTool("synth-sbi", args, stdin: JSON.serialize(.object(rec.fields)) + "\n")
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: realPath)), before, "the old pair was reused")
    }

    // MARK: errors, EXIF orientation, huge images, records without a face

    func testFoundationErrorsBecomeOneLineNamingTheFile() throws {
        let dir = Fixtures.tempDir()
        let file = dir + "/plain"
        FileManager.default.createFile(atPath: file, contents: Data())
        XCTAssertThrowsError(try Paths.makeDirectory(file + "/sub")) { e in
            let s = "\(e)"
            XCTAssertFalse(s.contains("Domain="), s)
            XCTAssertFalse(s.contains("\n"), s)
            XCTAssertEqual(s, file + "/sub: cannot create directory: \(file) is not a directory")
        }
        let ro = CocoaError(.fileWriteVolumeReadOnly, userInfo: [NSFilePathErrorKey: "/mnt/ro/x.csv"])
        XCTAssertEqual(Diagnostics.describe(ro), "/mnt/ro/x.csv: read-only file system")
        let posix = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteUnknown.rawValue,
                            userInfo: [NSFilePathErrorKey: "/a/b", NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        XCTAssertEqual(Diagnostics.describe(posix), "/a/b: No space left on device")
        // Through a tool: --out under a plain file.
        let run = try runTool("synth-sbi", ["-q", "--out", file + "/out"], stdin: "")
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
        XCTAssertFalse(run.stderr.contains("Domain="), run.stderr)
        XCTAssertTrue(run.stderr.contains(file + "/out"), run.stderr)
    }

    /// A JPEG whose EXIF says "rotate 90 degrees clockwise to display" (orientation 6) is read upright.
    func testEXIFOrientationIsApplied() throws {
        let img = try Image(width: 40, height: 20, channels: 3)
        img.withMutableBytes { b in for i in 0..<b.count { b[i] = 200 } }
        img.withMutableBytes { b in for x in 0..<10 { for y in 0..<20 { for c in 0..<3 { b[y * img.rowBytes + x * 3 + c] = 10 } } } }   // dark left band
        var jpeg = try img.encoded(.jpeg(quality: 95))
        // APP1 "Exif\0\0", little-endian TIFF, one IFD entry: Orientation (0x0112), SHORT, 1, value 6.
        let tiff: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00,
                             0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
                             0x00, 0x00, 0x00, 0x00]
        let payload: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff
        let len = payload.count + 2
        jpeg.insert(contentsOf: [0xFF, 0xE1, UInt8(len >> 8), UInt8(len & 0xFF)] + payload, at: 2)
        let path = Fixtures.tempDir() + "/rotated.jpg"
        try Data(jpeg).write(to: URL(fileURLWithPath: path))
        let read = try Image.read(path)
        XCTAssertEqual(read.width, 20)
        XCTAssertEqual(read.height, 40)
        // Rotated clockwise: the dark left band is now along the top.
        XCTAssertLessThan(read.byte(x: 10, y: 2), 60)
        XCTAssertGreaterThan(read.byte(x: 10, y: 35), 150)
    }

    /// Detection of an image above the pixel bound runs at a reduced scale, with boxes in the image's coordinates.
    func testLargeImagesAreDetectedAtABoundedScale() throws {
        let image = try Image.read(try Fixtures.media("single_face.jpg"))
        let detector = try FaceDetector(.hog)
        let full = try detector.detect(image, upsample: 1)
        XCTAssertEqual(full.count, 1)
        let bound = image.width * image.height   // a quarter of the upsampled image: detected at half size
        let small = try detector.detect(image, upsample: 1, maxPixels: bound)
        XCTAssertEqual(small.count, 1)
        let a = full[0].box, b = small[0].box
        let iw = max(0, min(a.right, b.right) - max(a.left, b.left)), ih = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
        let iou = iw * ih / (a.area + b.area - iw * ih)
        XCTAssertGreaterThan(iou, 0.7, "\(a) vs \(b)")
    }

    /// docs/synthesis.md: a record with an empty "faces" is skipped and counted (exit 0); one without "faces" is an error.
    func testRecordsWithoutAFaceAreSkippedAsDocumented() throws {
        let dir = Fixtures.tempDir()
        let img = try Fixtures.media("free-mountain-vector-01.jpg")
        let input = #"{"image":"\#(img)","faces":[]}"# + "\n"
        let run = try runTool("synth-sbi", ["-q", "--out", dir + "/o"], stdin: input)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "")
        XCTAssertEqual(run.stderrLines, ["synth-sbi: 1 records without a face skipped"])
        let missing = try runTool("synth-sbi", ["-q", "--out", dir + "/o"], stdin: #"{"image":"\#(img)"}"# + "\n")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("<stdin>:1: record has no \"faces\""), missing.stderr)
        let doc = try String(contentsOf: Fixtures.repo.appendingPathComponent("docs/synthesis.md"), encoding: .utf8)
        XCTAssertTrue(doc.contains("records without a face skipped"))
    }
}
