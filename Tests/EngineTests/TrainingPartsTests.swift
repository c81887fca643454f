// Optimizers against torch.optim (Python PyTorch 1.13), SAM's exact restore, schedules, clipping, checkpoints.
import DFKModels
import DFKTensor
import Foundation
import XCTest

final class OptimizerTests: XCTestCase {
    /// Runs 5 steps of an optimizer on fixed parameters and gradients in Swift and in Python; compares the weights.
    func compare(_ name: String, python make: String, swift: ([Tensor]) throws -> Optimizer) throws {
        let out = try python("""
        import torch, json
        torch.manual_seed(0)
        ps = [torch.randn(3, 4, dtype=torch.float64, requires_grad=True), torch.randn(5, dtype=torch.float64, requires_grad=True)]
        init = [p.detach().clone() for p in ps]
        grads = [[torch.randn_like(p) for p in ps] for _ in range(5)]
        opt = \(make)
        for gs in grads:
            opt.zero_grad()
            for p, g in zip(ps, gs): p.grad = g.clone()
            opt.step()
        print(json.dumps({'init': [p.flatten().tolist() for p in init], 'grads': [[g.flatten().tolist() for g in gs] for gs in grads],
                          'final': [p.detach().flatten().tolist() for p in ps]}))
        """)
        let j = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let initial = j["init"] as! [[Double]], grads = j["grads"] as! [[[Double]]], final = j["final"] as! [[Double]]
        let shapes = [[3, 4], [5]]
        let params = try zip(initial, shapes).map { try Tensor($0, shape: $1).requiresGrad() }
        let opt = try swift(params)
        for step in grads {
            for (p, g) in zip(params, zip(step, shapes)) {
                p.zeroGrad()
                // Set .grad by backpropagating sum(p * g).
                try (p * (try Tensor(g.0, shape: g.1))).sum().backward()
            }
            try opt.step()
        }
        for (p, want) in zip(params, final) {
            for (a, b) in zip(try p.doubles(), want) { XCTAssertEqual(a, b, accuracy: 1e-10, name) }
        }
    }

    func testOptimizersMatchTorchOptim() throws {
        try compare("sgd", python: "torch.optim.SGD(ps, lr=0.1)") { try SGD($0, lr: 0.1) }
        try compare("sgd momentum", python: "torch.optim.SGD(ps, lr=1e-3, momentum=0.9)") { try SGD($0, lr: 1e-3, momentum: 0.9) }
        try compare("sgd nesterov wd", python: "torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)") {
            try SGD($0, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        }
        try compare("adam", python: "torch.optim.Adam(ps, lr=2e-4, weight_decay=5e-4)") { try Adam($0, lr: 2e-4, weightDecay: 5e-4) }
        try compare("adamw", python: "torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2)") { try Adam.adamW($0, lr: 1e-3, weightDecay: 1e-2) }
    }

    func testSAMRestoresWeightsExactlyAndUsesThePerturbedGradient() throws {
        let w0 = try Tensor.randn([4, 3], seed: 3)
        let x = try Tensor.randn([8, 3], seed: 4), y = try Tensor.randn([8, 4], seed: 5)
        func loss(_ w: Tensor) throws -> Tensor { try (try x.matmul(w.transpose(0, 1)) - y).square().mean() }
        // Perturb and restore with a zero learning rate: the weights come back bit for bit.
        let w = try w0.clone().requiresGrad()
        let sam0 = SAM(base: try SGD([w], lr: 0), rho: 0.05)
        try sam0.step { let l = try loss(w); try l.backward(); return try l.item() }
        XCTAssertEqual(try w.floats(), try w0.floats())
        // A real step equals an SGD step with the gradient taken at w + rho * g / ||g||.
        let w1 = try w0.clone().requiresGrad()
        let sam = SAM(base: try SGD([w1], lr: 0.1), rho: 0.05)
        try sam.step { let l = try loss(w1); try l.backward(); return try l.item() }
        let p = try w0.clone().requiresGrad()
        try loss(p).backward()
        let gv = try p.grad!.doubles()
        let norm = gv.map { $0 * $0 }.reduce(0, +).squareRoot()
        let e = try Tensor(gv.map { $0 * 0.05 / (norm + 1e-12) }, shape: [4, 3]).to(.float32)
        let q = try (try w0 + e).requiresGrad()
        try loss(q).backward()
        let expected = try (w0 - (try q.grad! * 0.1)).floats()
        for (a, b) in zip(try w1.floats(), expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testSchedulesAndClipping() throws {
        let s = LRSchedule.linearDecay(total: 100, decayStart: 75)
        XCTAssertEqual(s.rate(base: 1e-3, epoch: 0), 1e-3)
        XCTAssertEqual(s.rate(base: 1e-3, epoch: 74), 1e-3)
        XCTAssertEqual(s.rate(base: 1e-3, epoch: 75), 1e-3)
        XCTAssertEqual(s.rate(base: 1e-3, epoch: 90), 1e-3 * 10 / 25, accuracy: 1e-15)
        XCTAssertEqual(s.rate(base: 1e-3, epoch: 100), 0)
        XCTAssertEqual(LRSchedule.step(every: 10, gamma: 0.5).rate(base: 1, epoch: 25), 0.25)
        XCTAssertEqual(LRSchedule.cosine(total: 10, minimum: 0).rate(base: 1, epoch: 5), 0.5, accuracy: 1e-12)
        let out = try python("""
        import torch, json
        torch.manual_seed(1)
        ps = [torch.randn(3, 3, requires_grad=True), torch.randn(4, requires_grad=True)]
        for p in ps: p.grad = torch.randn_like(p) * 3
        gs = [p.grad.clone().flatten().tolist() for p in ps]
        n = torch.nn.utils.clip_grad_norm_(ps, 1.0)
        print(json.dumps({'g': gs, 'norm': float(n), 'clipped': [p.grad.flatten().tolist() for p in ps]}))
        """)
        let j = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let gs = j["g"] as! [[Double]], clipped = j["clipped"] as! [[Double]]
        let ps = try zip(gs, [[3, 3], [4]]).map { g, s -> Tensor in
            let p = try Tensor.zeros(s).requiresGrad()
            try (p * (try Tensor(g.map(Float.init), shape: s))).sum().backward()
            return p
        }
        let n = try clipGradNorm(ps, maxNorm: 1)!.item()
        XCTAssertEqual(n, j["norm"] as! Double, accuracy: 1e-4)
        for (p, c) in zip(ps, clipped) { for (a, b) in zip(try p.grad!.doubles(), c) { XCTAssertEqual(a, b, accuracy: 1e-5) } }
    }
}

final class CheckpointTests: XCTestCase {
    func testRoundTripWithOptimizerStateAndMetadataAndCorruption() throws {
        Init.reset(seed: 7)
        let model = try EfficientNet(EfficientNetConfig.named("lite0")!, classes: 2)
        let opt = try Adam(model.parameters, lr: 1e-3)
        let x = try Tensor.randn([2, 3, 64, 64], seed: 1)
        try F.crossEntropy(try model(x), try Tensor(int64: [0, 1], shape: [2])).backward()
        try opt.step()
        let path = NSTemporaryDirectory() + "dfk-ckpt-\(getpid()).safetensors"
        let ck = Checkpoint(tensors: model.stateDict().map { ("model." + $0.0, $0.1) } + (try opt.state()).map { ("optim." + $0.0, $0.1) },
                            metadata: ["config": "efficientnet-lite0", "epoch": "3", "crop": "margin:0.125:retina-approx"])
        try ck.write(to: path)
        let back = try Checkpoint.read(path)
        XCTAssertEqual(back.metadata["epoch"], "3"); XCTAssertEqual(back.metadata["crop"], "margin:0.125:retina-approx")
        Init.reset(seed: 99)
        let other = try EfficientNet(EfficientNetConfig.named("lite0")!, classes: 2)
        try other.load(back.group("model."))
        model.eval(); other.eval()
        XCTAssertEqual(try Autograd.noGrad { try model(x).floats() }, try Autograd.noGrad { try other(x).floats() })
        let opt2 = try Adam(other.parameters, lr: 1e-3)
        try opt2.loadState(back.group("optim."))
        XCTAssertEqual(try opt2.state().count, try opt.state().count)
        XCTAssertEqual(back["model._blocks.0._bn1.num_batches_tracked"]?.dtype, .int64)
        // Truncated and corrupt files are refused with a message.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path + ".cut"))
        XCTAssertThrowsError(try Checkpoint.read(path + ".cut")) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        var bad = data; bad[12] = 0x7B; bad[13] = 0x7B
        try bad.write(to: URL(fileURLWithPath: path + ".bad"))
        XCTAssertThrowsError(try Checkpoint.read(path + ".bad")) { XCTAssertTrue("\($0)".contains("corrupt"), "\($0)") }
        // Python's safetensors layout: the header is JSON after an 8-byte length.
        let hlen = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: data[8..<(8 + Int(hlen))]))
    }
}
