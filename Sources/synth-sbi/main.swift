// synth-sbi: face records -> (real, fake) self-blended pairs with their masks, two records per pair.
import ArgumentParser
import DFKImaging
import DFKRecords
import DFKSynthesis
import DFKSynthesisTool
import DFKTool
import Foundation

/// --mask: where the blending mask comes from.
enum MaskChoice: String, CaseIterable, ExpressibleByArgument { case sbi, lal, bbmg, record }
/// --crop: the training crop (random flip, margins and post-augmentation) or the fixed test crop.
enum CropChoice: String, CaseIterable, ExpressibleByArgument { case train, test }

struct SynthSBI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-sbi",
        abstract: "Make self-blended pseudo-fakes (SBI, or BBMG masks) from face records; print a real and a fake record per pair.",
        discussion: """
        Reads records with an "image" and "faces" (landmarks of 68 or 81 points; the face with the largest landmark box is used), e.g. \
        from `landmarks`. For each record and variant it writes OUT/<folder>/<stem>_v<K>_{real,fake}.png and the \
        blending mask as a float TIFF, and prints two records (label 0 and 1) sharing a "pair" id, with every \
        random draw under "synth". Each sample's randomness derives from --seed and the record (image path, \
        variant), so outputs do not depend on threads or on other records; re-runs reuse finished pairs.
        """)

    @Option(help: "Directory for the generated images and masks.")
    var out: String
    @Option(help: "Random seed (recorded in every output record).")
    var seed: UInt64 = 5
    @Option(help: "Mask: sbi (convex hull), lal (Face X-ray hulls, SBI's published setting), bbmg, or record (the record's \"mask\" field, e.g. from bbmg-mask).")
    var mask: MaskChoice = .lal
    @Option(help: Self.variantsRange.help("Pairs per input record."))
    var variants = 1
    @Option(help: Self.sizeRange.help("Output size in pixels (square)."))
    var size = 380
    @Option(help: "train: random flip, random tight-crop margins (5-20%) and post-augmentation; test: 12.5% margins, no randomness but the blend.")
    var crop: CropChoice = .train
    @Option(help: "HSV transform: reference (the published code's effective no-op round trip) or fraction (+-0.3 of each range).")
    var hsv: HSVMode = .reference
    @Option(help: Self.bbmgVariantRange.help("BBMG mask variant (Table 12): 1 global only, 2 narrowed local, 3 full."))
    var bbmgVariant = 3
    @Option(help: "8-bit conversion of the blend: truncate (the reference's astype(np.uint8); fakes ~0.5 level darker where 0 < M < 1) or round (the fix).")
    var blendCast: BlendCast = .truncate
    @Option(help: "Post-augmentation JPEG: swapped (the reference compresses with red and blue exchanged) or correct (true colours).")
    var jpegColors: JPEGColors = .swapped
    @OptionGroup var knobs: MaskKnobs
    @OptionGroup(title: "Run") var runOptions: RunOptions
    @OptionGroup(title: "Sharding (identity: the \"image\" path)") var sharding: ShardOptions

    static let variantsRange = FlagRange("--variants", 1...100)
    static let sizeRange = FlagRange("--size", 32...2048)
    static let bbmgVariantRange = FlagRange("--bbmg-variant", 1...3)

    func validate() throws {
        try Self.variantsRange.check(variants); try Self.sizeRange.check(size); try Self.bbmgVariantRange.check(bbmgVariant)
    }

    func options() -> SBIOptions {
        var o = SBIOptions()
        o.size = size
        o.train = crop == .train
        o.hsv = hsv
        o.blur = knobs.blur
        o.blurKernel = knobs.blurKernel
        o.blendCast = blendCast
        o.jpegColors = jpegColors
        switch mask {
        case .sbi: o.mask = .sbi; o.style = knobs.style(base: .sbiReference)
        case .lal: o.mask = .lal; o.style = knobs.style(base: .lalReference)
        case .record: o.mask = .given
        case .bbmg:
            var b = BBMGOptions()
            b.variant = bbmgVariant
            b.blur = knobs.blur
            b.kernel = knobs.blurKernel
            b.style = knobs.style(base: .lalReference)
            b.blurMode = knobs.bbmgBlur
            o.mask = .bbmg(b)
        }
        return o
    }

    func run() throws {
        Allocator.reuseLargeBlocks()
        try Paths.makeDirectory(out)
        Vision.setThreads(1)
        let opts = options()
        // "ref2": pairs made before the reference fidelity fixes (issue 18) are not reused.
        let settings = "seed=\(seed)|mask=\(mask.rawValue)|size=\(size)|crop=\(crop.rawValue)|hsv=\(hsv.rawValue)|\(knobs.key)|\(opts.style?.name ?? "")|\(opts.mask == .given ? "" : "\(opts.mask)")"
            + "|ref2|blend=\(blendCast.rawValue)|jpeg=\(jpegColors.rawValue)"
        let (contactSheet, threads, quiet) = (runOptions.contactSheet, runOptions.threads, runOptions.quiet)
        let writer = NDJSONWriter()
        let skipped = Counter()
        let progress = Progress("synth-sbi", quiet: quiet)
        var sheet = contactSheet.map { _ in ContactSheet(tile: 160, columns: 3) }
        let (out, seed, variants, sheetRows) = (self.out, self.seed, self.variants, runOptions.sheetRows)
        let wantSheet = contactSheet != nil

        try orderedParallelMap(sharding.records(paths: [], field: "image", keys: ["image"]), workers: threads, transform: { _, item -> ([Record], [[Image]]) in
            guard case .success(var rec) = item.record else {
                if case .failure(let e) = item.record { Diagnostics.fail(e.source + ":\(e.line)", e.message) }
                return ([], [])
            }
            if rec.error != nil { return ([rec], []) }
            do {
                guard let path = rec.image else { throw ToolError("record has no \"image\" field") }
                guard let faces = rec.faces else { throw ToolError("record has no \"faces\" (run landmarks first)") }
                // Face 0 as the reference orders faces: the largest landmark box (a face without a 68/81 layout
                // is used only when no face has one, and then fails below with the reason).
                guard let face = SBI.primaryFace(faces).map({ faces[$0] }) ?? faces.first else {
                    skipped.add()   // a frame without a face: nothing to blend, as in SBI's preprocessing
                    return ([], [])
                }
                guard face.landmarks.count == 68 || face.landmarks.count == 81 else {
                    throw ToolError("needs a 68- or 81-point layout, the face has \(face.landmarks.count) points")
                }
                let dir = SynthesisPaths.directory(out: out, image: path)
                try Paths.makeDirectory(dir)
                // What a cached pair was made from, besides the settings: the image file, the face's landmarks and
                // (--mask record) the given mask file. Any change makes the pair again.
                var input = "image=\(Paths.fingerprint(path) ?? "?")|landmarks=\(Paths.hex8(Paths.fnv1a(JSON.serialize(.array(face.landmarks.map { .array([.double($0.x), .double($0.y)]) })))))"
                if opts.mask == .given, let m = rec.mask { input += "|mask=\(Paths.absolute(m))#\(Paths.fingerprint(m) ?? "?")" }
                var frame: Image?
                var given: Image?
                var outRecs: [Record] = []
                var thumbs: [[Image]] = []
                for v in 0..<variants {
                    let base = "\(dir)/\(Paths.stem(path))_v\(v)"
                    let key = "\(Paths.absolute(path))#face0#v\(v)"
                    let files = (real: base + "_real.png", fake: base + "_fake.png", mask: base + "_mask.tiff", meta: base + ".json")
                    var draws: JSONObject
                    if let cached = Self.cached(files.meta, settings: settings, key: key, input: input), [files.real, files.fake, files.mask].allSatisfy(Paths.exists) {
                        draws = cached
                        if wantSheet && thumbs.count < sheetRows, let real = try? Image.read(files.real), let fake = try? Image.read(files.fake),
                           let m = try? Image.decode(Array(try Data(contentsOf: URL(fileURLWithPath: files.mask))), unchanged: true) {
                            thumbs.append([real, m, fake])
                        }
                    } else {
                        if frame == nil {
                            do { frame = try Image.read(path) } catch { throw ToolError("\(path): \(error)") }
                            if opts.mask == .given {
                                guard let m = rec.mask else { throw ToolError("--mask record needs a \"mask\" field") }
                                do { given = try Image.decode(Array(try Data(contentsOf: URL(fileURLWithPath: m))), unchanged: true) }
                                catch { throw ToolError("\(m): cannot read mask: \(Diagnostics.reason(error, file: m))") }
                            }
                        }
                        var rng = SampleRNG(seed: seed, key: key)
                        let pair = try SBI.pair(frame: frame!, landmarks: face.landmarks, givenMask: given,
                                                retinaBox: FaceBoxRule.trainingRetinaBox(face), options: opts, rng: &rng)
                        try pair.real.write(to: files.real, format: .png(level: 1))
                        try pair.fake.write(to: files.fake, format: .png(level: 1))
                        try AtomicFile.write(try pair.mask.encoded(.tiff), to: files.mask)
                        draws = pair.draws.fields
                        var meta = JSONObject()
                        meta["settings"] = .string(settings); meta["key"] = .string(key); meta["input"] = .string(input); meta["draws"] = .object(draws)
                        try AtomicFile.write(JSON.serialize(.object(meta)) + "\n", to: files.meta)
                        if wantSheet && thumbs.count < sheetRows { thumbs.append([pair.real, pair.mask, pair.fake]) }
                    }
                    var synth = JSONObject()
                    synth["seed"] = .string(String(seed)); synth["variant"] = .int(v); synth["mask_mode"] = .string(mask.rawValue)
                    synth["crop"] = .string(crop.rawValue); synth["size"] = .int(size)
                    for (k, x) in draws { synth[k] = x }
                    let pairID = "\(Paths.stem(dir))/\(Paths.stem(path))_v\(v)"
                    for (label, file) in [(0, files.real), (1, files.fake)] {
                        var r = rec
                        r["source_image"] = .string(path)
                        r.image = file
                        r.label = label
                        r["pair"] = .string(pairID)
                        r.mask = files.mask
                        r.faces = nil
                        r["synth"] = .object(synth)
                        outRecs.append(r)
                    }
                }
                return (outRecs, thumbs)
            } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(item.place, msg)
                rec.error = "synth-sbi: \(msg)"
                return ([rec], [])
            }
        }, emit: { (recs, thumbs) in
            for r in recs { try writer.write(r) }
            for t in thumbs where (sheet?.count ?? Int.max) < sheetRows { try sheet?.add(t) }
            progress.advance(failed: recs.count == 1 && recs[0].error != nil ? 1 : 0)
        })
        progress.finish()
        if skipped.value > 0 { Diagnostics.info("\(skipped.value) records without a face skipped") }
        if let contactSheet, let sheet {
            try sheet.render().write(to: contactSheet, format: .png(level: 3))
            if !quiet { Diagnostics.info("contact sheet (real | mask | fake): \(contactSheet)") }
        }
    }

    static func cached(_ meta: String, settings: String, key: String, input: String) -> JSONObject? {
        guard let d = FileManager.default.contents(atPath: meta), case .object(let o)? = try? JSON.parse([UInt8](d)),
              o["settings"]?.stringValue == settings, o["key"]?.stringValue == key, o["input"]?.stringValue == input else { return nil }
        return o["draws"]?.objectValue
    }
}

ToolMain.run(SynthSBI.self)
