// Command-line forms of DFKImaging's choices, shared by the tools that handle images (landmarks, score-video,
// score-frames, the synthesis tools): a bad value is refused by the parser, which names the valid ones.
import ArgumentParser
import DFKImaging

extension CropRule: ExpressibleByArgument {
    /// "sbi", "margin:F" or "margin:F:RULE" (`CropRule.parse`).
    public init?(argument: String) {
        guard let r = CropRule.parse(argument) else { return nil }
        self = r
    }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] {
        ["sbi", "margin:F", "margin:F:RULE (RULE: " + FaceBoxRule.allCases.map(\.rawValue).joined(separator: ", ") + ")"]
    }
}

extension Image.BlurKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}
