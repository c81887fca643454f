// Detection metrics with the conventions of scikit-learn (which the papers' numbers come from): ROC AUC with ties
// counted half, average precision as the step-wise sum over distinct thresholds, EER by linear interpolation of the
// ROC curve, accuracy at a threshold. Labels: 1 fake (positive), 0 real.

public enum MetricError: Error, CustomStringConvertible {
    case oneClass(String)
    case mismatch
    public var description: String {
        switch self {
        case .oneClass(let what): return "\(what) needs both real and fake samples"
        case .mismatch: return "scores and labels differ in length"
        }
    }
}

public enum Metrics {
    /// ROC AUC = P(score of a random fake > score of a random real) + 0.5 P(equal) (Mann-Whitney U, average ranks).
    public static func auc(scores: [Double], labels: [Int]) throws -> Double {
        guard scores.count == labels.count else { throw MetricError.mismatch }
        let pos = labels.filter { $0 == 1 }.count, neg = labels.count - pos
        guard pos > 0, neg > 0 else { throw MetricError.oneClass("AUC") }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSumPos = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let avgRank = Double(i + j) / 2 + 1   // ranks are 1-based
            for k in i...j where labels[order[k]] == 1 { rankSumPos += avgRank }
            i = j + 1
        }
        return (rankSumPos - Double(pos) * Double(pos + 1) / 2) / (Double(pos) * Double(neg))
    }

    /// ROC points (fpr, tpr) at every distinct threshold, from (0, 0) to (1, 1), scores >= threshold called fake.
    public static func roc(scores: [Double], labels: [Int]) throws -> [(fpr: Double, tpr: Double, threshold: Double)] {
        guard scores.count == labels.count else { throw MetricError.mismatch }
        let pos = Double(labels.filter { $0 == 1 }.count), neg = Double(labels.count) - pos
        guard pos > 0, neg > 0 else { throw MetricError.oneClass("ROC") }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var out: [(Double, Double, Double)] = [(0, 0, .infinity)]
        var tp = 0.0, fp = 0.0
        var i = 0
        while i < order.count {
            let s = scores[order[i]]
            while i < order.count && scores[order[i]] == s {
                if labels[order[i]] == 1 { tp += 1 } else { fp += 1 }
                i += 1
            }
            out.append((fp / neg, tp / pos, s))
        }
        return out.map { (fpr: $0.0, tpr: $0.1, threshold: $0.2) }
    }

    /// Average precision: sum over distinct thresholds (descending) of (recall_n - recall_{n-1}) * precision_n.
    public static func averagePrecision(scores: [Double], labels: [Int]) throws -> Double {
        guard scores.count == labels.count else { throw MetricError.mismatch }
        let pos = Double(labels.filter { $0 == 1 }.count)
        guard pos > 0 else { throw MetricError.oneClass("AP") }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var tp = 0.0, seen = 0.0, prevRecall = 0.0, ap = 0.0
        var i = 0
        while i < order.count {
            let s = scores[order[i]]
            while i < order.count && scores[order[i]] == s {
                if labels[order[i]] == 1 { tp += 1 }
                seen += 1
                i += 1
            }
            let recall = tp / pos, precision = tp / seen
            ap += (recall - prevRecall) * precision
            prevRecall = recall
        }
        return ap
    }

    /// Equal error rate: where the false-positive rate equals the false-negative rate on the ROC curve,
    /// linearly interpolated between the two ROC points around the crossing.
    public static func eer(scores: [Double], labels: [Int]) throws -> Double {
        let r = try roc(scores: scores, labels: labels)
        for k in 1..<r.count {
            let d0 = r[k - 1].fpr - (1 - r[k - 1].tpr), d1 = r[k].fpr - (1 - r[k].tpr)
            if d0 <= 0 && d1 >= 0 {
                if d1 == d0 { return r[k].fpr }
                let t = -d0 / (d1 - d0)
                let fpr = r[k - 1].fpr + t * (r[k].fpr - r[k - 1].fpr)
                return fpr
            }
        }
        return 0.5
    }

    /// Fraction of samples classified correctly with "fake" = score >= threshold.
    public static func accuracy(scores: [Double], labels: [Int], threshold: Double = 0.5) throws -> Double {
        guard scores.count == labels.count else { throw MetricError.mismatch }
        guard !scores.isEmpty else { return 0 }
        let right = zip(scores, labels).filter { ($0.0 >= threshold ? 1 : 0) == $0.1 }.count
        return Double(right) / Double(scores.count)
    }

    public struct Summary: Sendable {
        public var count: Int, reals: Int, fakes: Int
        public var auc: Double?, ap: Double?, eer: Double?, accuracy: Double
    }
    /// All four metrics; the ones that need both classes are nil when a class is missing.
    public static func summary(scores: [Double], labels: [Int]) throws -> Summary {
        let fakes = labels.filter { $0 == 1 }.count
        return Summary(count: labels.count, reals: labels.count - fakes, fakes: fakes,
                       auc: try? auc(scores: scores, labels: labels), ap: try? averagePrecision(scores: scores, labels: labels),
                       eer: try? eer(scores: scores, labels: labels), accuracy: try accuracy(scores: scores, labels: labels))
    }
}

/// Bootstrap confidence intervals of the AUC, resampling whole videos: with few test videos the AUC moves in large
/// steps, and the interval says how far. Stratified (reals and fakes resampled separately, each to its own count), so
/// every resample has both classes; at frame level the frames of the resampled videos are pooled, so frames of one
/// video stay together (they are not independent samples). Percentile interval, linear interpolation between order
/// statistics. Deterministic for a seed: SplitMix64 here rather than the system generator, which is not seedable
/// (SampleRNG lives in DFKSynthesis; DFKEval depends on nothing, and 8 lines do not justify a dependency).
public enum Bootstrap {
    public struct Interval: Sendable, Equatable { public var lower: Double, upper: Double }
    public struct Sample: Sendable {
        public var label: Int, score: Double, frames: [Double]
        public init(label: Int, score: Double, frames: [Double]) { self.label = label; self.score = score; self.frames = frames }
    }

    /// AUC intervals at video and frame level (frame nil when no video has frame scores); nil without both classes.
    public static func auc(_ samples: [Sample], resamples: Int, seed: UInt64, confidence: Double = 0.95)
        -> (video: Interval, frame: Interval?)? {
        let reals = samples.filter { $0.label == 0 }, fakes = samples.filter { $0.label == 1 }
        guard !reals.isEmpty, !fakes.isEmpty, resamples > 0 else { return nil }
        let withFrames = samples.contains { !$0.frames.isEmpty }
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func pick(_ n: Int) -> Int { Int(next() % UInt64(n)) }   // modulo bias < n / 2^64: negligible
        var videoAUCs: [Double] = [], frameAUCs: [Double] = []
        videoAUCs.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var s: [Double] = [], l: [Int] = [], fs: [Double] = [], fl: [Int] = []
            for (group, label) in [(reals, 0), (fakes, 1)] {
                for _ in 0..<group.count {
                    let x = group[pick(group.count)]
                    s.append(x.score); l.append(label)
                    if withFrames { fs += x.frames; fl += Array(repeating: label, count: x.frames.count) }
                }
            }
            if let a = try? Metrics.auc(scores: s, labels: l) { videoAUCs.append(a) }
            if withFrames, let a = try? Metrics.auc(scores: fs, labels: fl) { frameAUCs.append(a) }
        }
        func interval(_ v: [Double]) -> Interval? {
            guard !v.isEmpty else { return nil }
            let sorted = v.sorted(), alpha = (1 - confidence) / 2
            func q(_ p: Double) -> Double {
                let h = p * Double(sorted.count - 1), lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
                return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
            }
            return Interval(lower: q(alpha), upper: q(1 - alpha))
        }
        guard let video = interval(videoAUCs) else { return nil }
        return (video, interval(frameAUCs))
    }
}
