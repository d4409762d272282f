/// Thresholds for promoting a candidate model config (a shadow-compare gate file).
public struct ShadowGate: Sendable, Hashable {
    /// Non-inferiority margin on the pass rate (golden cases) or the agreement rate (traffic), as
    /// a fraction: the candidate passes when the 95% interval of (candidate − baseline) lies wholly
    /// above `-margin`, fails when it lies wholly below, and is inconclusive otherwise.
    public var margin = 0.02
    /// Largest allowed candidate/baseline ratio of p95 latency (judged on its bootstrap interval).
    public var maxP95LatencyRatio: Double?
    /// Largest allowed candidate/baseline ratio of total cost.
    public var maxCostRatio: Double?
    /// Above this error rate on either side the verdict is inconclusive.
    public var maxErrorRate = 0.1
    /// Traffic without expectations: an output "agrees" with the reference when the cosine of
    /// their embeddings is at least this.
    public var agreementThreshold = 0.9

    public init() {}

    static let knownFields: Set<String> = ["margin", "max_p95_latency_ratio", "max_cost_ratio", "max_error_rate", "agreement_threshold", "description"]

    public static func decode(_ json: JSONValue) throws(FieldError) -> ShadowGate {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a gate must be an object") }
        for key in o.keys.sorted() where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown shadow-compare gate field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        var g = ShadowGate()
        func positive(_ k: String, atMost limit: Double = .infinity) throws(FieldError) -> Double? {
            guard let v = o[k], v != .null else { return nil }
            guard let n = v.numberValue, n > 0, n <= limit else {
                throw FieldError(field: k, message: limit.isFinite ? "must be a number in (0, \(format(limit))]" : "must be a number > 0")
            }
            return n
        }
        g.margin = try positive("margin", atMost: 1) ?? g.margin
        g.maxP95LatencyRatio = try positive("max_p95_latency_ratio")
        g.maxCostRatio = try positive("max_cost_ratio")
        g.maxErrorRate = try positive("max_error_rate", atMost: 1) ?? g.maxErrorRate
        g.agreementThreshold = try positive("agreement_threshold", atMost: 1) ?? g.agreementThreshold
        return g
    }
}

/// What one side answered for one case, scored.
public struct ShadowAnswer: Sendable, Hashable {
    public var output: String?
    public var pass: Bool
    public var score: Double
    public var latencyMs: Double?
    public var costUSD: Double?
    public var promptTokens: Int
    public var completionTokens: Int
    public var cached: Bool
    /// Set when the side could not answer; such a pair is left out of the quality statistics.
    public var errorKind: String?
    public var errorMessage: String?

    public init(output: String?, pass: Bool, score: Double, latencyMs: Double?, costUSD: Double?, promptTokens: Int = 0, completionTokens: Int = 0,
                cached: Bool = false, errorKind: String? = nil, errorMessage: String? = nil) {
        self.output = output
        self.pass = pass
        self.score = score
        self.latencyMs = latencyMs
        self.costUSD = costUSD
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cached = cached
        self.errorKind = errorKind
        self.errorMessage = errorMessage
    }

    public static func failure(kind: String, message: String) -> ShadowAnswer {
        ShadowAnswer(output: nil, pass: false, score: 0, latencyMs: nil, costUSD: nil, errorKind: kind, errorMessage: message)
    }

    public var tokens: Int { promptTokens + completionTokens }
}

/// A case answered by both sides.
public struct ShadowPair: Sendable, Hashable {
    public var id: String
    /// Line of the case in its input file.
    public var line: Int
    public var tags: [String]
    public var baseline: ShadowAnswer
    public var candidate: ShadowAnswer
    /// The output both were scored against when the case had no expectations (a logged
    /// production answer, or else the baseline's own output).
    public var reference: String?

    public init(id: String, line: Int = 0, tags: [String] = [], baseline: ShadowAnswer, candidate: ShadowAnswer, reference: String? = nil) {
        self.id = id
        self.line = line
        self.tags = tags
        self.baseline = baseline
        self.candidate = candidate
        self.reference = reference
    }

    /// Both sides answered, so the pair counts for quality.
    public var answered: Bool { baseline.errorKind == nil && candidate.errorKind == nil }
}

/// A point estimate with its 95% interval.
public struct Estimate: Sendable, Hashable {
    public var value: Double
    public var low: Double
    public var high: Double

    public init(value: Double, low: Double, high: Double) {
        self.value = value
        self.low = low
        self.high = high
    }

    public var json: JSONValue { ["value": .number(value), "ci95": [.number(low), .number(high)]] }
}

/// What "quality" means for a shadow run.
public enum ShadowQualityMetric: String, Sendable {
    /// Golden cases: the case's assertions pass.
    case passRate = "pass_rate"
    /// Traffic copies: the output agrees with the reference output (embedding cosine).
    case agreement
}

/// The paired comparison of a shadow run's two sides, and the gate's verdict on it: pure
/// statistics over recorded pairs, so the same pairs always give the same report.
public struct ShadowComparison: Sendable {
    public var metric: ShadowQualityMetric
    public var cases: Int
    /// Pairs where both sides answered (the quality sample).
    public var paired: Int
    public var baselinePassRate: Double?
    public var candidatePassRate: Double?
    /// candidate − baseline pass (or agreement) rate, Agresti–Min 95% interval.
    public var passRateDifference: Estimate
    /// Mean per-case score difference with its paired bootstrap interval, and win/loss/tie counts.
    public var score: MetricComparison
    /// McNemar's exact p-value on pass/fail flips, and the flips each way.
    public var mcnemarP: Double
    public var flipsToFail: Int
    public var flipsToPass: Int
    /// Quality non-inferiority on its own, and the cases a decision would need when inconclusive.
    public var qualityDecision: Verdict
    public var casesNeeded: Int?
    public var latency: (baseline: LatencySummary?, candidate: LatencySummary?)
    /// candidate/baseline ratios of p50, p95, p99 with paired bootstrap intervals.
    public var latencyRatios: [String: Estimate]
    /// Pairs the latency figures rest on: both sides answered live in this run.
    public var latencyPairs: Int
    public var cost: (baseline: Double?, candidate: Double?)
    public var costRatio: Double?
    public var tokensPerCase: (baseline: Double, candidate: Double)
    public var errors: (baseline: Int, candidate: Int)
    public var errorRates: (baseline: Double, candidate: Double)
    /// Error kinds on each side, counted.
    public var errorKinds: [String: (baseline: Int, candidate: Int)]
    public var gate: GateResult

    /// Compares recorded pairs. `seed` makes every bootstrap interval reproducible.
    public static func compare(_ pairs: [ShadowPair], gate: ShadowGate, metric: ShadowQualityMetric, seed: UInt64 = 0x5EED) -> ShadowComparison {
        let both = pairs.filter(\.answered)
        let n = both.count
        let flipsToFail = both.count { $0.baseline.pass && !$0.candidate.pass }
        let flipsToPass = both.count { !$0.baseline.pass && $0.candidate.pass }
        let d = PairedStatistics.pairedDifferenceInterval(b: flipsToFail, c: flipsToPass, n: n)
        let difference = Estimate(value: d.estimate, low: d.low, high: d.high)
        let score = IndexComparison.compare(measure: "score", baseline: both.map(\.baseline.score), candidate: both.map(\.candidate.score), seed: seed)
        var quality = n == 0 ? .inconclusive : PairedStatistics.nonInferiority(low: d.low, high: d.high, margin: gate.margin)
        var needed: Int?
        if quality == .inconclusive {
            // From the interval that decides the gate, at the discordance seen so far.
            needed = PairedStatistics.pairsNeeded(b: flipsToFail, c: flipsToPass, n: n, margin: gate.margin)
        }
        if n == 0 { quality = .inconclusive }

        // Latency only from pairs measured live on both sides in this run: a cached answer carries
        // the latency of an earlier run under other load, and comparing across time decides nothing.
        let timed = both.filter { $0.baseline.latencyMs != nil && $0.candidate.latencyMs != nil && !$0.baseline.cached && !$0.candidate.cached }
        var ratios: [String: Estimate] = [:]
        for (name, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            if let r = PairedStatistics.percentileRatio(baseline: timed.map { $0.baseline.latencyMs! }, candidate: timed.map { $0.candidate.latencyMs! }, q: q, seed: seed) {
                ratios[name] = Estimate(value: r.ratio, low: r.low, high: r.high)
            }
        }
        func totalCost(_ a: [ShadowAnswer]) -> Double? {
            a.contains { $0.costUSD != nil } ? a.reduce(0) { $0 + ($1.costUSD ?? 0) } : nil
        }
        // Cost over the pairs both answered: an error on one side must not make it look cheaper.
        let cost = (totalCost(both.map(\.baseline)), totalCost(both.map(\.candidate)))
        let costRatio: Double? = (cost.0 ?? 0) > 0 ? cost.1.map { $0 / cost.0! } : nil
        let tokens = (n > 0 ? Double(both.reduce(0) { $0 + $1.baseline.tokens }) / Double(n) : 0,
                      n > 0 ? Double(both.reduce(0) { $0 + $1.candidate.tokens }) / Double(n) : 0)
        let errors = (pairs.count { $0.baseline.errorKind != nil }, pairs.count { $0.candidate.errorKind != nil })
        let errorRates = (Double(errors.0) / Double(max(1, pairs.count)), Double(errors.1) / Double(max(1, pairs.count)))
        var kinds: [String: (baseline: Int, candidate: Int)] = [:]
        for p in pairs {
            if let k = p.baseline.errorKind { kinds[k, default: (0, 0)].baseline += 1 }
            if let k = p.candidate.errorKind { kinds[k, default: (0, 0)].candidate += 1 }
        }

        var checks: [GateCheck] = []
        checks.append(GateCheck(name: "error_rate_baseline", kind: .infrastructure, comparison: "<=", threshold: gate.maxErrorRate, actual: errorRates.0, pass: errorRates.0 <= gate.maxErrorRate))
        checks.append(GateCheck(name: "error_rate_candidate", kind: .infrastructure, comparison: "<=", threshold: gate.maxErrorRate, actual: errorRates.1, pass: errorRates.1 <= gate.maxErrorRate))
        checks.append(GateCheck(name: "\(metric.rawValue)_difference_ci95_low", kind: .quality, comparison: ">=", threshold: -gate.margin, actual: n > 0 ? d.low : nil,
                                pass: quality == .pass, undecided: quality == .inconclusive))
        if let limit = gate.maxP95LatencyRatio {
            let r = ratios["p95"]
            // Three states on the interval, like quality: noise in a few slow calls is not a regression.
            checks.append(GateCheck(name: "latency_p95_ratio", kind: .quality, comparison: "<=", threshold: limit, actual: r?.value,
                                    pass: r.map { $0.high <= limit } ?? false, undecided: r.map { $0.low <= limit } ?? (timed.isEmpty && n > 0)))
        }
        if let limit = gate.maxCostRatio {
            checks.append(GateCheck(name: "cost_ratio", kind: .quality, comparison: "<=", threshold: limit, actual: costRatio, pass: costRatio.map { $0 <= limit } ?? false))
        }
        var reasons: [String] = []
        let verdict: Verdict
        if checks.contains(where: { $0.kind == .infrastructure && !$0.pass }) {
            verdict = .inconclusive
            for c in checks where c.kind == .infrastructure && !c.pass {
                reasons.append("\(c.name) \(c.actual.map(format) ?? "not measured") is above \(format(c.threshold)): too many calls failed to judge the candidate")
            }
        } else {
            for c in checks where c.result == .fail {
                reasons.append("\(c.name) \(c.actual.map(format) ?? "not measured") is not \(c.comparison) \(format(c.threshold))")
            }
            if quality == .fail {
                reasons.append("the candidate's \(metric.rawValue) is lower by \(format(-d.estimate)) (95% CI \(format(-d.high)) to \(format(-d.low))), worse than the margin \(format(gate.margin))")
            }
            if quality == .inconclusive {
                reasons.append(n == 0
                    ? "no case was answered by both sides"
                    : "the \(metric.rawValue) difference \(format(d.estimate)) (95% CI \(format(d.low)) to \(format(d.high))) cannot be told apart from -\(format(gate.margin))"
                        + (needed.map { "; about \($0) paired cases would decide it" } ?? ""))
            }
            if gate.maxP95LatencyRatio != nil, timed.isEmpty, n > 0 {
                reasons.append("no pair was measured live on both sides in this run (cached answers carry an earlier run's latency): run with --cache-mode refresh to gate latency")
            }
            if let r = ratios["p95"], let limit = gate.maxP95LatencyRatio, r.low <= limit, r.high > limit {
                reasons.append("the p95 latency ratio \(format(r.value)) (95% CI \(format(r.low)) to \(format(r.high))) cannot be told apart from \(format(limit))")
            }
            if checks.contains(where: { $0.result == .fail }) {
                verdict = .fail
            } else if checks.contains(where: { $0.result == .inconclusive }) {
                verdict = .inconclusive
            } else {
                verdict = .pass
            }
        }
        return ShadowComparison(
            metric: metric, cases: pairs.count, paired: n,
            baselinePassRate: n > 0 ? Double(both.count { $0.baseline.pass }) / Double(n) : nil,
            candidatePassRate: n > 0 ? Double(both.count { $0.candidate.pass }) / Double(n) : nil,
            passRateDifference: difference, score: score, mcnemarP: PairedStatistics.mcnemarExact(b: flipsToFail, c: flipsToPass),
            flipsToFail: flipsToFail, flipsToPass: flipsToPass, qualityDecision: quality, casesNeeded: needed,
            latency: (LatencySummary(timed.compactMap(\.baseline.latencyMs)), LatencySummary(timed.compactMap(\.candidate.latencyMs))),
            latencyRatios: ratios, latencyPairs: timed.count, cost: cost, costRatio: costRatio, tokensPerCase: tokens, errors: errors, errorRates: errorRates, errorKinds: kinds,
            gate: GateResult(verdict: verdict, checks: checks, reasons: reasons))
    }
}

extension LatencySummary {
    /// Exact percentiles of `values`; nil when empty.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        self.init(p50: Statistics.percentile(sorted: s, 0.5)!, p95: Statistics.percentile(sorted: s, 0.95)!, p99: Statistics.percentile(sorted: s, 0.99)!,
                  mean: Statistics.mean(s)!, max: s.last!, count: s.count)
    }
}
