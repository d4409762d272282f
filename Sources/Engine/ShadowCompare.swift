import EvalCore
import Foundation
import GoldenSets
import ModelClient
import VectorSearch

/// Thresholds for promoting a candidate model config.
public struct ShadowGate: Sendable, Hashable {
    /// Non-inferiority margin on the pass rate (golden cases) or agreement (traffic), as a fraction.
    public var margin = 0.025
    /// Largest allowed candidate/baseline ratio of p95 latency.
    public var maxP95LatencyRatio: Double?
    /// Largest allowed candidate/baseline ratio of total cost.
    public var maxCostRatio: Double?
    /// Above this error rate on either side the verdict is inconclusive.
    public var maxErrorRate = 0.1

    public init() {}

    static let knownFields: Set<String> = ["margin", "max_p95_latency_ratio", "max_cost_ratio", "max_error_rate", "description"]

    public static func decode(_ json: JSONValue) throws(FieldError) -> ShadowGate {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a gate must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown gate field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        var g = ShadowGate()
        func positive(_ k: String) throws(FieldError) -> Double? {
            guard let v = o[k], v != .null else { return nil }
            guard let n = v.numberValue, n > 0 else { throw FieldError(field: k, message: "must be a number > 0") }
            return n
        }
        g.margin = try positive("margin") ?? g.margin
        g.maxP95LatencyRatio = try positive("max_p95_latency_ratio")
        g.maxCostRatio = try positive("max_cost_ratio")
        g.maxErrorRate = try positive("max_error_rate") ?? g.maxErrorRate
        return g
    }
}

/// What one side answered for one case.
public struct ShadowAnswer: Sendable {
    public var output: String?
    public var pass: Bool
    public var score: Double
    public var latencyMs: Double?
    public var costUSD: Double?
    public var tokens: Int
    public var errorKind: String?
}

/// A case answered by both sides.
public struct ShadowPair: Sendable {
    public var id: String
    public var baseline: ShadowAnswer
    public var candidate: ShadowAnswer
}

/// The comparison of a shadow run.
public struct ShadowResult: Sendable {
    public var pairs: [ShadowPair]
    /// candidate − baseline pass rate over pairs where both answered, with its 95% interval.
    public var passRateDifference: (estimate: Double, low: Double, high: Double)
    /// Mean score difference with its paired bootstrap interval, and win/loss/tie counts.
    public var score: MetricComparison
    /// McNemar's exact p-value on pass/fail flips, and the flips each way.
    public var mcnemarP: Double
    public var flipsToFail: Int
    public var flipsToPass: Int
    /// Quality non-inferiority on its own, and the cases a decision would need when inconclusive.
    public var qualityVerdict: Verdict
    public var casesNeeded: Int?
    public var latencyRatios: [String: (ratio: Double, low: Double, high: Double)]
    public var latency: (baseline: LatencySummary?, candidate: LatencySummary?)
    public var cost: (baseline: Double?, candidate: Double?)
    public var errorRates: (baseline: Double, candidate: Double)
    /// Fréchet distance between the two sides' output embeddings (nil without an embedder).
    public var drift: Double?
    /// Cases whose outputs agree least (cosine of their embeddings), most divergent first.
    public var divergent: [(id: String, cosine: Double)]
    public var gate: GateResult
}

/// Sends every golden-set case to a baseline and a candidate endpoint at once (each under its own
/// limiter, through the response cache), scores both answers with the case's assertions, and
/// compares them pair by pair with honest statistics.
public struct ShadowRunner: Sendable {
    public let baseline: EndpointClient
    public let candidate: EndpointClient
    public let embedder: Embedder?
    public let scorer = Scorer()

    public init(baseline: EndpointClient, candidate: EndpointClient, embedder: Embedder? = nil) {
        self.baseline = baseline
        self.candidate = candidate
        self.embedder = embedder
    }

    /// Runs a golden set with a prompt per side.
    public func run(goldenSetPath: String, baselinePrompt: PromptConfig, candidatePrompt: PromptConfig, gate: ShadowGate,
                    concurrency: Int = 128, seed: UInt64 = 0x5EED) async throws -> ShadowResult {
        let reader = try GoldenSetReader(path: goldenSetPath)
        let baseSource = ResponseSource(client: baseline, store: nil, mode: .off, ttl: nil, writer: nil)
        let candSource = ResponseSource(client: candidate, store: nil, mode: .off, ttl: nil, writer: nil)
        var pairs: [ShadowPair] = []
        try await withThrowingTaskGroup(of: ShadowPair.self) { group in
            var inFlight = 0
            while let c = try reader.next() {
                let (prepared, baseRequest) = try EvalRunner.prepare(c, prompt: baselinePrompt, scorer: scorer)
                let (_, candRequest) = try EvalRunner.prepare(c, prompt: candidatePrompt, scorer: scorer)
                if inFlight >= concurrency, let p = try await group.next() {
                    pairs.append(p)
                    inFlight -= 1
                }
                group.addTask {
                    async let b = self.answer(prepared, baseRequest, baseSource)
                    async let k = self.answer(prepared, candRequest, candSource)
                    return ShadowPair(id: c.id, baseline: await b, candidate: await k)
                }
                inFlight += 1
            }
            while let p = try await group.next() { pairs.append(p) }
        }
        pairs.sort { $0.id < $1.id }
        return try await compare(pairs, gate: gate, seed: seed)
    }

    func answer(_ prepared: PreparedCase, _ request: ModelRequest, _ source: ResponseSource) async -> ShadowAnswer {
        do {
            let (r, _) = try await source.response(for: request)
            let cost = source.client.endpoint.pricing?.cost(promptTokens: r.promptTokens, completionTokens: r.completionTokens)
            let s = scorer.score(prepared, output: CaseOutput(text: r.text, latencyMs: r.latencyMs, costUSD: cost, finishReason: r.finishReason))
            return ShadowAnswer(output: r.text, pass: s.pass, score: s.score, latencyMs: r.latencyMs, costUSD: cost, tokens: r.promptTokens + r.completionTokens)
        } catch {
            return ShadowAnswer(output: nil, pass: false, score: 0, latencyMs: nil, costUSD: nil, tokens: 0, errorKind: error.kind)
        }
    }

    /// The statistics and the verdict for answered pairs.
    public func compare(_ pairs: [ShadowPair], gate: ShadowGate, seed: UInt64) async throws -> ShadowResult {
        let both = pairs.filter { $0.baseline.errorKind == nil && $0.candidate.errorKind == nil }
        let n = both.count
        let flipsToFail = both.filter { $0.baseline.pass && !$0.candidate.pass }.count
        let flipsToPass = both.filter { !$0.baseline.pass && $0.candidate.pass }.count
        let diff = PairedStatistics.pairedDifferenceInterval(b: flipsToFail, c: flipsToPass, n: n)
        let score = IndexComparison.compare(measure: "score", baseline: both.map(\.baseline.score), candidate: both.map(\.candidate.score), seed: seed)
        var quality = PairedStatistics.nonInferiority(low: diff.low, high: diff.high, margin: gate.margin)
        var needed: Int?
        if quality == .inconclusive {
            let deltas = both.map { ($0.candidate.pass ? 1.0 : 0) - ($0.baseline.pass ? 1.0 : 0) }
            needed = PairedStatistics.requiredCases(sd: max(PairedStatistics.standardDeviation(deltas), 0.05), meanDifference: diff.estimate, margin: gate.margin)
        }
        if n == 0 { quality = .inconclusive }
        let timed = both.filter { $0.baseline.latencyMs != nil && $0.candidate.latencyMs != nil }
        var ratios: [String: (ratio: Double, low: Double, high: Double)] = [:]
        for (name, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            if let r = PairedStatistics.percentileRatio(baseline: timed.map { $0.baseline.latencyMs! }, candidate: timed.map { $0.candidate.latencyMs! }, q: q, seed: seed) {
                ratios[name] = r
            }
        }
        func latency(_ values: [Double]) -> LatencySummary? {
            guard !values.isEmpty else { return nil }
            let s = values.sorted()
            return LatencySummary(p50: Statistics.percentile(sorted: s, 0.5)!, p95: Statistics.percentile(sorted: s, 0.95)!, p99: Statistics.percentile(sorted: s, 0.99)!,
                                  mean: Statistics.mean(s)!, max: s.last!, count: s.count)
        }
        func totalCost(_ a: [ShadowAnswer]) -> Double? {
            a.contains { $0.costUSD != nil } ? a.reduce(0) { $0 + ($1.costUSD ?? 0) } : nil
        }
        let cost = (totalCost(pairs.map(\.baseline)), totalCost(pairs.map(\.candidate)))
        let errors = (Double(pairs.filter { $0.baseline.errorKind != nil }.count) / Double(max(1, pairs.count)),
                      Double(pairs.filter { $0.candidate.errorKind != nil }.count) / Double(max(1, pairs.count)))
        // Drift: embeddings of both sides' outputs.
        var drift: Double?
        var divergent: [(id: String, cosine: Double)] = []
        if let embedder, n >= 2 {
            let b = try await embedder.embed(both.map { $0.baseline.output! })
            let c = try await embedder.embed(both.map { $0.candidate.output! })
            let bm = Matrix(rows: n, cols: b[0].count, storage: b.flatMap { $0 })
            let cm = Matrix(rows: n, cols: c[0].count, storage: c.flatMap { $0 })
            drift = try? FrechetDistance.between(bm, cm)
            let cosines = try Similarity.cosinePairs(bm, cm)
            divergent = zip(both.map(\.id), cosines.map(Double.init)).sorted { $0.1 < $1.1 }.prefix(10).map { (id: $0.0, cosine: $0.1) }
        }
        // Gate.
        var checks: [GateCheck] = []
        checks.append(GateCheck(name: "error_rate_baseline", kind: .infrastructure, comparison: "<=", threshold: gate.maxErrorRate, actual: errors.0, pass: errors.0 <= gate.maxErrorRate))
        checks.append(GateCheck(name: "error_rate_candidate", kind: .infrastructure, comparison: "<=", threshold: gate.maxErrorRate, actual: errors.1, pass: errors.1 <= gate.maxErrorRate))
        checks.append(GateCheck(name: "pass_rate_difference_lower_bound", kind: .quality, comparison: ">=", threshold: -gate.margin, actual: diff.low, pass: quality != .fail))
        if let limit = gate.maxP95LatencyRatio {
            let r = ratios["p95"]?.ratio
            checks.append(GateCheck(name: "latency_p95_ratio", kind: .quality, comparison: "<=", threshold: limit, actual: r, pass: r.map { $0 <= limit } ?? false))
        }
        if let limit = gate.maxCostRatio {
            let r: Double? = (cost.0 ?? 0) > 0 ? cost.1.map { $0 / cost.0! } : nil
            checks.append(GateCheck(name: "cost_ratio", kind: .quality, comparison: "<=", threshold: limit, actual: r, pass: r.map { $0 <= limit } ?? false))
        }
        var reasons: [String] = []
        for c in checks where !c.pass { reasons.append("\(c.name) \(c.actual.map(format) ?? "not measured") is not \(c.comparison) \(format(c.threshold))") }
        let verdict: Verdict
        if checks.contains(where: { $0.kind == .infrastructure && !$0.pass }) {
            verdict = .inconclusive
        } else if checks.contains(where: { !$0.pass }) {
            verdict = .fail
        } else if quality == .inconclusive {
            verdict = .inconclusive
            reasons.append("the pass-rate difference \(format(diff.estimate)) (95% CI \(format(diff.low)) to \(format(diff.high))) cannot be told apart from -\(format(gate.margin))"
                + (needed.map { "; about \($0) cases would decide it" } ?? ""))
        } else {
            verdict = .pass
        }
        return ShadowResult(
            pairs: pairs, passRateDifference: diff, score: score, mcnemarP: PairedStatistics.mcnemarExact(b: flipsToFail, c: flipsToPass),
            flipsToFail: flipsToFail, flipsToPass: flipsToPass, qualityVerdict: quality, casesNeeded: needed, latencyRatios: ratios,
            latency: (latency(both.compactMap(\.baseline.latencyMs)), latency(both.compactMap(\.candidate.latencyMs))), cost: cost, errorRates: errors,
            drift: drift, divergent: divergent, gate: GateResult(verdict: verdict, checks: checks, reasons: reasons))
    }
}
