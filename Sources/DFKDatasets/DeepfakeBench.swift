// DeepfakeBench's dataset JSON (preprocessing/dataset_json/<Name>.json, written by its rearrange.py) -> frame records, so
// that a user who preprocessed with DeepfakeBench reuses its frames and landmarks (reference-pipelines.md C).
//
// The JSON: {dataset: {label name: {split: {[compression:] {video: {"label": label name, "frames": [paths], "masks": ...}}}}}}.
// FF++-derived files (FaceForensics++, FF-DF, FF-F2F, FF-FS, FF-NT, DeepFakeDetection, FaceShifter) have the compression
// level (raw / c23 / c40) under the split; the others have the videos directly. Label names end in "real" (FF-real,
// DFD_real, CelebDFv1_real, DFDCP_Real, UADFV_Real, DF_real, ...) or name a fake (FF-DF ... FF-FH, DFD_fake, DFDCP_FakeA,
// ...). Frame paths are absolute or relative to DeepfakeBench's working directory (or its rgb_dir); backslashes (paths
// written on Windows) are read as '/'. DeepfakeBench's loader finds a frame's landmarks by replacing "frames" with
// "landmarks" and ".png" with ".npy" (an 81 x 2 float32 array, the 81-point dlib layout, in the aligned crop's pixels); when
// that file exists it becomes the record's one face ("layout": "ibug81", box = the points' extent).
// Quirks of the files that rearrange.py writes and how they are read here: Celeb-DF's val split is a copy of its test
// split, and UADFV, DFD and DeeperForensics' reals are copied into train, val and test (ask for one --split); DFDC's val is
// a single video entry instead of a map of videos (reported and skipped).
import DFKRecords
import Foundation

extension DatasetIndex {
    static func dfbLabel(_ name: String) -> Int? {
        let l = name.lowercased()
        if l == "real" || l.hasSuffix("real") { return 0 }
        if l == "fake" || l.contains("fake") || l.hasPrefix("ff-") { return 1 }
        return nil
    }
    static let dfbMethods = ["FF-DF": "Deepfakes", "FF-F2F": "Face2Face", "FF-FS": "FaceSwap", "FF-NT": "NeuralTextures",
                             "FF-FH": "FaceShifter", "DFD_fake": "DeepFakeDetection"]
    static let dfbDatasets = ["FaceForensics++": "FF++", "FF-DF": "FF++", "FF-F2F": "FF++", "FF-FS": "FF++", "FF-NT": "FF++",
                              "FaceShifter": "FF++", "DeepFakeDetection": "DFD", "Celeb-DF-v1": "CDF-v1", "Celeb-DF-v2": "CDF",
                              "DeeperForensics-1.0": "DF-1.0", "WildDeepfake": "WDF"]

    /// A frame path of the JSON as a path here.
    static func dfbPath(_ p: String, framesRoot: String?) -> String {
        var s = p.replacingOccurrences(of: "\\", with: "/")
        if s.hasPrefix("/") { return s }
        guard let framesRoot else { return s }
        while s.hasPrefix("./") { s.removeFirst(2) }
        return framesRoot + "/" + s
    }
    /// DeepfakeBench's landmark file for a frame: the last "frames" folder -> "landmarks", extension -> .npy.
    static func dfbLandmarkPath(_ frame: String) -> String? {
        var parts = frame.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let i = parts.lastIndex(of: "frames"), i < parts.count - 1 else { return nil }
        parts[i] = "landmarks"
        let joined = parts.joined(separator: "/")
        return (joined as NSString).deletingPathExtension + ".npy"
    }
    /// Faces from a landmark array of shape (points, 2) or (faces, points, 2).
    static func facesFromLandmarks(_ a: NPYArray, file: String) throws -> [Face] {
        let faces: Int, points: Int
        switch a.shape.count {
        case 2 where a.shape[1] == 2: faces = 1; points = a.shape[0]
        case 3 where a.shape[2] == 2: faces = a.shape[0]; points = a.shape[1]
        default: throw DatasetError("\(file): landmark array of shape \(a.shape) (expected (points, 2) or (faces, points, 2))")
        }
        guard points > 0 else { return [] }
        if let bad = a.values.first(where: { !Geometry.usable($0) }) {
            throw DatasetError("\(file): landmark value \(bad) is not a usable coordinate (must be finite and within ±\(Int(Geometry.limit)) pixels)")
        }
        return (0..<faces).map { f in
            let pts = (0..<points).map { i in Point(a.values[(f * points + i) * 2], a.values[(f * points + i) * 2 + 1]) }
            let box = Box(left: pts.map(\.x).min()!, top: pts.map(\.y).min()!, right: pts.map(\.x).max()!, bottom: pts.map(\.y).max()!)
            var face = Face(box: box, layout: points == 81 ? "ibug81" : points == 68 ? "ibug68" : "points\(points)", landmarks: pts)
            face.extra["source"] = .string("deepfakebench")
            return face
        }
    }

    static func deepfakeBench(json: String, options o: IndexOptions) throws -> IndexResult {
        let fp = try fingerprint(json)
        guard let top = try readJSON(json, expected: "DeepfakeBench's {dataset: {label: {split: ...}}}") as? [String: Any] else {
            throw DatasetError("\(json): malformed (expected DeepfakeBench's {dataset: {label: {split: ...}}} JSON)")
        }
        var out: [Record] = [], missing: [String] = [], warnings: [String] = []
        var withLandmarks = 0
        for ds in top.keys.sorted() {
            guard let labels = top[ds] as? [String: Any] else { throw DatasetError("\(json): \(ds): malformed (expected {label name: {split: ...}})") }
            let dataset = dfbDatasets[ds] ?? ds
            for ln in labels.keys.sorted() {
                guard let splitMap = labels[ln] as? [String: Any] else { throw DatasetError("\(json): \(ds)/\(ln): malformed (expected {split: ...})") }
                for split in splits(o.split) {
                    guard let sv = splitMap[split] else { continue }
                    let where_ = "\(ds)/\(ln)/\(split)"
                    guard let sd = sv as? [String: Any] else { throw DatasetError("\(json): \(where_): malformed (expected a map of videos)") }
                    if sd["frames"] is [Any] {
                        warnings.append("\(json): \(where_) is one video entry, not a map of videos (a rearrange.py quirk); skipped")
                        continue
                    }
                    var videos = sd, compression: String? = nil
                    if !sd.isEmpty && sd.keys.allSatisfy({ Compression(rawValue: $0) != nil }) {
                        compression = o.compression
                        guard let v = sd[o.compression] else {
                            warnings.append("\(json): \(where_) has no \(o.compression) videos (it has \(sd.keys.sorted().joined(separator: ", ")))")
                            continue
                        }
                        guard let vd = v as? [String: Any] else { throw DatasetError("\(json): \(where_)/\(o.compression): malformed (expected a map of videos)") }
                        videos = vd
                    }
                    for name in videos.keys.sorted() {
                        let at = "\(json): \(where_)/\(compression.map { $0 + "/" } ?? "")\(name)"
                        guard let e = videos[name] as? [String: Any], let frameList = e["frames"] as? [Any] else {
                            throw DatasetError("\(at): malformed video entry (expected {\"label\": ..., \"frames\": [paths]})")
                        }
                        let labelName = (e["label"] as? String) ?? ln
                        guard let label = dfbLabel(labelName) else { throw DatasetError("\(at): label \"\(labelName)\" is neither real nor fake") }
                        let method = label == 0 ? "real" : dfbMethods[labelName] ?? labelName
                        var frames: [String] = []
                        for f in frameList {
                            guard let s = f as? String, !s.isEmpty else { throw DatasetError("\(at): a frame path is not a string") }
                            frames.append(dfbPath(s, framesRoot: o.framesRoot))
                        }
                        // rearrange.py lists a folder in directory order: put the frames in frame order.
                        let num = { (p: String) in Int(((p as NSString).lastPathComponent as NSString).deletingPathExtension) }
                        frames.sort { a, b in
                            if let x = num(a), let y = num(b), x != y { return x < y }
                            return a < b
                        }
                        for path in frames {
                            guard FileManager.default.fileExists(atPath: path) else { missing.append(path); continue }
                            var r = record((path as NSString).deletingLastPathComponent, label: label, dataset: dataset, split: split,
                                           method: method, compression: compression, list: json, fingerprint: fp)
                            r.image = path
                            if let n = num(path) { r.frame = n }
                            r["dfb_label"] = .string(labelName)
                            if let lp = dfbLandmarkPath(path), FileManager.default.fileExists(atPath: lp) {
                                do {
                                    r.faces = try facesFromLandmarks(try NPY.read(lp), file: lp)
                                    withLandmarks += 1
                                } catch {
                                    r.error = "index-dataset: \(error)"
                                    warnings.append("\(error)")
                                }
                            }
                            out.append(r)
                        }
                    }
                }
            }
        }
        if !out.isEmpty && withLandmarks == 0 { warnings.append("\(json): no landmarks/*.npy beside the frames; records have no faces") }
        return IndexResult(records: out, missing: missing, warnings: warnings)
    }
}

/// A NumPy array read from a .npy file, as doubles in C (row-major) order.
public struct NPYArray: Sendable {
    public var shape: [Int]
    public var values: [Double]
}

/// Reader for the .npy format (versions 1-3): magic "\x93NUMPY", version, header length, a Python dict literal header
/// ({'descr': '<f4', 'fortran_order': False, 'shape': (81, 2), }), then the raw data. Numeric dtypes only.
public enum NPY {
    public static func read(_ path: String) throws -> NPYArray {
        guard let d = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot read") }
        return try parse([UInt8](d), name: path)
    }

    public static func parse(_ b: [UInt8], name: String) throws -> NPYArray {
        // The header is outside text: control characters in what is quoted from it are escaped (one-line errors).
        func bad(_ m: String) -> DatasetError {
            let text = m.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
            return DatasetError("\(name): not a valid .npy file (\(text))")
        }
        guard b.count >= 10, b[0] == 0x93, Array(b[1..<6]) == Array("NUMPY".utf8) else { throw bad("no \\x93NUMPY magic") }
        let major = b[6]
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw bad("truncated header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw bad("unknown version \(major)")
        }
        guard b.count >= start + headerLength, let header = String(bytes: b[start..<start + headerLength], encoding: .utf8) else {
            throw bad("truncated header")
        }
        func value(of key: String) -> Substring? {
            guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
            var rest = header[r.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { return nil }
            rest = rest.dropFirst().drop { $0 == " " }
            return rest
        }
        guard let dv = value(of: "descr"), let q = dv.first, q == "'" || q == "\"",
              let end = dv.dropFirst().firstIndex(of: q) else { throw bad("no descr") }
        let descr = String(dv.dropFirst()[..<end])
        guard let fv = value(of: "fortran_order") else { throw bad("no fortran_order") }
        let fortran = fv.hasPrefix("True")
        guard let sv = value(of: "shape"), sv.first == "(", let close = sv.firstIndex(of: ")") else { throw bad("no shape") }
        let dims = sv[sv.index(after: sv.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for s in dims {
            guard let n = Int(s), n >= 0 else { throw bad("shape \(sv[...close])") }
            shape.append(n)
        }
        guard descr.count >= 3, let order = descr.first, "<>|=".contains(order) else { throw bad("dtype \(descr)") }
        let kind = descr.dropFirst().first!
        guard let size = Int(descr.dropFirst(2)), [1, 2, 4, 8].contains(size), "fiu".contains(kind), !(kind == "f" && size < 4) else {
            throw bad("unsupported dtype \(descr) (numeric dtypes only)")
        }
        let big = order == ">"
        var count = 1
        for n in shape {
            let (c, o) = count.multipliedReportingOverflow(by: n)
            guard !o, !c.multipliedReportingOverflow(by: size).overflow else { throw bad("shape \(shape) overflows") }
            count = c
        }
        let dataStart = start + headerLength
        guard b.count - dataStart >= count * size else { throw bad("data truncated: \(b.count - dataStart) bytes for \(count) x \(size)") }
        var values = [Double](repeating: 0, count: count)
        for i in 0..<count {
            var u: UInt64 = 0
            let o = dataStart + i * size
            for k in 0..<size { u |= UInt64(b[o + (big ? size - 1 - k : k)]) << (8 * UInt64(k)) }
            switch (kind, size) {
            case ("f", 4): values[i] = Double(Float(bitPattern: UInt32(u)))
            case ("f", _): values[i] = Double(bitPattern: u)
            case ("u", _): values[i] = Double(u)
            default:  // signed: sign-extend
                let shift = UInt64(64 - 8 * size)
                values[i] = Double(Int64(bitPattern: u << shift) >> Int64(shift))
            }
        }
        if fortran && shape.count > 1 {
            // Column-major -> row-major.
            var c = [Double](repeating: 0, count: count)
            var strides = [Int](repeating: 1, count: shape.count)       // Fortran strides
            for k in 1..<shape.count { strides[k] = strides[k - 1] * shape[k - 1] }
            var idx = [Int](repeating: 0, count: shape.count)
            for i in 0..<count {
                var f = 0
                for k in 0..<shape.count { f += idx[k] * strides[k] }
                c[i] = values[f]
                var k = shape.count - 1
                while k >= 0 { idx[k] += 1; if idx[k] < shape[k] { break }; idx[k] = 0; k -= 1 }
            }
            values = c
        }
        return NPYArray(shape: shape, values: values)
    }
}
