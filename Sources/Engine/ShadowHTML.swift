import EvalCore
import Foundation

/// The shadow-compare report as one self-contained HTML page (inline CSS and SVG, no scripts, no
/// network): verdict and reasons first, then the plots a reviewer looks at — latency CDFs of
/// both sides, the distribution of paired score differences, cost per case — and the worst
/// regressions with both outputs side by side.
public enum ShadowHTML {
    static let baselineColor = "#1f77b4"
    static let candidateColor = "#ff7f0e"

    public static func render(_ r: ShadowResult, _ info: ShadowReportInfo) -> String {
        let c = r.comparison
        let esc = SVGPlot.escape
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a" }
        func num(_ v: Double?, _ digits: Int = 3) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        func money(_ v: Double?) -> String { v.map { String(format: "$%.6f", $0) } ?? "n/a" }
        let verdictColor = ["pass": "#2ca02c", "fail": "#d62728", "inconclusive": "#b8860b"][r.gate.verdict.rawValue]!
        let metricName = c.metric == .agreement ? "agreement rate" : "pass rate"

        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>shadow-compare: \(esc(info.candidateEndpoint)) vs \(esc(info.baselineEndpoint)) — \(r.gate.verdict.rawValue)</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
            h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
            .verdict { display: inline-block; padding: 6px 16px; color: #fff; font-weight: bold; font-size: 20px; border-radius: 4px; background: \(verdictColor); }
            table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
            th { background: #f4f4f4; } .num { text-align: right; font-variant-numeric: tabular-nums; }
            .plots { display: flex; flex-wrap: wrap; gap: 16px; } .plot { border: 1px solid #ddd; }
            pre { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: 12px; max-width: 480px; }
            .pass { color: #2ca02c; } .fail { color: #d62728; } .inconclusive { color: #b8860b; } .muted { color: #777; font-size: 12px; }
            </style></head><body>
            <h1>shadow-compare: <span style="color:\(candidateColor)">\(esc(info.candidateEndpoint))</span> (\(esc(info.candidateModel))) vs
            <span style="color:\(baselineColor)">\(esc(info.baselineEndpoint))</span> (\(esc(info.baselineModel)))</h1>
            <p class="muted">\(esc(info.input)) · \(c.cases) cases, \(c.paired) answered by both · run \(esc(r.runID)) · seed \(info.seed) · \(String(format: "%.1f", r.durationSeconds)) s</p>
            <div class="verdict" id="verdict">\(r.gate.verdict.rawValue.uppercased())</div>
            <ul>
            """
        for reason in r.gate.reasons { h += "<li>\(esc(reason))</li>" }
        for w in r.warnings { h += "<li class=\"inconclusive\">\(esc(w))</li>" }
        h += "</ul>\n<table><tr><th>check</th><th>kind</th><th>actual</th><th>threshold</th><th>result</th></tr>"
        for check in r.gate.checks {
            h += "<tr><td>\(esc(check.name))</td><td>\(check.kind.rawValue)</td><td class=\"num\">\(check.actual.map(format) ?? "n/a")</td>"
            h += "<td class=\"num\">\(check.comparison) \(format(check.threshold))</td><td class=\"\(check.result.rawValue)\">\(check.result.rawValue)</td></tr>"
        }
        h += "</table>\n"

        // Summary table.
        h += "<h2>Quality</h2><table><tr><th></th><th>baseline</th><th>candidate</th><th>difference (95% CI)</th></tr>"
        h += "<tr><td>\(metricName)</td><td class=\"num\">\(pct(c.baselinePassRate))</td><td class=\"num\">\(pct(c.candidatePassRate))</td>"
        h += "<td class=\"num\">\(String(format: "%+.1f pts (%+.1f to %+.1f)", c.passRateDifference.value * 100, c.passRateDifference.low * 100, c.passRateDifference.high * 100))</td></tr>"
        h += "<tr><td>mean score</td><td class=\"num\">\(num(c.score.baseline))</td><td class=\"num\">\(num(c.score.candidate))</td>"
        h += "<td class=\"num\">\(String(format: "%+.4f (%+.4f to %+.4f)", c.score.delta, c.score.low, c.score.high))</td></tr></table>"
        h += "<p>Non-inferiority margin \(format(info.gate.margin * 100)) pts: <b class=\"\(c.qualityDecision.rawValue)\">\(c.qualityDecision.rawValue)</b>"
        if let n = c.casesNeeded { h += " — about \(n) paired cases would decide it" }
        h += ". McNemar exact p = \(String(format: "%.4g", c.mcnemarP)) (\(c.flipsToFail) pass→fail, \(c.flipsToPass) fail→pass). "
        h += "Wins / ties / losses: \(c.score.wins) / \(c.score.ties) / \(c.score.losses).</p>"
        if let drift = r.drift { h += "<p>Output drift (Fréchet distance of output embeddings): \(String(format: "%.4f", drift))</p>" }

        // Plots.
        let answered = r.pairs.filter(\.answered)
        h += "<h2>Plots</h2><div class=\"plots\">"
        var cdf = SVGPlot(title: "Latency CDF", xLabel: "latency (ms)", yLabel: "fraction of cases")
        let bl = answered.compactMap(\.baseline.latencyMs), cl = answered.compactMap(\.candidate.latencyMs)
        cdf.series = [
            .init(name: "baseline", color: baselineColor, points: SVGPlot.cdf(bl), style: .step),
            .init(name: "candidate", color: candidateColor, points: SVGPlot.cdf(cl), style: .step),
        ]
        let top = max(Statistics.percentile(sorted: bl.sorted(), 0.995) ?? 1, Statistics.percentile(sorted: cl.sorted(), 0.995) ?? 1)
        cdf.xRange = 0...max(top * 1.05, 1e-3)
        cdf.yRange = 0...1
        h += "<div class=\"plot\" id=\"latency-cdf\">\(cdf.render())</div>"

        let deltas = answered.map { $0.candidate.score - $0.baseline.score }
        var diff = SVGPlot(title: "Paired score difference (candidate − baseline)", xLabel: "score difference", yLabel: "cases")
        let hist = SVGPlot.histogram(deltas, range: -1.05...1.05, bins: 21)
        diff.series = [
            .init(name: "worse", color: "#d62728", points: hist.filter { $0.x < -0.05 }, style: .bars, barWidth: 0.1),
            .init(name: "same", color: "#9e9ac8", points: hist.filter { abs($0.x) <= 0.05 }, style: .bars, barWidth: 0.1),
            .init(name: "better", color: "#2ca02c", points: hist.filter { $0.x > 0.05 }, style: .bars, barWidth: 0.1),
        ]
        diff.xRange = -1.05...1.05
        h += "<div class=\"plot\" id=\"score-diff\">\(diff.render())</div>"

        // Per-case costs are fractions of a cent: plotted in micro-dollars so the axis reads.
        var cost = SVGPlot(title: "Cost per case", xLabel: "cost per case (µUSD, millionths of a dollar)", yLabel: "cases")
        let bc = answered.compactMap { $0.baseline.costUSD.map { $0 * 1e6 } }, cc = answered.compactMap { $0.candidate.costUSD.map { $0 * 1e6 } }
        if bc.isEmpty && cc.isEmpty {
            cost.title = "Cost per case (no pricing configured)"
        } else {
            let hi = max(bc.max() ?? 0, cc.max() ?? 0) * 1.02 + 1e-12
            let bins = 30
            let w = hi / Double(bins)
            cost.series = [
                .init(name: "baseline \(money(c.cost.baseline)) total", color: baselineColor, points: SVGPlot.histogram(bc, range: 0...hi, bins: bins), style: .bars, barWidth: w, opacity: 0.6),
                .init(name: "candidate \(money(c.cost.candidate)) total", color: candidateColor, points: SVGPlot.histogram(cc, range: 0...hi, bins: bins), style: .bars, barWidth: w, opacity: 0.6),
            ]
            cost.xRange = 0...hi
        }
        h += "<div class=\"plot\" id=\"cost\">\(cost.render())</div></div>"

        // Latency, cost, errors.
        h += "<h2>Latency, cost, errors</h2><table><tr><th></th><th>baseline</th><th>candidate</th><th>ratio (95% CI)</th></tr>"
        for (name, b, k) in [("p50", c.latency.baseline?.p50, c.latency.candidate?.p50), ("p95", c.latency.baseline?.p95, c.latency.candidate?.p95),
                             ("p99", c.latency.baseline?.p99, c.latency.candidate?.p99)] {
            let ratio = c.latencyRatios[name].map { String(format: "%.3f (%.3f to %.3f)", $0.value, $0.low, $0.high) } ?? "n/a"
            h += "<tr><td>latency \(name) (ms)</td><td class=\"num\">\(num(b, 1))</td><td class=\"num\">\(num(k, 1))</td><td class=\"num\">\(ratio)</td></tr>"
        }
        h += "<tr><td>total cost</td><td class=\"num\">\(money(c.cost.baseline))</td><td class=\"num\">\(money(c.cost.candidate))</td><td class=\"num\">\(num(c.costRatio))</td></tr>"
        h += "<tr><td>tokens per case</td><td class=\"num\">\(num(c.tokensPerCase.baseline, 1))</td><td class=\"num\">\(num(c.tokensPerCase.candidate, 1))</td><td></td></tr>"
        h += "<tr><td>error rate</td><td class=\"num\">\(pct(c.errorRates.baseline))</td><td class=\"num\">\(pct(c.errorRates.candidate))</td><td></td></tr>"
        for (kind, n) in c.errorKinds.sorted(by: { $0.key < $1.key }) {
            h += "<tr><td class=\"muted\">&nbsp;&nbsp;\(esc(kind))</td><td class=\"num\">\(n.baseline)</td><td class=\"num\">\(n.candidate)</td><td></td></tr>"
        }
        h += "</table>"

        func outputs(_ p: ShadowPair, extra: String) -> String {
            var row = "<tr><td>\(esc(p.id))\(p.line > 0 ? "<br><span class=\"muted\">line \(p.line)</span>" : "")</td>\(extra)"
            for a in [p.baseline, p.candidate] {
                let mark = a.pass ? "<span class=\"pass\">pass</span>" : "<span class=\"fail\">fail</span>"
                row += "<td>\(mark) \(String(format: "%.3f", a.score))<pre>\(esc(info.includeOutputs ? (a.output ?? "") : "(outputs left out)"))</pre></td>"
            }
            return row + "</tr>"
        }
        h += "<h2>Worst regressions</h2>"
        if r.worstRegressions.isEmpty {
            h += "<p>No case scored lower on the candidate.</p>"
        } else {
            h += "<table id=\"worst\"><tr><th>case</th><th>baseline output</th><th>candidate output</th></tr>"
            for p in r.worstRegressions { h += outputs(p, extra: "") }
            h += "</table>"
        }
        if !r.divergent.isEmpty {
            h += "<h2>Most divergent outputs</h2><table><tr><th>case</th><th>cosine</th><th>baseline output</th><th>candidate output</th></tr>"
            for d in r.divergent { h += outputs(d.pair, extra: "<td class=\"num\">\(String(format: "%.4f", d.cosine))</td>") }
            h += "</table>"
        }
        h += "\n</body></html>\n"
        return h
    }
}
