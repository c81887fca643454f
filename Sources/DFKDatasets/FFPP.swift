// FaceForensics++ (ffpp) and its DeepFakeDetection part (dfd).
//
// ffpp: the official split lists train.json / val.json / test.json are JSON lists of [id, id] pairs (360 / 70 / 70 pairs).
// A split's real videos are both ids of each of its pairs (original_sequences/youtube/<c>/videos/NNN.mp4); its fakes are,
// for each chosen method, NNN_MMM.mp4 and MMM_NNN.mp4 of each pair (manipulated_sequences/<Method>/<c>/videos/). Deepfakes,
// Face2Face, FaceSwap, NeuralTextures and FaceShifter all follow these pairs. `domain` (with IndexOptions.domains) is 0 for
// real and i for the i-th chosen method, the domain label of CrossDF/DID (k + 1 classes) and of RoGA's per-domain gradients.
//
// dfd: DeepFakeDetection has no official split (its videos are not FF++ youtube ids): the whole set is one test set, as SBI
// evaluates it ("DFD": original_sequences/actors/<c>/videos/*.mp4 real, manipulated_sequences/DeepFakeDetection/<c>/videos/
// *.mp4 fake), listed from the folders with a fingerprint of the listing.
import DFKRecords
import Foundation

extension DatasetIndex {
    static func ffpp(root: String, options o: IndexOptions) throws -> IndexResult {
        let c = o.compression
        let splitsDir = o.splitsDir ?? root + "/splits"
        try requireDirectory(root + "/original_sequences/youtube/\(c)/videos", "FF++ real videos (original_sequences/youtube/\(c)/videos)")
        var methods: [FFPPMethod] = []
        for m in o.methods where !methods.contains(m) { methods.append(m) }
        if o.includeFakes {
            guard !methods.isEmpty else { throw DatasetError("no FF++ method chosen (give at least one, or ask for real videos only)") }
            for m in methods {
                try requireDirectory("\(root)/manipulated_sequences/\(m.rawValue)/\(c)/videos",
                                     "FF++ \(m.rawValue) videos at \(c); choose the methods you have")
            }
        }
        var out: [Record] = [], missing: [String] = []
        for split in splits(o.split) {
            let list = "\(splitsDir)/\(split).json"
            try requireFile(list, "the official FF++ split list \(split).json (pairs of ids)")
            let fp = try fingerprint(list)
            let pairs = try ffppPairs(list)
            // Real videos: both ids of every pair (SBI trains on these only).
            var ids: [String] = [], seen = Set<String>()
            for p in pairs { for id in p where seen.insert(id).inserted { ids.append(id) } }
            for id in ids {
                let v = "\(root)/original_sequences/youtube/\(c)/videos/\(id).mp4"
                guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
                var r = record(v, label: 0, dataset: .ffpp, split: split, method: "real", compression: c, list: list, fingerprint: fp)
                if o.domains { r["domain"] = .int(0) }
                out.append(r)
            }
            guard o.includeFakes else { continue }
            for (k, m) in methods.enumerated() {
                for p in pairs {
                    for name in ["\(p[0])_\(p[1])", "\(p[1])_\(p[0])"] {
                        let v = "\(root)/manipulated_sequences/\(m.rawValue)/\(c)/videos/\(name).mp4"
                        guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
                        var r = record(v, label: 1, dataset: .ffpp, split: split, method: m.rawValue, compression: c, list: list, fingerprint: fp)
                        if o.domains { r["domain"] = .int(k + 1) }
                        out.append(r)
                    }
                }
            }
        }
        return IndexResult(records: out, missing: missing)
    }

    /// An official split list: a JSON list of [id, id] pairs of 3-digit ids.
    static func ffppPairs(_ list: String) throws -> [[String]] {
        guard let top = try readJSON(list, expected: "a list of [id, id] pairs") as? [Any] else {
            throw DatasetError("\(list): malformed (expected a JSON list of [id, id] pairs)")
        }
        var pairs: [[String]] = []
        for (i, e) in top.enumerated() {
            guard let p = e as? [String], p.count == 2, p.allSatisfy({ !$0.isEmpty && !$0.contains("/") }) else {
                throw DatasetError("\(list): pair \(i + 1) is malformed (expected [\"NNN\", \"MMM\"])")
            }
            pairs.append(p)
        }
        return pairs
    }

    static func dfd(root: String, compression c: String) throws -> IndexResult {
        var out: [Record] = []
        for (dir, label, method) in [("\(root)/original_sequences/actors/\(c)/videos", 0, "real"),
                                     ("\(root)/manipulated_sequences/DeepFakeDetection/\(c)/videos", 1, "DeepFakeDetection")] {
            try requireDirectory(dir, label == 0 ? "DFD's real actor videos" : "DFD's DeepFakeDetection videos")
            let names = try files(in: dir, extensions: ["mp4"])
            let fp = listingFingerprint(names)
            for n in names {
                out.append(record("\(dir)/\(n)", label: label, dataset: .dfd, split: "test", method: method, compression: c, list: dir, fingerprint: fp))
            }
        }
        return IndexResult(records: out, missing: [])
    }
}
