// prle-cam-fuse: face records -> PRLE's fused primary-region map per face (Grad-CAM of a zoo of detectors, fused).
import ArgumentParser
import DFKDetect
import DFKImaging
import DFKModels
import DFKNetTool
import DFKRecords
import DFKSynthesis
import DFKTensor
import DFKTool
import Foundation

extension PRLEFusionRule: ExpressibleByArgument {}

struct PRLECamFuse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prle-cam-fuse",
        abstract: "PRLE's static localization: Grad-CAM maps of a zoo of detectors on each face, fused into one primary-region map.",
        discussion: """
        Reads face records (an "image" and "faces"; the first, largest face is used, as `train` does) from files or \
        stdin. Every --zoo checkpoint must have the same test crop: each face is cropped with it, each detector's \
        Grad-CAM (eq. 3, last feature map, fake score) is min-max normalised and resized to --size, and the maps \
        are fused (--fusion union: max of the average-fused map, eq. 6 with --tau1, and the neighbour-fused map, \
        eqs. 7-8 with --lambda; neighbour: eq. 8 alone; average: eq. 6 alone). The map is written as an 8-bit \
        PNG under --out and its path added to the record (--field, default "prle_map"), with "prle_crop" and \
        "prle_box" (the crop region in frame pixels). Records without a face pass through without a map; faces \
        that cannot be processed get an "error", are reported, and the run exits 1 at the end. Re-runs with the \
        same settings reuse finished maps.
        """)

    @Argument(help: "Face record files (default: stdin).")
    var inputs: [String] = []
    @Option(name: .customLong("zoo"), help: ArgumentHelp("A detector checkpoint of the zoo (repeat, one per model).", valueName: "checkpoint"))
    var zoo: [String] = []
    @Option(help: "Directory for the maps.")
    var out: String
    @Option(help: "Fusion rule: union (default), neighbour (literal eq. 8), average (eq. 6).")
    var fusion: PRLEFusionRule = .union
    @Option(help: Self.tau1Range.help("Average-fusion threshold tau1 (eq. 6)."))
    var tau1 = 0.3
    @Option(help: Self.lambdaRange.help("Neighbouring-fusion threshold lambda (eq. 7)."))
    var lambda = 0.15
    @Flag(help: "Eq. 7 over pairs of different maps only (default: every pair A_j, A_k, j = k included, as printed).")
    var distinctPairs = false
    @Option(help: Self.sizeRange.help("Side of the square maps (the paper: 256)."))
    var size = 256
    @Option(help: "Record field for the fused map's path.")
    var field = "prle_map"
    @Flag(help: "Also write each model's normalised CAM and list them in \"prle_cams\".")
    var cams = false
    @Option(help: ArgumentHelp("Contact sheet of the first faces: face | each model's CAM | fused map.", valueName: "FILE.png"))
    var overlay: String?
    @Option(help: Flags.sheetRows.help("Rows in the contact sheet."))
    var sheetRows = 12
    @Option(help: Flags.batch.help("Faces per forward pass."))
    var batch = 16
    @Option(help: Flags.threads.help("Threads (image reading in parallel; libtorch intra-op threads). Default: all cores."))
    var threads = Inputs.cores
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false
    @OptionGroup(title: "Device and precision")
    var engine: ExecutionOptions
    @OptionGroup(title: "Sharding (identity: the \"image\" path)") var sharding: ShardOptions

    static let tau1Range = FlagRange("--tau1", 0.0...1.0)
    static let lambdaRange = FlagRange("--lambda", 0.0...1.0)
    static let sizeRange = FlagRange("--size", 8...2048)

    func validate() throws {
        guard !zoo.isEmpty else { throw ValidationError("give at least one --zoo checkpoint") }
        try Self.tau1Range.check(tau1); try Self.lambdaRange.check(lambda); try Self.sizeRange.check(size)
        try Flags.batch.check(batch); try Flags.threads.check(threads); try Flags.sheetRows.check(sheetRows)
        guard !field.isEmpty else { throw ValidationError("--field must name a record field") }
        if let overlay, !overlay.hasSuffix(".png") { throw ValidationError("--overlay must name a .png file") }
    }

    /// One input record and what became of it.
    enum Item {
        case pass(Record)                         // error records and frames without a face: unchanged
        case failed(Record?)
        case done(Record, sheet: [Image]?)        // map present (reused or just written)
        case todo(Record, crop: Image, box: [Int], base: String)
    }

    func run() throws {
        Torch.setThreads(threads)
        Vision.setThreads(1)
        let execution = try engine.resolve()
        var detectors: [Detector] = []
        for path in zoo {
            do { detectors.append(try Detector(checkpoint: path, execution: execution)) } catch { throw ToolError("\(error)") }
        }
        let crops = Set(detectors.map(\.spec.testCrop))
        guard crops.count == 1 else {
            throw ToolError("the zoo's checkpoints crop faces differently (\(zip(zoo, detectors).map { "\($0.0): \($0.1.spec.testCrop)" }.joined(separator: "; "))); every model must see the same crop")
        }
        let crop = detectors[0].crop, cropName = detectors[0].spec.testCrop
        var fusionSettings = PRLEFusion()
        fusionSettings.rule = fusion; fusionSettings.tau1 = tau1; fusionSettings.lambda = lambda; fusionSettings.distinctPairs = distinctPairs
        let fuser = fusionSettings
        // Everything a map depends on; its hash names the files, so other settings never overwrite them.
        let zooKey = zoo.map { p -> String in
            let a = try? FileManager.default.attributesOfItem(atPath: p)
            let size = (a?[.size] as? NSNumber)?.intValue ?? 0
            let mtime = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(Paths.absolute(p)):\(size):\(Int(mtime))"
        }.joined(separator: ",")
        let settings = "prle-cam-fuse/1|zoo=\(zooKey)|fusion=\(fusion.rawValue)|tau1=\(tau1)|lambda=\(lambda)|distinct=\(distinctPairs)|size=\(size)|crop=\(cropName)"
        let tag = Paths.hex8(Paths.fnv1a(settings))
        try Paths.makeDirectory(out)

        let writer = NDJSONWriter()
        let progress = Progress("prle-cam-fuse", quiet: quiet)
        var sheet = overlay.map { _ in ContactSheet(tile: 160, columns: detectors.count + 2) }
        let noFace = Counter(), empty = Counter()
        let (out, size, field, cams, sheetRows, threads) = (self.out, self.size, self.field, self.cams, self.sheetRows, self.threads)
        let source = inputs.isEmpty ? [nil] : inputs.map { Optional($0) }
        var sheetUsed = 0

        func filesFor(_ base: String) -> (map: String, cams: [String], meta: String) {
            (base + "_prle.png", (0..<detectors.count).map { base + "_cam\($0).png" }, base + "_prle.json")
        }

        /// Reads, checks the cache and crops one record (any thread).
        func prepare(_ place: String, _ parsed: Result<Record, RecordError>, wantSheet: Bool) -> Item {
            guard case .success(var rec) = parsed else {
                if case .failure(let e) = parsed { Diagnostics.fail("\(e.source):\(e.line)", e.message) }
                return .failed(nil)
            }
            if rec.error != nil { return .pass(rec) }
            do {
                guard let path = rec.image else { throw ToolError("record has no \"image\" field") }
                guard let faces = rec.faces else { throw ToolError("record has no \"faces\" (run landmarks first)") }
                guard let face = faces.first else { noFace.add(); return .pass(rec) }
                let dir = SynthesisPaths.directory(out: out, image: path)
                let base = "\(dir)/\(Paths.stem(path))_0-\(tag)"
                let files = filesFor(base)
                if Paths.exists(files.map), !cams || files.cams.allSatisfy(Paths.exists),
                   let d = FileManager.default.contents(atPath: files.meta), case .object(let meta)? = try? JSON.parse([UInt8](d)),
                   meta["settings"]?.stringValue == settings, let box = meta["box"] {
                    var thumbs: [Image]?
                    if wantSheet, let frame = try? Image.read(path), let c = try? crop.extract(from: frame, face: face).image,
                       let fused = try? PRLEMap.read(files.map) {
                        let camMaps = files.cams.map { try? PRLEMap.read($0) }
                        thumbs = try? Self.sheetRow(face: c, cams: camMaps, fused: fused, size: size)
                    }
                    if try PRLEMap.read(files.map).support == 0 { empty.add() }
                    annotate(&rec, files: files, box: box, crop: cropName)
                    return .done(rec, sheet: thumbs)
                }
                let frame: Image
                do { frame = try Image.read(path) } catch { throw ToolError("\(path): \(error)") }
                let (c, r, _) = try crop.extract(from: frame, face: face)
                try Paths.makeDirectory(dir)
                return .todo(rec, crop: c, box: [r.x0, r.y0, r.x1, r.y1], base: base)
            } catch {
                let msg = Diagnostics.describe(error)
                Diagnostics.fail(place, msg)
                rec.error = "prle-cam-fuse: \(msg)"
                return .failed(rec)
            }
        }

        func annotate(_ rec: inout Record, files: (map: String, cams: [String], meta: String), box: JSONValue, crop: String) {
            rec[field] = .string(files.map)
            rec["prle_crop"] = .string(crop)
            rec["prle_box"] = box
            if cams { rec["prle_cams"] = .array(files.cams.map { .string($0) }) }
        }

        /// Grad-CAM of every zoo model on the crops, then fusion and files (this thread runs libtorch).
        func compute(_ items: inout [Item], wantSheet: Int) throws {
            let todo = items.indices.compactMap { i -> (Int, Image)? in
                if case .todo(_, let c, _, _) = items[i] { return (i, c) }
                return nil
            }
            guard !todo.isEmpty else { return }
            var perModel: [[PRLEMap]] = []
            for d in detectors {
                let input = try execution.input(try d.batch(todo.map(\.1)))
                let maps = try execution.forward { try GradCAM.maps(d.backbone, input: input) }
                perModel.append(maps.map { $0.minMaxNormalised().resized(width: size, height: size) })
            }
            var thumbsLeft = wantSheet
            for (j, (i, c)) in todo.enumerated() {
                guard case .todo(var rec, _, let box, let base) = items[i] else { continue }
                let files = filesFor(base)
                do {
                    let maps = perModel.map { $0[j] }
                    let fused = try fuser.fuse(maps)
                    if fused.support == 0 { empty.add() }
                    if cams { for (k, m) in maps.enumerated() { try m.image().write(to: files.cams[k], format: .png(level: 3)) } }
                    try fused.image().write(to: files.map, format: .png(level: 3))
                    let boxJSON = JSONValue.array(box.map { .int($0) })
                    var meta = JSONObject()
                    meta["settings"] = .string(settings); meta["box"] = boxJSON; meta["image"] = .string(rec.image ?? "")
                    try AtomicFile.write(JSON.serialize(.object(meta)) + "\n", to: files.meta)
                    annotate(&rec, files: files, box: boxJSON, crop: cropName)
                    var thumbs: [Image]?
                    if thumbsLeft > 0 { thumbs = try Self.sheetRow(face: c, cams: maps, fused: fused, size: size); thumbsLeft -= 1 }
                    items[i] = .done(rec, sheet: thumbs)
                } catch {
                    let msg = Diagnostics.describe(error)
                    Diagnostics.fail(rec.image ?? base, msg)
                    rec.error = "prle-cam-fuse: \(msg)"
                    items[i] = .failed(rec)
                }
            }
        }

        for path in source {
            let reader: NDJSONReader
            if let path { do { reader = try NDJSONReader(path: path) } catch { throw ToolError("\(path): cannot open file") } }
            else { reader = NDJSONReader(standardInput: ()) }
            let it = reader.makeIterator()
            var finished = false
            while !finished {
                try Cancellation.check()   // a safe point between batches
                var chunk: [(String, Result<Record, RecordError>)] = []
                while chunk.count < batch, let item = it.next() {
                    if let shard = sharding.shard, !shard.admits(item.record, keys: ["image"]) { continue }
                    chunk.append(("\(reader.source):\(item.line)", item.record))
                }
                if chunk.count < batch { finished = true }
                if chunk.isEmpty { break }
                var items = [Item?](repeating: nil, count: chunk.count)
                let lock = NSLock()
                let wantSheet = sheet != nil && sheetUsed < sheetRows
                DispatchQueue.concurrentPerform(iterations: min(threads, chunk.count)) { w in
                    var k = w
                    while k < chunk.count {
                        let r = prepare(chunk[k].0, chunk[k].1, wantSheet: wantSheet)
                        lock.lock(); items[k] = r; lock.unlock()
                        k += min(threads, chunk.count)
                    }
                }
                var done = items.map { $0! }
                try compute(&done, wantSheet: wantSheet ? sheetRows - sheetUsed : 0)
                for item in done {
                    switch item {
                    case .pass(let r): try writer.write(r); progress.advance()
                    case .failed(let r):
                        if let r { try writer.write(r) }
                        progress.advance(failed: 1)
                    case .done(let r, let thumbs):
                        try writer.write(r); progress.advance()
                        if let thumbs, sheetUsed < sheetRows { try sheet?.add(thumbs); sheetUsed += 1 }
                    case .todo: throw ToolError("internal: a face was left unprocessed")
                    }
                }
            }
        }
        progress.finish()
        if noFace.value > 0 { Diagnostics.info("\(noFace.value) records without a face passed through without a map") }
        if empty.value > 0 { Diagnostics.info("\(empty.value) faces got an empty fused map (no primary region above the thresholds)") }
        if Diagnostics.failures > 0 { Diagnostics.info("\(Diagnostics.failures) faces or lines got no map (reported above)") }
        if let overlay, let sheet {
            try sheet.render().write(to: overlay, format: .png(level: 3))
            if !quiet { Diagnostics.info("overlay sheet (face | \(zoo.indices.map { "CAM \($0)" }.joined(separator: " | ")) | fused): \(overlay)") }
        }
    }

    /// One contact-sheet row: the face, each model's CAM over it (jet colours), the fused map (outside it darkened).
    static func sheetRow(face: Image, cams: [PRLEMap?], fused: PRLEMap, size: Int) throws -> [Image] {
        let f = try face.resized(width: size, height: size, interpolation: .area)
        var row = [f]
        for m in cams { row.append(try m.map { try heat($0, over: f, darkenOutside: false) } ?? (try Image(width: size, height: size, channels: 3))) }
        row.append(try heat(fused, over: f, darkenOutside: true))
        return row
    }

    static func heat(_ m: PRLEMap, over face: Image, darkenOutside: Bool) throws -> Image {
        let out = face.clone()
        let (w, h, row, c) = (out.width, out.height, out.rowBytes, out.channels)
        let map = m.resized(width: w, height: h)
        out.withMutableBytes { b in
            for y in 0..<h {
                for x in 0..<w {
                    let v = Double(map[x: x, y: y]), o = y * row + x * c
                    if darkenOutside && v <= 0 {
                        for k in 0..<min(3, c) { b[o + k] = UInt8(Double(b[o + k]) * 0.35) }
                        continue
                    }
                    func ch(_ t: Double) -> Double { max(0, min(1, 1.5 - abs(4 * v - t))) * 255 }
                    let bgr = [ch(1), ch(2), ch(3)]   // jet: blue (low) to red (high)
                    for k in 0..<min(3, c) { b[o + k] = UInt8((0.5 * Double(b[o + k]) + 0.5 * bgr[k]).rounded()) }
                }
            }
        }
        return out
    }
}

ToolMain.run(PRLECamFuse.self)
