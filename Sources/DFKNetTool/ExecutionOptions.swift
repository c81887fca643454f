// The flags every tool that runs a network shares: where it runs and in which precision.
import ArgumentParser
import DFKModels
import DFKTensor
import DFKTool

extension Precision: ExpressibleByArgument {}

public struct ExecutionOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp("Device: auto (the first GPU libtorch sees, else the CPU), cpu, cuda, cuda:N or mps.",
                               valueName: "auto|cpu|cuda|cuda:N|mps"))
    public var device: String = "auto"

    @Option(help: ArgumentHelp("Precision of the forward pass (autocast; weights stay fp32; fp16 adds loss scaling). Default: bf16 on a GPU that supports it, fp32 on the CPU."))
    public var precision: Precision?

    @Flag(help: "Images and convolution weights channels-last (NHWC), the fast layout of recent GPUs.")
    public var channelsLast = false

    public func validate() throws {
        guard device.lowercased() == "auto" || (Device(parsing: device).map { $0 != .meta } ?? false) else {
            throw ValidationError("--device \(device): expected auto, cpu, cuda, cuda:N or mps")
        }
    }

    /// The resolved execution; a device or precision this libtorch cannot use is a one-line error.
    public func resolve() throws -> Execution {
        do { return try Execution.resolve(device: device, precision: precision, channelsLast: channelsLast) } catch { throw ToolError("\(error)") }
    }
}
