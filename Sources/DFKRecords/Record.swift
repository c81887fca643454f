// A record: one JSON object per NDJSON line, with typed access to the well-known fields (docs/records.md).
// Fields a tool does not know stay in `fields` untouched, in their order, so pipelines compose.

public struct Record: Hashable, Sendable {
    public var fields: JSONObject

    public init(_ fields: JSONObject = JSONObject()) { self.fields = fields }

    public subscript(key: String) -> JSONValue? {
        get { fields[key] }
        set { fields[key] = newValue }
    }

    // MARK: well-known fields
    public var video: String? {
        get { fields["video"]?.stringValue }
        set { fields["video"] = newValue.map { .string($0) } }
    }
    /// 0-based index of the frame in its video.
    public var frame: Int? {
        get { fields["frame"]?.intValue }
        set { fields["frame"] = newValue.map { .int($0) } }
    }
    /// Nominal timestamp of the frame in seconds (frame / fps).
    public var time: Double? {
        get { fields["time"]?.doubleValue }
        set { fields["time"] = newValue.map { .double($0) } }
    }
    public var image: String? {
        get { fields["image"]?.stringValue }
        set { fields["image"] = newValue.map { .string($0) } }
    }
    /// 0 real, 1 fake.
    public var label: Int? {
        get { fields["label"]?.intValue }
        set { fields["label"] = newValue.map { .int($0) } }
    }
    public var dataset: String? {
        get { fields["dataset"]?.stringValue }
        set { fields["dataset"] = newValue.map { .string($0) } }
    }
    public var split: String? {
        get { fields["split"]?.stringValue }
        set { fields["split"] = newValue.map { .string($0) } }
    }
    public var method: String? {
        get { fields["method"]?.stringValue }
        set { fields["method"] = newValue.map { .string($0) } }
    }
    public var domain: String? {
        get { fields["domain"]?.stringValue }
        set { fields["domain"] = newValue.map { .string($0) } }
    }
    public var mask: String? {
        get { fields["mask"]?.stringValue }
        set { fields["mask"] = newValue.map { .string($0) } }
    }
    public var cam: String? {
        get { fields["cam"]?.stringValue }
        set { fields["cam"] = newValue.map { .string($0) } }
    }
    public var score: Double? {
        get { fields["score"]?.doubleValue }
        set { fields["score"] = newValue.map { .double($0) } }
    }
    /// Set by the tool that failed on this record; later tools pass such records through untouched.
    public var error: String? {
        get { fields["error"]?.stringValue }
        set { fields["error"] = newValue.map { .string($0) } }
    }
    public var faces: [Face]? {
        get {
            guard let a = fields["faces"]?.arrayValue else { return nil }
            return a.compactMap { $0.objectValue.map(Face.init(json:)) }
        }
        set { fields["faces"] = newValue.map { .array($0.map { .object($0.json) }) } }
    }
}

/// A 2-D point in pixel coordinates.
public struct Point: Hashable, Sendable {
    public var x: Double
    public var y: Double
    public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
}

/// An axis-aligned box [left, top, right, bottom) in pixel coordinates.
public struct Box: Hashable, Sendable {
    public var left: Double, top: Double, right: Double, bottom: Double
    public init(left: Double, top: Double, right: Double, bottom: Double) {
        self.left = left; self.top = top; self.right = right; self.bottom = bottom
    }
    public var width: Double { right - left }
    public var height: Double { bottom - top }
    public var area: Double { max(0, width) * max(0, height) }
    public var center: Point { Point((left + right) / 2, (top + bottom) / 2) }
    public func contains(_ p: Point, tolerance: Double = 0) -> Bool {
        p.x >= left - tolerance && p.x <= right + tolerance && p.y >= top - tolerance && p.y <= bottom + tolerance
    }
    public static func bounding(_ pts: [Point]) -> Box {
        var b = Box(left: .infinity, top: .infinity, right: -.infinity, bottom: -.infinity)
        for p in pts {
            b.left = min(b.left, p.x); b.top = min(b.top, p.y)
            b.right = max(b.right, p.x); b.bottom = max(b.bottom, p.y)
        }
        return b
    }
    var json: JSONValue { .array([.double(left), .double(top), .double(right), .double(bottom)]) }
    init?(json: JSONValue?) {
        guard let a = json?.arrayValue, a.count == 4 else { return nil }
        let v = a.compactMap(\.doubleValue)
        guard v.count == 4 else { return nil }
        self.init(left: v[0], top: v[1], right: v[2], bottom: v[3])
    }
}

func pointsJSON(_ pts: [Point]) -> JSONValue { .array(pts.map { .array([.double($0.x), .double($0.y)]) }) }
func points(from json: JSONValue?) -> [Point]? {
    guard let a = json?.arrayValue else { return nil }
    var out: [Point] = []
    out.reserveCapacity(a.count)
    for p in a {
        guard let xy = p.arrayValue, xy.count == 2, let x = xy[0].doubleValue, let y = xy[1].doubleValue else { return nil }
        out.append(Point(x, y))
    }
    return out
}

/// A face found in a frame: detector box, landmarks and, optionally, a crop written to disk.
public struct Face: Hashable, Sendable {
    public var box: Box
    public var score: Double?
    public var detector: String?
    /// Landmark layout name: "dlib5", "ibug68", "ibug81", or "points<N>" for other predictors.
    public var layout: String?
    public var landmarks: [Point]
    /// Indices of landmarks that were derived rather than predicted (e.g. the 13 forehead points of ibug81).
    public var derived: [Int]?
    public var derivedBy: String?
    public var crop: FaceCrop?
    /// Fields of the face object this type does not model, kept for pass-through.
    public var extra: JSONObject

    public init(box: Box, score: Double? = nil, detector: String? = nil, layout: String? = nil,
                landmarks: [Point] = [], derived: [Int]? = nil, derivedBy: String? = nil, crop: FaceCrop? = nil) {
        self.box = box; self.score = score; self.detector = detector; self.layout = layout
        self.landmarks = landmarks; self.derived = derived; self.derivedBy = derivedBy; self.crop = crop
        self.extra = JSONObject()
    }

    public init(json o: JSONObject) {
        box = Box(json: o["box"]) ?? Box(left: 0, top: 0, right: 0, bottom: 0)
        score = o["score"]?.doubleValue
        detector = o["detector"]?.stringValue
        layout = o["layout"]?.stringValue
        landmarks = points(from: o["landmarks"]) ?? []
        derived = o["derived"]?.arrayValue?.compactMap(\.intValue)
        derivedBy = o["derived_by"]?.stringValue
        crop = o["crop"]?.objectValue.map(FaceCrop.init(json:))
        var rest = o
        for k in Face.modelled { rest[k] = nil }
        extra = rest
    }
    static let modelled = ["box", "score", "detector", "layout", "landmarks", "derived", "derived_by", "crop"]

    public var json: JSONObject {
        var o = JSONObject()
        o["box"] = box.json
        if let score { o["score"] = .double(score) }
        if let detector { o["detector"] = .string(detector) }
        if let layout { o["layout"] = .string(layout) }
        o["landmarks"] = pointsJSON(landmarks)
        if let derived { o["derived"] = .array(derived.map { .int($0) }) }
        if let derivedBy { o["derived_by"] = .string(derivedBy) }
        if let crop { o["crop"] = .object(crop.json) }
        for (k, v) in extra { o[k] = v }
        return o
    }
}

/// A face crop written to disk: where it is, which frame region it covers, and the landmarks in its coordinates.
public struct FaceCrop: Hashable, Sendable {
    public var image: String
    /// Region of the frame the crop covers (integer pixels, right/bottom exclusive).
    public var box: Box
    /// Name of the crop rule, e.g. "sbi" or "margin:0.25".
    public var spec: String
    public var landmarks: [Point]
    public var extra: JSONObject

    public init(image: String, box: Box, spec: String, landmarks: [Point]) {
        self.image = image; self.box = box; self.spec = spec; self.landmarks = landmarks; self.extra = JSONObject()
    }
    public init(json o: JSONObject) {
        image = o["image"]?.stringValue ?? ""
        box = Box(json: o["box"]) ?? Box(left: 0, top: 0, right: 0, bottom: 0)
        spec = o["spec"]?.stringValue ?? ""
        landmarks = points(from: o["landmarks"]) ?? []
        var rest = o
        for k in ["image", "box", "spec", "landmarks"] { rest[k] = nil }
        extra = rest
    }
    public var json: JSONObject {
        var o = JSONObject()
        o["image"] = .string(image)
        o["box"] = box.json
        o["spec"] = .string(spec)
        o["landmarks"] = pointsJSON(landmarks)
        for (k, v) in extra { o[k] = v }
        return o
    }
}

// MARK: - Geometry checks

/// Coordinates (boxes and landmarks, in pixels) a record may carry. A record is where outside numbers become
/// geometry, so every coordinate is checked once, when the record is read (NDJSONReader): a non-finite value
/// (`1e999` parses to infinity) or one far beyond any image would trap later, in every tool that turns a
/// coordinate into a pixel index. Such a record is an error for its line.
public enum Geometry {
    /// The largest coordinate magnitude accepted, in pixels (far beyond any image a tool can read).
    public static let limit = 1_000_000.0

    public static func usable(_ v: Double) -> Bool { v.isFinite && abs(v) <= limit }

    /// What is wrong with the geometry of a record's `faces`, or nil: the first coordinate (face box, landmark,
    /// crop box or crop landmark) that is not finite or lies beyond ±`limit`.
    public static func problem(in record: Record) -> String? {
        guard let faces = record["faces"]?.arrayValue else { return nil }
        for (i, f) in faces.enumerated() {
            guard let o = f.objectValue else { continue }
            if let p = problem(o, "faces[\(i)]") { return p }
            if let c = o["crop"]?.objectValue, let p = problem(c, "faces[\(i)].crop") { return p }
        }
        return nil
    }

    static func problem(_ o: JSONObject, _ at: String) -> String? {
        if let b = o["box"]?.arrayValue {
            for (k, v) in b.enumerated() { if let p = bad(v, "\(at).box[\(k)]") { return p } }
        }
        if let pts = o["landmarks"]?.arrayValue {
            for (k, xy) in pts.enumerated() {
                for (j, v) in (xy.arrayValue ?? []).enumerated() { if let p = bad(v, "\(at).landmarks[\(k)][\(j)]") { return p } }
            }
        }
        return nil
    }

    static func bad(_ v: JSONValue, _ at: String) -> String? {
        guard case .number(let n) = v else { return nil }
        if let d = n.double, usable(d) { return nil }
        return "\(at) is \(n.text), not a usable coordinate (must be finite and within ±\(Int(limit)) pixels)"
    }
}
