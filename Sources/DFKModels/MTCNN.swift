// MTCNN (Zhang, Zhang, Li and Qiao, "Joint Face Detection and Alignment Using Multitask Cascaded Convolutional
// Networks", IEEE Signal Processing Letters 2016): three small networks run as a cascade.
// - P-Net (proposal): fully convolutional over an image pyramid; per 12x12 cell (stride 2) a face probability and
//   4 box offsets. 3x3 conv 10, PReLU, 2x2/2 max pool, 3x3 conv 16, PReLU, 3x3 conv 32, PReLU, 1x1 heads.
// - R-Net (refine): 24x24 crops; 3x3 conv 28, PReLU, 3x3/2 pool, 3x3 conv 48, PReLU, 3x3/2 pool, 2x2 conv 64,
//   PReLU, dense 576 -> 128, PReLU, heads: probability (2), box offsets (4).
// - O-Net (output): 48x48 crops; 3x3 conv 32, PReLU, 3x3/2 pool, 3x3 conv 64, PReLU, 3x3/2 pool, 3x3 conv 64,
//   PReLU, 2x2/2 pool, 2x2 conv 128, PReLU, dense 1152 -> 256, PReLU, heads: probability (2), box offsets (4),
//   5 points (10: the five x, then the five y, relative to the box).
// Every max pool rounds its output size up (Caffe's pooling, ceil_mode). The weights are the published ones in
// the facenet-pytorch package (data/pnet.pt, rnet.pt, onet.pt: state dicts named conv1, prelu1, ..., dense4,
// dense5_1, ...). They were converted from the authors' Caffe/Matlab models, which see images transposed: the
// dense layers expect their input flattened in (width, height, channel) order, so the conv output [N, C, H, W] is
// permuted to [N, W, H, C] before flattening. PReLU slopes are per channel.
import DFKTensor
import Foundation

/// torch.nn.PReLU(channels): one slope per channel (dimension 1).
final class ChannelPReLU: Module {
    private(set) var weight: Tensor!
    let channels: Int
    init(_ channels: Int) throws {
        self.channels = channels
        let w = try Tensor.full([channels], 0.25)
        super.init()
        weight = try parameter("weight", w)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let a = try weight.reshape([1, channels] + Array(repeating: 1, count: max(0, x.ndim - 2)))
        return try x.relu() + (try x.clampMax(0) * a)
    }
}

private func pool(_ x: Tensor, _ k: Int, _ s: Int) throws -> Tensor {
    try F.maxPool2d(x, kernel: (k, k), stride: (s, s), ceilMode: true)
}

/// [N, C, H, W] -> [N, W * H * C] in the Caffe-converted weights' order.
private func flattenTransposed(_ x: Tensor) throws -> Tensor {
    try x.permute([0, 3, 2, 1]).contiguous().flatten(from: 1)
}

/// P-Net: image [N, 3, H, W] (normalised) -> box offsets [N, 4, H', W'], probabilities [N, 2, H', W'].
public final class MTCNNPNet: Module {
    let conv1: Conv2d, prelu1: ChannelPReLU, conv2: Conv2d, prelu2: ChannelPReLU, conv3: Conv2d, prelu3: ChannelPReLU
    let conv4_1: Conv2d, conv4_2: Conv2d
    public override init() {
        conv1 = try! Conv2d(3, 10, kernel: 3); prelu1 = try! ChannelPReLU(10)
        conv2 = try! Conv2d(10, 16, kernel: 3); prelu2 = try! ChannelPReLU(16)
        conv3 = try! Conv2d(16, 32, kernel: 3); prelu3 = try! ChannelPReLU(32)
        conv4_1 = try! Conv2d(32, 2, kernel: 1); conv4_2 = try! Conv2d(32, 4, kernel: 1)
        super.init()
        child("conv1", conv1); child("prelu1", prelu1); child("conv2", conv2); child("prelu2", prelu2)
        child("conv3", conv3); child("prelu3", prelu3); child("conv4_1", conv4_1); child("conv4_2", conv4_2)
    }
    public func callAsFunction(_ x: Tensor) throws -> (offsets: Tensor, probabilities: Tensor) {
        var h = try pool(try prelu1(try conv1(x)), 2, 2)
        h = try prelu3(try conv3(try prelu2(try conv2(h))))
        return (try conv4_2(h), try F.softmax(try conv4_1(h), dim: 1))
    }
}

/// R-Net: crops [N, 3, 24, 24] -> box offsets [N, 4], probabilities [N, 2].
public final class MTCNNRNet: Module {
    let conv1: Conv2d, prelu1: ChannelPReLU, conv2: Conv2d, prelu2: ChannelPReLU, conv3: Conv2d, prelu3: ChannelPReLU
    let dense4: Linear, prelu4: ChannelPReLU, dense5_1: Linear, dense5_2: Linear
    public override init() {
        conv1 = try! Conv2d(3, 28, kernel: 3); prelu1 = try! ChannelPReLU(28)
        conv2 = try! Conv2d(28, 48, kernel: 3); prelu2 = try! ChannelPReLU(48)
        conv3 = try! Conv2d(48, 64, kernel: 2); prelu3 = try! ChannelPReLU(64)
        dense4 = try! Linear(576, 128); prelu4 = try! ChannelPReLU(128)
        dense5_1 = try! Linear(128, 2); dense5_2 = try! Linear(128, 4)
        super.init()
        child("conv1", conv1); child("prelu1", prelu1); child("conv2", conv2); child("prelu2", prelu2)
        child("conv3", conv3); child("prelu3", prelu3); child("dense4", dense4); child("prelu4", prelu4)
        child("dense5_1", dense5_1); child("dense5_2", dense5_2)
    }
    public func callAsFunction(_ x: Tensor) throws -> (offsets: Tensor, probabilities: Tensor) {
        var h = try pool(try prelu1(try conv1(x)), 3, 2)
        h = try pool(try prelu2(try conv2(h)), 3, 2)
        h = try prelu3(try conv3(h))
        h = try prelu4(try dense4(try flattenTransposed(h)))
        return (try dense5_2(h), try F.softmax(try dense5_1(h), dim: 1))
    }
}

/// O-Net: crops [N, 3, 48, 48] -> box offsets [N, 4], points [N, 10] (x1..x5, y1..y5), probabilities [N, 2].
public final class MTCNNONet: Module {
    let conv1: Conv2d, prelu1: ChannelPReLU, conv2: Conv2d, prelu2: ChannelPReLU, conv3: Conv2d, prelu3: ChannelPReLU
    let conv4: Conv2d, prelu4: ChannelPReLU, dense5: Linear, prelu5: ChannelPReLU
    let dense6_1: Linear, dense6_2: Linear, dense6_3: Linear
    public override init() {
        conv1 = try! Conv2d(3, 32, kernel: 3); prelu1 = try! ChannelPReLU(32)
        conv2 = try! Conv2d(32, 64, kernel: 3); prelu2 = try! ChannelPReLU(64)
        conv3 = try! Conv2d(64, 64, kernel: 3); prelu3 = try! ChannelPReLU(64)
        conv4 = try! Conv2d(64, 128, kernel: 2); prelu4 = try! ChannelPReLU(128)
        dense5 = try! Linear(1152, 256); prelu5 = try! ChannelPReLU(256)
        dense6_1 = try! Linear(256, 2); dense6_2 = try! Linear(256, 4); dense6_3 = try! Linear(256, 10)
        super.init()
        child("conv1", conv1); child("prelu1", prelu1); child("conv2", conv2); child("prelu2", prelu2)
        child("conv3", conv3); child("prelu3", prelu3); child("conv4", conv4); child("prelu4", prelu4)
        child("dense5", dense5); child("prelu5", prelu5)
        child("dense6_1", dense6_1); child("dense6_2", dense6_2); child("dense6_3", dense6_3)
    }
    public func callAsFunction(_ x: Tensor) throws -> (offsets: Tensor, points: Tensor, probabilities: Tensor) {
        var h = try pool(try prelu1(try conv1(x)), 3, 2)
        h = try pool(try prelu2(try conv2(h)), 3, 2)
        h = try pool(try prelu3(try conv3(h)), 2, 2)
        h = try prelu4(try conv4(h))
        h = try prelu5(try dense5(try flattenTransposed(h)))
        return (try dense6_2(h), try dense6_3(h), try F.softmax(try dense6_1(h), dim: 1))
    }
}

/// The three networks with their published weights.
public final class MTCNN: @unchecked Sendable {
    public let pnet: MTCNNPNet, rnet: MTCNNRNet, onet: MTCNNONet

    /// Randomly initialised networks (tests).
    public init() {
        pnet = MTCNNPNet(); rnet = MTCNNRNet(); onet = MTCNNONet()
        pnet.eval(); rnet.eval(); onet.eval()
    }

    /// The file names of the three state dicts in a weight directory.
    public static let files = ["pnet.pt", "rnet.pt", "onet.pt"]

    /// Loads pnet.pt, rnet.pt and onet.pt from `directory` (facenet-pytorch's data/ folder), strictly: every
    /// tensor of each network must be present with its shape, and nothing else.
    public convenience init(directory: String) throws {
        self.init()
        for (name, net) in zip(Self.files, [pnet, rnet, onet] as [Module]) {
            let path = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw TensorError("\(path): MTCNN weight file not found (scripts/setup.sh fetches it from the facenet-pytorch wheel)")
            }
            let file = try WeightFile.read(path)
            let report = try net.load(file.tensors, strict: false)
            guard report.missing.isEmpty, report.unexpected.isEmpty, report.mismatched.isEmpty else {
                throw TensorError("\(path): weights do not match MTCNN's \(name.dropLast(3)): \(report)")
            }
            net.eval()
        }
    }
}
