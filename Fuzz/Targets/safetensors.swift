// Safetensors checkpoints: the header and every tensor's byte range.
import DFKTensor
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let layout = try SafetensorsLayout.parse(bytes, path: "input.safetensors")
        for e in layout.entries {
            guard e.range.lowerBound >= 8, e.range.upperBound <= bytes.count,
                  e.range.count == e.count * SafetensorsLayout.itemSizes[e.dtype]! else { fatalError("entry \(e.name) outside the file passed the checks") }
            _ = bytes[e.range].reduce(0, &+)
        }
    } catch {
        checkError(error, names: "input.safetensors")
    }
    return 0
}
