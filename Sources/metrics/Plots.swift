// metrics --plot: ROC curves and score histograms per dataset and level (DFKImaging's Plot, DFKEval's ROC).
import DFKCore
import DFKEval
import DFKImaging
import Foundation

extension Plots {
    /// Scores of one dataset at one level (video or frame), labels 1 fake, 0 real.
    struct Scores: Sendable {
        var dataset: String, level: String, scores: [Double], labels: [Int]
        init(dataset: String, level: String, scores: [Double], labels: [Int]) {
            self.dataset = dataset; self.level = level; self.scores = scores; self.labels = labels
        }
    }

    /// ROC curve of one dataset and level (AUC in the legend and the title), or nil when a class is missing.
    static func roc(_ s: Scores) throws -> Image? {
        guard let points = try? Metrics.roc(scores: s.scores, labels: s.labels),
              let auc = try? Metrics.auc(scores: s.scores, labels: s.labels) else { return nil }
        let fakes = s.labels.filter { $0 == 1 }.count
        let pct = String(format: "%.2f%%", auc * 100)
        let name = "\(s.dataset) (AUC \(pct))"
        return try Plot.lines([Plot.Series(name: name, points: points.map { (x: $0.fpr, y: $0.tpr) }, color: PlotColor.palette[0])],
                              title: "ROC, \(s.dataset), \(s.level) level: AUC \(pct) (\(s.labels.count - fakes) real, \(fakes) fake)",
                              xLabel: "false positive rate (reals called fake)", yLabel: "true positive rate (fakes caught)",
                              xRange: (0, 1), yRange: (0, 1), diagonal: true, legend: .bottomRight)
    }

    /// Score histograms of the reals and the fakes of one dataset and level, overlaid.
    static func histogram(_ s: Scores) throws -> Image {
        let real = zip(s.scores, s.labels).filter { $0.1 == 0 }.map(\.0), fake = zip(s.scores, s.labels).filter { $0.1 == 1 }.map(\.0)
        return try Plot.histogram([Plot.Group(name: "real", values: real, color: .real), Plot.Group(name: "fake", values: fake, color: .fake)],
                                  title: "scores, \(s.dataset), \(s.level) level", xLabel: "score (0 real, 1 fake)")
    }

    /// Writes roc-DATASET-LEVEL.png (when both classes are present) and hist-DATASET-LEVEL.png for each entry into
    /// `dir` (created when missing); returns the paths written, in order.
    static func write(_ all: [Scores], to dir: String) throws -> [String] {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw ToolError("\(dir): cannot create directory: \(error.localizedDescription)")
        }
        var paths: [String] = []
        for s in all {
            let base = dir + "/" + slug(s.dataset) + "-" + slug(s.level) + ".png"
            let rocPath = (dir as NSString).appendingPathComponent("roc-" + (base as NSString).lastPathComponent)
            let histPath = (dir as NSString).appendingPathComponent("hist-" + (base as NSString).lastPathComponent)
            if let img = try roc(s) { try Plot.write(img, to: rocPath); paths.append(rocPath) }
            try Plot.write(try histogram(s), to: histPath); paths.append(histPath)
        }
        return paths
    }
}
