// dfk-bench: measurement helpers for `make bench`.
//   dfk-bench dlib-loop IMAGE... : the bare cost of dlib HOG detection + 68-point prediction per image,
//   in a minimal loop over images already in memory (one thread), the anchor for `landmarks` throughput.
import DFKImaging
import DFKRecords
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
guard args.first == "dlib-loop", args.count > 1 else {
    FileHandle.standardError.write("usage: dfk-bench dlib-loop [--upsample N] IMAGE...\n".data(using: .utf8)!)
    exit(64)
}
var rest = Array(args.dropFirst())
var upsample = 1
if rest.first == "--upsample", rest.count > 1 { upsample = Int(rest[1]) ?? 1; rest.removeFirst(2) }
do {
    Vision.setThreads(1)
    let images = try rest.map { try Image.read($0) }
    let detector = try FaceDetector(.hog)
    let predictor = try LandmarkPredictor()
    var faces = 0
    let t0 = Date()
    for img in images {
        for d in try detector.detect(img, upsample: upsample) {
            _ = try predictor.predict(img, in: d.box)
            faces += 1
        }
    }
    let secs = Date().timeIntervalSince(t0)
    print(String(format: "{\"frames\":%d,\"faces\":%d,\"seconds\":%.4f,\"fps\":%.3f}", images.count, faces, secs, Double(images.count) / secs))
} catch {
    FileHandle.standardError.write("dfk-bench: error: \(error)\n".data(using: .utf8)!)
    exit(1)
}
