// The flags every tool that runs a network shares: where it runs and in which precision.
import ArgumentParser
import DFKModels
import DFKTensor
import DFKTool

extension Precision: ExpressibleByArgument {}

extension DeviceChoice: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public var defaultValueDescription: String { text }

    /// The --device transform: the value, or an error saying what a value may be (the parser puts it after
    /// "The value 'X' is invalid for '--device <...>'").
    static func argument(_ text: String) throws -> DeviceChoice {
        guard let c = DeviceChoice(parsing: text) else { throw ToolError(DeviceChoice.expected) }
        return c
    }
}

public struct ExecutionOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("device"),
            help: ArgumentHelp("Device: auto (the first GPU libtorch sees, else the CPU), cpu, cuda, cuda:N or mps.",
                               valueName: "auto|cpu|cuda|cuda:N|mps"),
            transform: { try DeviceChoice.argument($0) })
    public var deviceChoice: DeviceChoice = .auto

    /// The --device value as given ("auto", "cuda", "cuda:1", ...).
    public var device: String { deviceChoice.text }

    @Option(help: ArgumentHelp("Precision of the forward pass (autocast; weights stay fp32; fp16 adds loss scaling). Default: bf16 on a GPU that supports it, fp32 on the CPU."))
    public var precision: Precision?

    @Flag(help: "Images and convolution weights channels-last (NHWC), the fast layout of recent GPUs.")
    public var channelsLast = false

    /// The resolved execution; a device or precision this libtorch cannot use is a one-line error.
    public func resolve() throws -> Execution {
        do { return try Execution.resolve(device: deviceChoice, precision: precision, channelsLast: channelsLast) } catch { throw ToolError("\(error)") }
    }
}
