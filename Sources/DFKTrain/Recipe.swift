// Training recipes as data: YAML files (shipped ones in recipes/, or any file a user writes), a recipe may extend
// another (`base: sbi`), any field can be overridden from the command line (`--set optimizer.lr=0.01`), and the
// resolved recipe - every setting, defaults included - is printed by `train --print-recipe` and stored in each
// checkpoint, where it is the run's identity for resuming.
//
// Every field is declared once, in `Recipe.fields`: its dotted path, type, how to read it from YAML and how to
// write it back. Validation (unknown keys, wrong types, out-of-range values, each naming the file and line), the
// YAML/JSON output and the resume comparison all come from that table.
import DFKCore
import DFKDetect
import DFKEval
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

public struct Recipe: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        /// Real faces only; each batch is B/2 reals and their B/2 self-blended pseudo-fakes (SBI, BBMG + NRS).
        case pseudoFakes = "pseudo-fakes"
        /// Labelled real and fake faces (`label` 0/1, `method`), e.g. FF++ real + manipulated videos.
        case labelled
        /// Both: half of each batch is SBI pairs of the real faces, half labelled faces (PIM's "FF++-real + SBI").
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
    public enum StepName: String, Sendable, CaseIterable {
        case erm, sam
        /// PIM (PIM.swift): shallow feature statistics perturbed along the loss gradient, a second pass.
        case pim
        /// DualFlat: PIM plus a third pass at SAM-perturbed weights.
        case dualflat
        /// RoGA (RoGA.swift): SAGM per domain (manipulation method), gradients averaged over domains.
        case roga
        /// SAGM: RoGA's update with the whole batch as one domain.
        case sagm
        /// CrossDF's deep information decomposition (DID.swift): attention split of the last feature map, domain
        /// head, MI estimator behind gradient reversal, BCE + AUC loss.
        case did
    }
    public enum Augmentation: String, Sendable, CaseIterable {
        case none
        /// DeepfakeBench's default training augmentations (docs/training.md, Augmentations).
        case deepfakebench
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
    public var trainCrop = "margin:0.125:retina-approx"
    public var testCrop = "margin:0.125:retina-approx"
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

    // step
    public var step: StepName = .erm
    public var rho = 0.05

    // PIM / DualFlat (pim-gradient-regularization.txt)
    /// Taps after which PIM perturbs the statistics ("auto": PIMHook.defaultTaps; else comma-separated tap names).
    public var pimTaps = "auto"
    public var pimRadius = 0.1
    public var pimAlpha = 1.0
    public var pimDetachStatistics = false
    public var dualflatBeta = 0.0
    public var dualflatRadius = 0.05

    // RoGA / SAGM (roga-robust-gradient-alignment.txt; reading and variants in RoGA.swift)
    public var rogaVariant: RoGAVariant = .decoupled
    public var rogaReals: RoGAReals = .shared
    public var rogaRho = 0.1
    /// The paper's "optimal" 0.001 (Sec. V-C4); its training details say 0.0002 (docs/training.md, RoGA).
    public var rogaAlpha = 0.001
    // DID (crossdf-deep-information-decomposition.txt)
    public var did = DIDOptions()

    // NRS (BBMG/NRS paper, eqs. 5-9)
    public var nrsEnabled = false
    public var nrs = NRSOptions()

    // PRLE dynamic exploitation (prle-primary-region-regularization.txt; PRLE.swift)
    public var prle = PRLEOptions()

    public init() {}

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
    public var nrsOptions: NRSOptions? { nrsEnabled ? nrs : nil }

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

// MARK: - The field table

extension Recipe {
    /// One recipe setting: its dotted path in the YAML file, a description of its type, and how to set and read it.
    public struct Field: @unchecked Sendable {
        public let path: String
        public let type: String
        let set: (inout Recipe, Scalar) throws -> Void
        let get: (Recipe) -> JSONValue
    }

    /// A YAML scalar or flow list with what is needed to parse it into a typed value.
    struct Scalar {
        var text: String?
        var list: [String]?
        func string() throws -> String {
            guard let t = text else { throw RecipeError("expected a single value, found a list") }
            return t
        }
        func int(min lo: Int = Int.min, max hi: Int = Int.max) throws -> Int {
            guard let v = Int(try string()) else { throw RecipeError("expected an integer, found '\(text ?? "[...]")'") }
            guard v >= lo else { throw RecipeError("must be at least \(lo), found \(v)") }
            guard v <= hi else { throw RecipeError("must be at most \(hi), found \(v)") }
            return v
        }
        func double(min lo: Double = -Double.greatestFiniteMagnitude, max hi: Double = Double.greatestFiniteMagnitude) throws -> Double {
            guard let v = Double(try string()), v.isFinite else { throw RecipeError("expected a finite number, found '\(text ?? "[...]")'") }
            guard v >= lo, v <= hi else { throw RecipeError("must be within \(lo)...\(hi), found \(v)") }
            return v
        }
        func bool() throws -> Bool {
            switch try string().lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: throw RecipeError("expected true or false, found '\(text!)'")
            }
        }
        func doubles(count: Int) throws -> [Double] {
            guard let l = list else { throw RecipeError("expected a list of \(count) numbers, e.g. [0.5, 0.5, 0.5]") }
            let v = l.compactMap { Double($0) }.filter(\.isFinite)
            guard v.count == l.count, v.count == count else { throw RecipeError("expected a list of \(count) finite numbers") }
            return v
        }
        func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws -> E where E.RawValue == String {
            let s = try string()
            guard let e = E(rawValue: s) else {
                throw RecipeError("'\(s)' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return e
        }
    }

    static func field(_ path: String, int kp: WritableKeyPath<Recipe, Int>, min lo: Int, max hi: Int = Int.max) -> Field {
        Field(path: path, type: hi == Int.max ? "integer >= \(lo)" : "integer \(lo)-\(hi)", set: { $0[keyPath: kp] = try $1.int(min: lo, max: hi) },
              get: { .int($0[keyPath: kp]) })
    }
    static func field(_ path: String, double kp: WritableKeyPath<Recipe, Double>, min lo: Double = -.greatestFiniteMagnitude,
                      max hi: Double = .greatestFiniteMagnitude) -> Field {
        let range = lo == -.greatestFiniteMagnitude ? "" : hi == .greatestFiniteMagnitude ? " >= \(lo)" : " \(lo)-\(hi)"
        return Field(path: path, type: "finite number" + range, set: { $0[keyPath: kp] = try $1.double(min: lo, max: hi) }, get: { .double($0[keyPath: kp]) })
    }
    static func field(_ path: String, string kp: WritableKeyPath<Recipe, String>, check: ((String) -> String?)? = nil) -> Field {
        Field(path: path, type: "string", set: { r, s in
            let v = try s.string()
            if let problem = check?(v) { throw RecipeError(problem) }
            r[keyPath: kp] = v
        }, get: { .string($0[keyPath: kp]) })
    }
    static func field(_ path: String, bool kp: WritableKeyPath<Recipe, Bool>) -> Field {
        Field(path: path, type: "true or false", set: { $0[keyPath: kp] = try $1.bool() }, get: { .bool($0[keyPath: kp]) })
    }
    static func field(_ path: String, doubles kp: WritableKeyPath<Recipe, [Double]>, count: Int) -> Field {
        Field(path: path, type: "list of \(count) numbers", set: { $0[keyPath: kp] = try $1.doubles(count: count) },
              get: { .array($0[keyPath: kp].map { .double($0) }) })
    }
    static func field<E: RawRepresentable & CaseIterable & Sendable>(_ path: String, choice kp: WritableKeyPath<Recipe, E>) -> Field
    where E.RawValue == String {
        Field(path: path, type: E.allCases.map(\.rawValue).joined(separator: "|"), set: { $0[keyPath: kp] = try $1.choice(E.self) },
              get: { .string($0[keyPath: kp].rawValue) })
    }

    /// Every setting, in the order `--print-recipe` writes them.
    public static let fields: [Field] = [
        field("name", string: \.name),
        field("description", string: \.description),
        Field(path: "backbone", type: "backbone name", set: { r, s in
            let v = try s.string()
            guard let e = Backbone.entry(v) else {
                throw RecipeError("unknown backbone '\(v)' (known: \(Backbone.names.joined(separator: ", ")))")
            }
            r.backbone = e.name
        }, get: { .string($0.backbone) }),
        field("epochs", int: \.epochs, min: 1, max: 100_000),
        field("batch", int: \.batch, min: 2, max: 4096),
        field("init.pretrained", choice: \.pretrained),
        field("input.size", int: \.size, min: DetectorSpec.sizeRange.lowerBound, max: DetectorSpec.sizeRange.upperBound),
        field("input.mean", doubles: \.mean, count: 3),
        field("input.std", doubles: \.std, count: 3),
        field("input.train_crop", string: \.trainCrop, check: { CropRule.parse($0) == nil ? "unknown crop rule '\($0)'" : nil }),
        field("input.test_crop", string: \.testCrop, check: { CropRule.parse($0) == nil ? "unknown crop rule '\($0)'" : nil }),
        field("input.grayscale", bool: \.grayscale),
        field("data.source", choice: \.source),
        field("data.sampler", choice: \.sampler),
        field("data.frames_per_video", int: \.framesPerVideo, min: 0, max: 1_000_000),
        field("data.frame_selection", choice: \.frameSelection),
        field("data.augment", choice: \.augment),
        field("data.max_failed_fraction", double: \.maxFailedFraction, min: 0, max: 1),
        field("data.val_pairs", choice: \.valPairs),
        field("synthesis.mask", choice: \.mask),
        field("synthesis.bbmg_blur", choice: \.bbmgBlur),
        field("synthesis.blend_cast", choice: \.blendCast),
        field("synthesis.jpeg_colors", choice: \.jpegColors),
        field("optimizer.name", choice: \.optimizer),
        field("optimizer.lr", double: \.lr, min: 0),
        field("optimizer.momentum", double: \.momentum, min: 0, max: 1),
        field("optimizer.weight_decay", double: \.weightDecay, min: 0),
        field("optimizer.betas", doubles: \.betas, count: 2),
        field("schedule.name", choice: \.schedule),
        field("schedule.decay_fraction", double: \.decayFraction, min: 0, max: 1),
        field("schedule.step_every", int: \.stepEvery, min: 1),
        field("schedule.step_gamma", double: \.stepGamma, min: 0),
        field("schedule.minimum_lr", double: \.minimumLR, min: 0),
        field("step.name", choice: \.step),
        field("step.rho", double: \.rho, min: 0),
        field("pim.taps", string: \.pimTaps),
        field("pim.radius", double: \.pimRadius, min: 0),
        field("pim.alpha", double: \.pimAlpha, min: 0, max: 1),
        field("pim.detach_statistics", bool: \.pimDetachStatistics),
        field("dualflat.beta", double: \.dualflatBeta, min: 0, max: 1),
        field("dualflat.radius", double: \.dualflatRadius, min: 0),
        field("roga.variant", choice: \.rogaVariant),
        field("roga.reals", choice: \.rogaReals),
        field("roga.rho", double: \.rogaRho, min: 0),
        field("roga.alpha", double: \.rogaAlpha, min: 0),
        field("did.alpha", double: \.did.alpha, min: 0, max: 1),
        field("did.gamma", double: \.did.gamma, min: 0),
        field("did.power", double: \.did.power, min: 1),
        field("did.lambda_dec", double: \.did.lambdaDec, min: 0),
        field("did.lambda_cls", double: \.did.lambdaCls, min: 0),
        field("did.lambda_dom", double: \.did.lambdaDom, min: 0),
        field("did.domain_attention", bool: \.did.domainAttention),
        field("did.decorrelation", bool: \.did.decorrelation),
        field("did.reduction", int: \.did.reduction, min: 1),
        field("did.estimator_width", int: \.did.estimatorWidth, min: 1),
        field("did.domain_hidden", int: \.did.domainHidden, min: 1),
        field("did.lr_scale", double: \.did.lrScale, min: 0),
        field("nrs.enabled", bool: \.nrsEnabled),
        field("nrs.start_epoch", int: \.nrs.startEpoch, min: 0),
        field("nrs.lambda", double: \.nrs.lambda, min: 0),
        field("nrs.beta", double: \.nrs.beta, min: 1e-9),
        field("nrs.k", int: \.nrs.k, min: 1),
        field("nrs.memory", int: \.nrs.memory, min: 1),
        field("nrs.selection", choice: \.nrs.selection),
        field("nrs.distance", choice: \.nrs.distance),
        field("prle.enabled", bool: \.prle.enabled),
        field("prle.p", double: \.prle.p, min: 0, max: 1),
        field("prle.alpha", double: \.prle.alpha, min: 0, max: 1),
        field("prle.mask", choice: \.prle.mask),
        field("prle.map_field", string: \.prle.mapField, check: { $0.isEmpty ? "must name a record field" : nil }),
        field("prle.random_area", double: \.prle.randomArea, min: 0, max: 1),
    ]
    static let byPath: [String: Field] = Dictionary(uniqueKeysWithValues: fields.map { ($0.path, $0) })

    /// Sets one field from text (a command-line override `path=value`); lists as "[a, b, c]" or "a,b,c".
    public mutating func set(_ path: String, _ value: String, source: String) throws {
        guard let f = Recipe.byPath[path] else {
            throw RecipeError("\(source): unknown recipe key '\(path)' (known: \(Recipe.fields.map(\.path).joined(separator: ", ")))")
        }
        var v = value.trimmingCharacters(in: .whitespaces)
        let isList = v.hasPrefix("[") || f.type.hasPrefix("list")
        if v.hasPrefix("[") && v.hasSuffix("]") { v = String(v.dropFirst().dropLast()) }
        let scalar = isList ? Scalar(text: nil, list: v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                            : Scalar(text: v, list: nil)
        do { try f.set(&self, scalar) } catch let e as RecipeError { throw RecipeError("\(source): \(path): \(e.description)") }
    }

    /// The type and valid range of a setting, as `--help` shows it ("integer 16-2048").
    public static func typeText(_ path: String) -> String { byPath[path]?.type ?? "" }

    /// Rules between settings that no single field can check: batches are split in halves (pseudo-fake pairs,
    /// label-balanced batches) or quarters (`both`: B/4 pairs + B/2 labelled faces), so the batch must divide.
    public func checkConsistency() throws {
        if source == .pseudoFakes, batch % 2 != 0 {
            throw RecipeError("batch must be even with data.source pseudo-fakes (B/2 reals + their B/2 pseudo-fakes), found \(batch)")
        }
        if source == .both, batch % 4 != 0 {
            throw RecipeError("batch must be a multiple of 4 with data.source both (B/4 pairs + B/2 labelled faces), found \(batch)")
        }
        if source == .labelled, sampler == .labelBalanced, batch % 2 != 0 {
            throw RecipeError("batch must be even with data.sampler label-balanced (half real, half fake), found \(batch)")
        }
    }

    /// Every setting as a flat JSON object (dotted keys), for checkpoints and for comparing runs.
    public var json: JSONObject {
        var o = JSONObject()
        for f in Recipe.fields { o[f.path] = f.get(self) }
        return o
    }

    /// The settings in which two recipes differ, as "path: a -> b".
    public func differences(from other: Recipe) -> [String] {
        Recipe.fields.compactMap { f in
            let a = f.get(other), b = f.get(self)
            return a == b ? nil : "\(f.path): \(JSON.serialize(a)) -> \(JSON.serialize(b))"
        }
    }

    /// The resolved recipe as YAML (what `--print-recipe` writes; a valid recipe file).
    public var yaml: String {
        var out = "# resolved recipe: every setting, defaults included\n"
        var section = ""
        for f in Recipe.fields {
            let parts = f.path.split(separator: ".", maxSplits: 1).map(String.init)
            let value = JSON.serialize(f.get(self))
            if parts.count == 1 { out += "\(parts[0]): \(value)\n"; section = ""; continue }
            if parts[0] != section { out += "\(parts[0]):\n"; section = parts[0] }
            out += "  \(parts[1]): \(value)\n"
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
                if case .mapping(let sub) = v, Recipe.fields.contains(where: { $0.path.hasPrefix(path + ".") }) {
                    try walk(sub, prefix: path + ".")
                    continue
                }
                guard let f = Recipe.byPath[path] else {
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
                default: throw RecipeError("\(source):\(line(v)): \(path): expected \(f.type)")
                }
                do { try f.set(&recipe, scalar) } catch let e as RecipeError {
                    throw RecipeError("\(source):\(line(v)): \(path): \(e.description) (expected \(f.type))")
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
