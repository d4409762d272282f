import Engine
import EvalCore
import Foundation
import Synchronization

/// Progress on stderr: a redrawn bar on a terminal, a plain line every 10% (or 5 s) otherwise.
final class ProgressPrinter: Sendable {
    private struct State {
        var lastDraw = ContinuousClock.now
        var lastLineFraction = 0.0
        var lastLineTime = ContinuousClock.now
        var drewBar = false
    }

    private let enabled: Bool
    private let tty: Bool
    private let total: Int
    private let state = Mutex(State())

    init(enabled: Bool, total: Int) {
        self.enabled = enabled
        self.total = total
        tty = isatty(2) != 0
    }

    func update(_ e: ProgressEvent) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let line: String? = state.withLock { s in
            let fraction = total > 0 ? Double(e.done) / Double(total) : 1
            if tty {
                guard now - s.lastDraw > .milliseconds(100) || e.done == total else { return nil }
                s.lastDraw = now
                s.drewBar = true
                let width = 30
                let filled = Int(fraction * Double(width))
                let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
                return "\r[\(bar)] " + stats(e)
            }
            guard fraction - s.lastLineFraction >= 0.1 || now - s.lastLineTime > .seconds(5) || e.done == total else { return nil }
            s.lastLineFraction = fraction
            s.lastLineTime = now
            return "progress: " + stats(e) + "\n"
        }
        if let line { FileHandle.standardError.write(line.data(using: .utf8)!) }
    }

    private func stats(_ e: ProgressEvent) -> String {
        let rate = e.elapsedSeconds > 0 ? Double(e.done) / e.elapsedSeconds : 0
        let eta = rate > 0 ? Double(e.total - e.done) / rate : 0
        return "\(e.done)/\(e.total)  \(Int(rate))/s  ETA \(Int(eta.rounded(.up)))s  errors \(e.errored)  retries \(e.retries)  429s \(e.rateLimited)   "
    }

    func finish() {
        guard enabled else { return }
        let drew = state.withLock { s in
            defer { s.drewBar = false }
            return s.drewBar
        }
        if drew { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}

/// The short summary printed at the end of a run.
enum TerminalSummary {
    static func render(_ r: EvalResult, info: RunInfo, color: Bool) -> String {
        let s = r.summary
        var lines: [String] = []
        let rate = s.durationSeconds > 0 ? Double(s.total) / s.durationSeconds : 0
        let what = r.repeats > 1 || r.isMatrix ? "samples" : "cases"
        lines.append("eval: \(s.total) \(what) from \(info.goldenSet) against \(info.endpoint) (\(info.model)) in \(String(format: "%.2f", s.durationSeconds)) s, \(TerminalSummary.rate(rate)) \(what)/s")
        var counts = "  passed \(s.passed)   failed \(s.failed)   errored \(s.errored)"
        if let p = s.passRate, let ci = s.passRateInterval {
            counts += String(format: "   pass rate %.1f%% (95%% CI %.1f–%.1f%%)", p * 100, ci.low * 100, ci.high * 100)
        }
        lines.append(counts)
        for (name, m) in s.metrics.sorted(by: { $0.key < $1.key }) {
            lines.append(String(format: "  metric %@: %.3f (95%% CI %.3f–%.3f, n=%d)", name, m.mean, m.low, m.high, m.count))
        }
        if let l = s.latency {
            let live = s.cacheHits > 0 ? " (\(l.count) answers measured in this run; \(s.cacheHits) from the cache not counted)" : ""
            lines.append(String(format: "  latency ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f", l.p50, l.p95, l.p99, l.max) + live)
        }
        if let st = s.stream {
            var line = String(format: "  time to first token ms: p50 %.1f  p95 %.1f  p99 %.1f", st.ttft.p50, st.ttft.p95, st.ttft.p99)
            if let a = st.interTokenP50Ms, let b = st.interTokenP95Ms { line += String(format: "   inter-token ms: p50 %.1f  p95 %.1f", a, b) }
            if let r = st.tokensPerSecond { line += String(format: "   %.1f tokens/s", r) }
            lines.append(line)
        }
        var usage = "  tokens: \(s.promptTokens) in, \(s.completionTokens) out"
        if let c = s.costUSD { usage += String(format: "   cost $%.4f", c) }
        usage += "   retries \(s.retries)   429s \(s.rateLimited)"
        lines.append(usage)
        if !s.judge.isEmpty {
            var judge = "  judge: \(s.judge.calls) calls, \(s.judge.cacheHits) from the cache; tokens \(s.judge.promptTokens) in, \(s.judge.completionTokens) out"
            if let c = s.judge.costUSD { judge += String(format: "   cost $%.4f", c) }
            lines.append(judge + " (apart from the target's)")
        }
        var memory = "  run \(r.runID): cache hits \(s.cacheHits) of \(s.total)"
        if r.resumedCases > 0 { memory += ", \(r.resumedCases) cases resumed from an interrupted attempt" }
        lines.append(memory)
        if let rep = s.repeats {
            func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a" }
            lines.append("  repeats \(rep.k): pass@1 \(pct(s.passRate))   pass^\(rep.k) \(pct(rep.passAllRate))   pass@\(rep.k) \(pct(rep.passAnyRate))   flaky \(rep.flaky) of \(rep.complete) complete cases"
                + (rep.withErrors > 0 ? " (\(rep.withErrors) with an errored sample)" : ""))
            if !rep.flakiest.isEmpty {
                lines.append("    flakiest: " + rep.flakiest.prefix(5).map { "\($0.id) \($0.passed)/\($0.scored)" }.joined(separator: ", "))
            }
        }
        if r.isMatrix { lines += matrixTable(r) }
        if !s.errorsByKind.isEmpty {
            lines.append("  errors: " + s.errorsByKind.sorted(by: { $0.key < $1.key }).map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            // What the server said, once per kind (redacted of secrets when it was received).
            for (kind, message) in s.firstErrorMessages.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(kind), first: \(message.replacingOccurrences(of: "\n", with: " "))")
            }
        }
        for c in r.gate.checks {
            let actual = c.actual.map(format) ?? "n/a"
            lines.append("  [\(c.pass ? "ok" : "FAILED")] \(c.name) \(actual) \(c.comparison) \(format(c.threshold))")
        }
        let verdict = r.gate.verdict.rawValue.uppercased()
        let painted: String
        if color {
            let code = r.gate.verdict == .pass ? "32" : (r.gate.verdict == .fail ? "31" : "33")
            painted = "\u{1B}[1;\(code)m\(verdict)\u{1B}[0m"
        } else {
            painted = verdict
        }
        lines.append("verdict: \(painted)")
        for reason in r.gate.reasons { lines.append("  - \(reason)") }
        for note in r.gate.notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }

    /// The targets side by side.
    static func matrixTable(_ r: EvalResult) -> [String] {
        let width = max(6, r.targets.map(\.label.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var out = ["  " + pad("target", width) + "  verdict        pass rate (95% CI)          errored  p95 ms     cost" + (r.repeats > 1 ? "       pass^K  flaky" : "")]
        for t in r.targets {
            let s = t.summary
            let rate = s.passRate.map { p in String(format: "%5.1f%% (%.1f–%.1f%%)", p * 100, (s.passRateInterval?.low ?? 0) * 100, (s.passRateInterval?.high ?? 1) * 100) } ?? "n/a"
            var row = "  " + pad(t.label, width) + "  " + pad(t.gate.verdict.rawValue.uppercased(), 13) + "  " + pad(rate, 26)
            row += "  " + pad(String(s.errored), 7) + "  " + pad(s.latency.map { String(format: "%.1f", $0.p95) } ?? "n/a", 9)
            row += "  " + pad(s.costUSD.map { String(format: "$%.4f", $0) } ?? "n/a", 9)
            if let rep = s.repeats { row += "  " + pad(rep.passAllRate.map { String(format: "%5.1f%%", $0 * 100) } ?? "n/a", 6) + "  \(rep.flaky)" }
            out.append(row)
        }
        return out
    }

    /// Cases per second as people read it: whole numbers from 10 up, two significant digits below
    /// (a slow endpoint's 0.4 cases/s is not "0").
    static func rate(_ r: Double) -> String {
        guard r.isFinite, r > 0 else { return "0" }
        if r >= 10 { return String(Int(r.rounded())) }
        return String(format: "%.2g", r)
    }
}
