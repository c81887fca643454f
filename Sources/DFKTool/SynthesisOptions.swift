// Command-line options shared by the synthesis tools (synth-sbi, bbmg-mask).
import ArgumentParser
import DFKImaging
import DFKSynthesis

extension BBMGBlur: ExpressibleByArgument {}
extension BlendCast: ExpressibleByArgument {}
extension JPEGColors: ExpressibleByArgument {}

/// The BBMG/NRS paper's mask knobs: boundary blur (Table 4, Fig. 5) and drawing style (Table 3).
public struct MaskKnobs: ParsableArguments {
    @Option(help: "Boundary blur of the mask (Table 4): gaussian, average or median.")
    public var blur = "gaussian"
    @Option(help: Flags.blurKernel.help("Blur kernel size (Fig. 5). Default: random odd 5-25."))
    public var blurKernel: Int?
    @Option(help: "Mask data type: uint8 or float32 (Table 3).")
    public var dtype: String?
    @Option(help: "Mask fill value: 1 or 255 (Table 3).")
    public var value: Double?
    @Option(help: "Mask line type: 8 or aa (Table 3).")
    public var line: String?
    @Option(help: "BBMG's boundary blur: single (one Gaussian, odd kernel 5-25, as the paper's section 3.3) or sbi (SBI's two-stage mask blur per part, for the ablation).")
    public var bbmgBlur: BBMGBlur = .single

    public init() {}

    public func validate() throws {
        guard blurKind != nil else { throw ValidationError("--blur must be gaussian, average or median") }
        try Flags.blurKernel.check(blurKernel)
        guard style(base: .lalReference) != nil else { throw ValidationError("--dtype must be uint8|float32, --value 1|255, --line 8|aa") }
    }
    public var blurKind: Image.BlurKind? { Image.BlurKind.allCases.first { "\($0)" == blur } }
    /// The drawing style: `base` with the given words applied.
    public func style(base: MaskStyle) -> MaskStyle? { MaskStyle.parse(dtype: dtype, value: value, line: line, base: base) }
    /// A string naming every knob, for result caches.
    public var key: String {
        "blur=\(blur):\(blurKernel ?? 0)|\(dtype ?? "-"),\(value.map { String($0) } ?? "-"),\(line ?? "-")"
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
