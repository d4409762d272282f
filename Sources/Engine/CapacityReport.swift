import EvalCore
import Foundation

extension CapacityResult {
    /// The JSON result: the profile, every step's figures and the knee.
    public var json: JSONValue {
        func opt(_ v: Double?) -> JSONValue { v.map(JSONValue.number) ?? .null }
        return [
            "schema": "evalengine.capacity/v1",
            "target": .string(target),
            "profile": ["name": .string(profile.name), "slo_p99_ms": .number(profile.sloP99Ms), "timeout_seconds": .number(profile.timeoutSeconds)],
            "knee_rate": opt(kneeRate),
            "steps": .array(steps.map { s in
                ["offered_rate": .number(s.offeredRate), "seconds": .number(s.seconds), "sent": .number(Double(s.sent)), "ok": .number(Double(s.ok)),
                 "errors": .number(Double(s.errors)), "throughput": .number(s.throughput),
                 "latency_ms": ["p50": opt(s.p50Ms), "p90": opt(s.p90Ms), "p99": opt(s.p99Ms), "max": opt(s.maxMs)],
                 "error_kinds": .object(s.errorKinds.mapValues { .number(Double($0)) }),
                 "ttft_ms": s.ttftP50Ms == nil ? .null : ["p50": opt(s.ttftP50Ms), "p90": opt(s.ttftP90Ms), "p99": opt(s.ttftP99Ms)],
                 "inter_token_p50_ms": opt(s.interTokenP50Ms),
                 "meets_slo": .bool(s.errors == 0 && (s.p99Ms ?? .infinity) <= profile.sloP99Ms)]
            }),
        ]
    }

    /// The terminal table.
    public var table: String {
        func ms(_ v: Double?) -> String { v.map { String(format: "%9.1f", $0) } ?? "      n/a" }
        // Streamed answers add time-to-first-token columns.
        let streamed = steps.contains { $0.ttftP50Ms != nil }
        var lines = ["capacity: \(profile.name) against \(target), SLO p99 <= \(format(profile.sloP99Ms)) ms",
                     "  offered/s       done/s      p50 ms    p90 ms    p99 ms    max ms   errors  SLO" + (streamed ? "   ttft p50  ttft p90  ttft p99   itl p50" : "")]
        for s in steps {
            let meets = s.errors == 0 && (s.p99Ms ?? .infinity) <= profile.sloP99Ms
            lines.append(String(format: "  %9.1f   %10.1f   ", s.offeredRate, s.throughput) + "\(ms(s.p50Ms)) \(ms(s.p90Ms)) \(ms(s.p99Ms)) \(ms(s.maxMs))"
                + String(format: "   %6d  ", s.errors) + (meets ? (streamed ? "ok    " : "ok") : "MISSED")
                + (streamed ? " \(ms(s.ttftP50Ms)) \(ms(s.ttftP90Ms)) \(ms(s.ttftP99Ms)) \(ms(s.interTokenP50Ms))" : ""))
        }
        lines.append(kneeRate.map { "knee: \(format($0)) requests/s (the highest offered rate whose p99 met the SLO without errors)" }
                     ?? "knee: none (not even the first step met the SLO)")
        return lines.joined(separator: "\n")
    }

    /// Latency percentiles against offered rate, the SLO line and the knee, as one SVG.
    public var svg: String {
        var plot = SVGPlot(title: "Latency percentiles against offered rate (\(profile.name))", xLabel: "offered rate (requests/s)", yLabel: "latency (ms)")
        plot.width = 720
        plot.height = 420
        func series(_ name: String, _ color: String, _ key: KeyPath<CapacityStep, Double?>) -> SVGPlot.Series {
            .init(name: name, color: color, points: steps.compactMap { s in s[keyPath: key].map { (s.offeredRate, $0) } }, style: .line)
        }
        let rates = steps.map(\.offeredRate)
        plot.series = [
            series("p50", "#2ca02c", \.p50Ms), series("p90", "#1f77b4", \.p90Ms), series("p99", "#d62728", \.p99Ms),
            .init(name: "SLO p99", color: "#7f7f7f", points: [(rates.min() ?? 0, profile.sloP99Ms), (rates.max() ?? 1, profile.sloP99Ms)], style: .line, opacity: 0.7),
        ]
        // Past the knee latency grows without bound: keep the interesting part in view.
        let top = min(steps.compactMap(\.p99Ms).max() ?? profile.sloP99Ms, profile.sloP99Ms * 4)
        plot.yRange = 0...max(top, profile.sloP99Ms) * 1.1
        if let k = kneeRate { plot.markers = [(x: k, label: "knee \(format(k))/s", color: "#9467bd")] }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + plot.render() + "\n"
    }
}
