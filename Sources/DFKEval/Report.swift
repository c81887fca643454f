// Metric tables as Markdown and CSV, with the level, aggregation and no-face policy stated under them.

public struct ReportRow: Sendable {
    public var dataset: String
    public var level: String
    public var summary: Metrics.Summary
    public init(dataset: String, level: String, summary: Metrics.Summary) { self.dataset = dataset; self.level = level; self.summary = summary }
}

public enum Report {
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "n/a" }

    public static func markdown(_ rows: [ReportRow], notes: [String]) -> String {
        var out = "| dataset | level | n | real | fake | AUC (%) | AP (%) | EER (%) | ACC@0.5 (%) |\n"
        out += "|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            let s = r.summary
            out += "| \(r.dataset) | \(r.level) | \(s.count) | \(s.reals) | \(s.fakes) | \(pct(s.auc)) | \(pct(s.ap)) | \(pct(s.eer)) | \(pct(s.accuracy)) |\n"
        }
        out += "\n" + notes.map { "- " + $0 }.joined(separator: "\n") + "\n"
        return out
    }

    public static func csv(_ rows: [ReportRow], notes: [String]) -> String {
        var out = "dataset,level,n,real,fake,auc,ap,eer,acc\n"
        func v(_ d: Double?) -> String { d.map { String(format: "%.6f", $0) } ?? "" }
        for r in rows {
            let s = r.summary
            out += "\(r.dataset),\(r.level),\(s.count),\(s.reals),\(s.fakes),\(v(s.auc)),\(v(s.ap)),\(v(s.eer)),\(v(s.accuracy))\n"
        }
        for n in notes { out += "# " + n.replacingOccurrences(of: "\n", with: " ") + "\n" }
        return out
    }
}
