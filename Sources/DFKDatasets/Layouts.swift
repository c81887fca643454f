// UADFV, DeeperForensics-1.0 and WildDeepfake.
//
// uadfv: real/*.mp4 and fake/*.mp4 (49 + 49 videos; the layout DeepfakeBench's rearrange.py reads). No official split: the
//        whole set is a test set (as DeepfakeBench and RoGA use it); the folder listing is fingerprinted.
// df1:   DeeperForensics-1.0 (its dataset/README.md): lists/splits/{train,val,test}.txt name one manipulated (fake) video a
//        line, "<target_id>_<actor_id>.mp4" (e.g. 000_M101.mp4); the videos are in manipulated_videos/<variant>/ (11 variants:
//        end_to_end, reenact_postprocess, end_to_end_level_1..5, end_to_end_random_level, end_to_end_mix_{2,3,4}_distortions).
//        The real videos are NOT part of DeeperForensics-1.0: they are the FF++ c23 youtube target videos with the fake's
//        first three digits (the README says so); the actors' source_videos/ are not the real class (DeepfakeBench uses them
//        anyway; we follow the dataset's authors). A split's reals are the distinct targets of its fakes.
// wdf:   WildDeepfake is released as archives real_train/ fake_train/ real_test/ fake_test/ *.tar.gz whose members are
//        ./<tar_id>/<real|fake>/<sequence_id>/<frame>.png, face crops already. Extract each archive in its folder (tar -xf);
//        every folder below that holds images directly is one face sequence. Records are frames: image, frame (the file's
//        number), and `video` = the sequence folder, so that video-level scores group a sequence's frames. No val split.
import DFKRecords
import Foundation

extension DatasetIndex {
    // MARK: UADFV

    static func uadfv(root: String) throws -> IndexResult {
        var out: [Record] = []
        for (folder, label) in [("real", 0), ("fake", 1)] {
            let dir = "\(root)/\(folder)"
            try requireDirectory(dir, "UADFV's \(folder)/ videos")
            let names = try files(in: dir, extensions: ["mp4"])
            guard !names.isEmpty else { throw DatasetError("\(dir): no .mp4 videos") }
            let fp = listingFingerprint(names)
            for n in names {
                out.append(record("\(dir)/\(n)", label: label, dataset: .uadfv, split: "test", method: folder, list: dir, fingerprint: fp))
            }
        }
        return IndexResult(records: out, missing: [])
    }

    // MARK: DeeperForensics-1.0

    static func deeperForensics(root: String, options o: IndexOptions) throws -> IndexResult {
        let variant = o.variant.rawValue
        let fakeDir = "\(root)/manipulated_videos/\(variant)"
        if o.includeFakes { try requireDirectory(fakeDir, "DeeperForensics-1.0 manipulated videos of variant \(variant)") }
        guard let realRoot = o.realRoot else {
            throw DatasetError("DeeperForensics-1.0's real videos are FF++'s youtube target videos: give the FF++ root (--real-root)")
        }
        let realDir = "\(realRoot)/original_sequences/youtube/\(o.compression)/videos"
        try requireDirectory(realDir, "FF++ youtube videos at \(o.compression), DeeperForensics-1.0's real (target) videos")
        // FF++ ids of the splits whose reals must not be DF-1.0 reals (a model trained on FF++ has seen them).
        var excluded = Set<String>()
        for s in o.excludeFFPPSplits {
            guard Split(rawValue: s) != nil else { throw DatasetError("--exclude-ffpp-split must be train, val or test, got \(s)") }
            let list = "\(o.splitsDir ?? realRoot + "/splits")/\(s).json"
            try requireFile(list, "the official FF++ split list \(s).json (its ids are left out of DF-1.0's reals)")
            for p in try ffppPairs(list) { excluded.formUnion(p) }
        }
        var out: [Record] = [], missing: [String] = [], warnings: [String] = []
        for split in splits(o.split) {
            let list = "\(root)/lists/splits/\(split).txt"
            try requireFile(list, "DeeperForensics-1.0's split list lists/splits/\(split).txt")
            let fp = try fingerprint(list)
            var fakes: [(String, String)] = [], targets: [String] = [], seen = Set<String>()
            for (n, line) in try listLines(list) {
                let name = line.hasSuffix(".mp4") ? String(line.dropLast(4)) : line
                let parts = name.split(separator: "_", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0].count == 3, parts[0].allSatisfy(\.isNumber), !parts[1].isEmpty,
                      !name.contains("/"), !name.contains(" ") else {
                    throw DatasetError("\(list):\(n): malformed line (expected \"<3-digit target id>_<actor id>.mp4\", e.g. 000_M101.mp4)")
                }
                fakes.append((name, parts[0]))
                if seen.insert(parts[0]).inserted { targets.append(parts[0]) }
            }
            let overlap = targets.filter(excluded.contains)
            if !overlap.isEmpty {
                warnings.append("\(list): \(overlap.count) of its \(targets.count) real (FF++ target) videos are in FF++'s "
                                + "\(o.excludeFFPPSplits.joined(separator: "/")) split; left out")
            }
            for t in targets where !excluded.contains(t) {
                let v = "\(realDir)/\(t).mp4"
                guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
                out.append(record(v, label: 0, dataset: .df1, split: split, method: "real", compression: o.compression, list: list, fingerprint: fp))
            }
            guard o.includeFakes else { continue }
            for (name, _) in fakes {
                let v = "\(fakeDir)/\(name).mp4"
                guard FileManager.default.fileExists(atPath: v) else { missing.append(v); continue }
                out.append(record(v, label: 1, dataset: .df1, split: split, method: variant, list: list, fingerprint: fp))
            }
        }
        return IndexResult(records: out, missing: missing, warnings: warnings)
    }

    // MARK: WildDeepfake

    static let imageExtensions = ["png", "jpg", "jpeg"]

    /// Folders below `dir` that hold image files directly, with those files (sorted by frame number, else by name).
    static func imageSequences(_ dir: String) -> [(String, [String])] {
        var groups: [String: [String]] = [:]
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        while let rel = e.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            guard !name.hasPrefix("."), imageExtensions.contains((name as NSString).pathExtension.lowercased()) else { continue }
            groups[(rel as NSString).deletingLastPathComponent, default: []].append(name)
        }
        return groups.keys.sorted().map { k in
            let names = groups[k]!
            let numbered = names.allSatisfy { Int(($0 as NSString).deletingPathExtension) != nil }
            let sorted = numbered ? names.sorted { Int(($0 as NSString).deletingPathExtension)! < Int(($1 as NSString).deletingPathExtension)! }
                                  : names.sorted()
            return (k.isEmpty ? dir : "\(dir)/\(k)", sorted)
        }
    }

    static func wildDeepfake(root: String, split only: String?) throws -> IndexResult {
        if only == "val" { throw DatasetError("WildDeepfake has no val split (only train and test)") }
        var out: [Record] = [], warnings: [String] = []
        for split in splits(only, ["train", "test"]) {
            for (kind, label) in [("real", 0), ("fake", 1)] {
                let dir = "\(root)/\(kind)_\(split)"
                if only == nil && split == "train" && !isDirectory(dir) {
                    warnings.append("\(dir): absent; WildDeepfake's train split left out"); continue
                }
                try requireDirectory(dir, "WildDeepfake's \(kind)_\(split)/ face sequences")
                let seqs = imageSequences(dir)
                if seqs.isEmpty {
                    let archives = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasSuffix(".tar.gz") || $0.hasSuffix(".tar") } ?? []
                    throw DatasetError(archives.isEmpty ? "\(dir): no face sequences (folders of .png images)"
                                       : "\(dir): \(archives.count) archives not extracted (run tar -xf on each, in this folder)")
                }
                let rootCount = dir.count + 1
                let fp = listingFingerprint(seqs.flatMap { s in s.1.map { String(s.0.dropFirst(rootCount)) + "/" + $0 } })
                for (seq, frames) in seqs {
                    for (i, f) in frames.enumerated() {
                        var r = record(seq, label: label, dataset: .wdf, split: split, method: kind, list: dir, fingerprint: fp)
                        r.image = "\(seq)/\(f)"
                        r.frame = Int((f as NSString).deletingPathExtension) ?? i
                        out.append(r)
                    }
                }
            }
        }
        return IndexResult(records: out, missing: [], warnings: warnings)
    }
}
