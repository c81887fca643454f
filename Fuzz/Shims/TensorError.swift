// The one DFKTensor type the weight-file parsers need beyond their own files (Tensor.swift needs libtorch).
public struct TensorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
