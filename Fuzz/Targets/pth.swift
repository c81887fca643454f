// PyTorch .pth weight files, zip and legacy: the safe pickle reader and every tensor's place in its storage.
@testable import DFKTensor
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPth(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let path = Scratch.write(data, size, suffix: ".pth")
    do {
        let layout = try PthLayout.parse(bytes, path: path)
        for t in layout.tensors {
            // What WeightFile.read would then touch: every element inside the storage, no more than it holds.
            guard t.span.count.multipliedReportingOverflow(by: t.ref.storage.dtype.size).partialValue <= t.raw.count else {
                fatalError("tensor \(t.name) larger than its storage passed the checks")
            }
        }
    } catch {
        checkError(error, names: path)
    }
    return 0
}
