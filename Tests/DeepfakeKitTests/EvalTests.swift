// Metrics against hand-computed values (with ties), the video-level protocol, NRS weights and k-means.
@testable import DFKEval
import DFKSynthesis
import XCTest

final class MetricTests: XCTestCase {
    func testSmallCaseWithoutTies() throws {
        let s = [0.1, 0.4, 0.35, 0.8], y = [0, 0, 1, 1]
        XCTAssertEqual(try Metrics.auc(scores: s, labels: y), 0.75, accuracy: 1e-12)
        XCTAssertEqual(try Metrics.averagePrecision(scores: s, labels: y), 0.5 + 0.5 * 2 / 3, accuracy: 1e-12)
        XCTAssertEqual(try Metrics.eer(scores: s, labels: y), 0.5, accuracy: 1e-12)
        XCTAssertEqual(try Metrics.accuracy(scores: s, labels: y), 0.75)
    }

    func testTiesCountHalf() throws {
        // positives 0.5, 0.5, 0.9; negatives 0.5, 0.1: pairs 1.5 + 1.5 + 2 of 6
        let s = [0.5, 0.5, 0.5, 0.9, 0.1], y = [0, 1, 1, 1, 0]
        XCTAssertEqual(try Metrics.auc(scores: s, labels: y), 5.0 / 6, accuracy: 1e-12)
        // thresholds 0.9 (recall 1/3, precision 1), 0.5 (recall 1, precision 3/4)
        XCTAssertEqual(try Metrics.averagePrecision(scores: s, labels: y), 1.0 / 3 + 2.0 / 3 * 0.75, accuracy: 1e-12)
        // ROC (0, 1/3) -> (0.5, 1): fpr - fnr goes from -2/3 to 0.5, crossing at 4/7 of the way
        XCTAssertEqual(try Metrics.eer(scores: s, labels: y), 2.0 / 7, accuracy: 1e-12)
        XCTAssertEqual(try Metrics.accuracy(scores: s, labels: y), 0.8)
        // All tied: chance level.
        XCTAssertEqual(try Metrics.auc(scores: [0.3, 0.3, 0.3], labels: [0, 1, 1]), 0.5)
        XCTAssertEqual(try Metrics.auc(scores: [0.9, 0.1], labels: [1, 0]), 1)
        XCTAssertThrowsError(try Metrics.auc(scores: [0.1, 0.2], labels: [1, 1]))
        XCTAssertNil(try Metrics.summary(scores: [0.1], labels: [0]).auc)
    }

    func testBootstrapIntervalIsDeterministicStratifiedAndBracketsTheAUC() throws {
        var rng = SampleRNG(seed: 11)
        let samples = (0..<30).map { i -> Bootstrap.Sample in
            let label = i < 10 ? 0 : 1
            let base = rng.unit() * 0.6 + (label == 1 ? 0.3 : 0)
            return Bootstrap.Sample(label: label, score: base, frames: (0..<4).map { _ in min(1, base + rng.unit() * 0.1) })
        }
        let auc = try Metrics.auc(scores: samples.map(\.score), labels: samples.map(\.label))
        let a = try XCTUnwrap(Bootstrap.auc(samples, resamples: 500, seed: 5))
        let b = try XCTUnwrap(Bootstrap.auc(samples, resamples: 500, seed: 5))
        XCTAssertEqual(a.video, b.video); XCTAssertEqual(a.frame, b.frame)   // same seed, same interval
        XCTAssertNotEqual(Bootstrap.auc(samples, resamples: 500, seed: 6)?.video, a.video)
        XCTAssertLessThan(a.video.lower, auc); XCTAssertGreaterThan(a.video.upper, auc)
        XCTAssertLessThan(a.video.upper - a.video.lower, 0.5); XCTAssertGreaterThan(a.video.upper - a.video.lower, 0.02)
        let frame = try XCTUnwrap(a.frame)
        XCTAssertTrue(frame.lower < frame.upper && frame.lower >= 0 && frame.upper <= 1)
        // A perfectly separated set stays perfect in every resample (stratified: both classes always present).
        let perfect = [Bootstrap.Sample(label: 0, score: 0.1, frames: []), Bootstrap.Sample(label: 1, score: 0.9, frames: [])]
        XCTAssertEqual(Bootstrap.auc(perfect, resamples: 100, seed: 1)?.video, Bootstrap.Interval(lower: 1, upper: 1))
        XCTAssertNil(Bootstrap.auc(perfect, resamples: 100, seed: 1)?.frame)
        XCTAssertNil(Bootstrap.auc([perfect[0]], resamples: 100, seed: 1))   // one class: no interval
    }

    func testMetricsToolPrintsTheBootstrapIntervalTheSameOnEveryRun() throws {
        let dir = Fixtures.tempDir()
        let scores = [(0, 0.2), (0, 0.4), (0, 0.7), (1, 0.5), (1, 0.8), (1, 0.9)].map {
            "{\"label\":\($0.0),\"score\":\($0.1),\"dataset\":\"d\",\"frames\":[{\"score\":\($0.1)},{\"score\":null}]}"
        }.joined(separator: "\n") + "\n"
        let args = ["--bootstrap", "300", "--seed", "7", "--csv", dir + "/m.csv"]
        let a = try runTool("metrics", args, stdin: scores), b = try runTool("metrics", args, stdin: scores)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertTrue(a.stdout.contains("| AUC (%) | AUC 95% CI |"), a.stdout)
        XCTAssertTrue(a.stdout.contains("300 resamples (seed 7)"), a.stdout)
        let csv = try String(contentsOfFile: dir + "/m.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv[0], "dataset,level,n,real,fake,auc,ap,eer,acc,auc_ci_lower,auc_ci_upper")
        let video = csv[1].split(separator: ",", omittingEmptySubsequences: false)
        XCTAssertEqual(video[5], "0.888889")   // 8 of 9 pairs
        let lo = try XCTUnwrap(Double(video[9])), hi = try XCTUnwrap(Double(video[10]))
        XCTAssertTrue(lo < 0.888889 && hi >= 0.888889 && hi <= 1, "\(lo) \(hi)")
        let bad = try runTool("metrics", ["--bootstrap", "-1"], stdin: scores)
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--bootstrap"), bad.stderr)
        let plain = try runTool("metrics", [], stdin: scores)
        XCTAssertFalse(plain.stdout.contains("CI"), plain.stdout)   // opt-in: tables without it are unchanged
    }

    func testAUCMatchesPairCountingOnRandomData() throws {
        var rng = SampleRNG(seed: 3)
        let s = (0..<300).map { _ in (rng.unit() * 20).rounded() / 20 }   // many ties
        let y = (0..<300).map { _ in rng.chance(0.4) ? 1 : 0 }
        var num = 0.0, den = 0.0
        for i in s.indices where y[i] == 1 { for j in s.indices where y[j] == 0 { den += 1; num += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0 } }
        XCTAssertEqual(try Metrics.auc(scores: s, labels: y), num / den, accuracy: 1e-12)
    }
}

final class VideoProtocolTests: XCTestCase {
    func testMaxOverFacesMeanOverFramesSmallFaceRuleAndNoFacePolicy() {
        var p = VideoProtocol()
        let frames: [[ScoredFace]] = [
            [ScoredFace(score: 0.9, area: 100), ScoredFace(score: 0.2, area: 400)],  // the small face is dropped: 0.2
            [ScoredFace(score: 0.6, area: 300), ScoredFace(score: 0.7, area: 200)],  // both kept: max 0.7
            [],                                                                       // no face
        ]
        XCTAssertEqual(p.frameScore(frames[0]), 0.2)
        XCTAssertEqual(p.frameScore(frames[1]), 0.7)
        XCTAssertNil(p.frameScore(frames[2]))
        XCTAssertEqual(p.videoScore(frames)!, 0.45, accuracy: 1e-12)   // mean over frames with a face
        XCTAssertEqual(p.frameScores(frames), [0.2, 0.7, 0.5])
        XCTAssertEqual(p.videoScore([[], []]), 0.5)
        XCTAssertEqual(p.unreadableVideoScore, 0.5)
        p.noFaceVideo = .exclude; p.noFaceFrame = .exclude
        XCTAssertNil(p.videoScore([[]]))
        XCTAssertEqual(p.frameScores(frames), [0.2, 0.7])
        p.noFaceVideo = .fake
        XCTAssertEqual(p.videoScore([[]]), 1)
        p.minFaceAreaRatio = 0
        XCTAssertEqual(p.frameScore(frames[0]), 0.9)
        XCTAssertTrue(VideoProtocol().description.contains("score 0.5"))
    }
}

final class NRSTests: XCTestCase {
    func testWeightsFollowEquations5And6() {
        let o = NRSOptions()   // lambda 0.5, beta 200
        XCTAssertEqual(NRS.weight(distance: 0.3, isPseudoFake: true, epoch: 50, options: o), 0.3 * 0.25 + 0.75, accuracy: 1e-15)
        XCTAssertEqual(NRS.weight(distance: 0.3, isPseudoFake: true, epoch: 0, options: o), 1)
        XCTAssertEqual(NRS.weight(distance: 0.3, isPseudoFake: true, epoch: 200, options: o), 0.3, accuracy: 1e-15)
        XCTAssertEqual(NRS.weight(distance: 0.5, isPseudoFake: true, epoch: 50, options: o), 1)   // not below lambda
        XCTAssertEqual(NRS.weight(distance: 0.1, isPseudoFake: false, epoch: 50, options: o), 1)  // reals weigh 1
        XCTAssertEqual(FeatureDistance.cosine([1, 0], [0, 1]), 1, accuracy: 1e-12)
        XCTAssertEqual(FeatureDistance.cosine([1, 1], [2, 2]), 0, accuracy: 1e-12)
        XCTAssertEqual(FeatureDistance.l2([0, 0], [3, 4]), 5)
    }

    func testMemorySelectionAndDeterministicKMeans() {
        var rng = SampleRNG(seed: 1)
        let truth: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        var pts: [[Float]] = []
        for i in 0..<300 { let c = truth[i % 3]; pts.append(c.map { $0 + Float(rng.uniform(-0.1, 0.1)) }) }
        var r1 = SampleRNG(seed: 9), r2 = SampleRNG(seed: 9)
        let a = KMeans.fit(pts, k: 3, rng: &r1), b = KMeans.fit(pts, k: 3, rng: &r2)
        XCTAssertEqual(a, b, "k-means is not deterministic for a seed")
        for t in truth {
            XCTAssertLessThan(NRS.nearest(t, centres: a, distance: .cosine), 0.01, "centre of \(t) not found")
        }
        let probs = [0.2, 0.9, 0.5, 0.9, 0.1]
        let feats: [[Float]] = (0..<5).map { [Float($0)] }
        var g = SampleRNG(seed: 2)
        XCTAssertEqual(NRS.selectMemory(features: feats, realProbability: probs, count: 3, selection: .predicts, rng: &g), [[1], [3], [2]])
        XCTAssertEqual(NRS.selectMemory(features: feats, realProbability: probs, count: 3, selection: .random, rng: &g).count, 3)
    }
}
