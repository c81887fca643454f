// The benchmarks' official layouts and list files -> video records (reference-pipelines.md A.1, A.9):
//   FF++      original_sequences/youtube/<c>/videos/NNN.mp4 (real), manipulated_sequences/<Method>/<c>/videos/NNN_MMM.mp4,
//             official splits train.json / val.json / test.json (lists of [target, source] id pairs; 360/70/70)
//   CDF       Celeb-real/, Celeb-synthesis/, YouTube-real/ and List_of_testing_videos.txt ("<1 real|0 fake> <path>")
//   DFDC      the public test set: videos and labels.csv (filename,label with 1 = fake)
//   DFDCP     dataset.json ({"path": {"label": "real"|"fake", "set": "train"|"test", ...}}), test set = set "test"
//   FFIW      FFIW10K-v1-release/source/val/videos (real) and target/val/videos (fake)
// Every record names the list file it came from and a fingerprint of that file, so a result says which list it used.
import DFKCore
import DFKRecords
import Foundation

public struct DatasetError: Error, CustomStringConvertible {
    public let description: String
    public init(_ m: String) { description = m }
}

public enum Benchmark: String, CaseIterable, Sendable {
    case ffpp, cdf, dfdc, dfdcp, ffiw
    public var displayName: String {
        switch self { case .ffpp: return "FF++"; case .cdf: return "CDF"; case .dfdc: return "DFDC"; case .dfdcp: return "DFDCP"; case .ffiw: return "FFIW" }
    }
}

public struct IndexResult {
    public var records: [Record]
    /// Videos a list names that are not on disk (reported, skipped).
    public var missing: [String]
}

public enum DatasetIndex {
    public static let ffppMethods = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]

    /// FNV-1a 64 of a file's bytes, as 16 hex digits.
    static func fingerprint(_ path: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot read") }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in d { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
    static func requireDirectory(_ p: String, _ what: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError("\(p): missing (expected \(what))")
        }
    }
    static func requireFile(_ p: String, _ what: String) throws {
        guard FileManager.default.fileExists(atPath: p) else { throw DatasetError("\(p): missing (expected \(what))") }
    }

    static func record(_ video: String, label: Int, dataset: Benchmark, split: String, method: String,
                       compression: String? = nil, list: String, fingerprint: String) -> Record {
        var r = Record()
        r.video = video; r.label = label; r.dataset = dataset.displayName; r.split = split; r.method = method
        if let compression { r["compression"] = .string(compression) }
        r["list"] = .string(list); r["list_fingerprint"] = .string(fingerprint)
        return r
    }

    public static func index(_ b: Benchmark, root: String, compression: String = "c23", splitsDir: String? = nil,
                             split: String? = nil, includeFakes: Bool = true) throws -> IndexResult {
        try requireDirectory(root, "the \(b.displayName) dataset root")
        switch b {
        case .ffpp: return try ffpp(root: root, compression: compression, splitsDir: splitsDir ?? root + "/splits", split: split, includeFakes: includeFakes)
        case .cdf: return try cdf(root: root)
        case .dfdc: return try dfdc(root: root)
        case .dfdcp: return try dfdcp(root: root)
        case .ffiw: return try ffiw(root: root)
        }
    }

    // MARK: FF++

    static func ffpp(root: String, compression c: String, splitsDir: String, split only: String?, includeFakes: Bool) throws -> IndexResult {
        guard ["raw", "c23", "c40"].contains(c) else { throw DatasetError("compression must be raw, c23 or c40, got \(c)") }
        try requireDirectory(root + "/original_sequences/youtube/\(c)/videos", "FF++ real videos (original_sequences/youtube/\(c)/videos)")
        var out: [Record] = [], missing: [String] = []
        for split in ["train", "val", "test"] where only == nil || only == split {
            let list = "\(splitsDir)/\(split).json"
            try requireFile(list, "the official FF++ split list \(split).json (pairs of ids)")
            let fp = try fingerprint(list)
            guard let data = FileManager.default.contents(atPath: list),
                  let pairs = try? JSONSerialization.jsonObject(with: data) as? [[String]], pairs.allSatisfy({ $0.count == 2 }) else {
                throw DatasetError("\(list): malformed (expected a JSON list of [id, id] pairs)")
            }
            // Real videos: both ids of every pair (SBI trains on these only).
            var ids: [String] = []
            for p in pairs { for id in p where !ids.contains(id) { ids.append(id) } }
            for id in ids {
                let v = "\(root)/original_sequences/youtube/\(c)/videos/\(id).mp4"
                guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
                out.append(record(v, label: 0, dataset: .ffpp, split: split, method: "real", compression: c, list: list, fingerprint: fp))
            }
            guard includeFakes else { continue }
            for m in ffppMethods {
                for p in pairs {
                    for name in ["\(p[0])_\(p[1])", "\(p[1])_\(p[0])"] {
                        let v = "\(root)/manipulated_sequences/\(m)/\(c)/videos/\(name).mp4"
                        guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
                        out.append(record(v, label: 1, dataset: .ffpp, split: split, method: m, compression: c, list: list, fingerprint: fp))
                    }
                }
            }
        }
        return IndexResult(records: out, missing: missing)
    }

    // MARK: Celeb-DF v2

    static func cdf(root: String) throws -> IndexResult {
        let list = root + "/List_of_testing_videos.txt"
        try requireFile(list, "Celeb-DF v2's List_of_testing_videos.txt")
        let fp = try fingerprint(list)
        var out: [Record] = [], missing: [String] = []
        let text = (try? String(contentsOfFile: list, encoding: .utf8)) ?? ""
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard parts.count == 2, let col = Int(parts[0]), col == 0 || col == 1 else {
                throw DatasetError("\(list):\(n + 1): malformed line (expected \"<1|0> <folder>/<video>.mp4\")")
            }
            let v = root + "/" + parts[1]
            guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
            let method = parts[1].hasPrefix("Celeb-synthesis") ? "Celeb-synthesis" : String(parts[1].split(separator: "/")[0])
            out.append(record(v, label: 1 - col, dataset: .cdf, split: "test", method: method, list: list, fingerprint: fp))
        }
        return IndexResult(records: out, missing: missing)
    }

    // MARK: DFDC (public test set)

    static func dfdc(root: String) throws -> IndexResult {
        let list = root + "/labels.csv"
        try requireFile(list, "the DFDC public test set's labels.csv")
        let fp = try fingerprint(list)
        let text = (try? String(contentsOfFile: list, encoding: .utf8)) ?? ""
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }),
              let fi = header.firstIndex(of: "filename"), let li = header.firstIndex(of: "label") else {
            throw DatasetError("\(list): malformed (expected a header with filename and label)")
        }
        lines.removeFirst()
        var out: [Record] = [], missing: [String] = []
        let videoDir = FileManager.default.fileExists(atPath: root + "/videos") ? root + "/videos" : root
        for (n, line) in lines.enumerated() {
            let cols = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cols.count > max(fi, li), let label = Int(cols[li]), label == 0 || label == 1 else {
                throw DatasetError("\(list):\(n + 2): malformed line (expected filename,label with label 0 or 1)")
            }
            let v = videoDir + "/" + cols[fi]
            guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
            out.append(record(v, label: label, dataset: .dfdc, split: "test", method: label == 1 ? "fake" : "real", list: list, fingerprint: fp))
        }
        return IndexResult(records: out, missing: missing)
    }

    // MARK: DFDC Preview

    static func dfdcp(root: String) throws -> IndexResult {
        let list = root + "/dataset.json"
        try requireFile(list, "the DFDC Preview's dataset.json")
        let fp = try fingerprint(list)
        guard let data = FileManager.default.contents(atPath: list),
              let entries = try? JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else {
            throw DatasetError("\(list): malformed (expected {\"path\": {\"label\": ..., \"set\": ...}})")
        }
        var out: [Record] = [], missing: [String] = []
        for key in entries.keys.sorted() {
            let e = entries[key]!
            guard (e["set"] as? String) == "test" else { continue }
            guard let l = e["label"] as? String, l == "real" || l == "fake" else {
                throw DatasetError("\(list): entry \(key) has no real/fake label")
            }
            let v = root + "/" + key
            guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
            out.append(record(v, label: l == "fake" ? 1 : 0, dataset: .dfdcp, split: "test", method: String(key.split(separator: "/").first ?? ""),
                              list: list, fingerprint: fp))
        }
        return IndexResult(records: out, missing: missing)
    }

    // MARK: FFIW-10K

    static func ffiw(root: String) throws -> IndexResult {
        let base = FileManager.default.fileExists(atPath: root + "/FFIW10K-v1-release") ? root + "/FFIW10K-v1-release" : root
        var out: [Record] = []
        for (folder, label) in [("source", 0), ("target", 1)] {
            let dir = "\(base)/\(folder)/val/videos"
            try requireDirectory(dir, "FFIW-10K \(folder)/val/videos")
            let names = (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { $0.hasSuffix(".mp4") }.sorted()
            for n in names {
                out.append(record("\(dir)/\(n)", label: label, dataset: .ffiw, split: "test", method: label == 1 ? "fake" : "real",
                                  list: dir, fingerprint: String(names.count)))
            }
        }
        return IndexResult(records: out, missing: [])
    }
}
