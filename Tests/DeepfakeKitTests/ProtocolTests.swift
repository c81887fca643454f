// Each reproduce pipeline against the table of its paper's protocol kept in the repository
// (pipelines/paper-protocols.json): the commands `make -n` would run on a dataset (the face detector of landmarks and
// score-video, the FF++ compression of index-dataset, the frames scored per video) and the recipes they train,
// resolved with their flags by `train --print-recipe` (crop, batch, grayscale, backbone).
import Foundation
import XCTest

final class ProtocolTests: XCTestCase {
    struct Pipeline { var key: String; var file: String; var target: String; var args: [String] }

    /// The paper's value of `key` for a model (a "rows" entry whose prefix starts the model's name wins).
    func paper(_ table: [String: Any], _ model: String, _ key: String) -> Any? { entry(table, model, key)?["value"] }
    func entry(_ table: [String: Any], _ model: String, _ key: String) -> [String: Any]? {
        var v = (table["protocol"] as? [String: Any])?[key] as? [String: Any]
        for (prefix, over) in (table["rows"] as? [String: [String: Any]]) ?? [:] where model.hasPrefix(prefix) {
            if let o = over[key] as? [String: Any] { v = o }
        }
        return v
    }

    /// The commands of `make -n`, continuation lines joined, as token lists (single quotes stripped); each command of a
    /// pipe ends with the file its line writes ("> FILE.tmp"), if any.
    func commands(_ p: Pipeline, extra: [String] = []) throws -> [[String]] {
        let run = try runTool("/usr/bin/make", ["-C", Fixtures.repo.path, "--no-print-directory", "-n", "-f", p.file, p.target,
                                                "BIN=\(Fixtures.products.path)"] + p.args + extra)
        XCTAssertEqual(run.status, 0, "\(p.key): \(run.stderr)")
        let joined = run.stdout.replacingOccurrences(of: "\\\n", with: " ")
        return joined.split(separator: "\n").flatMap { line -> [[String]] in
            let target = line.split(separator: " ").last(where: { $0.hasSuffix(".tmp") }).map(String.init)
            // Pipes and ';' separate commands on one line.
            return line.split(whereSeparator: { $0 == "|" || $0 == ";" }).map { part in
                part.split(separator: " ").map { t -> String in
                    var s = String(t)
                    if s.hasPrefix("'") && s.hasSuffix("'") && s.count >= 2 { s = String(s.dropFirst().dropLast()) }
                    return s
                } + (target.map { [">", $0] } ?? [])
            }
        }
    }

    func tool(_ cmd: [String]) -> String? { cmd.first.map { ($0 as NSString).lastPathComponent } }
    func option(_ cmd: [String], _ name: String) -> String? {
        guard let i = cmd.firstIndex(of: name), i + 1 < cmd.count else { return nil }
        return cmd[i + 1]
    }
    /// `key: value` of a resolved recipe (top-level, or "section.key").
    func recipeValue(_ yaml: String, _ key: String) -> String? {
        let parts = key.split(separator: ".").map(String.init)
        var section: String?
        for line in yaml.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
            let indented = line.hasPrefix("  ")
            let t = line.trimmingCharacters(in: .whitespaces)
            guard let colon = t.firstIndex(of: ":") else { continue }
            let k = String(t[..<colon]), v = t[t.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if !indented { section = v.isEmpty ? k : nil }
            if parts.count == 1 && !indented && k == parts[0] { return v.replacingOccurrences(of: "\"", with: "") }
            if parts.count == 2 && indented && section == parts[0] && k == parts[1] { return v.replacingOccurrences(of: "\"", with: "") }
        }
        return nil
    }

    func testTable8PipelineFollowsItsPapersProtocol() throws { try check("table8") }
    func testPIMPipelineFollowsItsPapersProtocol() throws { try check("pim") }
    func testRoGAPipelineFollowsItsPapersProtocol() throws { try check("roga") }
    func testPRLEPipelineFollowsItsPapersProtocol() throws { try check("prle") }
    func testDIDPipelineFollowsItsPapersProtocol() throws { try check("did") }

    /// One pipeline's `make -n` commands and resolved recipes against its paper's protocol table.
    func check(_ only: String) throws {
        let data = try Data(contentsOf: Fixtures.repo.appendingPathComponent("pipelines/paper-protocols.json"))
        let protocols = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let root = Fixtures.tempDir("protocol-\(only)")
        try FileManager.default.createDirectory(atPath: root + "/FF++", withIntermediateDirectories: true)
        let w = root + "/weights.pth", rf = root + "/retinaface.pth"
        for f in [w, rf] { FileManager.default.createFile(atPath: f, contents: Data()) }
        let sets = ["FFPP=\(root)/FF++", "CDF=\(root)/FF++"]
        let pipelines = [
            Pipeline(key: "table8", file: "pipelines/reproduce.mk", target: "table8", args: sets + ["PRETRAINED=\(w)", "RETINAFACE=\(rf)"]),
            Pipeline(key: "pim", file: "pipelines/reproduce-pim.mk", target: "tables", args: sets + ["PRETRAINED_convnext_base=\(w)", "RETINAFACE=\(rf)"]),
            Pipeline(key: "roga", file: "pipelines/reproduce-roga.mk", target: "tables", args: sets + ["PRETRAINED=\(w)"]),
            Pipeline(key: "prle", file: "pipelines/reproduce-prle.mk", target: "tables",
                     args: sets + ["PRETRAINED_efficientnet-b4=\(w)", "PRETRAINED_vgg16_bn=\(w)", "PRETRAINED_xception=\(w)"]),
            Pipeline(key: "did", file: "pipelines/reproduce-did.mk", target: "tables", args: sets + ["PRETRAINED=\(w)"]),
        ]
        XCTAssertEqual(Set(protocols.keys.filter { !$0.hasPrefix("_") }), Set(pipelines.map(\.key)), "a pipeline without a protocol table, or the reverse")
        for p in pipelines where p.key == only {
            let table = try XCTUnwrap(protocols[p.key] as? [String: Any], p.key)
            XCTAssertEqual(table["makefile"] as? String, p.file)
            let cmds = try commands(p.args.isEmpty ? p : Pipeline(key: p.key, file: p.file, target: p.target, args: p.args + ["OUT=\(root)/out-\(p.key)"]))
            let detector = try XCTUnwrap(paper(table, "", "detector") as? String, p.key)
            // Training faces and test faces: the paper's detector.
            let landmarks = cmds.filter { tool($0) == "landmarks" }, scorers = cmds.filter { tool($0) == "score-video" }
            XCTAssertFalse(landmarks.isEmpty, "\(p.key): no landmarks command")
            XCTAssertFalse(scorers.isEmpty, "\(p.key): no score-video command")
            for c in landmarks + scorers { XCTAssertEqual(option(c, "--detector") ?? "hog", detector, "\(p.key): \(c.joined(separator: " "))") }
            // Test frames per video.
            if let frames = paper(table, "", "frames_test") as? Int {
                for c in scorers { XCTAssertEqual(Int(option(c, "--frames") ?? "32"), frames, "\(p.key): \(c.joined(separator: " "))") }
            }
            // FF++ compression of every index-dataset ffpp command; faces/sbi-* feed the rows named sbi-*.
            let index = cmds.filter { tool($0) == "index-dataset" && $0.count > 1 && $0[1] == "ffpp" }
            XCTAssertFalse(index.isEmpty, p.key)
            for c in index {
                let out = option(c, ">").map { ($0 as NSString).lastPathComponent } ?? ""
                let model = out.hasPrefix("sbi-") ? "sbi-" : ""
                XCTAssertEqual(option(c, "--compression"), paper(table, model, "compression") as? String, "\(p.key): \(c.joined(separator: " "))")
            }
            // Every trained model's resolved recipe: crop, batch, grayscale and backbone as the paper (or its row).
            let trains = cmds.filter { tool($0) == "train" }
            XCTAssertFalse(trains.isEmpty, p.key)
            var models = Set<String>()
            for c in trains {
                let model = try XCTUnwrap(option(c, "--out").map { ($0 as NSString).lastPathComponent }, "\(p.key): \(c)")
                guard models.insert(model).inserted else { continue }
                var args = Array(c.dropFirst())
                if let first = args.first, !first.hasPrefix("-") { args.removeFirst() }
                let r = try runTool("train", args + ["--print-recipe"])
                XCTAssertEqual(r.status, 0, "\(p.key) \(model): \(r.stderr)")
                let yaml = r.stdout
                if let crop = paper(table, model, "crop") as? String {
                    XCTAssertEqual(recipeValue(yaml, "input.test_crop"), crop, "\(p.key) \(model): test crop")
                    if recipeValue(yaml, "data.source") == "labelled" {
                        XCTAssertEqual(recipeValue(yaml, "input.train_crop"), crop, "\(p.key) \(model): training crop")
                    }
                }
                if let batch = paper(table, model, "batch") as? Int {
                    XCTAssertEqual(recipeValue(yaml, "batch"), String(batch), "\(p.key) \(model): batch")
                }
                // Input size: the paper's, or its per-backbone value (PIM: 380 for EfficientNet-B4).
                if let e = entry(table, model, "size"), let size = e["value"] as? Int {
                    let want = (e["by_backbone"] as? [String: Int])?[recipeValue(yaml, "backbone") ?? ""] ?? size
                    XCTAssertEqual(recipeValue(yaml, "input.size"), String(want), "\(p.key) \(model): input size")
                }
                if let gray = paper(table, model, "grayscale") as? Bool {
                    XCTAssertEqual(recipeValue(yaml, "input.grayscale"), String(gray), "\(p.key) \(model): grayscale")
                }
                if let backbone = paper(table, model, "backbone") as? String {
                    let also = ((table["protocol"] as? [String: Any])?["backbone"] as? [String: Any])?["also"] as? [String] ?? []
                    let ours = recipeValue(yaml, "backbone") ?? "?"
                    XCTAssertTrue(ours == backbone || also.contains(ours), "\(p.key) \(model): backbone \(ours)")
                }
                // ImageNet weights where the paper starts from them (the recipe refuses without), none where it does not.
                let pretrained = (paper(table, model, "init") as? String) == "pretrained"
                XCTAssertEqual(recipeValue(yaml, "init.pretrained"), pretrained ? "required" : "none", "\(p.key) \(model): init.pretrained")
                XCTAssertEqual(c.contains("--pretrained"), pretrained, "\(p.key) \(model): \(c.joined(separator: " "))")
            }
            XCTAssertFalse(models.isEmpty, p.key)
        }
    }

    /// docs/reproduce.md carries each paper's protocol table as the repository's protocol file prints it.
    func testDocsCarryEachPapersProtocolTable() throws {
        let docs = try String(contentsOf: Fixtures.repo.appendingPathComponent("docs/reproduce.md"), encoding: .utf8)
        for key in ["table8", "pim", "roga", "prle", "did"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = [Fixtures.repo.path + "/scripts/protocol_card.py", "--pipeline", key, "--paper-table"]
            let out = Pipe(); p.standardOutput = out
            try p.run()
            let table = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            let start = try XCTUnwrap(docs.range(of: "<!-- protocol:\(key) "), "docs/reproduce.md: no protocol table for \(key)")
            let body = docs[start.upperBound...].drop { $0 != "\n" }.dropFirst()
            let end = try XCTUnwrap(body.range(of: "<!-- /protocol -->"))
            XCTAssertEqual(String(body[..<end.lowerBound]), table, "docs/reproduce.md's \(key) table is stale: run scripts/protocol_card.py --update-docs docs/reproduce.md")
        }
    }

    /// A paper that finds faces with RetinaFace refuses without its weights, in seconds and with one line; DETECTOR=hog
    /// runs dlib instead (and the card will say so).
    func testRetinaFacePipelinesRefuseWithoutRetinaFaceWeights() throws {
        let root = Fixtures.tempDir()
        try FileManager.default.createDirectory(atPath: root + "/FF++", withIntermediateDirectories: true)
        let w = root + "/weights.pth"
        FileManager.default.createFile(atPath: w, contents: Data())
        for (file, target, weights, name) in [("pipelines/reproduce.mk", "table8", "PRETRAINED=\(w)", "reproduce"),
                                              ("pipelines/reproduce-pim.mk", "tables", "PRETRAINED_convnext_base=\(w)", "reproduce-pim")] {
            let start = Date()
            let run = try runTool("/usr/bin/make", ["-C", Fixtures.repo.path, "--no-print-directory", "-f", file, target, "BIN=\(Fixtures.products.path)",
                                                    "OUT=\(root)/out", "FFPP=\(root)/FF++", weights])
            XCTAssertEqual(run.status, 2, run.stderr)
            // make's own "make: *** [...] Error 2" (make[1]: under a parent make) is not the pipeline's message.
            let said = run.stderrLines.filter { !($0.hasPrefix("make") && $0.contains(": *** ")) }
            XCTAssertEqual(said.count, 1, run.stderr)
            let line = said.first ?? ""
            XCTAssertTrue(line.hasPrefix("\(name): the paper finds faces with RetinaFace: give RETINAFACE=") && line.contains("DETECTOR=hog"), line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/out"), "work started")
            XCTAssertLessThan(Date().timeIntervalSince(start), 10)
            let hog = try commands(Pipeline(key: name, file: file, target: target, args: ["OUT=\(root)/out", "FFPP=\(root)/FF++", weights, "DETECTOR=hog"]))
            let lm = try XCTUnwrap(hog.first { tool($0) == "landmarks" })
            XCTAssertEqual(option(lm, "--detector"), "hog")
            for c in hog where tool(c) == "train" { XCTAssertFalse(c.contains("input.test_crop=margin:0.125:retina"), c.joined(separator: " ")) }
        }
    }

    /// The card compares a run with the paper: a demo-sized run lists the toy data and every checked key it changes.
    func testProtocolCardListsTheDifferencesFromThePaper() throws {
        let out = Fixtures.tempDir()
        let models = out + "/models/all-roga"
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        // A checkpoint header only (the card reads no tensor): ResNet-18 at batch 8, 2 epochs, random init.
        let recipe = #"{"name":"roga","backbone":"resnet18","batch":8,"epochs":2,"input":{"test_crop":"align:256:1.3","train_crop":"align:256:1.3"},"data":{"frames_per_video":32,"augment":"deepfakebench"},"optimizer":{"name":"sgd","lr":0.005},"step":{"name":"roga"},"schedule":{"name":"constant"}}"#
        let meta: [String: String] = ["recipe_json": recipe, "init": "random", "backbone": "resnet18", "test_crop": "align:256:1.3", "grayscale": "false",
                                      "size": "96", "seed": "5", "epoch": "1", "val_auc": "0.8"]
        let header = try JSONSerialization.data(withJSONObject: ["__metadata__": meta])
        var file = Data(withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) })
        file.append(header)
        try file.write(to: URL(fileURLWithPath: models + "/best.safetensors"))
        try FileManager.default.createDirectory(atPath: out + "/scores/all-roga", withIntermediateDirectories: true)
        try #"{"video":"a.mp4","label":0,"protocol":"8 frames per video; max over faces; detector hog; crop align:256:1.3","level":"video"}"#
            .appending("\n").write(toFile: out + "/scores/all-roga/demo.ndjson", atomically: true, encoding: .utf8)
        try #"{"image":"f.png","video":"a.mp4","faces":[{"box":[0,0,9,9],"detector":"hog"}]}"#
            .appending("\n").write(toFile: out + "/faces.ndjson", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [Fixtures.repo.path + "/scripts/protocol_card.py", "--pipeline", "roga", "--out", out, "--models", "all-roga",
                       "--faces", out + "/faces.ndjson", "--demo"]
        let err = Pipe(); p.standardError = err
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let card = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/card.json"))) as? [String: Any])
        let differs = try XCTUnwrap(card["differs_from_the_paper"] as? [String])
        XCTAssertTrue(differs.first?.hasPrefix("Toy data") ?? false, "\(differs)")
        for want in ["backbone resnet18, the paper's resnet34", "initial weights random, the paper's pretrained", "batch 8, the paper's 32",
                     "epochs 2, the paper's 10", "test frames per video 8, the paper's 32", "input size 96, the paper's 256"] {
            XCTAssertTrue(differs.contains { $0.contains(want) }, "missing '\(want)' in \(differs)")
        }
        // What matches the paper is not listed: detector and crop.
        XCTAssertFalse(differs.contains { $0.contains("face detector") || $0.contains("test crop") }, "\(differs)")
        let md = try String(contentsOfFile: out + "/card.md")
        XCTAssertTrue(md.contains("## Differs from the paper") && md.contains("| all-roga | roga | resnet18 | random |"), md)
    }
}
