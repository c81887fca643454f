// Shared by the fuzz targets: a scratch file for parsers that read paths, and the rule every target checks:
// a parser either returns or throws; an error is one line that names the input.
import Foundation

enum Scratch {
    static let path: String = {
        let p = NSTemporaryDirectory() + "dfk-fuzz-\(getpid())"
        return p
    }()
    static func write(_ data: UnsafePointer<UInt8>, _ size: Int, suffix: String) -> String {
        let p = path + suffix
        FileManager.default.createFile(atPath: p, contents: Data(bytes: data, count: size))
        return p
    }
}

/// An error message must be one line and name the input it is about.
func checkError(_ e: Error, names source: String) {
    let m = "\(e)"
    if m.contains("\n") || !m.contains(source) {
        fatalError("bad error message (\(m.contains("\n") ? "several lines" : "does not name \(source)")): \(m)")
    }
}
