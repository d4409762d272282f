/// The three-state gate result Argo conditions read.
public enum Verdict: String, Sendable, Hashable {
    case pass
    case fail
    /// Infrastructure trouble left too few scored cases to judge quality.
    case inconclusive
}

/// Thresholds a run must meet. Quality checks fail the gate; infrastructure checks (error rate,
/// too few scored cases) make it inconclusive, so a broken endpoint never reads as a regression.
public struct GateConfig: Sendable, Hashable {
    /// Minimum fraction of scored cases that pass (point estimate).
    public var minPassRate: Double?
    /// Minimum lower bound of the 95% Wilson interval of the pass rate (a stricter, noise-aware gate).
    public var minPassRateLowerBound: Double?
    /// Minimum mean of named metrics.
    public var minMetrics: [String: Double] = [:]
    public var maxP50LatencyMs: Double?
    public var maxP95LatencyMs: Double?
    public var maxP99LatencyMs: Double?
    /// Time to first token of streamed answers, 95th percentile (endpoints with `stream: true`).
    public var maxP95TTFTMs: Double?
    /// Maximum total cost of the run in USD.
    public var maxCostUSD: Double?
    /// Maximum fraction of cases that errored (no output to score); above it the verdict is inconclusive.
    public var maxErrorRate: Double = 0.1
    /// Fewer scored cases than this makes the verdict inconclusive.
    public var minScoredCases: Int = 1
    /// Samples per case (`repeat:`; `--repeat` overrides it). Nil: one.
    public var repeats: Int?
    /// With repeats: most fraction of complete cases that are flaky (some samples pass, some fail).
    public var maxFlakyRate: Double?
    /// With repeats: least fraction of complete cases whose every sample passes (pass^K).
    public var minPassAllRate: Double?
    /// Most samples per case a gate, request or flag may ask for.
    public static let maxRepeats = 1000

    public init() {}

    /// The gate used when none is given: every scored case must pass (promptfoo's default).
    public static var `default`: GateConfig {
        var g = GateConfig()
        g.minPassRate = 1
        return g
    }

    public static let knownFields: Set<String> = [
        "min_pass_rate", "min_pass_rate_lower_bound", "min_metrics", "max_p50_latency_ms", "max_p95_latency_ms",
        "max_p99_latency_ms", "max_cost_usd", "max_error_rate", "min_scored_cases", "repeat", "max_flaky_rate", "min_pass_all_rate",
        "max_p95_ttft_ms",
    ]

    /// The gate as its file would say it (reports record it, so `evalengine merge` applies the
    /// same one). `decode(json)` reads it back.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["max_error_rate": .number(maxErrorRate), "min_scored_cases": .number(Double(minScoredCases))]
        if let v = minPassRate { o["min_pass_rate"] = .number(v) }
        if let v = minPassRateLowerBound { o["min_pass_rate_lower_bound"] = .number(v) }
        if !minMetrics.isEmpty { o["min_metrics"] = .object(minMetrics.mapValues(JSONValue.number)) }
        if let v = maxP50LatencyMs { o["max_p50_latency_ms"] = .number(v) }
        if let v = maxP95LatencyMs { o["max_p95_latency_ms"] = .number(v) }
        if let v = maxP99LatencyMs { o["max_p99_latency_ms"] = .number(v) }
        if let v = maxP95TTFTMs { o["max_p95_ttft_ms"] = .number(v) }
        if let v = maxCostUSD { o["max_cost_usd"] = .number(v) }
        if let v = repeats { o["repeat"] = .number(Double(v)) }
        if let v = maxFlakyRate { o["max_flaky_rate"] = .number(v) }
        if let v = minPassAllRate { o["min_pass_all_rate"] = .number(v) }
        return .object(o)
    }

    /// Decodes a gate file's object (fields as in `configs/gates/*.yaml`).
    public static func decode(_ json: JSONValue) throws(FieldError) -> GateConfig {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a gate must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown gate field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        func fraction(_ key: String) throws(FieldError) -> Double? {
            guard let v = o[key], v != .null else { return nil }
            guard let n = v.numberValue, n >= 0, n <= 1 else { throw FieldError(field: key, message: "must be a number between 0 and 1") }
            return n
        }
        func positive(_ key: String) throws(FieldError) -> Double? {
            guard let v = o[key], v != .null else { return nil }
            guard let n = v.numberValue, n >= 0 else { throw FieldError(field: key, message: "must be a number >= 0") }
            return n
        }
        var g = GateConfig()
        g.minPassRate = try fraction("min_pass_rate")
        g.minPassRateLowerBound = try fraction("min_pass_rate_lower_bound")
        if let m = o["min_metrics"], m != .null {
            guard let mo = m.objectValue else { throw FieldError(field: "min_metrics", message: "must be a map of metric name to minimum mean") }
            for (k, v) in mo {
                guard let n = v.numberValue else { throw FieldError(field: "min_metrics.\(k)", message: "must be a number") }
                g.minMetrics[k] = n
            }
        }
        g.maxP50LatencyMs = try positive("max_p50_latency_ms")
        g.maxP95LatencyMs = try positive("max_p95_latency_ms")
        g.maxP99LatencyMs = try positive("max_p99_latency_ms")
        g.maxP95TTFTMs = try positive("max_p95_ttft_ms")
        g.maxCostUSD = try positive("max_cost_usd")
        g.maxErrorRate = try fraction("max_error_rate") ?? g.maxErrorRate
        if let v = try positive("min_scored_cases") {
            guard v.rounded() == v, v < 1e12 else { throw FieldError(field: "min_scored_cases", message: "must be a whole number below 10^12") }
            g.minScoredCases = Int(v)
        }
        if let v = o["repeat"], v != .null {
            guard let k = v.wholeNumber(in: 1...maxRepeats) else { throw FieldError(field: "repeat", message: "must be a whole number from 1 to \(maxRepeats)") }
            g.repeats = k
        }
        g.maxFlakyRate = try fraction("max_flaky_rate")
        g.minPassAllRate = try fraction("min_pass_all_rate")
        return g
    }
}

/// One threshold compared with its measured value.
public struct GateCheck: Sendable, Hashable {
    public enum Kind: String, Sendable { case quality, infrastructure }
    public var name: String
    public var kind: Kind
    /// `>=` or `<=`.
    public var comparison: String
    public var threshold: Double
    /// Nil when the value could not be measured (e.g. no latency recorded); such a check fails.
    public var actual: Double?
    public var pass: Bool
    /// A check judged on an interval that straddles the threshold: not passed, not failed either.
    public var undecided: Bool

    public init(name: String, kind: Kind, comparison: String, threshold: Double, actual: Double?, pass: Bool, undecided: Bool = false) {
        self.name = name
        self.kind = kind
        self.comparison = comparison
        self.threshold = threshold
        self.actual = actual
        self.pass = pass
        self.undecided = undecided && !pass
    }

    /// pass, fail or inconclusive.
    public var result: Verdict { pass ? .pass : (undecided ? .inconclusive : .fail) }

    /// The check as reports show it.
    public var json: JSONValue {
        ["name": .string(name), "kind": .string(kind.rawValue), "comparison": .string(comparison), "threshold": .number(threshold),
         "actual": actual.map(JSONValue.number) ?? .null, "pass": .bool(pass), "result": .string(result.rawValue)]
    }
}

/// The gate's decision with the checks and human-readable reasons behind it.
public struct GateResult: Sendable {
    public var verdict: Verdict
    public var checks: [GateCheck]
    public var reasons: [String]
    /// Things the reader should know that did not decide the verdict (a check skipped, errors
    /// that could not have changed the verdict).
    public var notes: [String] = []

    public init(verdict: Verdict, checks: [GateCheck], reasons: [String], notes: [String] = []) {
        self.verdict = verdict
        self.checks = checks
        self.reasons = reasons
        self.notes = notes
    }
}

extension GateConfig {
    /// Applies the thresholds to a summary.
    ///
    /// Errored cases make the verdict inconclusive only when they could change it: the quality
    /// checks are evaluated twice, as if every errored case had passed and as if every one had
    /// failed, and when both give the same verdict it stands (with the errors reported). Latency
    /// and cost checks use what was measured; latency checks are skipped, with a note, when no
    /// answer of this run was measured live (every one came from the cache).
    public func evaluate(_ s: RunSummary) -> GateResult {
        var notes: [String] = []
        let latencyLimits = [("latency_p50_ms", maxP50LatencyMs, s.latency?.p50), ("latency_p95_ms", maxP95LatencyMs, s.latency?.p95),
                             ("latency_p99_ms", maxP99LatencyMs, s.latency?.p99), ("ttft_p95_ms", maxP95TTFTMs, s.stream?.ttft.p95)].filter { $0.1 != nil }
        let skipLatency = s.latency == nil && s.cacheHits > 0 && !latencyLimits.isEmpty
        if skipLatency {
            notes.append("latency checks skipped: all \(s.cacheHits) answers came from the cache, so none was measured in this run (use --cache-mode refresh to gate latency)")
        }

        /// How errored samples are counted in the repeat checks: as measured, or every case with an
        /// error as the best or the worst it could have been.
        enum Bound { case measured, best, worst }

        /// The quality checks for a given count of passed and failed cases (metrics bounded the same way).
        func qualityChecks(passed: Int, failed: Int, metricBound: Double?, bound: Bound = .measured) -> [GateCheck] {
            var checks: [GateCheck] = []
            func atLeast(_ name: String, _ threshold: Double, _ actual: Double?) {
                checks.append(GateCheck(name: name, kind: .quality, comparison: ">=", threshold: threshold, actual: actual, pass: actual.map { $0 >= threshold } ?? false))
            }
            func atMost(_ name: String, _ threshold: Double, _ actual: Double?) {
                checks.append(GateCheck(name: name, kind: .quality, comparison: "<=", threshold: threshold, actual: actual, pass: actual.map { $0 <= threshold } ?? false))
            }
            let scored = passed + failed
            let rate = scored > 0 ? Double(passed) / Double(scored) : nil
            if let t = minPassRate { atLeast("pass_rate", t, rate) }
            if let t = minPassRateLowerBound { atLeast("pass_rate_lower_bound", t, s.passRateInterval(passed: passed, scored: scored)?.low) }
            if let r = s.repeats {
                let unknown = Double(r.withErrors)
                let all = Double(r.cases)
                func rate(_ count: Int, _ extra: Double) -> Double? {
                    switch bound {
                    case .measured: return r.complete > 0 ? Double(count) / Double(r.complete) : nil
                    case .best, .worst: return all > 0 ? (Double(count) + extra) / all : nil
                    }
                }
                if let t = minPassAllRate { atLeast("pass_all_rate", t, rate(r.passAll, bound == .best ? unknown : 0)) }
                if let t = maxFlakyRate { atMost("flaky_rate", t, rate(r.flaky, bound == .worst ? unknown : 0)) }
            }
            let extra = Double(passed + failed - s.scored)
            for (name, t) in minMetrics.sorted(by: { $0.key < $1.key }) {
                var mean = s.metrics[name]?.mean
                if let bound = metricBound, extra > 0, let m = s.metrics[name] {
                    mean = (m.mean * Double(m.count) + bound * extra) / (Double(m.count) + extra)
                }
                atLeast("metric:\(name)", t, mean)
            }
            if !skipLatency { for (name, t, actual) in latencyLimits { atMost(name, t!, actual) } }
            if let t = maxCostUSD { atMost("cost_usd", t, s.costUSD ?? (s.scored > 0 ? nil : 0)) }
            return checks
        }

        var infrastructure: [GateCheck] = []
        infrastructure.append(GateCheck(name: "error_rate", kind: .infrastructure, comparison: "<=", threshold: maxErrorRate,
                                        actual: s.total > 0 ? Double(s.errored) / Double(s.total) : 0,
                                        pass: (s.total > 0 ? Double(s.errored) / Double(s.total) : 0) <= maxErrorRate))
        infrastructure.append(GateCheck(name: "scored_cases", kind: .infrastructure, comparison: ">=", threshold: Double(minScoredCases),
                                        actual: Double(s.scored), pass: s.scored >= minScoredCases))
        let measured = qualityChecks(passed: s.passed, failed: s.failed, metricBound: nil)
        let checks = infrastructure + measured

        var reasons: [String] = []
        func describe(_ c: GateCheck) -> String {
            "\(c.name) \(c.actual.map(format) ?? "not measured") is not \(c.comparison) \(format(c.threshold))"
        }
        let tripped = infrastructure.filter { !$0.pass }
        guard !tripped.isEmpty else {
            for c in measured where !c.pass { reasons.append(describe(c)) }
            return GateResult(verdict: measured.allSatisfy(\.pass) ? .pass : .fail, checks: checks, reasons: reasons, notes: notes)
        }
        // Could the errored cases change the verdict? Bound both ways (metrics of assertion scores lie in 0...1).
        let metricsBounded = minMetrics.keys.allSatisfy { name in s.metrics[name].map { $0.minValue >= 0 && $0.maxValue <= 1 } ?? false }
        let best = qualityChecks(passed: s.passed + s.errored, failed: s.failed, metricBound: metricsBounded ? 1 : nil, bound: .best)
        let worst = qualityChecks(passed: s.passed, failed: s.failed + s.errored, metricBound: metricsBounded ? 0 : nil, bound: .worst)
        let whyErrors = tripped.map(describe).joined(separator: "; ")
        let enoughCases = s.total >= minScoredCases && s.errored < s.total
        if enoughCases, let failing = best.first(where: { !$0.pass }) {
            reasons.append(describe(measured.first { $0.name == failing.name } ?? failing))
            for c in measured where !c.pass && c.name != failing.name { reasons.append(describe(c)) }
            notes.append("\(s.errored) of \(s.total) cases errored (\(whyErrors)), but the verdict is decided: \(failing.name) fails even if every errored case had passed")
            return GateResult(verdict: .fail, checks: checks, reasons: reasons, notes: notes)
        }
        if enoughCases, worst.allSatisfy(\.pass) {
            notes.append("\(s.errored) of \(s.total) cases errored (\(whyErrors)), but the verdict is decided: every check passes even if every errored case had failed")
            return GateResult(verdict: .pass, checks: checks, reasons: reasons, notes: notes)
        }
        reasons.append("\(whyErrors): the \(s.errored) errored of \(s.total) cases could change the verdict")
        for c in measured where !c.pass { reasons.append(describe(c)) }
        return GateResult(verdict: .inconclusive, checks: checks, reasons: reasons, notes: notes)
    }
}

extension GateConfig {
    /// A repeat check (`max_flaky_rate`, `min_pass_all_rate`) with one sample per case could only
    /// ever read 0 flaky cases: refused as a configuration error.
    public func repeatProblem(repeats k: Int) -> String? {
        guard k < 2 else { return nil }
        let named = [("max_flaky_rate", maxFlakyRate), ("min_pass_all_rate", minPassAllRate)].filter { $0.1 != nil }.map(\.0)
        guard !named.isEmpty else { return nil }
        return "\(named.joined(separator: " and ")) need repeats: run with --repeat K (K >= 2) or set repeat: in the gate"
    }

    /// A check this gate names that the endpoint cannot measure: a cost limit where no pricing is
    /// configured would always read "not measured" and fail. Refused before the run, as a
    /// configuration error, never reported as a quality failure.
    public func unmeasurableCheck(endpoint: EndpointConfig) -> String? {
        if maxP95TTFTMs != nil, !endpoint.stream {
            return "max_p95_ttft_ms is set but endpoint '\(endpoint.name)' does not stream (add stream: true to it, or drop the TTFT limit)"
        }
        guard maxCostUSD != nil, endpoint.pricing == nil else { return nil }
        return "max_cost_usd is set but endpoint '\(endpoint.name)' has no pricing (add pricing.input_per_million and pricing.output_per_million to it, or drop the cost limit)"
    }
}

extension ShadowGate {
    /// As `GateConfig.unmeasurableCheck`: a cost ratio needs pricing on both sides.
    public func unmeasurableCheck(baseline: EndpointConfig, candidate: EndpointConfig) -> String? {
        guard maxCostRatio != nil else { return nil }
        let unpriced = [baseline, candidate].filter { $0.pricing == nil }.map { "'\($0.name)'" }
        guard !unpriced.isEmpty else { return nil }
        return "max_cost_ratio is set but endpoint \(unpriced.joined(separator: " and ")) has no pricing (add pricing to it, or drop the cost ratio)"
    }
}
