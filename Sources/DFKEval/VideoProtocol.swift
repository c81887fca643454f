// From face scores to frame and video scores, as the SBI / BBMG-NRS evaluation does (reference-pipelines.md A.9):
// faces smaller than half the largest face of the frame are dropped, a frame's score is the maximum over its faces,
// a video's score is the mean over the frames that have a face, and a video with no face at all (or that cannot be
// read) scores 0.5. Each policy is a parameter, and its name is written under every table.

public struct ScoredFace: Sendable {
    public var score: Double
    public var area: Double
    public init(score: Double, area: Double) { self.score = score; self.area = area }
}

public struct VideoProtocol: Sendable, Equatable {
    public enum NoFace: String, Sendable, CaseIterable {
        /// Score 0.5 (the papers' fairness rule).
        case half
        /// Leave the video (or frame) out of the metrics.
        case exclude
        /// Count it as fake (score 1).
        case fake
    }
    public enum FaceAggregation: String, Sendable, CaseIterable { case max, mean }
    public enum FrameAggregation: String, Sendable, CaseIterable { case mean, median }

    public var minFaceAreaRatio = 0.5
    public var faces: FaceAggregation = .max
    public var frames: FrameAggregation = .mean
    public var noFaceVideo: NoFace = .half
    /// Frame level: a frame without a face scores 0.5 (SBI issue #3 protocol) or is left out.
    public var noFaceFrame: NoFace = .half
    public init() {}

    /// Score of one frame, or nil when it has no face.
    public func frameScore(_ faces: [ScoredFace]) -> Double? {
        guard let largest = faces.map(\.area).max() else { return nil }
        let kept = faces.filter { $0.area >= minFaceAreaRatio * largest }
        switch self.faces {
        case .max: return kept.map(\.score).max()
        case .mean: return kept.map(\.score).reduce(0, +) / Double(kept.count)
        }
    }

    /// Score of one video from its frames' faces; nil when the no-face policy excludes it.
    public func videoScore(_ frames: [[ScoredFace]]) -> Double? {
        let scores = frames.compactMap(frameScore)
        guard !scores.isEmpty else { return fallback(noFaceVideo) }
        switch self.frames {
        case .mean: return scores.reduce(0, +) / Double(scores.count)
        case .median:
            let s = scores.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    /// Frame-level scores of a video (for frame-level metrics), applying the frame no-face policy.
    public func frameScores(_ frames: [[ScoredFace]]) -> [Double] {
        frames.compactMap { frameScore($0) ?? fallback(noFaceFrame) }
    }

    /// Score of a video that could not be read at all.
    public var unreadableVideoScore: Double? { fallback(noFaceVideo) }

    func fallback(_ p: NoFace) -> Double? {
        switch p { case .half: return 0.5; case .exclude: return nil; case .fake: return 1 }
    }

    /// How video scores are made (written into every score record and under every table).
    public var videoDescription: String {
        "faces below \(Int(minFaceAreaRatio * 100))% of the largest face's area dropped; frame score = \(faces.rawValue) over faces; "
            + "video score = \(frames.rawValue) over frames with a face; video without a face or unreadable: "
            + (noFaceVideo == .half ? "score 0.5" : noFaceVideo == .exclude ? "excluded" : "scored as fake")
    }
    /// How frame-level metrics treat frames without a face.
    public var frameDescription: String {
        "frame level: every sampled frame, frames without a face " + (noFaceFrame == .half ? "scored 0.5" : noFaceFrame == .exclude ? "excluded" : "scored as fake")
    }
    public var description: String { videoDescription + "; " + frameDescription }
}
