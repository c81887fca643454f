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
// Both shims include the C-boundary error helpers of Sources/CShared (one header, no target of its own).
let sharedInclude = "-I" + Context.packageDirectory + "/Sources/CShared"
let nativeFlags: [String] = [sharedInclude, "-I\(opencvInclude)", "-O2", "-DNDEBUG", "-UDEBUG", "-std=c++17"]

// libtorch: Debian's libtorch-dev by default; a user with a GPU points LIBTORCH at a CUDA libtorch prefix
// (the directory holding include/ and lib/, e.g. an unpacked libtorch archive).
// The libtorch inside a PyTorch 2.x wheel has the same layout: LIBTORCH=$(python3 -c 'import torch, os;
// print(os.path.dirname(torch.__file__))'). Its headers want C++20 from 2.x on; a CUDA build also ships
// libtorch_cuda and libc10_cuda, which must stay linked (they register the CUDA kernels when loaded).
let libtorch = env["LIBTORCH"]
let torchIncludes = libtorch.map { ["\($0)/include", "\($0)/include/torch/csrc/api/include"] }
    ?? ["/usr/include/torch/csrc/api/include"]
func torchMajor(_ includes: [String]) -> Int {
    for file in includes.flatMap({ [$0 + "/torch/version.h", $0 + "/torch/headeronly/version.h"] }) {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") where line.hasPrefix("#define TORCH_VERSION_MAJOR ") {
            return Int(line.split(separator: " ").last ?? "") ?? 1
        }
    }
    return 1
}
let torchStandard = torchMajor(torchIncludes) >= 2 ? "-std=c++20" : "-std=c++17"
let torchFlags = [sharedInclude] + torchIncludes.map { "-I\($0)" } + ["-O2", "-DNDEBUG", torchStandard, "-D_GLIBCXX_USE_CXX11_ABI=1"]
    // c10d (Sources/CTorch/dist.cpp): its Gloo process group is declared only with these; DFK_NCCL=1 (a CUDA libtorch
    // with NCCL) adds ProcessGroupNCCL.
    + ["-DUSE_DISTRIBUTED", "-DUSE_C10D_GLOO"] + (env["DFK_NCCL"] == "1" ? ["-DUSE_C10D_NCCL"] : [])
let torchCUDA = libtorch.map { FileManager.default.fileExists(atPath: "\($0)/lib/libtorch_cuda.so") } ?? false
// With LIBTORCH the libraries are linked by path: a -L would come after the system directory that Debian's
// libtorch lives in. Their lib/ goes on the run path.
let torchLink: [LinkerSetting] = libtorch.map { lt in
    let libs = (torchCUDA ? ["torch_cuda", "c10_cuda"] : []) + ["torch", "torch_cpu", "c10"]
    return [.unsafeFlags(["-Xlinker", "--no-as-needed"] + libs.map { "\(lt)/lib/lib\($0).so" }
                         + ["-Xlinker", "-rpath", "-Xlinker", "\(lt)/lib"]),
            .linkedLibrary("stdc++")]
} ?? [.linkedLibrary("torch"), .linkedLibrary("torch_cpu"), .linkedLibrary("c10"), .linkedLibrary("stdc++")]

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
        .executable(name: "score-video", targets: ["score-video"]),
        .executable(name: "score-frames", targets: ["score-frames"]),
        .executable(name: "metrics", targets: ["metrics"]),
        .executable(name: "train", targets: ["train"]),
        .executable(name: "index-dataset", targets: ["index-dataset"]),
        .executable(name: "records", targets: ["records"]),
        .executable(name: "prle-cam-fuse", targets: ["prle-cam-fuse"]),
    ],
    // A fresh clone builds the versions this package was tested with: Package.resolved is committed (SwiftPM's rule
    // for packages that ship executables) and the requirements are exact versions as well.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        // Recipe files are YAML; Yams keeps every node's line, so a bad key names its line.
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    // Three bands, dependencies only downward (docs/architecture.md):
    //   plumbing  DFKCore, DFKRecords, DFKTool (CLI plumbing: ArgumentParser and those two, nothing else), DFKEval,
    //             DFKDatasets;
    //   engines   CVision, CTorch (one C helper header, Sources/CShared), DFKImaging (+ DFKImagingTool), DFKTensor,
    //             DFKModels (+ DFKNetTool);
    //   domain    DFKSynthesis (+ DFKSynthesisTool), DFKDetect (scoring, Grad-CAM), DFKTrain.
    // Each tool depends on what it imports, so a tool that never touches an image links neither OpenCV nor dlib, and
    // one that never touches a tensor does not link libtorch.
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
        // C shim over libtorch: plain C header, opaque tensor handles, exceptions turned into messages.
        .target(name: "CTorch", cxxSettings: [.unsafeFlags(torchFlags)], linkerSettings: torchLink),
        // Tensors, autograd and functional ops in Swift over CTorch.
        .target(name: "DFKTensor", dependencies: ["CTorch", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // Modules, layers, backbones, optimizers and checkpoints.
        .target(name: "DFKModels", dependencies: ["DFKTensor", "DFKCore"]),
        // A trained detector: checkpoint + preprocessing spec, face scoring (train and score-video share it), and
        // Grad-CAM maps and their fusion (PRLE's static localization, prle-cam-fuse).
        .target(name: "DFKDetect", dependencies: ["DFKModels", "DFKImaging", "DFKCore"]),
        // Training recipes: SBI and BBMG + NRS with online pseudo-fakes, checkpoints and resume.
        // Each training method registers itself: the RegisterMethods plugin lists the TrainingMethod types of the
        // target's sources (Method.swift), so a new method is one file plus its recipe YAML.
        .target(name: "DFKTrain", dependencies: ["DFKDetect", "DFKSynthesis", "DFKEval", "DFKModels", "DFKImaging", "DFKCore",
                                                .product(name: "Yams", package: "Yams")],
                resources: [.copy("recipes")], plugins: ["RegisterMethods"]),
        .executableTarget(name: "register-methods"),
        .plugin(name: "RegisterMethods", capability: .buildTool(), dependencies: ["register-methods"]),
        // Benchmark layouts (FF++, Celeb-DF v2, DFDC, DFDC Preview, FFIW-10K) -> video records.
        .target(name: "DFKDatasets", dependencies: ["DFKRecords", "DFKCore"]),
        // Evaluation: metrics, the video-level protocol, NRS weights and k-means (no libtorch).
        .target(name: "DFKEval"),
        // NDJSON records: streaming reader/writer, order- and text-preserving JSON values, typed fields.
        .target(name: "DFKRecords"),
        // Images, video decoding, face detection, landmarks, face boxes and crops, plots (training curves).
        .target(name: "DFKImaging", dependencies: ["CVision", "DFKRecords", "DFKCore"]),
        // Diagnostics, progress, ordered parallel map, atomic files, stable output names.
        .target(name: "DFKCore"),
        // Pseudo-fake synthesis: SBI self-blending, Face X-ray hulls, SLADD regions, BBMG masks.
        .target(name: "DFKSynthesis", dependencies: ["DFKImaging", "DFKRecords", "DFKCore"]),
        // What every tool's main shares: flag parsing with one-line errors, exit codes, signal clean-up, --shard,
        // numeric flag ranges. Plumbing: it imports no engine or domain target.
        .target(name: "DFKTool", dependencies: [
            "DFKCore", "DFKRecords", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Command-line forms of DFKImaging's choices (crop rules, blur kinds), for the tools that handle images.
        .target(name: "DFKImagingTool", dependencies: [
            "DFKImaging", "DFKTool", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // What the synthesis tools (synth-sbi, bbmg-mask) share: mask knobs, run options, DFKSynthesis's choices.
        .target(name: "DFKSynthesisTool", dependencies: [
            "DFKSynthesis", "DFKImaging", "DFKImagingTool", "DFKTool", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // What the tools that run a network share: --device, --precision, --channels-last.
        .target(name: "DFKNetTool", dependencies: [
            "DFKDetect", "DFKImaging", "DFKModels", "DFKTensor", "DFKTool", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "extract-frames", dependencies: ["DFKImaging", "DFKTool"]),
        .executableTarget(name: "landmarks", dependencies: ["DFKImaging", "DFKImagingTool", "DFKTool", "DFKDetect", "DFKModels", "DFKTensor", "DFKNetTool"]),
        .executableTarget(name: "synth-sbi", dependencies: ["DFKSynthesis", "DFKSynthesisTool", "DFKImaging", "DFKTool"]),
        .executableTarget(name: "bbmg-mask", dependencies: ["DFKSynthesis", "DFKSynthesisTool", "DFKImaging", "DFKTool"]),
        .executableTarget(name: "face-swap", dependencies: ["DFKSynthesis", "DFKImaging", "DFKTool"]),
        .executableTarget(name: "score-video", dependencies: ["DFKDetect", "DFKImaging", "DFKImagingTool", "DFKEval", "DFKModels", "DFKTensor", "DFKTool", "DFKNetTool"]),
        .executableTarget(name: "score-frames", dependencies: ["DFKDetect", "DFKImaging", "DFKImagingTool", "DFKEval", "DFKTensor", "DFKTool", "DFKNetTool"]),
        // metrics --plot draws ROC curves and histograms with DFKImaging's Plot (OpenCV's drawing and PNG writer), so
        // metrics links OpenCV and dlib (CVision is one library); it never touches a tensor, so no libtorch.
        .executableTarget(name: "metrics", dependencies: ["DFKEval", "DFKImaging", "DFKTool"]),
        // Walks directories and writes records: neither OpenCV nor libtorch.
        .executableTarget(name: "index-dataset", dependencies: ["DFKDatasets", "DFKTool"]),
        // NDJSON filters (split-faces, merge-shards, faces-summary): records only, neither OpenCV nor libtorch.
        .executableTarget(name: "records", dependencies: ["DFKRecords", "DFKTool"]),
        .executableTarget(name: "train", dependencies: ["DFKTrain", "DFKDetect", "DFKModels", "DFKEval", "DFKImaging", "DFKTool", "DFKNetTool"]),
        // PRLE's static localization: Grad-CAM of a detector zoo per face, fused maps (libtorch and OpenCV).
        // Inference only: it does not link the trainer.
        .executableTarget(name: "prle-cam-fuse", dependencies: ["DFKDetect", "DFKModels", "DFKTensor", "DFKSynthesis", "DFKImaging", "DFKTool", "DFKNetTool"]),
        // Bench helpers (`make bench`): the bare dlib loop that `landmarks` is measured against.
        .executableTarget(name: "dfk-bench", dependencies: ["DFKSynthesis", "DFKImaging", "DFKModels", "DFKTrain", "DFKCore", "DFKNetTool"]),
        .testTarget(name: "DeepfakeKitTests", dependencies: ["DFKRecords", "DFKImaging", "DFKSynthesis", "DFKCore", "DFKTool", "DFKEval", "DFKDetect", "DFKModels", "DFKTrain", "DFKDatasets", "DFKNetTool", "DFKImagingTool", "DFKSynthesisTool"]),
        .testTarget(name: "EngineTests", dependencies: ["DFKTensor", "DFKModels", "DFKImaging"]),
    ],
    swiftLanguageModes: [.v5]
)
