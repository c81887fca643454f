// Dataset list files: FF++ split lists (JSON pairs), text lists, JSON lists and DeepfakeBench landmark arrays (.npy).
@testable import DFKDatasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatasets(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Scratch.write(data, size, suffix: ".list")
    do { _ = try DatasetIndex.ffppPairs(path) } catch { checkError(error, names: path) }
    do { _ = try DatasetIndex.listLines(path) } catch { checkError(error, names: path) }
    do { _ = try DatasetIndex.readJSON(path, expected: "anything") } catch { checkError(error, names: path) }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let a = try NPY.parse(bytes, name: "input.npy")
        do { _ = try DatasetIndex.facesFromLandmarks(a, file: "input.npy") } catch { checkError(error, names: "input.npy") }
    } catch { checkError(error, names: "input.npy") }
    return 0
}
