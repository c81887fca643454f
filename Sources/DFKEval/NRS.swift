// Noise Refinement Strategy (BBMG/NRS paper, section 3.4, eqs. 5-6, Algorithm 1): a memory of real features,
// k-means centres, each pseudo-fake's distance to the nearest centre, and loss weights for pseudo-fakes that are
// too close to the real distribution.
import Foundation

public enum FeatureDistance: String, Sendable, CaseIterable {
    /// 1 - cosine similarity (the paper's choice).
    case cosine
    /// Euclidean distance (Table 13's alternative).
    case l2

    public func callAsFunction(_ a: [Float], _ b: [Float]) -> Double {
        switch self {
        case .cosine:
            var dot = 0.0, na = 0.0, nb = 0.0
            for i in a.indices { dot += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i]) }
            guard na > 0, nb > 0 else { return 1 }
            return 1 - dot / (na.squareRoot() * nb.squareRoot())
        case .l2:
            var s = 0.0
            for i in a.indices { let d = Double(a[i]) - Double(b[i]); s += d * d }
            return s.squareRoot()
        }
    }
}

public struct NRSOptions: Sendable, Equatable {
    /// Distance threshold below which a pseudo-fake counts as noise.
    public var lambda = 0.5
    /// Epoch scale of eq. 6.
    public var beta = 200.0
    /// Number of centres.
    public var k = 5
    /// Size of the real-feature memory.
    public var memory = 500
    /// Epoch from which the weighted loss is used (T_k).
    public var startEpoch = 20
    /// How the memory is chosen: the real features with the highest predicted real probability ("predicts"),
    /// or at random ("random") (Table 13).
    public var selection: Selection = .predicts
    public var distance: FeatureDistance = .cosine
    public enum Selection: String, Sendable, CaseIterable { case predicts, random }
    public init() {}
}

public enum NRS {
    /// Loss weight of one sample (eqs. 5-6). Reals always weigh 1; a pseudo-fake at distance `dist` below lambda
    /// weighs dist * (epoch / beta) + (1 - epoch / beta), `epoch` being the paper's t (Algorithm 1 counts from 1).
    public static func weight(distance dist: Double, isPseudoFake: Bool, epoch: Int, options o: NRSOptions) -> Double {
        guard isPseudoFake, dist < o.lambda else { return 1 }
        let r = Double(epoch) / o.beta
        return dist * r + (1 - r)
    }

    /// Distance of a feature to the nearest centre.
    public static func nearest(_ f: [Float], centres: [[Float]], distance: FeatureDistance) -> Double {
        centres.map { distance(f, $0) }.min() ?? .infinity
    }

    /// The real-feature memory: `count` features chosen by predicted real probability (highest first, ties by index)
    /// or at random with `rng`.
    public static func selectMemory<G: RandomNumberGenerator>(features: [[Float]], realProbability: [Double], count: Int,
                                                              selection: NRSOptions.Selection, rng: inout G) -> [[Float]] {
        let n = min(count, features.count)
        switch selection {
        case .predicts:
            let order = features.indices.sorted { realProbability[$0] != realProbability[$1] ? realProbability[$0] > realProbability[$1] : $0 < $1 }
            return order.prefix(n).map { features[$0] }
        case .random:
            var idx = Array(features.indices)
            idx.shuffle(using: &rng)
            return idx.prefix(n).map { features[$0] }
        }
    }
}

/// Lloyd's k-means with k-means++ seeding, deterministic for a given generator state. Squared Euclidean
/// assignment (on L2-normalised features when `normalise`, which makes it cosine k-means).
public enum KMeans {
    public static func fit<G: RandomNumberGenerator>(_ points: [[Float]], k: Int, iterations: Int = 50, normalise: Bool = true,
                                                     rng: inout G) -> [[Float]] {
        guard !points.isEmpty, k > 0 else { return [] }
        let pts = normalise ? points.map(unit) : points
        let k = min(k, pts.count)
        func d2(_ a: [Float], _ b: [Float]) -> Double {
            var s = 0.0
            for i in a.indices { let d = Double(a[i]) - Double(b[i]); s += d * d }
            return s
        }
        // k-means++ seeding.
        var centres: [[Float]] = [pts[Int.random(in: 0..<pts.count, using: &rng)]]
        var best = pts.map { d2($0, centres[0]) }
        while centres.count < k {
            let total = best.reduce(0, +)
            var next = 0
            if total > 0 {
                var r = Double.random(in: 0..<total, using: &rng)
                for (i, w) in best.enumerated() { r -= w; if r < 0 { next = i; break }; next = i }
            } else {
                next = Int.random(in: 0..<pts.count, using: &rng)
            }
            centres.append(pts[next])
            for i in pts.indices { best[i] = min(best[i], d2(pts[i], pts[next])) }
        }
        // Lloyd iterations.
        var assign = [Int](repeating: -1, count: pts.count)
        for _ in 0..<iterations {
            var changed = false
            for i in pts.indices {
                var bi = 0, bd = Double.infinity
                for (c, ctr) in centres.enumerated() { let d = d2(pts[i], ctr); if d < bd { bd = d; bi = c } }
                if assign[i] != bi { assign[i] = bi; changed = true }
            }
            if !changed { break }
            for c in centres.indices {
                let members = pts.indices.filter { assign[$0] == c }
                guard !members.isEmpty else { continue }   // an empty cluster keeps its centre
                var mean = [Double](repeating: 0, count: pts[0].count)
                for m in members { for j in mean.indices { mean[j] += Double(pts[m][j]) } }
                centres[c] = mean.map { Float($0 / Double(members.count)) }
            }
        }
        return centres
    }

    static func unit(_ v: [Float]) -> [Float] {
        let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return n > 0 ? v.map { Float(Double($0) / n) } : v
    }
}
