// Every numeric flag of every tool has a documented valid range: the range is written into the flag's --help text
// and checked when the command line is parsed (in the command's validate()), so `--threads 100000` or
// `--blur-kernel 1000001` is a one-line usage error (exit 64), never a crash or an hour of work.
import ArgumentParser

/// The valid values of one numeric flag.
public struct FlagRange<T: Comparable & CustomStringConvertible & Sendable>: Sendable {
    public let flag: String
    public let range: ClosedRange<T>
    /// Integers only: the value must be odd (kernel sizes).
    public let odd: Bool

    public init(_ flag: String, _ range: ClosedRange<T>, odd: Bool = false) {
        self.flag = flag; self.range = range; self.odd = odd
    }

    /// "1-256", "odd, 1-255", "0-1".
    public var text: String { (odd ? "odd, " : "") + "\(range.lowerBound)-\(range.upperBound)" }

    /// The flag's help with its range appended.
    public func help(_ text: String, valueName: String? = nil) -> ArgumentHelp {
        ArgumentHelp("\(text) Valid: \(self.text).", valueName: valueName)
    }

    /// Throws a ValidationError naming the flag and its range when `value` is outside it (nil: not given, fine).
    public func check(_ value: T?) throws {
        guard let value else { return }
        let isOdd = (value as? Int).map { $0 % 2 != 0 } ?? true
        guard range.contains(value), !odd || isOdd else {   // NaN is in no range
            throw ValidationError("\(flag) must be \(odd ? "an odd number " : "")within \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
    }
}

/// Ranges that several tools share, so the same flag means the same thing everywhere.
public enum Flags {
    /// Worker threads: beyond this, thread pools (TBB inside OpenCV, libtorch) fail rather than speed up.
    public static let threads = FlagRange("--threads", 1...256)
    /// Faces per forward pass.
    public static let batch = FlagRange("--batch", 1...4096)
    /// dlib detector upsampling: each step doubles the image (4x the work and memory).
    public static let upsample = FlagRange("--upsample", 0...4)
    public static let jpeg = FlagRange("--jpeg", 1...100)
    public static let sheetRows = FlagRange("--sheet-rows", 1...1000)
    public static let minFaceRatio = FlagRange("--min-face-ratio", 0.0...1.0)
    /// Gaussian / average / median kernel sizes (pixels): beyond this a blur costs minutes per image and
    /// erases the face, which no experiment in the papers asks for (BBMG's Fig. 5 goes to 25).
    public static let blurKernel = FlagRange("--blur-kernel", 1...255, odd: true)
}
