// swift-tools-version:6.0
// DeepfakeKit: composable tools for research on generalizable deepfake detection.
import PackageDescription
import Foundation

// Native libraries come from Debian packages (see scripts/setup.sh). Their include directories can be
// overridden from the environment for other layouts: OPENCV_INCLUDE (default /usr/include/opencv4).
let env = ProcessInfo.processInfo.environment
let opencvInclude = env["OPENCV_INCLUDE"] ?? "/usr/include/opencv4"

// dlib templates are ~30x slower unoptimised, so the shim is always compiled with optimisation,
// also in debug builds (the tests run the real detector).
let nativeFlags: [String] = ["-I\(opencvInclude)", "-O2", "-DNDEBUG", "-UDEBUG", "-std=c++17"]

let package = Package(
    name: "DeepfakeKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "DFKRecords", targets: ["DFKRecords"]),
        .library(name: "DFKImaging", targets: ["DFKImaging"]),
        .executable(name: "extract-frames", targets: ["extract-frames"]),
        .executable(name: "landmarks", targets: ["landmarks"]),
        .executable(name: "synth-sbi", targets: ["synth-sbi"]),
        .executable(name: "bbmg-mask", targets: ["bbmg-mask"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shim over OpenCV 4 and dlib 19: plain C header, opaque handles, exceptions turned into messages.
        .target(
            name: "CVision",
            cxxSettings: [.unsafeFlags(nativeFlags)],
            linkerSettings: [
                .linkedLibrary("opencv_videoio"), .linkedLibrary("opencv_imgcodecs"),
                .linkedLibrary("opencv_imgproc"), .linkedLibrary("opencv_core"),
                .linkedLibrary("png"), .linkedLibrary("dlib"), .linkedLibrary("lapack"), .linkedLibrary("blas"),
                .linkedLibrary("stdc++"), .linkedLibrary("m"),
            ]
        ),
        // NDJSON records: streaming reader/writer, order- and text-preserving JSON values, typed fields.
        .target(name: "DFKRecords"),
        // Images, video decoding, face detection, landmarks, face boxes and crops.
        .target(name: "DFKImaging", dependencies: ["CVision", "DFKRecords", "DFKCore"]),
        // Diagnostics, progress, ordered parallel map, atomic files, stable output names.
        .target(name: "DFKCore"),
        // Pseudo-fake synthesis: SBI self-blending, Face X-ray hulls, SLADD regions, BBMG masks.
        .target(name: "DFKSynthesis", dependencies: ["DFKImaging", "DFKRecords", "DFKCore"]),
        // What every tool's main shares: flag parsing with one-line errors, exit codes, signal clean-up.
        .target(name: "DFKTool", dependencies: [
            "DFKCore", "DFKRecords", "DFKImaging", "DFKSynthesis", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "extract-frames", dependencies: ["DFKImaging", "DFKTool"]),
        .executableTarget(name: "landmarks", dependencies: ["DFKImaging", "DFKTool"]),
        .executableTarget(name: "synth-sbi", dependencies: ["DFKSynthesis", "DFKImaging", "DFKTool"]),
        .executableTarget(name: "bbmg-mask", dependencies: ["DFKSynthesis", "DFKImaging", "DFKTool"]),
        // Bench helpers (`make bench`): the bare dlib loop that `landmarks` is measured against.
        .executableTarget(name: "dfk-bench", dependencies: ["DFKSynthesis", "DFKImaging", "DFKCore"]),
        .testTarget(name: "DeepfakeKitTests", dependencies: ["DFKRecords", "DFKImaging", "DFKSynthesis", "DFKCore", "DFKTool"]),
    ],
    swiftLanguageModes: [.v5]
)
