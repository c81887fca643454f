// The benchmarks' official layouts and list files -> labelled video (or frame) records (reference-pipelines.md A.1,
// A.9, C; docs/datasets.md has the table of layouts, fields and commands):
//   ffpp   FF++: original_sequences/youtube/<c>/videos/NNN.mp4 (real), manipulated_sequences/<Method>/<c>/videos/NNN_MMM.mp4,
//          official splits train.json / val.json / test.json (lists of [target, source] id pairs; 360/70/70)   FFPP.swift
//   dfd    DeepFakeDetection (FF++'s DFD part): original_sequences/actors/<c>/videos, manipulated_sequences/DeepFakeDetection FFPP.swift
//   cdf    Celeb-DF v2: Celeb-real/, Celeb-synthesis/, YouTube-real/ and List_of_testing_videos.txt ("<1 real|0 fake> <path>")
//   cdf1   Celeb-DF v1: the same folders and list format (v1's list is read exactly like v2's, as DeepfakeBench does)
//   dfdc   DFDC: the public test set: videos and labels.csv (filename,label with 1 = fake)
//   dfdcp  DFDC Preview: dataset.json ({"path": {"label": "real"|"fake", "set": "train"|"test", ...}}), test set = set "test"
//   ffiw   FFIW-10K: FFIW10K-v1-release/source/val/videos (real) and target/val/videos (fake)
//   uadfv  UADFV: real/*.mp4 and fake/*.mp4                                                                     Layouts.swift
//   df1    DeeperForensics-1.0: lists/splits/{train,val,test}.txt + manipulated_videos/<variant>/; reals = FF++ targets Layouts.swift
//   wdf    WildDeepfake: {real,fake}_{train,test}/ extracted face-sequence folders of PNGs -> frame records     Layouts.swift
//   dfb    a DeepfakeBench dataset_json/<Name>.json -> frame records (with its landmarks/*.npy when present)  DeepfakeBench.swift
// Every record names the list file it came from and a fingerprint of that file, so a result says which list it used.
import DFKCore
import DFKRecords
import Foundation

public struct DatasetError: Error, CustomStringConvertible {
    public let description: String
    public init(_ m: String) { description = m }
}

public enum Benchmark: String, CaseIterable, Sendable {
    case ffpp, cdf, dfdc, dfdcp, ffiw, dfd, cdf1, uadfv, df1, wdf, dfb
    public var displayName: String {
        switch self {
        case .ffpp: return "FF++"
        case .cdf: return "CDF"
        case .dfdc: return "DFDC"
        case .dfdcp: return "DFDCP"
        case .ffiw: return "FFIW"
        case .dfd: return "DFD"
        case .cdf1: return "CDF-v1"
        case .uadfv: return "UADFV"
        case .df1: return "DF-1.0"
        case .wdf: return "WDF"
        case .dfb: return "DeepfakeBench"
        }
    }
    /// Benchmarks whose records are frames (an `image` each, grouped by `video`), not videos.
    public var framesOnly: Bool { self == .wdf || self == .dfb }
    /// Benchmarks that only have a test set (their list or folders name no train/val videos).
    public var testOnly: Bool { [.cdf, .cdf1, .dfdc, .dfdcp, .ffiw, .uadfv, .dfd].contains(self) }
}

public enum Split: String, CaseIterable, Sendable { case train, val, test }
public enum Compression: String, CaseIterable, Sendable { case raw, c23, c40 }

/// The FF++ manipulations that follow the official split pairs (`manipulated_sequences/<rawValue>/<c>/videos/NNN_MMM.mp4`).
public enum FFPPMethod: String, CaseIterable, Sendable {
    case Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter
    /// DF, F2F, FS, NT: the four methods PIM, RoGA, CrossDF/DID, SBI and BBMG/NRS train or test on (the default).
    public static let classic: [FFPPMethod] = [.Deepfakes, .Face2Face, .FaceSwap, .NeuralTextures]
    public var short: String {
        switch self { case .Deepfakes: return "DF"; case .Face2Face: return "F2F"; case .FaceSwap: return "FS"
        case .NeuralTextures: return "NT"; case .FaceShifter: return "FSh" }
    }
    /// The folder name or the short name (DF, F2F, FS, NT, FSh), case-insensitive.
    public init?(name: String) {
        let n = name.lowercased()
        guard let m = FFPPMethod.allCases.first(where: { $0.rawValue.lowercased() == n || $0.short.lowercased() == n }) else { return nil }
        self = m
    }
}

/// DeeperForensics-1.0's manipulated-video variants (the 11 folders of manipulated_videos/).
public enum DF1Variant: String, CaseIterable, Sendable {
    case endToEnd = "end_to_end", reenactPostprocess = "reenact_postprocess"
    case level1 = "end_to_end_level_1", level2 = "end_to_end_level_2", level3 = "end_to_end_level_3"
    case level4 = "end_to_end_level_4", level5 = "end_to_end_level_5", randomLevel = "end_to_end_random_level"
    case mix2 = "end_to_end_mix_2_distortions", mix3 = "end_to_end_mix_3_distortions", mix4 = "end_to_end_mix_4_distortions"
}

public struct IndexOptions: Sendable {
    /// FF++ / DFD / DF-1.0 reals / DeepfakeBench JSON with compression levels: raw, c23 or c40.
    public var compression = "c23"
    /// FF++: directory of the official split lists (default ROOT/splits).
    public var splitsDir: String?
    /// Only this split (nil: every split the benchmark has).
    public var split: String?
    /// false: real videos only (FF++ and DF-1.0).
    public var includeFakes = true
    /// FF++: the manipulations to list, in this order (it is also the order of the domain labels).
    public var methods: [FFPPMethod] = FFPPMethod.classic
    /// FF++: add `domain` (int: 0 real, i for the i-th method of `methods`).
    public var domains = false
    /// DF-1.0: the FF++ root whose original_sequences/youtube/<c>/videos hold the real (target) videos.
    public var realRoot: String?
    /// DF-1.0: which manipulated_videos/ folder.
    public var variant: DF1Variant = .endToEnd
    /// DeepfakeBench: base directory of the JSON's relative frame paths (default: the current directory, as DeepfakeBench).
    public var framesRoot: String?
    /// DF-1.0: leave out real (FF++ target) videos that belong to these FF++ splits (their official lists under
    /// realRoot/splits, or splitsDir): DF-1.0's test reals overlap FF++'s training reals.
    public var excludeFFPPSplits: [String] = []
    /// Datasets released as frames (wdf, dfb): keep this many evenly spaced frames of each video (nil: every frame).
    public var framesPerVideo: Int?
    public init() {}
}

public struct IndexResult {
    public var records: [Record]
    /// Videos (or frames) a list names that are not on disk (reported, skipped).
    public var missing: [String]
    /// Things worth saying that do not stop the run (reported as warnings).
    public var warnings: [String] = []
    public init(records: [Record], missing: [String], warnings: [String] = []) {
        self.records = records; self.missing = missing; self.warnings = warnings
    }
}

public enum DatasetIndex {
    public static let ffppMethods = FFPPMethod.classic.map(\.rawValue)

    /// FNV-1a 64 of bytes, as 16 hex digits.
    static func fnv<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
    /// FNV-1a 64 of a file's bytes.
    static func fingerprint(_ path: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot read") }
        return fnv(d)
    }
    /// Fingerprint of a folder listing (sorted names, one a line), for layouts without a list file.
    static func listingFingerprint(_ names: [String]) -> String { fnv(Array(names.sorted().joined(separator: "\n").utf8)) }

    static func isDirectory(_ p: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &isDir) && isDir.boolValue
    }
    static func requireDirectory(_ p: String, _ what: String) throws {
        guard isDirectory(p) else { throw DatasetError("\(p): missing (expected \(what))") }
    }
    static func requireFile(_ p: String, _ what: String) throws {
        guard FileManager.default.fileExists(atPath: p) else { throw DatasetError("\(p): missing (expected \(what))") }
    }
    static func readText(_ path: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot read") }
        guard let s = String(data: d, encoding: .utf8) else { throw DatasetError("\(path): not UTF-8 text") }
        return s
    }
    /// Lines of a text list as (1-based line number, trimmed text), blank lines left out.
    static func listLines(_ path: String) throws -> [(Int, String)] {
        let text = try readText(path)
        var out: [(Int, String)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if !t.isEmpty { out.append((i + 1, t)) }
        }
        return out
    }
    /// A JSON list file's top-level value; a file that is not JSON is an error naming its line and column.
    static func readJSON(_ path: String, expected: String) throws -> Any {
        guard let d = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot read") }
        if let v = try? JSONSerialization.jsonObject(with: d) { return v }
        let bytes = [UInt8](d)
        do { _ = try JSON.parse(bytes) } catch let e as JSONParseError {
            let before = bytes.prefix(min(e.offset, bytes.count))
            let line = before.filter { $0 == 0x0A }.count + 1
            let column = before.count - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
            throw DatasetError("\(path):\(line):\(column): malformed JSON (\(e.message); expected \(expected))")
        } catch {}
        throw DatasetError("\(path): malformed JSON (expected \(expected))")
    }
    /// Files with one of `extensions` in a folder, sorted by name.
    static func files(in dir: String, extensions: [String]) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { n in !n.hasPrefix(".") && extensions.contains((n as NSString).pathExtension.lowercased()) }.sorted()
    }

    static func record(_ video: String, label: Int, dataset: String, split: String, method: String,
                       compression: String? = nil, list: String, fingerprint: String) -> Record {
        var r = Record()
        r.video = video; r.label = label; r.dataset = dataset; r.split = split; r.method = method
        if let compression { r["compression"] = .string(compression) }
        r["list"] = .string(list); r["list_fingerprint"] = .string(fingerprint)
        return r
    }
    static func record(_ video: String, label: Int, dataset: Benchmark, split: String, method: String,
                       compression: String? = nil, list: String, fingerprint: String) -> Record {
        record(video, label: label, dataset: dataset.displayName, split: split, method: method, compression: compression,
               list: list, fingerprint: fingerprint)
    }

    /// The splits to index: the one asked for, or all of `available`.
    static func splits(_ only: String?, _ available: [String] = ["train", "val", "test"]) -> [String] {
        only.map { [$0] } ?? available
    }

    public static func index(_ b: Benchmark, root: String, compression: String = "c23", splitsDir: String? = nil,
                             split: String? = nil, includeFakes: Bool = true) throws -> IndexResult {
        var o = IndexOptions()
        o.compression = compression; o.splitsDir = splitsDir; o.split = split; o.includeFakes = includeFakes
        return try index(b, root: root, options: o)
    }

    public static func index(_ b: Benchmark, root: String, options o: IndexOptions) throws -> IndexResult {
        if let n = o.framesPerVideo {
            guard b.framesOnly else { throw DatasetError("--frames-per-video applies to datasets released as frames (wdf, dfb); sample \(b.displayName)'s videos with extract-frames --frames") }
            guard n >= 1 else { throw DatasetError("--frames-per-video must be at least 1, got \(n)") }
        }
        if !o.excludeFFPPSplits.isEmpty && b != .df1 { throw DatasetError("--exclude-ffpp-split applies to DF-1.0 (df1), whose reals are FF++ videos") }
        var result = try indexAll(b, root: root, options: o)
        guard let n = o.framesPerVideo else { return result }
        // Records of one video are consecutive and in frame order (each layout lists them so).
        var kept: [Record] = []
        var start = 0
        let recs = result.records
        while start < recs.count {
            var end = start + 1
            while end < recs.count && recs[end].video == recs[start].video { end += 1 }
            for i in EvenSampling.indices(count: end - start, n: n) { kept.append(recs[start + i]) }
            start = end
        }
        result.records = kept
        return result
    }

    static func indexAll(_ b: Benchmark, root: String, options o: IndexOptions) throws -> IndexResult {
        guard Compression(rawValue: o.compression) != nil else { throw DatasetError("compression must be raw, c23 or c40, got \(o.compression)") }
        if let s = o.split {
            guard Split(rawValue: s) != nil else { throw DatasetError("split must be train, val or test, got \(s)") }
            if b.testOnly && s != "test" {
                throw DatasetError("\(b.displayName) has only a test set (its list names no \(s) videos)")
            }
        }
        if b == .dfb {
            try requireFile(root, "a DeepfakeBench dataset_json/<Name>.json file")
            return try deepfakeBench(json: root, options: o)
        }
        try requireDirectory(root, "the \(b.displayName) dataset root")
        switch b {
        case .ffpp: return try ffpp(root: root, options: o)
        case .dfd: return try dfd(root: root, compression: o.compression)
        case .cdf: return try cdf(root: root, dataset: .cdf)
        case .cdf1: return try cdf(root: root, dataset: .cdf1)
        case .dfdc: return try dfdc(root: root)
        case .dfdcp: return try dfdcp(root: root)
        case .ffiw: return try ffiw(root: root)
        case .uadfv: return try uadfv(root: root)
        case .df1: return try deeperForensics(root: root, options: o)
        case .wdf: return try wildDeepfake(root: root, split: o.split)
        case .dfb: fatalError("handled above")
        }
    }

    // MARK: Celeb-DF v2 and v1

    /// v1 and v2 ship the same folders and the same list format: "<1|0> <folder>/<video>.mp4", 1 = real
    /// (v2: 518 lines; DeepfakeBench's rearrange.py reads v1's List_of_testing_videos.txt exactly as v2's).
    static func cdf(root: String, dataset: Benchmark) throws -> IndexResult {
        let version = dataset == .cdf1 ? "v1" : "v2"
        let list = root + "/List_of_testing_videos.txt"
        try requireFile(list, "Celeb-DF \(version)'s List_of_testing_videos.txt")
        let fp = try fingerprint(list)
        var out: [Record] = [], missing: [String] = []
        for (n, line) in try listLines(list) {
            let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard parts.count == 2, let col = Int(parts[0]), col == 0 || col == 1, !parts[1].isEmpty else {
                throw DatasetError("\(list):\(n): malformed line (expected \"<1|0> <folder>/<video>.mp4\")")
            }
            let folder = String(parts[1].split(separator: "/").first ?? "")
            if folder == "Celeb-synthesis" && col == 1 || (folder == "Celeb-real" || folder == "YouTube-real") && col == 0 {
                throw DatasetError("\(list):\(n): label \(col) contradicts the folder \(folder) (1 = real, 0 = fake)")
            }
            let v = root + "/" + parts[1]
            guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
            out.append(record(v, label: 1 - col, dataset: dataset, split: "test", method: folder, list: list, fingerprint: fp))
        }
        return IndexResult(records: out, missing: missing)
    }

    // MARK: DFDC (public test set)

    static func dfdc(root: String) throws -> IndexResult {
        let list = root + "/labels.csv"
        try requireFile(list, "the DFDC public test set's labels.csv")
        let fp = try fingerprint(list)
        var lines = try listLines(list)
        guard let header = lines.first?.1.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }),
              let fi = header.firstIndex(of: "filename"), let li = header.firstIndex(of: "label") else {
            throw DatasetError("\(list):1: malformed header (expected the columns filename and label)")
        }
        lines.removeFirst()
        var out: [Record] = [], missing: [String] = []
        let videoDir = isDirectory(root + "/videos") ? root + "/videos" : root
        for (n, line) in lines {
            let cols = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cols.count > max(fi, li), let label = Int(cols[li]), label == 0 || label == 1, !cols[fi].isEmpty else {
                throw DatasetError("\(list):\(n): malformed line (expected filename,label with label 0 or 1)")
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
        guard let entries = try readJSON(list, expected: #"{"path": {"label": ..., "set": ...}}"#) as? [String: [String: Any]] else {
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
        let base = isDirectory(root + "/FFIW10K-v1-release") ? root + "/FFIW10K-v1-release" : root
        var out: [Record] = []
        for (folder, label) in [("source", 0), ("target", 1)] {
            let dir = "\(base)/\(folder)/val/videos"
            try requireDirectory(dir, "FFIW-10K \(folder)/val/videos")
            let names = try files(in: dir, extensions: ["mp4"])
            let fp = listingFingerprint(names)
            for n in names {
                out.append(record("\(dir)/\(n)", label: label, dataset: .ffiw, split: "test", method: label == 1 ? "fake" : "real",
                                  list: dir, fingerprint: fp))
            }
        }
        return IndexResult(records: out, missing: [])
    }
}
