/// What happened to one case, as the summary needs it (the full result goes to the report).
public struct CaseOutcome: Sendable {
    public enum Status: String, Sendable { case passed, failed, errored }
    public var status: Status
    public var score: Double
    public var namedScores: [String: Double]
    /// Endpoint latency of the successful call, in milliseconds.
    public var latencyMs: Double?
    public var promptTokens: Int
    public var completionTokens: Int
    public var costUSD: Double?
    /// HTTP attempts beyond the first.
    public var retries: Int
    /// 429 answers seen while serving this case.
    public var rateLimited: Int
    /// Error kind (e.g. `timeout`, `http_500`) when the case errored.
    public var errorKind: String?
    /// The error's message (already redacted of secrets), for the summary's first example per kind.
    public var errorMessage: String?
    /// The answer came from the response cache (no endpoint call).
    public var cached = false
    /// The case's judge calls, apart from the target's tokens and cost.
    public var judgeUsage = JudgeUsage()
    /// A streamed answer's timing.
    public var stream: StreamTiming?

    public init(
        status: Status, score: Double = 0, namedScores: [String: Double] = [:], latencyMs: Double? = nil,
        promptTokens: Int = 0, completionTokens: Int = 0, costUSD: Double? = nil, retries: Int = 0,
        rateLimited: Int = 0, errorKind: String? = nil
    ) {
        self.status = status
        self.score = score
        self.namedScores = namedScores
        self.latencyMs = latencyMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costUSD = costUSD
        self.retries = retries
        self.rateLimited = rateLimited
        self.errorKind = errorKind
    }
}

/// Mean of a named metric with its bootstrap interval.
public struct MetricSummary: Sendable, Hashable {
    public var mean: Double
    public var low: Double
    public var high: Double
    public var count: Int
    /// The smallest and largest value seen (bounds what unscored cases could add to the mean).
    public var minValue = 0.0
    public var maxValue = 0.0
}

/// Latency percentiles over the successful calls, exact from the recorded values.
public struct LatencySummary: Sendable, Hashable {
    public var p50: Double
    public var p95: Double
    public var p99: Double
    public var mean: Double
    public var max: Double
    public var count: Int

    public init(p50: Double, p95: Double, p99: Double, mean: Double, max: Double, count: Int) {
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
        self.mean = mean
        self.max = max
        self.count = count
    }
}

/// Streamed answers of one run: time to first token, and the cases' own inter-token gaps and rates.
public struct StreamSummary: Sendable, Hashable {
    public var ttft: LatencySummary
    /// Medians over the cases of each case's median and 95th-percentile gap between tokens.
    public var interTokenP50Ms: Double?
    public var interTokenP95Ms: Double?
    /// Median over the cases of completion tokens per second after the first token.
    public var tokensPerSecond: Double?
}

/// Aggregates of one run.
public struct RunSummary: Sendable {
    public var total = 0
    public var passed = 0
    public var failed = 0
    public var errored = 0
    public var scored: Int { passed + failed }
    public var passRate: Double? { scored > 0 ? Double(passed) / Double(scored) : nil }
    public var passRateInterval: (low: Double, high: Double)?
    public var meanScore: Double?
    public var metrics: [String: MetricSummary] = [:]
    /// Over answers measured in this run only: a cache hit carries an earlier run's latency, under
    /// other load, and is left out. `latency.count` says how many answers it rests on.
    public var latency: LatencySummary?
    /// Streamed answers measured in this run (endpoints with `stream: true`), as `latency`.
    public var stream: StreamSummary?
    public var promptTokens = 0
    public var completionTokens = 0
    /// Nil when the endpoint has no pricing.
    public var costUSD: Double?
    public var retries = 0
    public var rateLimited = 0
    /// Cases answered from the response cache.
    public var cacheHits = 0
    public var errorsByKind: [String: Int] = [:]
    /// The first message seen for each error kind (what the server said), for people to act on.
    public var firstErrorMessages: [String: String] = [:]
    public var durationSeconds = 0.0
    /// Judge calls of model-graded assertions: counted apart from the target's tokens and cost.
    public var judge = JudgeUsage()
    /// With `--repeat K`: flakiness, pass^K and pass@K. Counts above are then over samples.
    public var repeats: RepeatSummary?
    /// Scored samples per case (K with repeats, else 1): the pass-rate interval is taken at
    /// `scored / clusterSize` trials, since repeats of one case are not independent samples.
    public var clusterSize = 1.0

    public init() {}

    /// Wilson interval of `passed` of `scored` samples, at the effective number of cases.
    public func passRateInterval(passed: Int, scored: Int) -> (low: Double, high: Double)? {
        guard scored > 0 else { return nil }
        if clusterSize == 1 { return Statistics.wilson(successes: passed, trials: scored) }
        return Statistics.wilson(proportion: Double(passed) / Double(scored), trials: Double(scored) / clusterSize)
    }
}

/// Builds a `RunSummary` one case at a time. Memory is a few bytes per case (latencies and metric
/// values as Float for exact percentiles and the bootstrap), never the cases themselves.
public struct SummaryAccumulator: Sendable {
    private var summary = RunSummary()
    private var latencies: [Float] = []
    private var ttfts: [Double] = []
    private var gapMedians: [Double] = []
    private var gapP95s: [Double] = []
    private var rates: [Double] = []
    private var scores: [Float] = []
    private var metricValues: [String: [Float]] = [:]
    private var costs: [Double] = []
    /// Seed of the bootstrap resampling, so the same run reports the same intervals.
    public var seed: UInt64 = 0x5EED
    /// Samples per case (`--repeat K`): see `RunSummary.clusterSize`.
    public var samplesPerCase = 1

    public init() {}

    public mutating func add(_ o: CaseOutcome) {
        summary.total += 1
        if o.cached { summary.cacheHits += 1 }
        if !o.judgeUsage.isEmpty { summary.judge.add(o.judgeUsage) }
        summary.retries += o.retries
        summary.rateLimited += o.rateLimited
        summary.promptTokens += o.promptTokens
        summary.completionTokens += o.completionTokens
        if let c = o.costUSD { costs.append(c) }
        switch o.status {
        case .errored:
            summary.errored += 1
            let kind = o.errorKind ?? "error"
            summary.errorsByKind[kind, default: 0] += 1
            if summary.firstErrorMessages[kind] == nil, summary.firstErrorMessages.count < 64, let m = o.errorMessage {
                summary.firstErrorMessages[kind] = String(m.prefix(300))
            }
            return
        case .passed: summary.passed += 1
        case .failed: summary.failed += 1
        }
        scores.append(Float(o.score))
        if let l = o.latencyMs, !o.cached { latencies.append(Float(l)) }
        if let t = o.stream, !o.cached {
            ttfts.append(t.ttftMs)
            if let g = t.interTokenP50Ms { gapMedians.append(g) }
            if let g = t.interTokenP95Ms { gapP95s.append(g) }
            if let r = t.tokensPerSecond(completionTokens: o.completionTokens) { rates.append(r) }
        }
        for (k, v) in o.namedScores { metricValues[k, default: []].append(Float(v)) }
    }

    /// The summary so far, with percentiles and intervals computed. Every figure is computed
    /// from sorted values, so it does not depend on the order cases finished in: a run, the
    /// same run resumed, and shards merged (`evalengine merge`) report the same numbers.
    public func finish(durationSeconds: Double) -> RunSummary {
        var s = summary
        s.durationSeconds = durationSeconds
        s.clusterSize = Double(max(1, samplesPerCase))
        s.costUSD = costs.isEmpty ? nil : costs.sorted().reduce(0, +)
        s.passRateInterval = s.passRateInterval(passed: s.passed, scored: s.scored)
        s.meanScore = Statistics.mean(scores.sorted())
        for (name, unsorted) in metricValues {
            let values = unsorted.sorted()
            let mean = Statistics.mean(values) ?? 0
            let ci = Statistics.bootstrapMeanInterval(values, seed: seed) ?? (mean, mean)
            s.metrics[name] = MetricSummary(mean: mean, low: ci.low, high: ci.high, count: values.count,
                                            minValue: Double(values.first ?? 0), maxValue: Double(values.last ?? 0))
        }
        if !ttfts.isEmpty {
            let sorted = ttfts.sorted()
            s.stream = StreamSummary(
                ttft: LatencySummary(p50: Statistics.percentile(sorted: sorted, 0.5)!, p95: Statistics.percentile(sorted: sorted, 0.95)!,
                                     p99: Statistics.percentile(sorted: sorted, 0.99)!, mean: Statistics.mean(sorted)!, max: sorted.last!, count: sorted.count),
                interTokenP50Ms: Statistics.percentile(sorted: gapMedians.sorted(), 0.5), interTokenP95Ms: Statistics.percentile(sorted: gapP95s.sorted(), 0.5),
                tokensPerSecond: Statistics.percentile(sorted: rates.sorted(), 0.5))
        }
        if !latencies.isEmpty {
            let sorted = latencies.map(Double.init).sorted()
            s.latency = LatencySummary(
                p50: Statistics.percentile(sorted: sorted, 0.5)!, p95: Statistics.percentile(sorted: sorted, 0.95)!,
                p99: Statistics.percentile(sorted: sorted, 0.99)!, mean: Statistics.mean(sorted)!, max: sorted.last!,
                count: sorted.count)
        }
        return s
    }
}
