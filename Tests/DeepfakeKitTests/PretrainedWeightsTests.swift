// The backbone registry's published ImageNet weights as data: the list fetch-weights.sh reads is the registry's,
// each entry's classifier is a module of its backbone, the layouts are told apart, normalisation differences are said.
import DFKModels
import DFKTrain
import DFKTensor
import Foundation
import XCTest

final class PretrainedWeightsTests: XCTestCase {
    func testFetchListIsWhatTheRegistryWrites() throws {
        let run = try runTool("train", ["--list-weights"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let committed = try String(contentsOf: Fixtures.repo.appendingPathComponent("scripts/pretrained-weights.list"), encoding: .utf8)
        XCTAssertEqual(run.stdout, committed, "scripts/pretrained-weights.list is stale: run `train --list-weights > scripts/pretrained-weights.list`")
        // fetch-weights.sh reads it: every tag is listed, an unknown one is refused with the known ones.
        let script = Fixtures.repo.appendingPathComponent("scripts/fetch-weights.sh").path
        let list = try runTool(script, ["--list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        for c in Backbone.pretrained { XCTAssertTrue(list.stdout.contains(c.tag) && list.stdout.contains(c.url), c.tag) }
        let bad = try runTool(script, ["no-such-weights"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("unknown weights 'no-such-weights'") && bad.stderr.contains("efficientnet-b4-advprop"), bad.stderr)
    }

    func testEveryPublishedFileBelongsToARegisteredBackboneWithThatClassifier() throws {
        XCTAssertEqual(Set(Backbone.pretrained.map(\.tag)).count, Backbone.pretrained.count, "fetch tags are unique")
        XCTAssertEqual(Set(Backbone.pretrained.map(\.file)).count, Backbone.pretrained.count, "file names are unique")
        for c in Backbone.pretrained {
            let entry = try XCTUnwrap(Backbone.entry(c.backbone), c.tag)
            XCTAssertTrue(entry.pretrained.contains(c))
            XCTAssertEqual(c.mean.count, 3); XCTAssertEqual(c.std.count, 3)
            XCTAssertTrue(c.sha256.map { c.file.contains("-" + $0) } ?? true, "\(c.file): the published prefix is in the name")
            let names = Set(try entry.make(1000, nil).stateDict().map(\.0))
            XCTAssertTrue(names.contains(c.classifier + ".weight") && names.contains(c.classifier + ".bias"),
                          "\(c.backbone): no classifier \(c.classifier) among its modules")
        }
        // Each file names shipped recipes only, and every recipe that needs weights finds its backbone's file by name
        // (not by falling back to the default): PRLE's EfficientNet-B4 is the plain ImageNet file, SBI's the AdvProp one.
        let shipped = Set(Recipe.shippedNames)
        for c in Backbone.pretrained { XCTAssertTrue(c.recipes.isSubset(of: shipped), "\(c.tag): \(c.recipes.subtracting(shipped))") }
        for name in shipped {
            let r = try Recipe.load(name)
            guard r.pretrained == .required else { continue }
            XCTAssertTrue(Backbone.entry(r.backbone)?.pretrained.contains { $0.recipes.contains(name) } ?? false, "\(name): no file lists it")
        }
        XCTAssertEqual(Backbone.entry("efficientnet-b4")?.pretrained(forRecipe: "prle-baseline")?.tag, "efficientnet-b4")
        XCTAssertEqual(Backbone.entry("efficientnet-b4")?.pretrained(forRecipe: "bbmg-nrs")?.tag, "efficientnet-b4-advprop")
        // The default the trainer suggests for the papers' EfficientNet-B4 is SBI's AdvProp file.
        XCTAssertEqual(Backbone.entry("efficientnet-b4")?.pretrained.first?.tag, "efficientnet-b4-advprop")
        XCTAssertEqual(Backbone.pretrained(named: "resnet34-b627a593.pth")?.backbone, "resnet34")
    }

    func testForeignLayoutsAreToldApartByTheirKeys() throws {
        XCTAssertEqual(Backbone.layouts.map(\.name), ["timm EfficientNet", "facebookresearch ConvNeXt", "timm EfficientNetV2"])
        let samples: [(String, Set<String>)] = [
            ("timm EfficientNet", ["conv_stem.weight", "blocks.0.0.conv_dw.weight", "blocks.1.0.conv_pw.weight"]),
            ("timm EfficientNetV2", ["conv_stem.weight", "blocks.0.0.conv.weight", "blocks.1.0.conv_exp.weight"]),
            ("facebookresearch ConvNeXt", ["downsample_layers.0.0.weight", "stages.0.0.dwconv.weight"]),
        ]
        for (name, keys) in samples {
            XCTAssertEqual(Backbone.layouts.filter { $0.recognises(keys) }.map(\.name), [name], "exactly one layout claims \(keys)")
        }
        // The toolkit's own names are claimed by none.
        let own = Set(try Backbone.make("efficientnet-b0", classes: 10).module.stateDict().map(\.0))
        XCTAssertTrue(Backbone.layouts.allSatisfy { !$0.recognises(own) })
    }

    func testNormalisationDifferenceIsSaid() throws {
        let advprop = try XCTUnwrap(Backbone.pretrained(named: "efficientnet-b4-advprop"))
        XCTAssertNil(advprop.normalisationNote(mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5]))
        let note = try XCTUnwrap(advprop.normalisationNote(mean: [0, 0, 0], std: [255, 255, 255]))
        XCTAssertEqual(note, "adv-efficientnet-b4-44fb3a87.pth was trained on (x - [127.5, 127.5, 127.5]) / [127.5, 127.5, 127.5]; "
                       + "the recipe normalises with (x - [0, 0, 0]) / [255, 255, 255]")
    }
}
