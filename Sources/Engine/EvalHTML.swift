import EvalCore
import Foundation

/// An eval report as a page a person reads: verdict, summary, checks, metrics, the latency
/// distribution, and the failed and errored cases with their outputs and failing assertions.
/// Rendered from the JSON report, so `eval --html FILE` and the service's job page are the same.
public enum EvalHTML {
    /// Failed cases shown in full; the rest are counted.
    public static let maxCases = 200
    /// Characters of an output shown.
    public static let maxOutput = 2000
    public static let latencyColor = "#1f77b4"

    public static func render(report: JSONValue, title: String? = nil, nav: Bool = false) -> String {
        let run = report["run"]
        let summary = report["summary"]
        let verdict = report["verdict"]?.stringValue ?? report["gate"]?["verdict"]?.stringValue
        let heading = title ?? "eval — \(run?["golden_set"]?.stringValue.map { ($0 as NSString).lastPathComponent } ?? "golden set") on \(run?["endpoint"]?.stringValue ?? "?")"
        var b = "<h1>\(HTMLPage.escape(heading)) \(HTMLPage.badge(verdict))</h1>"
        b += "<p class=\"muted\">model \(HTMLPage.escape(run?["model"]?.stringValue ?? "?")) · run \(HTMLPage.escape(run?["id"]?.stringValue ?? "?"))"
            + (run?["started_at"]?.stringValue.map { " · started \(HTMLPage.escape($0))" } ?? "") + "</p>"
        if let reasons = report["reasons"]?.arrayValue, !reasons.isEmpty {
            b += "<ul>" + reasons.map { "<li class=\"reason\">\(HTMLPage.escape(HTMLPage.text($0)))</li>" }.joined() + "</ul>"
        }

        b += "<h2>Summary</h2>"
        let latency = summary?["latency_ms"]
        let ci = summary?["pass_rate_ci95"]?.arrayValue?.compactMap(\.numberValue) ?? []
        let rows: [(String, String)] = [
            ("cases", HTMLPage.text(summary?["total"] ?? run?["cases"])), ("passed", HTMLPage.text(summary?["passed"])),
            ("failed", HTMLPage.text(summary?["failed"])), ("errored", HTMLPage.text(summary?["errored"])),
            ("pass rate", HTMLPage.percent(summary?["pass_rate"]?.numberValue) + (ci.count == 2 ? " (95% CI \(HTMLPage.percent(ci[0]))–\(HTMLPage.percent(ci[1])))" : "")),
            ("mean score", HTMLPage.number(summary?["mean_score"]?.numberValue)),
            ("latency p50 / p95 / p99", [latency?["p50"], latency?["p95"], latency?["p99"]].map { HTMLPage.number($0?.numberValue, 1) }.joined(separator: " / ") + " ms"),
            ("cost", summary?["cost_usd"]?.numberValue.map { String(format: "$%.6f", $0) } ?? "–"),
            ("duration", HTMLPage.number(summary?["duration_seconds"]?.numberValue, 2) + " s"),
            ("cache hits", HTMLPage.text(summary?["cache_hits"])), ("retries", HTMLPage.text(summary?["retries"])),
        ]
        b += HTMLPage.table(["", ""], rows.map { ["<b>\(HTMLPage.escape($0.0))</b>", "<span class=\"num\">\(HTMLPage.escape($0.1))</span>"] }, cssClass: "summary")

        if let checks = report["checks"]?.arrayValue, !checks.isEmpty {
            b += "<h2>Gate checks</h2>"
            b += HTMLPage.table(["check", "actual", "", "threshold", "result"], checks.map { c in
                [HTMLPage.escape(HTMLPage.text(c["name"])), "<span class=\"num\">\(HTMLPage.escape(HTMLPage.text(c["actual"])))</span>",
                 HTMLPage.escape(HTMLPage.text(c["comparison"] ?? c["op"])), HTMLPage.escape(HTMLPage.text(c["threshold"])),
                 HTMLPage.badge(c["result"]?.stringValue)]
            })
        }
        if let metrics = summary?["metrics"]?.objectValue, !metrics.isEmpty {
            b += "<h2>Metrics</h2>"
            b += HTMLPage.table(["metric", "mean", "95% CI", "cases"], metrics.sorted { $0.key < $1.key }.map { name, m in
                let ci = m["ci95"]?.arrayValue?.compactMap(\.numberValue) ?? []
                return [HTMLPage.escape(name), HTMLPage.number(m["mean"]?.numberValue), ci.count == 2 ? "\(HTMLPage.number(ci[0]))–\(HTMLPage.number(ci[1]))" : "–",
                        HTMLPage.escape(HTMLPage.text(m["count"]))]
            })
        }

        let cases = report["cases"]?.arrayValue ?? []
        let latencies = cases.compactMap { $0["latency_ms"]?.numberValue }.filter { $0.isFinite && $0 >= 0 }
        if !latencies.isEmpty {
            var plot = SVGPlot(title: "Latency per case (CDF)", xLabel: "latency (ms)", yLabel: "share of cases")
            plot.series = [SVGPlot.Series(name: "latency", color: latencyColor, points: SVGPlot.cdf(latencies), style: .step)]
            plot.yRange = 0...1
            b += "<h2>Latency</h2><div class=\"plots\">" + plot.render() + "</div>"
        }

        let bad = cases.filter { ($0["status"]?.stringValue ?? "") != "passed" }
        b += "<h2>Failed and errored cases (\(bad.count))</h2>"
        if bad.isEmpty {
            b += "<p class=\"muted\">Every case passed.</p>"
        } else {
            b += HTMLPage.table(["case", "status", "score", "output", "failing assertions"], bad.prefix(maxCases).map { c in
                var output = c["output"]?.stringValue ?? (c["error"].map { HTMLPage.text($0) } ?? "")
                if output.count > maxOutput { output = String(output.prefix(maxOutput)) + "…" }
                let failing = (c["assertions"]?.arrayValue ?? []).filter { $0["pass"]?.boolValue == false }
                let reasons = failing.map { a in
                    "<div><b>\(HTMLPage.escape(HTMLPage.text(a["type"])))</b>: \(HTMLPage.escape(HTMLPage.text(a["reason"])))</div>"
                }.joined()
                let error = c["error"].map { "<div class=\"reason\">\(HTMLPage.escape(HTMLPage.text($0)))</div>" } ?? ""
                return ["\(HTMLPage.escape(HTMLPage.text(c["id"])))<div class=\"muted\">line \(HTMLPage.escape(HTMLPage.text(c["line"])))</div>",
                        HTMLPage.badge(c["status"]?.stringValue == "errored" ? "error" : "fail"), HTMLPage.number(c["score"]?.numberValue),
                        "<pre>\(HTMLPage.escape(output))</pre>", reasons + error]
            }, cssClass: "cases")
            if bad.count > maxCases { b += "<p class=\"muted\">\(bad.count - maxCases) more in the JSON report.</p>" }
        }
        return HTMLPage.document(title: heading, body: b, nav: nav)
    }

    /// Any other report (index-test, or an eval without cases): its verdict, reasons, checks and
    /// summary, as tables.
    public static func renderGeneric(report: JSONValue, title: String, nav: Bool) -> String {
        let verdict = report["verdict"]?.stringValue ?? report["gate"]?["verdict"]?.stringValue
        var b = "<h1>\(HTMLPage.escape(title)) \(HTMLPage.badge(verdict))</h1>"
        if let reasons = report["reasons"]?.arrayValue, !reasons.isEmpty {
            b += "<ul>" + reasons.map { "<li class=\"reason\">\(HTMLPage.escape(HTMLPage.text($0)))</li>" }.joined() + "</ul>"
        }
        if let checks = report["checks"]?.arrayValue, !checks.isEmpty {
            b += "<h2>Gate checks</h2>"
            let keys = Array(Set(checks.flatMap { $0.objectValue?.keys.map { $0 } ?? [] })).sorted()
            b += HTMLPage.table(keys, checks.map { c in keys.map { HTMLPage.escape(HTMLPage.text(c[$0])) } })
        }
        // Two configs measured on the same queries (index-test): side by side, with the difference.
        if let base = report["baseline"]?["means"]?.objectValue, let cand = report["candidate"]?["means"]?.objectValue {
            b += "<h2>Retrieval metrics: \(HTMLPage.escape(HTMLPage.text(report["baseline"]?["config"]))) → \(HTMLPage.escape(HTMLPage.text(report["candidate"]?["config"])))</h2>"
            b += HTMLPage.table(["metric", "baseline", "candidate", "Δ"], base.keys.sorted().map { k in
                let x = base[k]?.numberValue, y = cand[k]?.numberValue
                let delta = x.flatMap { x in y.map { $0 - x } }
                let colour = (delta ?? 0) < -1e-9 ? HTMLPage.failColor : HTMLPage.passColor
                return [HTMLPage.escape(k), HTMLPage.number(x, 4), HTMLPage.number(y, 4),
                        "<span style=\"color:\(colour);font-weight:600\">\(delta.map { String(format: "%+.4f", $0) } ?? "–")</span>"]
            })
        }
        for section in ["summary", "baseline", "candidate", "comparison"] {
            guard let o = report[section]?.objectValue, !o.isEmpty else { continue }
            b += "<h2>\(HTMLPage.escape(section))</h2>"
            b += HTMLPage.table(["", ""], flatten(o).map { ["<b>\(HTMLPage.escape($0.0))</b>", HTMLPage.escape($0.1)] })
        }
        return HTMLPage.document(title: title, body: b, nav: nav)
    }

    static func flatten(_ o: [String: JSONValue], prefix: String = "", depth: Int = 0) -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, v) in o.sorted(by: { $0.key < $1.key }) {
            if case .object(let inner) = v, depth < 3 {
                out += flatten(inner, prefix: prefix + k + ".", depth: depth + 1)
            } else if case .array(let items) = v, items.count > 20 {
                out.append((prefix + k, "\(items.count) items"))
            } else {
                out.append((prefix + k, HTMLPage.text(v)))
            }
            if out.count > 400 { break }
        }
        return out
    }
}
