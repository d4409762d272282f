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
    /// Maximum total cost of the run in USD.
    public var maxCostUSD: Double?
    /// Maximum fraction of cases that errored (no output to score); above it the verdict is inconclusive.
    public var maxErrorRate: Double = 0.1
    /// Fewer scored cases than this makes the verdict inconclusive.
    public var minScoredCases: Int = 1

    public init() {}

    /// The gate used when none is given: every scored case must pass (promptfoo's default).
    public static var `default`: GateConfig {
        var g = GateConfig()
        g.minPassRate = 1
        return g
    }

    static let knownFields: Set<String> = [
        "min_pass_rate", "min_pass_rate_lower_bound", "min_metrics", "max_p50_latency_ms", "max_p95_latency_ms",
        "max_p99_latency_ms", "max_cost_usd", "max_error_rate", "min_scored_cases",
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
        if let v = maxCostUSD { o["max_cost_usd"] = .number(v) }
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
        g.maxCostUSD = try positive("max_cost_usd")
        g.maxErrorRate = try fraction("max_error_rate") ?? g.maxErrorRate
        if let v = try positive("min_scored_cases") {
            guard v.rounded() == v, v < 1e12 else { throw FieldError(field: "min_scored_cases", message: "must be a whole number below 10^12") }
            g.minScoredCases = Int(v)
        }
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

    public init(verdict: Verdict, checks: [GateCheck], reasons: [String]) {
        self.verdict = verdict
        self.checks = checks
        self.reasons = reasons
    }
}

extension GateConfig {
    /// Applies the thresholds to a summary.
    public func evaluate(_ s: RunSummary) -> GateResult {
        var checks: [GateCheck] = []
        func atLeast(_ name: String, _ kind: GateCheck.Kind, _ threshold: Double, _ actual: Double?) {
            checks.append(GateCheck(name: name, kind: kind, comparison: ">=", threshold: threshold, actual: actual, pass: actual.map { $0 >= threshold } ?? false))
        }
        func atMost(_ name: String, _ kind: GateCheck.Kind, _ threshold: Double, _ actual: Double?) {
            checks.append(GateCheck(name: name, kind: kind, comparison: "<=", threshold: threshold, actual: actual, pass: actual.map { $0 <= threshold } ?? false))
        }
        atMost("error_rate", .infrastructure, maxErrorRate, s.total > 0 ? Double(s.errored) / Double(s.total) : 0)
        atLeast("scored_cases", .infrastructure, Double(minScoredCases), Double(s.scored))
        if let t = minPassRate { atLeast("pass_rate", .quality, t, s.passRate) }
        if let t = minPassRateLowerBound { atLeast("pass_rate_lower_bound", .quality, t, s.passRateInterval?.low) }
        for (name, t) in minMetrics.sorted(by: { $0.key < $1.key }) { atLeast("metric:\(name)", .quality, t, s.metrics[name]?.mean) }
        if let t = maxP50LatencyMs { atMost("latency_p50_ms", .quality, t, s.latency?.p50) }
        if let t = maxP95LatencyMs { atMost("latency_p95_ms", .quality, t, s.latency?.p95) }
        if let t = maxP99LatencyMs { atMost("latency_p99_ms", .quality, t, s.latency?.p99) }
        if let t = maxCostUSD { atMost("cost_usd", .quality, t, s.costUSD ?? (s.scored > 0 ? nil : 0)) }

        var reasons: [String] = []
        for c in checks where !c.pass {
            let actual = c.actual.map(format) ?? "not measured"
            reasons.append("\(c.name) \(actual) is not \(c.comparison) \(format(c.threshold))")
        }
        let verdict: Verdict
        if checks.contains(where: { $0.kind == .infrastructure && !$0.pass }) {
            verdict = .inconclusive
            reasons.insert("too few cases were scored to judge quality (\(s.errored) of \(s.total) errored)", at: 0)
        } else if checks.contains(where: { !$0.pass }) {
            verdict = .fail
        } else {
            verdict = .pass
        }
        return GateResult(verdict: verdict, checks: checks, reasons: reasons)
    }
}
