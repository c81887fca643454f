// Metric tables as Markdown and CSV, with the level, aggregation and no-face policy stated under them.

public struct ReportRow: Sendable {
    public var dataset: String
    public var level: String
    public var summary: Metrics.Summary
    /// The AUC's bootstrap interval (metrics --bootstrap), nil when not computed.
    public var aucInterval: Bootstrap.Interval?
    public init(dataset: String, level: String, summary: Metrics.Summary, aucInterval: Bootstrap.Interval? = nil) {
        self.dataset = dataset; self.level = level; self.summary = summary; self.aucInterval = aucInterval
    }
}

public enum Report {
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "n/a" }

    public static func markdown(_ rows: [ReportRow], notes: [String], confidence: Double? = nil) -> String {
        let ci = confidence.map { String(format: "AUC %.0f%% CI", $0 * 100) }
        var out = "| dataset | level | n | real | fake | AUC (%) |" + (ci.map { " \($0) |" } ?? "") + " AP (%) | EER (%) | ACC@0.5 (%) |\n"
        out += "|---|---|---|---|---|---|" + (ci == nil ? "" : "---|") + "---|---|---|\n"
        for r in rows {
            let s = r.summary
            let interval = ci == nil ? "" : " " + (r.aucInterval.map { "\(pct($0.lower))-\(pct($0.upper))" } ?? "n/a") + " |"
            out += "| \(r.dataset) | \(r.level) | \(s.count) | \(s.reals) | \(s.fakes) | \(pct(s.auc)) |\(interval) \(pct(s.ap)) | \(pct(s.eer)) | \(pct(s.accuracy)) |\n"
        }
        out += "\n" + notes.map { "- " + $0 }.joined(separator: "\n") + "\n"
        return out
    }

    /// Columns: dataset, level, n, real, fake, auc, ap, eer, acc, then auc_ci_lower, auc_ci_upper when `intervals`.
    public static func csv(_ rows: [ReportRow], notes: [String], intervals: Bool = false) -> String {
        var out = "dataset,level,n,real,fake,auc,ap,eer,acc" + (intervals ? ",auc_ci_lower,auc_ci_upper" : "") + "\n"
        func v(_ d: Double?) -> String { d.map { String(format: "%.6f", $0) } ?? "" }
        for r in rows {
            let s = r.summary
            out += "\(r.dataset),\(r.level),\(s.count),\(s.reals),\(s.fakes),\(v(s.auc)),\(v(s.ap)),\(v(s.eer)),\(v(s.accuracy))"
            if intervals { out += ",\(v(r.aucInterval?.lower)),\(v(r.aucInterval?.upper))" }
            out += "\n"
        }
        for n in notes { out += "# " + n.replacingOccurrences(of: "\n", with: " ") + "\n" }
        return out
    }
}
