// Command-line options shared by the synthesis tools (synth-sbi, bbmg-mask): DFKSynthesis's choices as parsed
// arguments, the BBMG/NRS mask knobs and the run options.
import ArgumentParser
import DFKImaging
import DFKImagingTool
import DFKSynthesis
import DFKTool

extension BBMGBlur: ExpressibleByArgument {}
extension BlendCast: ExpressibleByArgument {}
extension JPEGColors: ExpressibleByArgument {}
extension HSVMode: ExpressibleByArgument {}
extension MaskStyle.DType: ExpressibleByArgument {}

/// A mask fill value: 1 or 255 (any spelling of those numbers, "255.0" too).
public struct MaskFill: ExpressibleByArgument, Sendable, Equatable {
    public let value: Double
    public init?(argument: String) {
        guard let v = Double(argument), MaskStyle.isFillValue(v) else { return nil }
        value = v
    }
    public static var allValueStrings: [String] { ["1", "255"] }
}

/// A mask line type: 8 (line_8) or aa (line_aa, 16). `text` keeps the spelling given (it is part of result-cache keys).
public struct MaskLine: ExpressibleByArgument, Sendable, Equatable {
    public let text: String
    public let line: Image.LineType
    public init?(argument: String) {
        guard let l = MaskStyle.line(named: argument) else { return nil }
        text = argument; line = l
    }
    public static var allValueStrings: [String] { ["8", "aa"] }
}

/// The BBMG/NRS paper's mask knobs: boundary blur (Table 4, Fig. 5) and drawing style (Table 3).
public struct MaskKnobs: ParsableArguments {
    @Option(help: "Boundary blur of the mask (Table 4): gaussian, average or median.")
    public var blur: Image.BlurKind = .gaussian
    @Option(help: Flags.blurKernel.help("Blur kernel size (Fig. 5). Default: random odd 5-25."))
    public var blurKernel: Int?
    @Option(help: "Mask data type: uint8 or float32 (Table 3).")
    public var dtype: MaskStyle.DType?
    @Option(help: "Mask fill value: 1 or 255 (Table 3).")
    public var value: MaskFill?
    @Option(help: "Mask line type: 8 or aa (Table 3).")
    public var line: MaskLine?
    @Option(help: "BBMG's boundary blur: single (one Gaussian, odd kernel 5-25, as the paper's section 3.3) or sbi (SBI's two-stage mask blur per part, for the ablation).")
    public var bbmgBlur: BBMGBlur = .single

    public init() {}

    public func validate() throws {
        try Flags.blurKernel.check(blurKernel)
    }
    /// The drawing style: `base` with the given words applied.
    public func style(base: MaskStyle) -> MaskStyle { base.with(dtype: dtype, value: value?.value, line: line?.line) }
    /// A string naming every knob, for result caches.
    public var key: String {
        "blur=\(blur.name):\(blurKernel ?? 0)|\(dtype?.rawValue ?? "-"),\(value.map { String($0.value) } ?? "-"),\(line?.text ?? "-")"
            + (bbmgBlur == .single ? "" : "|bbmg_blur=\(bbmgBlur.rawValue)")
    }
}

/// Contact sheet, worker threads and quiet mode.
public struct RunOptions: ParsableArguments {
    @Option(help: "Write a contact sheet of the first records to this PNG.")
    public var contactSheet: String?
    @Option(help: Flags.sheetRows.help("Rows in the contact sheet."))
    public var sheetRows = 12
    @Option(help: Flags.threads.help("Worker threads. Default: all cores."))
    public var threads = Inputs.cores
    @Flag(name: [.short, .long], help: "No progress output.")
    public var quiet = false
    public init() {}
    public func validate() throws {
        try Flags.threads.check(threads); try Flags.sheetRows.check(sheetRows)
    }
}
