// bbmg-mask: face records -> Boundary Blur Mask Generator masks, added to each record as "mask".
import ArgumentParser
import DFKImaging
import DFKRecords
import DFKSynthesis
import DFKSynthesisTool
import DFKTool
import Foundation

struct BBMGMask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bbmg-mask",
        abstract: "Write the BBMG mask (BBMG/NRS paper, eqs. 2-3) of each record's largest face; add \"mask\" to the record.",
        discussion: """
        Reads records with "image" and "faces" (68 or 81 landmarks). Writes OUT/<folder>/<stem>_bbmg.tiff (float32, \
        lossless, frame size) and a PNG preview beside it, and adds "mask" (the TIFF) and "mask_draws" (hull type, \
        local features, blur kernels, seed) to the record. Compose with `synth-sbi --mask record`.
        """)

    @Option(help: "Directory for the masks.")
    var out: String
    @Option(help: "Random seed (recorded in every output record).")
    var seed: UInt64 = 5
    @Option(help: Self.variantRange.help("Mask variant (Table 12): 1 global only, 2 narrowed local, 3 full."))
    var variant = 3
    @OptionGroup var knobs: MaskKnobs
    @OptionGroup(title: "Run") var runOptions: RunOptions
    @OptionGroup(title: "Sharding (identity: the \"image\" path)") var sharding: ShardOptions

    static let variantRange = FlagRange("--variant", 1...3)

    func validate() throws {
        try Self.variantRange.check(variant)
    }

    func run() throws {
        Allocator.reuseLargeBlocks()
        try Paths.makeDirectory(out)
        Vision.setThreads(1)
        var o = BBMGOptions()
        o.variant = variant
        o.blur = knobs.blur
        o.kernel = knobs.blurKernel
        o.style = knobs.style(base: .lalReference)
        o.blurMode = knobs.bbmgBlur
        let (contactSheet, sheetRows, threads, quiet) = (runOptions.contactSheet, runOptions.sheetRows, runOptions.threads, runOptions.quiet)
        let options = o
        let writer = NDJSONWriter()
        let skipped = Counter()
        let progress = Progress("bbmg-mask", quiet: quiet)
        var sheet = contactSheet.map { _ in ContactSheet(tile: 200, columns: 2) }
        let (out, seed) = (self.out, self.seed)

        try orderedParallelMap(sharding.records(paths: [], field: "image", keys: ["image"]), workers: threads, transform: { _, item -> (Record?, [Image]) in
            guard case .success(var rec) = item.record else {
                if case .failure(let e) = item.record { Diagnostics.fail(e.source + ":\(e.line)", e.message) }
                return (nil, [])
            }
            if rec.error != nil { return (rec, []) }
            do {
                guard let path = rec.image else { throw ToolError("record has no \"image\" field") }
                guard let faces = rec.faces else { throw ToolError("record has no \"faces\" (run landmarks first)") }
                guard let face = faces.first else {
                    skipped.add()   // a frame without a face: passed on without a mask
                    return (rec, [])
                }
                let frame: Image
                do { frame = try Image.read(path) } catch { throw ToolError("\(path): \(error)") }
                let key = "\(Paths.absolute(path))#face0#bbmg"
                var rng = SampleRNG(seed: seed, key: key)
                var draws = Draws()
                let mask = try BBMG.frameMask(width: frame.width, height: frame.height, landmarks: face.landmarks,
                                              options: options, rng: &rng, draws: &draws)
                let dir = SynthesisPaths.directory(out: out, image: path)
                try Paths.makeDirectory(dir)
                let base = "\(dir)/\(Paths.stem(path))_bbmg"
                try AtomicFile.write(try mask.encoded(.tiff), to: base + ".tiff")
                try mask.converted(float: false, scale: 255).write(to: base + ".png", format: .png(level: 3))
                rec.mask = base + ".tiff"
                var d = draws.fields
                d["seed"] = .string(String(seed)); d["options"] = .string(options.description)
                rec["mask_draws"] = .object(d)
                return (rec, [frame, mask])
            } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(item.place, msg)
                rec.error = "bbmg-mask: \(msg)"
                return (rec, [])
            }
        }, emit: { (rec, thumbs) in
            guard let rec else { progress.advance(); return }
            try writer.write(rec)
            if !thumbs.isEmpty, (sheet?.count ?? Int.max) < sheetRows { try sheet?.add(thumbs) }
            progress.advance(failed: rec.error != nil ? 1 : 0)
        })
        progress.finish()
        if skipped.value > 0 { Diagnostics.info("\(skipped.value) records without a face passed on without a mask") }
        if let contactSheet, let sheet {
            try sheet.render().write(to: contactSheet, format: .png(level: 3))
            if !quiet { Diagnostics.info("contact sheet (image | mask): \(contactSheet)") }
        }
    }
}

ToolMain.run(BBMGMask.self)
