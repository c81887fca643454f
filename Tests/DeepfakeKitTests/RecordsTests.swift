// NDJSON records: key order and number text kept, malformed JSON with its position, bad lines named and skipped,
// streaming in chunks, typed fields and unknown face fields passed through.
import DFKRecords
import Foundation
import XCTest

final class RecordsTests: XCTestCase {
    func testRoundTripKeepsKeyOrderAndNumberText() throws {
        let line = #"{"z":1,"a":1.50,"big":12345678901234567890,"e":1E+3,"s":"x\"y\\\n\u00e9\ud83d\ude00","n":null,"t":true,"arr":[1,{"k":[]}],"o":{}}"#
        let v = try JSON.parse(line)
        let out = JSON.serialize(v)
        XCTAssertEqual(out, #"{"z":1,"a":1.50,"big":12345678901234567890,"e":1E+3,"s":"x\"y\\\né😀","n":null,"t":true,"arr":[1,{"k":[]}],"o":{}}"#)
        XCTAssertEqual(try JSON.parse(out), v)
        XCTAssertEqual(v.objectValue?.keys, ["z", "a", "big", "e", "s", "n", "t", "arr", "o"])
    }

    func testMalformedJSONIsRejectedWithPosition() {
        for bad in ["{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "{\"a\":tru}", "{'a':1}", "{\"a\":01}", "{\"a\":\"\u{01}\"}", "{} x"] {
            XCTAssertThrowsError(try JSON.parse(bad), bad) { e in
                XCTAssertTrue("\(e)".contains("column"), "\(e)")
            }
        }
    }

    func testReaderNamesBadLinesAndGoesOn() throws {
        let text = "{\"image\":\"a.png\"}\r\n\n   \n{\"image\": broken}\n[1,2]\n{\"image\":\"b.png\",\"x\":{\"y\":[1.0]}}"
        let path = NSTemporaryDirectory() + "/dfk-reader-\(getpid()).ndjson"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let items = Array(try NDJSONReader(path: path))
        XCTAssertEqual(items.map(\.line), [1, 4, 5, 6])
        XCTAssertEqual(try items[0].record.get().image, "a.png")
        guard case .failure(let e1) = items[1].record, case .failure(let e2) = items[2].record else { return XCTFail() }
        XCTAssertEqual(e1.line, 4)
        XCTAssertTrue(e1.description.hasPrefix("\(path):4: malformed JSON"), e1.description)
        XCTAssertTrue(e2.description.hasSuffix("expected a JSON object"))
        let last = try items[3].record.get()
        XCTAssertEqual(JSON.serialize(.object(last.fields)), #"{"image":"b.png","x":{"y":[1.0]}}"#)
    }

    func testStreamingReaderHandlesLongInputInChunks() throws {
        // 200k lines through a pipe: the reader sees every line, in order, without loading the whole input.
        var fdPair: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fdPair), 0)
        let fds = fdPair
        let writer = Thread {
            let line = Array(#"{"video":"v.mp4","frame":123,"pad":"................................................"}"#.utf8) + [10]
            var chunk: [UInt8] = []
            for _ in 0..<1000 { chunk += line }
            for _ in 0..<200 { chunk.withUnsafeBytes { var off = 0; while off < $0.count { off += write(fds[1], $0.baseAddress! + off, $0.count - off) } } }
            close(fds[1])
        }
        writer.start()
        let reader = NDJSONReader(fd: fds[0], source: "<pipe>")
        var n = 0
        for item in reader {
            n += 1
            XCTAssertEqual(item.line, n)
            if case .failure(let e) = item.record { XCTFail("\(e)"); break }
        }
        close(fds[0])
        XCTAssertEqual(n, 200_000)
    }

    func testTypedFieldsAndPassThroughOfUnknownFaceFields() throws {
        let line = #"{"video":"v.mp4","frame":3,"label":1,"custom":[1,2],"faces":[{"box":[1,2,30,40],"score":0.5,"layout":"ibug68","landmarks":[[1,2],[3.5,4]],"mine":"keep","crop":{"image":"c.png","box":[0,0,10,10],"spec":"sbi","landmarks":[[1,2]],"extra":1}}]}"#
        var r = Record(try JSON.parse(line).objectValue!)
        XCTAssertEqual(r.video, "v.mp4"); XCTAssertEqual(r.frame, 3); XCTAssertEqual(r.label, 1)
        let f = try XCTUnwrap(r.faces?.first)
        XCTAssertEqual(f.box.width, 29); XCTAssertEqual(f.landmarks[1], Point(3.5, 4))
        XCTAssertEqual(f.crop?.spec, "sbi")
        r.faces = r.faces  // re-encode through the typed model
        r.score = 0.25
        XCTAssertEqual(JSON.serialize(.object(r.fields)),
                       #"{"video":"v.mp4","frame":3,"label":1,"custom":[1,2],"faces":[{"box":[1,2,30,40],"score":0.5,"layout":"ibug68","landmarks":[[1,2],[3.5,4]],"crop":{"image":"c.png","box":[0,0,10,10],"spec":"sbi","landmarks":[[1,2]],"extra":1},"mine":"keep"}],"score":0.25}"#)
    }
}
