// Training recipes as data: YAML files (shipped ones in recipes/, or any file a user writes), a recipe may extend
// another (`base: sbi`), any field can be overridden from the command line (`--set optimizer.lr=0.01`), and the
// resolved recipe - every setting, defaults included - is printed by `train --print-recipe` and stored in each
// checkpoint, where it is the run's identity for resuming.
//
// `Recipe` holds the shared sections (model, input, data, synthesis, optimizer, schedule, the chosen step) and one
// typed section per training method (`RecipeSection`, declared in the method's own file and found through the
// method registry, Method.swift). Every field is declared once, with its dotted path and its kind; validation
// (unknown keys, wrong types, out-of-range values, each naming the file and line), the YAML/JSON output and the
// resume comparison all come from the field table.
import DFKCore
import DFKDetect
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
import Foundation
import Yams

public struct RecipeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ m: String) { description = m }
}

/// The name of a registered training method (`step.name`): checked against the registry where it is read.
public struct MethodName: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral s: String) { rawValue = s }
    public var description: String { rawValue }
}

/// PIM's taps: the backbone's default shallow taps, or named stage taps.
public enum TapSelection: Sendable, Equatable, CustomStringConvertible {
    case auto
    case named([String])
    /// "auto" or comma-separated tap names.
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "auto" { self = .auto; return }
        let names = t.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" } }) else {
            return nil
        }
        self = .named(names)
    }
    public var description: String {
        switch self { case .auto: return "auto"; case .named(let n): return n.joined(separator: ",") }
    }
}

public struct Recipe: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        /// Real faces only; each batch is B/2 reals and their B/2 self-blended pseudo-fakes (SBI, BBMG + NRS).
        case pseudoFakes = "pseudo-fakes"
        /// Labelled real and fake faces (`label` 0/1, `method`), e.g. FF++ real + manipulated videos.
        case labelled
        /// Both: half of each batch is SBI pairs of the real faces, half labelled real and fake faces. No paper recipe
        /// uses it: PIM's "FF++-real + SBI" row (pim-sbi) is `pseudo-fakes`, real faces and their SBI pairs only.
        case both
    }
    public enum Sampler: String, Sendable, CaseIterable {
        /// Shuffled labelled faces (or shuffled reals for pseudo-fake pairs).
        case shuffle
        /// Each batch half real, half fake (FF++ is 1 real : 4+ fakes).
        case labelBalanced = "label-balanced"
        /// One sub-batch per manipulation method, the reals shared across them (RoGA's domains).
        case domainBalanced = "domain-balanced"
    }
    public enum FrameSelection: String, Sendable, CaseIterable {
        /// The same evenly spaced frames every epoch (rounded linspace, SBI's training set).
        case even
        /// Different random frames of each video every epoch.
        case random
    }
    public enum Mask: String, Sendable, CaseIterable { case sbi, lal, bbmg }
    public enum PretrainedPolicy: String, Sendable, CaseIterable {
        /// The recipe's paper starts from ImageNet weights: `train` refuses to start without --pretrained unless
        /// told --from-scratch.
        case required
        case optional
        /// The recipe's paper trains from random initialisation (Meso4: no ImageNet weights exist); `train` says so
        /// when given --pretrained.
        case none
    }
    public enum ValidationPairs: String, Sendable, CaseIterable {
        /// The same pseudo-fake per validation face every epoch (less noisy checkpoint selection; the default).
        case fixed
        /// New draws every epoch, as the reference's validation (it reseeds only NumPy before validating, so its
        /// hull types, blur kernels and albumentations draws change from epoch to epoch).
        case perEpoch = "per-epoch"
    }
    public enum OptimizerName: String, Sendable, CaseIterable { case sgd, adam, adamw }
    public enum ScheduleName: String, Sendable, CaseIterable {
        case constant
        /// Constant, then linear to 0 at the last epoch over the run's last `decay_fraction` of epochs (SBI: 1/4).
        case linearDecay = "linear-decay"
        case step, cosine
    }
    public enum Augmentation: String, Sendable, CaseIterable {
        case none
        /// DeepfakeBench's default training augmentations (docs/training.md, Augmentations).
        case deepfakebench
        /// PIM's six (Sec. V-B): flip, RGB shift, HSV, brightness/contrast, JPEG, Gaussian noise, each p 0.5.
        case pim
    }

    public var name = "custom"
    public var description = ""
    public var backbone = "efficientnet-b4"
    public var epochs = 100
    public var batch = 32
    /// Whether the recipe needs ImageNet weights (init.pretrained).
    public var pretrained: PretrainedPolicy = .optional

    // input
    public var size = 380
    public var mean: [Double] = [0, 0, 0]
    public var std: [Double] = [255, 255, 255]
    /// Crop of labelled faces at training time (a crop rule of `landmarks --crop`).
    public var trainCrop: CropRule = .margin(0.125, .retinaApprox)
    public var testCrop: CropRule = .margin(0.125, .retinaApprox)
    /// Faces converted to grayscale and replicated to 3 channels (training and scoring; stored in checkpoints).
    public var grayscale = false

    // data
    public var source: Source = .pseudoFakes
    public var sampler: Sampler = .shuffle
    /// Frames used per training video; 0 uses every record.
    public var framesPerVideo = 0
    public var frameSelection: FrameSelection = .even
    public var augment: Augmentation = .none
    /// A run fails when an epoch loses more than this fraction of its faces (unreadable image, failed synthesis).
    public var maxFailedFraction = 0.05

    // synthesis (pseudo-fakes)
    public var mask: Mask = .lal
    /// BBMG's boundary blur (`--bbmg-blur`): one Gaussian (the paper's section 3.3) or SBI's two-stage blur.
    public var bbmgBlur: BBMGBlur = .single
    /// 8-bit conversion of the blend: the reference truncates.
    public var blendCast: BlendCast = .truncate
    /// Post-augmentation JPEG colours: the reference compresses with red and blue swapped.
    public var jpegColors: JPEGColors = .swapped
    /// Validation pseudo-fakes fixed across epochs, or drawn anew each epoch.
    public var valPairs: ValidationPairs = .fixed

    // optimizer
    public var optimizer: OptimizerName = .sgd
    public var lr = 1e-3
    public var momentum = 0.9
    public var weightDecay = 0.0
    public var betas: [Double] = [0.9, 0.999]

    // schedule
    public var schedule: ScheduleName = .constant
    public var decayFraction = 0.25
    public var stepEvery = 30
    public var stepGamma = 0.1
    public var minimumLR = 0.0

    /// The training method that makes each step (`step.name`; a registered step method, Method.swift).
    public var method: MethodName = "erm"

    /// The methods' own sections (`pim`, `roga`, `did`, `nrs`, `prle`, ...), by section key; a section never set
    /// holds its defaults.
    var sections: [String: any RecipeSection] = [:]

    public init() {}

    /// A method's section of this recipe (its defaults when the recipe does not set it).
    public subscript<S: RecipeSection>(_ section: S.Type) -> S {
        get { sections[S.key] as? S ?? S() }
        set { sections[S.key] = newValue }
    }

    public static func == (a: Recipe, b: Recipe) -> Bool { a.json == b.json }

    public var maskMode: MaskMode {
        switch mask {
        case .sbi: return .sbi
        case .lal: return .lal
        case .bbmg:
            var b = BBMGOptions()
            b.blurMode = bbmgBlur
            return .bbmg(b)
        }
    }

    /// The learning-rate schedule of a run of `epochs` epochs (it follows the run's length, not a fixed 100).
    public var lrSchedule: LRSchedule {
        switch schedule {
        case .constant: return .constant
        case .linearDecay:
            let decayEpochs = max(1, Int((Double(epochs) * decayFraction).rounded()))
            return .linearDecay(total: epochs, decayStart: epochs - decayEpochs)
        case .step: return .step(every: stepEvery, gamma: stepGamma)
        case .cosine: return .cosine(total: epochs, minimum: minimumLR)
        }
    }
}

// MARK: - Fields

/// What a recipe field holds, how its text is read and what `--help` and errors call it.
public enum FieldKind: Sendable, Equatable, CustomStringConvertible {
    case integer(ClosedRange<Int>)
    case number(ClosedRange<Double>)
    case boolean
    case text
    case numbers(count: Int)
    case choice([String])
    /// Text checked by the field itself (crop rules, tap lists, backbone names); the string says what it takes.
    case custom(String)

    public var isList: Bool { if case .numbers = self { return true } else { return false } }

    public var description: String {
        switch self {
        case .integer(let r): return r.upperBound == Int.max ? "integer >= \(r.lowerBound)" : "integer \(r.lowerBound)-\(r.upperBound)"
        case .number(let r):
            if r.lowerBound == -.greatestFiniteMagnitude && r.upperBound == .greatestFiniteMagnitude { return "finite number" }
            return r.upperBound == .greatestFiniteMagnitude ? "finite number >= \(r.lowerBound)" : "finite number \(r.lowerBound)-\(r.upperBound)"
        case .boolean: return "true or false"
        case .text: return "string"
        case .numbers(let n): return "list of \(n) numbers"
        case .choice(let c): return c.joined(separator: "|")
        case .custom(let s): return s
        }
    }
}

/// A YAML scalar or flow list, read by a field's kind into a typed value.
struct Scalar {
    var text: String?
    var list: [String]?
    func string() throws -> String {
        guard let t = text else { throw RecipeError("expected a single value, found a list") }
        return t
    }
}

/// A field's value once read and range-checked by its kind.
public enum FieldValue: Sendable {
    case int(Int), double(Double), bool(Bool), string(String), doubles([Double])
}

extension FieldKind {
    /// Reads and checks a value of this kind.
    func read(_ s: Scalar) throws -> FieldValue {
        switch self {
        case .integer(let r):
            let t = try s.string()
            guard let v = Int(t) else { throw RecipeError("expected an integer, found '\(t)'") }
            guard v >= r.lowerBound else { throw RecipeError("must be at least \(r.lowerBound), found \(v)") }
            guard v <= r.upperBound else { throw RecipeError("must be at most \(r.upperBound), found \(v)") }
            return .int(v)
        case .number(let r):
            let t = try s.string()
            guard let v = Double(t), v.isFinite else { throw RecipeError("expected a finite number, found '\(t)'") }
            guard r.contains(v) else { throw RecipeError("must be within \(r.lowerBound)...\(r.upperBound), found \(v)") }
            return .double(v)
        case .boolean:
            let t = try s.string()
            switch t.lowercased() {
            case "true", "yes", "on": return .bool(true)
            case "false", "no", "off": return .bool(false)
            default: throw RecipeError("expected true or false, found '\(t)'")
            }
        case .text, .custom: return .string(try s.string())
        case .numbers(let count):
            guard let l = s.list else { throw RecipeError("expected a list of \(count) numbers, e.g. [0.5, 0.5, 0.5]") }
            let v = l.compactMap { Double($0) }.filter(\.isFinite)
            guard v.count == l.count, v.count == count else { throw RecipeError("expected a list of \(count) finite numbers") }
            return .doubles(v)
        case .choice(let c):
            let t = try s.string()
            guard c.contains(t) else { throw RecipeError("'\(t)' is not one of \(c.joined(separator: ", "))") }
            return .string(t)
        }
    }
}

/// One setting of a recipe or of a method's section: its dotted path, its kind, and typed access through a key path.
public struct RecipeField<Root>: @unchecked Sendable {
    public let path: String
    public let kind: FieldKind
    let assign: (inout Root, FieldValue) throws -> Void
    let read: (Root) -> JSONValue

    init(path: String, kind: FieldKind, assign: @escaping (inout Root, FieldValue) throws -> Void, read: @escaping (Root) -> JSONValue) {
        self.path = path; self.kind = kind; self.assign = assign; self.read = read
    }

    static func mismatch(_ path: String) -> RecipeError { RecipeError("\(path): value of the wrong kind") }

    public static func int(_ path: String, _ kp: WritableKeyPath<Root, Int>, min lo: Int, max hi: Int = Int.max) -> RecipeField {
        RecipeField(path: path, kind: .integer(lo...hi), assign: { r, v in
            guard case .int(let x) = v else { throw mismatch(path) }
            r[keyPath: kp] = x
        }, read: { .int($0[keyPath: kp]) })
    }
    public static func double(_ path: String, _ kp: WritableKeyPath<Root, Double>, min lo: Double = -.greatestFiniteMagnitude,
                              max hi: Double = .greatestFiniteMagnitude) -> RecipeField {
        RecipeField(path: path, kind: .number(lo...hi), assign: { r, v in
            guard case .double(let x) = v else { throw mismatch(path) }
            r[keyPath: kp] = x
        }, read: { .double($0[keyPath: kp]) })
    }
    public static func bool(_ path: String, _ kp: WritableKeyPath<Root, Bool>) -> RecipeField {
        RecipeField(path: path, kind: .boolean, assign: { r, v in
            guard case .bool(let x) = v else { throw mismatch(path) }
            r[keyPath: kp] = x
        }, read: { .bool($0[keyPath: kp]) })
    }
    public static func string(_ path: String, _ kp: WritableKeyPath<Root, String>, check: ((String) -> String?)? = nil) -> RecipeField {
        RecipeField(path: path, kind: .text, assign: { r, v in
            guard case .string(let x) = v else { throw mismatch(path) }
            if let problem = check?(x) { throw RecipeError(problem) }
            r[keyPath: kp] = x
        }, read: { .string($0[keyPath: kp]) })
    }
    public static func doubles(_ path: String, _ kp: WritableKeyPath<Root, [Double]>, count: Int) -> RecipeField {
        RecipeField(path: path, kind: .numbers(count: count), assign: { r, v in
            guard case .doubles(let x) = v else { throw mismatch(path) }
            r[keyPath: kp] = x
        }, read: { .array($0[keyPath: kp].map { .double($0) }) })
    }
    public static func choice<E: RawRepresentable & CaseIterable & Sendable>(_ path: String, _ kp: WritableKeyPath<Root, E>) -> RecipeField
    where E.RawValue == String {
        RecipeField(path: path, kind: .choice(E.allCases.map(\.rawValue)), assign: { r, v in
            guard case .string(let x) = v, let e = E(rawValue: x) else { throw mismatch(path) }
            r[keyPath: kp] = e
        }, read: { .string($0[keyPath: kp].rawValue) })
    }
    /// A value parsed from text by the field itself (`parse` returns nil or throws for bad text).
    public static func parsed<V>(_ path: String, _ kp: WritableKeyPath<Root, V>, kind: String, parse: @escaping (String) throws -> V?,
                                 show: @escaping (V) -> String) -> RecipeField {
        RecipeField(path: path, kind: .custom(kind), assign: { r, v in
            guard case .string(let x) = v else { throw mismatch(path) }
            guard let parsed = try parse(x) else { throw RecipeError("'\(x)' is not a valid \(kind)") }
            r[keyPath: kp] = parsed
        }, read: { .string(show($0[keyPath: kp])) })
    }
}

/// A method's typed section of the recipe (`pim:`, `roga:` ...): its key, defaults (`init()`) and fields, declared
/// in the method's own file. Cross-field rules belong to the method's `validate`.
public protocol RecipeSection: Sendable {
    init()
    static var key: String { get }
    static var fields: [RecipeField<Self>] { get }
}

extension RecipeSection {
    /// The section's fields as recipe fields ("key.field").
    static var recipeFields: [RecipeField<Recipe>] {
        fields.map { f in
            RecipeField<Recipe>(path: key + "." + f.path, kind: f.kind, assign: { r, v in
                var s = r[Self.self]
                try f.assign(&s, v)
                r[Self.self] = s
            }, read: { f.read($0[Self.self]) })
        }
    }
}

extension Recipe {
    public typealias Field = RecipeField<Recipe>

    static func cropField(_ path: String, _ kp: WritableKeyPath<Recipe, CropRule>) -> Field {
        .parsed(path, kp, kind: "crop rule (sbi, margin:F[:RULE], align:SIZE[:SCALE[:POINTS]])", parse: { CropRule.parse($0) }, show: \.name)
    }

    /// The shared settings, in the order `--print-recipe` writes them.
    static let sharedFields: [Field] = [
        .string("name", \.name),
        .string("description", \.description),
        .parsed("backbone", \.backbone, kind: "backbone name", parse: { v in
            guard let e = Backbone.entry(v) else {
                throw RecipeError("unknown backbone '\(v)' (known: \(Backbone.names.joined(separator: ", ")))")
            }
            return e.name
        }, show: { $0 }),
        .int("epochs", \.epochs, min: 1, max: 100_000),
        .int("batch", \.batch, min: 2, max: 4096),
        .choice("init.pretrained", \.pretrained),
        .int("input.size", \.size, min: DetectorSpec.sizeRange.lowerBound, max: DetectorSpec.sizeRange.upperBound),
        .doubles("input.mean", \.mean, count: 3),
        .doubles("input.std", \.std, count: 3),
        cropField("input.train_crop", \.trainCrop),
        cropField("input.test_crop", \.testCrop),
        .bool("input.grayscale", \.grayscale),
        .choice("data.source", \.source),
        .choice("data.sampler", \.sampler),
        .int("data.frames_per_video", \.framesPerVideo, min: 0, max: 1_000_000),
        .choice("data.frame_selection", \.frameSelection),
        .choice("data.augment", \.augment),
        .double("data.max_failed_fraction", \.maxFailedFraction, min: 0, max: 1),
        .choice("data.val_pairs", \.valPairs),
        .choice("synthesis.mask", \.mask),
        .choice("synthesis.bbmg_blur", \.bbmgBlur),
        .choice("synthesis.blend_cast", \.blendCast),
        .choice("synthesis.jpeg_colors", \.jpegColors),
        .choice("optimizer.name", \.optimizer),
        .double("optimizer.lr", \.lr, min: 0),
        .double("optimizer.momentum", \.momentum, min: 0, max: 1),
        .double("optimizer.weight_decay", \.weightDecay, min: 0),
        .doubles("optimizer.betas", \.betas, count: 2),
        .choice("schedule.name", \.schedule),
        .double("schedule.decay_fraction", \.decayFraction, min: 0, max: 1),
        .int("schedule.step_every", \.stepEvery, min: 1),
        .double("schedule.step_gamma", \.stepGamma, min: 0),
        .double("schedule.minimum_lr", \.minimumLR, min: 0),
        Field(path: "step.name", kind: .choice(TrainingMethods.stepNames), assign: { r, v in
            guard case .string(let x) = v else { throw RecipeError("step.name: value of the wrong kind") }
            r.method = MethodName(rawValue: x)
        }, read: { .string($0.method.rawValue) }),
    ]

    /// Every setting: the shared ones, then each registered method's section (once, however many methods use it).
    public static let fields: [Field] = {
        var seen = Set<String>()
        let sections = TrainingMethods.all.flatMap { $0.sections }.filter { seen.insert($0.key).inserted }
        return sharedFields + sections.flatMap { $0.recipeFields }
    }()
    static let byPath: [String: Field] = Dictionary(uniqueKeysWithValues: fields.map { ($0.path, $0) })

    /// Keys that older versions wrote and their names now (a recipe file or checkpoint of an older version loads).
    static let renamed: [String: String] = ["step.rho": "sam.rho"]

    static func field(_ path: String) -> Field? { byPath[path] ?? renamed[path].flatMap { byPath[$0] } }

    /// Sets one field from text (a command-line override `path=value`); lists as "[a, b, c]" or "a,b,c".
    public mutating func set(_ path: String, _ value: String, source: String) throws {
        guard let f = Recipe.field(path) else {
            throw RecipeError("\(source): unknown recipe key '\(path)' (known: \(Recipe.fields.map(\.path).joined(separator: ", ")))")
        }
        var v = value.trimmingCharacters(in: .whitespaces)
        let isList = v.hasPrefix("[") || f.kind.isList
        if v.hasPrefix("[") && v.hasSuffix("]") { v = String(v.dropFirst().dropLast()) }
        let scalar = isList ? Scalar(text: nil, list: v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                            : Scalar(text: v, list: nil)
        do { try f.assign(&self, try f.kind.read(scalar)) } catch let e as RecipeError { throw RecipeError("\(source): \(path): \(e.description)") }
    }

    /// Sets one field from a typed value (a command-line flag), with the field's range check.
    public mutating func assign(_ path: String, _ value: FieldValue, source: String) throws {
        guard let f = Recipe.field(path) else { throw RecipeError("\(source): unknown recipe key '\(path)'") }
        let text: Scalar
        switch value {
        case .int(let i): text = Scalar(text: String(i), list: nil)
        case .double(let d): text = Scalar(text: "\(d)", list: nil)
        case .bool(let b): text = Scalar(text: b ? "true" : "false", list: nil)
        case .string(let s): text = Scalar(text: s, list: nil)
        case .doubles(let d): text = Scalar(text: nil, list: d.map { "\($0)" })
        }
        do { try f.assign(&self, try f.kind.read(text)) } catch let e as RecipeError { throw RecipeError("\(source): \(path): \(e.description)") }
    }

    /// The type and valid range of a setting, as `--help` shows it ("integer 16-2048").
    public static func typeText(_ path: String) -> String { field(path)?.kind.description ?? "" }

    /// Rules between settings that no single field can check, then the rules of the recipe's methods (the step
    /// and every add-on it turns on). `train` and `--print-recipe` both run this, so they refuse the same recipes.
    public func validate() throws {
        if source == .pseudoFakes, batch % 2 != 0 {
            throw RecipeError("batch must be even with data.source pseudo-fakes (B/2 reals + their B/2 pseudo-fakes), found \(batch)")
        }
        if source == .both, batch % 4 != 0 {
            throw RecipeError("batch must be a multiple of 4 with data.source both (B/4 pairs + B/2 labelled faces), found \(batch)")
        }
        if source == .labelled, sampler == .labelBalanced, batch % 2 != 0 {
            throw RecipeError("batch must be even with data.sampler label-balanced (half real, half fake), found \(batch)")
        }
        try TrainingMethods.validate(self)
    }

    /// Every setting as a flat JSON object (dotted keys), for checkpoints and for comparing runs.
    public var json: JSONObject {
        var o = JSONObject()
        for f in Recipe.fields { o[f.path] = f.read(self) }
        return o
    }

    /// The settings in which two recipes differ, as "path: a -> b".
    public func differences(from other: Recipe) -> [String] {
        Recipe.fields.compactMap { f in
            let a = f.read(other), b = f.read(self)
            return a == b ? nil : "\(f.path): \(JSON.serialize(a)) -> \(JSON.serialize(b))"
        }
    }

    /// The resolved recipe as YAML (what `--print-recipe` writes; a valid recipe file).
    public var yaml: String {
        var out = "# resolved recipe: every setting, defaults included\n"
        var order: [String] = [], bySection: [String: [(String, String)]] = [:]
        for f in Recipe.fields {
            let parts = f.path.split(separator: ".", maxSplits: 1).map(String.init)
            let value = JSON.serialize(f.read(self))
            let (section, key) = parts.count == 1 ? ("", parts[0]) : (parts[0], parts[1])
            let id = parts.count == 1 ? "=" + key : section
            if bySection[id] == nil { order.append(id) }
            bySection[id, default: []].append((key, value))
        }
        for id in order {
            guard let entries = bySection[id] else { continue }
            if id.hasPrefix("=") { for (k, v) in entries { out += "\(k): \(v)\n" }; continue }
            out += "\(id):\n"
            for (k, v) in entries { out += "  \(k): \(v)\n" }
        }
        return out
    }

    /// Reads a recipe back from a checkpoint's flat JSON.
    public init(json: JSONObject, source: String) throws {
        self.init()
        for (k, v) in json {
            let text: String
            switch v {
            case .array(let a): text = "[" + a.map { JSON.serialize($0) }.joined(separator: ",") + "]"
            case .string(let s): text = s
            default: text = JSON.serialize(v)
            }
            try set(k, text, source: source)
        }
    }
}

// MARK: - Files

extension Recipe {
    /// Shipped recipes (recipes/*.yaml, bundled with the tools).
    public static var shippedDirectory: URL? { Bundle.module.url(forResource: "recipes", withExtension: nil) }

    public static var shippedNames: [String] {
        guard let dir = shippedDirectory, let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// A shipped recipe by name, or a recipe file by path.
    public static func load(_ nameOrPath: String) throws -> Recipe {
        var visiting: [String] = []
        return try load(nameOrPath, visiting: &visiting)
    }

    static func resolve(_ nameOrPath: String) throws -> String {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            guard FileManager.default.fileExists(atPath: nameOrPath) else { throw RecipeError("\(nameOrPath): no such recipe file") }
            return nameOrPath
        }
        guard let dir = shippedDirectory, FileManager.default.fileExists(atPath: dir.appendingPathComponent(nameOrPath + ".yaml").path) else {
            throw RecipeError("unknown recipe '\(nameOrPath)' (shipped: \(shippedNames.joined(separator: ", ")); or give a .yaml file)")
        }
        return dir.appendingPathComponent(nameOrPath + ".yaml").path
    }

    static func load(_ nameOrPath: String, visiting: inout [String]) throws -> Recipe {
        let path = try resolve(nameOrPath)
        guard !visiting.contains(path) else { throw RecipeError("\(path): recipe extends itself (\(visiting.joined(separator: " -> ")))") }
        visiting.append(path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw RecipeError("\(path): cannot read the file as UTF-8 text") }
        return try parse(text, source: path, visiting: &visiting)
    }

    /// Parses recipe YAML. `base: NAME|FILE` starts from another recipe; the file's settings apply on top of it.
    public static func parse(_ text: String, source: String) throws -> Recipe {
        var visiting: [String] = []
        return try parse(text, source: source, visiting: &visiting)
    }

    static func parse(_ text: String, source: String, visiting: inout [String]) throws -> Recipe {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw RecipeError("\(source): \(oneLine(e))")
        } catch { throw RecipeError("\(source): not valid YAML") }
        guard let root = node else { throw RecipeError("\(source): empty recipe file") }
        guard case .mapping(let top) = root else { throw RecipeError("\(source):\(line(root)): a recipe is a mapping of keys to values") }
        var recipe = Recipe()
        if let b = top["base"] {
            guard case .scalar(let s) = b else { throw RecipeError("\(source):\(line(b)): base: expected a recipe name or file") }
            let basePath = s.string.contains("/") ? (source as NSString).deletingLastPathComponent + "/" + s.string : s.string
            do { recipe = try load(s.string.hasPrefix("/") ? s.string : (s.string.contains("/") ? basePath : s.string), visiting: &visiting) }
            catch let e as RecipeError { throw RecipeError("\(source):\(line(b)): base: \(e.description)") }
        }
        var seen = Set<String>()
        func walk(_ m: Node.Mapping, prefix: String) throws {
            for (k, v) in m {
                guard case .scalar(let ks) = k else { throw RecipeError("\(source):\(line(k)): keys must be plain names") }
                let path = prefix + ks.string
                if path == "base" { continue }
                guard seen.insert(path).inserted else { throw RecipeError("\(source):\(line(k)): key '\(path)' given twice") }
                let isSection = Recipe.fields.contains { $0.path.hasPrefix(path + ".") } || Recipe.renamed.keys.contains { $0.hasPrefix(path + ".") }
                if case .mapping(let sub) = v, isSection {
                    try walk(sub, prefix: path + ".")
                    continue
                }
                guard let f = Recipe.field(path) else {
                    let section = Recipe.fields.filter { $0.path.hasPrefix(prefix) }.map { String($0.path.dropFirst(prefix.count)) }
                    let known = Set(section.map { String($0.split(separator: ".")[0]) }).sorted()
                    throw RecipeError("\(source):\(line(k)): unknown key '\(path)' (known here: \(known.joined(separator: ", ")))")
                }
                let scalar: Scalar
                switch v {
                case .scalar(let s): scalar = Scalar(text: s.string, list: nil)
                case .sequence(let seq):
                    var items: [String] = []
                    for item in seq {
                        guard case .scalar(let s) = item else { throw RecipeError("\(source):\(line(item)): \(path): list items must be plain values") }
                        items.append(s.string)
                    }
                    scalar = Scalar(text: nil, list: items)
                default: throw RecipeError("\(source):\(line(v)): \(path): expected \(f.kind)")
                }
                do { try f.assign(&recipe, try f.kind.read(scalar)) } catch let e as RecipeError {
                    throw RecipeError("\(source):\(line(v)): \(path): \(e.description) (expected \(f.kind))")
                }
            }
        }
        try walk(top, prefix: "")
        return recipe
    }

    static func line(_ n: Node) -> Int { n.mark?.line ?? 0 }
    static func oneLine(_ e: YamlError) -> String {
        String(describing: e).split(separator: "\n").first.map(String.init) ?? "not valid YAML"
    }
}
