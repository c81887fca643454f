// dfk-bench: measurement helpers for `make bench` (JSON on stdout).
//   dfk-bench dlib-loop [--upsample N] IMAGE...
//       the bare cost of dlib HOG detection + 68-point prediction per image, images already in memory, one thread:
//       the anchor for `landmarks` throughput.
//   dfk-bench sbi-pairs [--mask lal|sbi|bbmg] [--size 380] [--threads T] [--pairs N] FACES.ndjson
//       in-memory SBI pair generation (no file I/O) over the frames and first faces of a `landmarks` output.
//   dfk-bench allreduce --model efficientnet-b4 [--steps 5] [--bucket-mb 25] [--backend gloo|nccl]   (one process per rank,
//       torchrun's variables; nccl: tensors on CUDA, for scripts/gpu-check.sh)
//       the bucketed, averaged all-reduce of one step's gradients over c10d/Gloo; median ms (rank 0 prints).
//   dfk-bench train-step --model efficientnet-b4|resnet50|convnext_base|... (any registered backbone) [--size 380] [--batch 8] [--steps 3] [--threads T]
//                        [--device cpu|cuda:N] [--precision fp32|bf16|fp16] [--channels-last] [--sam]
//       one training step (forward, cross-entropy, backward, SGD; SAM's two passes with --sam) on random data; median seconds per step.
//   dfk-bench device-parity --model M --device cuda: the same network on the CPU and on the device, largest logit difference.
import DFKCore
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
import DFKTensor
import DFKTrain
import Foundation

func fail(_ s: String) -> Never {
    FileHandle.standardError.write(Data("dfk-bench: \(s)\n".utf8))
    exit(64)
}

var args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: dfk-bench dlib-loop|sbi-pairs ...") }
args.removeFirst()
func option(_ name: String, _ def: String) -> String {
    if let i = args.firstIndex(of: name), i + 1 < args.count {
        let v = args[i + 1]
        args.removeSubrange(i...(i + 1))
        return v
    }
    return def
}
/// An integer option, at least 1 (every count and size here), or a one-line error naming it.
func intOption(_ name: String, _ def: String) -> Int {
    let text = option(name, def)
    guard let v = Int(text), v >= 1 else { fail("\(name) takes a positive integer, got '\(text)'") }
    return v
}

do {
    switch mode {
    case "dlib-loop":
        let upsample = Int(option("--upsample", "1")) ?? 1
        Vision.setThreads(1)
        let images = try args.map { try Image.read($0) }
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
    case "sbi-pairs":
        Allocator.reuseLargeBlocks()
        let maskName = option("--mask", "lal"), size = intOption("--size", "380")
        let threads = intOption("--threads", "\(ProcessInfo.processInfo.activeProcessorCount)")
        let pairs = intOption("--pairs", "200")
        guard let path = args.first else { fail("sbi-pairs needs a faces NDJSON file") }
        var samples: [(Image, [Point])] = []
        for item in try NDJSONReader(path: path) {
            guard case .success(let r) = item.record, let img = r.image, let f = r.faces?.first, f.landmarks.count >= 68 else { continue }
            samples.append((try Image.read(img), f.landmarks))
        }
        guard !samples.isEmpty else { fail("no faces in \(path)") }
        var o = SBIOptions()
        o.size = size
        o.mask = maskName == "sbi" ? .sbi : maskName == "bbmg" ? .bbmg(BBMGOptions()) : .lal
        let opts = o
        Vision.setThreads(1)
        // Warm-up (first-touch allocations, OpenCV lazy initialisation).
        var warm = SampleRNG(seed: 0)
        _ = try SBI.pair(frame: samples[0].0, landmarks: samples[0].1, options: opts, rng: &warm)
        let t0 = Date()
        var made = 0, failed = 0
        try orderedParallelMap(0..<pairs, workers: threads, transform: { _, i -> Bool in
            let (img, pts) = samples[i % samples.count]
            var rng = SampleRNG(seed: 1, key: "bench\(i)")
            return (try? SBI.pair(frame: img, landmarks: pts, options: opts, rng: &rng)) != nil
        }, emit: { ok in if ok { made += 1 } else { failed += 1 } })
        let secs = Date().timeIntervalSince(t0)
        print(String(format: "{\"pairs\":%d,\"failed\":%d,\"threads\":%d,\"size\":%d,\"seconds\":%.4f,\"pairs_per_s\":%.2f}",
                     made, failed, threads, size, secs, Double(made) / secs))
    case "train-step":
        // dfk-bench train-step --model M [--size 380] [--batch 8] [--steps 3] [--threads T] [--device cpu|cuda:N]
        //                      [--precision fp32|bf16|fp16] [--channels-last] [--sam]
        // One training step (forward, cross-entropy, backward, SGD; with --sam SAM's two passes) on random data,
        // median seconds per step (the device synchronised before each clock reading).
        let name = option("--model", "efficientnet-b4"), size = intOption("--size", "380")
        let batch = intOption("--batch", "8"), steps = intOption("--steps", "3")
        Torch.setThreads(intOption("--threads", "\(ProcessInfo.processInfo.activeProcessorCount)"))
        guard let device = Device(parsing: option("--device", "cpu")) else { fail("--device must be cpu, cuda, cuda:N or mps") }
        guard let precision = Precision(rawValue: option("--precision", "fp32")) else { fail("--precision must be fp32, bf16 or fp16") }
        let channelsLast = args.contains("--channels-last"), useSAM = args.contains("--sam")
        try device.checkAvailable()
        try precision.check(on: device)
        let exec = Execution(device: device, precision: precision, channelsLast: channelsLast)
        Init.reset(seed: 0)
        guard Backbone.entry(name) != nil else { fail("unknown model \(name) (known: \(Backbone.names.joined(separator: ", ")))") }
        let backbone = try Backbone.make(name, classes: 2, imageSize: size)
        let model = backbone.module
        try exec.prepare(model)
        model.train()
        let sgd = try SGD(model.parameters, lr: 1e-3, momentum: 0.9)
        let scaler = precision == .fp16 ? LossScaler() : nil
        let opt: Optimizer = scaler.map { ScaledOptimizer(sgd, scaler: $0) } ?? sgd
        let sam = SAM(base: opt, rho: 0.05)
        let x = try exec.input(try Tensor.randn([batch, 3, size, size], seed: 1))
        let y = try exec.place(try Tensor(int64: (0..<batch).map { Int64($0 % 2) }, shape: [batch]))
        func lossBackward() throws -> Double {
            let l = try F.crossEntropy(try exec.forward { try backbone(x) }.to(.float32), y)
            if let scaler { try (try l * scaler.scale).backward() } else { try l.backward() }
            return 0
        }
        var times: [Double] = []
        for i in 0...steps {
            try device.synchronize()
            let t0 = Date()
            if useSAM {
                _ = try sam.step(lossBackward)
            } else {
                opt.zeroGrad()
                _ = try lossBackward()
                try opt.step()
            }
            try device.synchronize()
            if i > 0 { times.append(Date().timeIntervalSince(t0)) }   // the first step warms up
        }
        times.sort()
        let median = times[times.count / 2]
        print(String(format: "{\"model\":\"%@\",\"size\":%d,\"batch\":%d,\"steps\":%d,\"device\":\"%@\",\"precision\":\"%@\",\"channels_last\":%@,\"sam\":%@,\"median_s\":%.4f,\"images_per_s\":%.2f}",
                     name, size, batch, steps, device.description, precision.rawValue, channelsLast ? "true" : "false",
                     useSAM ? "true" : "false", median, Double(batch) / median))
    case "device-parity":
        // dfk-bench device-parity --model M [--size 224] [--batch 2] --device cuda[:N]
        // The same weights and images on the CPU and on the device (fp32, eval mode): the largest logit difference.
        let name = option("--model", "efficientnet-b4"), size = intOption("--size", "224")
        let batch = intOption("--batch", "2")
        guard let device = Device(parsing: option("--device", "cuda")) else { fail("--device must be cpu, cuda, cuda:N or mps") }
        try device.checkAvailable()
        Init.reset(seed: 0)
        let backbone = try Backbone.make(name, classes: 2, imageSize: size)
        backbone.module.eval()
        let x = try Tensor.randn([batch, 3, size, size], seed: 1)
        let ref = try Autograd.noGrad { try backbone(x).floats() }
        try backbone.module.to(device: device)
        let got = try Autograd.noGrad { try backbone(try x.to(device: device)).floats() }
        let diff = zip(ref, got).map { abs($0 - $1) }.max() ?? 0, scale = ref.map(abs).max() ?? 0
        print(String(format: "{\"model\":\"%@\",\"size\":%d,\"device\":\"%@\",\"max_abs_diff\":%.3g,\"max_abs_logit\":%.3g,\"pass\":%@}",
                     name, size, device.description, Double(diff), Double(scale), diff <= 1e-3 * Swift.max(1, scale) ? "true" : "false"))
    case "allreduce":
        // dfk-bench allreduce --model efficientnet-b4 [--steps 5] [--bucket-mb 25], one process per rank with torchrun's
        // variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): the gradient synchronisation of one data-parallel step
        // (every parameter's gradient, bucketed, averaged) over c10d/Gloo, median milliseconds; rank 0 prints.
        let name = option("--model", "efficientnet-b4"), steps = intOption("--steps", "5")
        let bucket = intOption("--bucket-mb", "25")
        guard let backend = ProcessGroup.Backend(rawValue: option("--backend", "gloo")) else { fail("--backend must be gloo or nccl") }
        guard let launch = try LaunchEnvironment.from(ProcessInfo.processInfo.environment) else { fail("allreduce needs RANK and WORLD_SIZE") }
        let device: Device = backend == .nccl ? .cuda(launch.localRank) : .cpu
        Torch.setThreads(1)
        Init.reset(seed: 0)
        guard Backbone.entry(name) != nil else { fail("unknown model \(name)") }
        let model = try Backbone.make(name, classes: 2, imageSize: 224).module
        let grads = try model.parameters.map { try Tensor.randn($0.shape, seed: UInt64(launch.rank)).to(device: device) }
        let group = try ProcessGroup(address: launch.masterAddress, port: launch.masterPort, rank: launch.rank, world: launch.world,
                                     backend: backend, timeout: 120)
        group.bucketBytes = bucket << 20
        var times: [Double] = []
        for i in 0...steps {
            let t0 = Date()
            try group.allReduce(grads, average: true)
            if i > 0 { times.append(Date().timeIntervalSince(t0)) }
        }
        times.sort()
        let bytes = grads.reduce(0) { $0 + $1.count * 4 }
        // Every rank's result is the average of every rank's gradients (seeded by rank): check one value.
        let expect = try (0..<launch.world).map { try Tensor.randn(grads[0].shape, seed: UInt64($0)).floats()[0] }.reduce(0, +) / Float(launch.world)
        let got = try grads[0].to(device: .cpu).floats()[0]
        guard abs(got - expect) <= 1e-5 * max(1, abs(expect)) else { fail("all-reduce gave \(got), expected \(expect)") }
        if launch.rank == 0 {
            print(String(format: "{\"model\":\"%@\",\"world\":%d,\"parameters\":%d,\"bytes\":%d,\"buckets_mb\":%d,\"median_ms\":%.2f}",
                         name, launch.world, bytes / 4, bytes, bucket, times[times.count / 2] * 1000))
        }
    case "step-cost":
        // dfk-bench step-cost --model resnet50 --size 224 --batch 8 --steps 3 [--step NAME] [--recipe R] [--domains K]
        // (NAME: any registered step method; R: its settings, by default the first shipped recipe with that step)
        // A method's training step against an ERM step of the same backbone, alternated, median seconds each. The batch
        // is laid out as the domain-balanced sampler makes it: row i has domain i mod (K + 1), 0 real (K = --domains,
        // default 4, FF++'s methods; --domains 1 is the half-real, half-fake batch PIM is timed on). RoGA runs one
        // sub-batch per fake domain, the reals shared; DID classifies the K + 1 domains.
        let name = option("--model", "resnet50"), size = intOption("--size", "224")
        let batch = intOption("--batch", "8"), steps = intOption("--steps", "3")
        let method = option("--step", "pim")
        let domainCount = intOption("--domains", "4")
        guard TrainingMethods.stepNames.contains(method) else { fail("--step must be one of \(TrainingMethods.stepNames.joined(separator: ", "))") }
        guard domainCount >= 1 else { fail("--domains must be at least 1") }
        Torch.setThreads(intOption("--threads", "\(ProcessInfo.processInfo.activeProcessorCount)"))
        guard Backbone.entry(name) != nil else { fail("unknown model \(name) (known: \(Backbone.names.joined(separator: ", ")))") }
        // The method's settings: --recipe, or the first shipped recipe that trains with this step.
        let recipeName = option("--recipe", Recipe.shippedNames.first { (try? Recipe.load($0))?.method.rawValue == method } ?? "erm")
        let recipe = try Recipe.load(recipeName)
        // The trainer's own setup (TrainingSetup: the recipe's optimizer over its param groups, the method's hooks), on
        // one stand-in face per domain: only the domain count and labels matter, no image is read.
        let face = Face(box: Box(left: 0, top: 0, right: 1, bottom: 1), landmarks: [])
        let stand = (0...domainCount).map { k in
            TrainSample(image: "bench-\(k)", face: face, label: k == 0 ? 0 : 1, method: k == 0 ? "real" : "domain\(k)")
        }
        func setup(_ step: String) throws -> (TrainingStep, StepContext) {
            var r = recipe
            try r.set("step.name", step, source: "bench")
            try r.set("backbone", name, source: "bench")
            try r.set("input.size", String(size), source: "bench")
            let s = try TrainingSetup(recipe: r, seed: 0, train: stand, val: [])
            s.backbone.module.train()
            return (s.step, s.context)
        }
        let erm = try setup("erm"), other = try setup(method)
        let x = try Tensor.randn([batch, 3, size, size], seed: 1)
        let domains = (0..<batch).map { $0 % (domainCount + 1) }, labels = domains.map { $0 == 0 ? 0 : 1 }
        let b = Batch(input: x, target: try Tensor(int64: labels.map(Int64.init), shape: [batch]), labels: labels,
                      domains: domains, isPseudoFake: labels.map { _ in false }, samples: Array(0..<batch))
        // Wall time, and the process's CPU time (with --threads 1 it is the step's own work, much less disturbed than
        // wall time on a machine shared with other jobs).
        func cpuSeconds() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        var times: [String: [Double]] = [:], cpu: [String: [Double]] = [:]
        for i in 0...steps {
            for (k, (s, ctx)) in [("erm", erm), (method, other)] {
                let t0 = Date(), c0 = cpuSeconds()
                ctx.beginStep()
                _ = try s.step(b, ctx)
                if i > 0 {   // the first step warms up
                    times[k, default: []].append(Date().timeIntervalSince(t0)); cpu[k, default: []].append(cpuSeconds() - c0)
                }
            }
        }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? .nan : s[s.count / 2] }
        let e = median(times["erm"] ?? []), m = median(times[method] ?? [])
        let ec = median(cpu["erm"] ?? []), mc = median(cpu[method] ?? [])
        let k = Set(domains.filter { $0 > 0 }).count
        print(String(format: "{\"model\":\"%@\",\"size\":%d,\"batch\":%d,\"step\":\"%@\",\"domains\":%d,\"erm_s\":%.4f,\"step_s\":%.4f,\"ratio\":%.3f,\"erm_cpu_s\":%.4f,\"step_cpu_s\":%.4f,\"cpu_ratio\":%.3f}",
                     name, size, batch, method, k, e, m, m / e, ec, mc, mc / ec))
    case "train-throughput":
        // dfk-bench train-throughput --recipe cpu-demo [--pretrained W] [--batches N] FACES.ndjson
        let recipe = try Recipe.load(option("--recipe", "cpu-demo"))
        let batches = intOption("--batches", "12")
        let pretrained = option("--pretrained", "")
        guard let path = args.first else { fail("train-throughput needs a faces NDJSON file") }
        var recs: [(source: String, record: Record)] = []
        for item in try NDJSONReader(path: path) { if case .success(let r) = item.record { recs.append((path, r)) } }
        let samples = TrainSample.from(records: recs, labelled: false).samples
        let out = NSTemporaryDirectory() + "dfk-bench-train-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let threads = ProcessInfo.processInfo.activeProcessorCount
        var rates: [String: Double] = [:]
        for pre in [true, false, true, false] {
            try? FileManager.default.removeItem(atPath: out)
            let t = try Trainer(recipe: recipe, seed: 5, train: samples, val: [], out: out, threads: threads,
                                pretrained: pretrained.isEmpty ? nil : pretrained)
            let r = try t.throughput(batches: batches, pregenerated: pre)
            let k = pre ? "pregenerated" : "online"
            rates[k] = Swift.max(rates[k] ?? 0, r)
        }
        print(String(format: "{\"recipe\":\"%@\",\"online_images_per_s\":%.2f,\"pregenerated_images_per_s\":%.2f}",
                     recipe.name, rates["online"] ?? .nan, rates["pregenerated"] ?? .nan))
    default:
        fail("unknown mode \(mode)")
    }
} catch {
    FileHandle.standardError.write(Data("dfk-bench: error: \(error)\n".utf8))
    exit(1)
}
