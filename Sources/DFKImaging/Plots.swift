// The pictures the tools draw (Plot underneath): loss and validation-AUC curves for train, and the file-name part
// that every plot's name uses. metrics' ROC curves and score histograms are drawn in Sources/metrics/Plots.swift
// (they need DFKEval's ROC).
import Foundation

public enum Plots {
    /// A file-name part from a dataset name ("ff++/Deepfakes" -> "ff++_Deepfakes").
    public static func slug(_ s: String) -> String {
        let ok = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
        let t = String(s.map { ok.contains($0) ? $0 : "_" })
        return t.isEmpty || t.hasPrefix(".") ? "_" + t : t
    }

    // MARK: training curves

    /// One epoch of a training log (train-log.ndjson).
    public struct EpochPoint: Sendable {
        public var epoch: Int, loss: Double, valAUC: Double?
        public init(epoch: Int, loss: Double, valAUC: Double?) { self.epoch = epoch; self.loss = loss; self.valAUC = valAUC }
    }
    /// A training step's loss; `epoch` is fractional (epoch + step / steps in the epoch).
    public struct StepPoint: Sendable {
        public var epoch: Double, loss: Double
        public init(epoch: Double, loss: Double) { self.epoch = epoch; self.loss = loss }
    }

    /// The loss curve: the mean training loss per epoch (at the epoch's end, x = epoch + 1) and, when given, every
    /// step's loss (thin, light) of the steps this run has seen.
    public static func lossCurve(_ epochs: [EpochPoint], steps: [StepPoint] = [], title: String = "training loss") throws -> Image {
        var series: [Plot.Series] = []
        if !steps.isEmpty {
            series.append(Plot.Series(name: "step loss", points: steps.map { (x: $0.epoch, y: $0.loss) }, color: PlotColor(170, 200, 230), thickness: 1))
        }
        series.append(Plot.Series(name: "epoch mean loss", points: epochs.map { (x: Double($0.epoch + 1), y: $0.loss) },
                                  color: PlotColor.palette[0], thickness: 2, markers: true))
        let xs = epochs.map { Double($0.epoch + 1) } + steps.map(\.epoch)
        let ys = epochs.map(\.loss) + steps.map(\.loss)
        // From 0 (or the lowest loss, if negative) to the highest, with room above for the legend.
        let yr = Plot.range(ys), low = min(0, yr.0)
        return try Plot.lines(series, title: title, xLabel: "epoch", yLabel: "loss",
                              xRange: (0, max(1, xs.filter(\.isFinite).max() ?? 1)), yRange: (low, yr.1 + 0.15 * (yr.1 - low)))
    }

    /// The validation AUC per epoch (epochs without one are left out).
    public static func validationCurve(_ epochs: [EpochPoint], title: String = "validation AUC") throws -> Image {
        let pts = epochs.compactMap { e in e.valAUC.map { (x: Double(e.epoch + 1), y: $0 * 100) } }
        let best = pts.max { $0.y < $1.y }
        let name = best.map { String(format: "val AUC (best %.2f%% after epoch %d)", $0.y, Int($0.x)) } ?? "val AUC (no validation set)"
        let yr = Plot.range(pts.map(\.y) + [50])
        return try Plot.lines([Plot.Series(name: name, points: pts, color: PlotColor.palette[2], thickness: 2, markers: true)],
                              title: title, xLabel: "epoch", yLabel: "AUC (%)",
                              xRange: (0, Double(max(1, epochs.map { $0.epoch + 1 }.max() ?? 1))),
                              yRange: (max(0, yr.0), min(100, max(yr.1, yr.0 + 1))), legend: .bottomRight)
    }

    /// Writes OUT/curves-loss.png and OUT/curves-val-auc.png; returns their paths.
    public static func writeTrainingCurves(_ epochs: [EpochPoint], steps: [StepPoint] = [], out: String) throws -> [String] {
        let loss = out + "/curves-loss.png", auc = out + "/curves-val-auc.png"
        try Plot.write(try lossCurve(epochs, steps: steps), to: loss)
        try Plot.write(try validationCurve(epochs), to: auc)
        return [loss, auc]
    }
}
