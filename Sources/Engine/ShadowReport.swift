import EvalCore
import Foundation

/// What a shadow report says about its inputs (the result itself knows only pairs).
public struct ShadowReportInfo: Sendable {
    public var input: String
    public var mode: ShadowQualityMetric
    public var baselineEndpoint: String
    public var baselineModel: String
    public var candidateEndpoint: String
    public var candidateModel: String
    public var gate: ShadowGate
    public var seed: UInt64
    public var includeOutputs = true

    public init(input: String, mode: ShadowQualityMetric, baselineEndpoint: String, baselineModel: String, candidateEndpoint: String,
                candidateModel: String, gate: ShadowGate, seed: UInt64) {
        self.input = input
        self.mode = mode
        self.baselineEndpoint = baselineEndpoint
        self.baselineModel = baselineModel
        self.candidateEndpoint = candidateEndpoint
        self.candidateModel = candidateModel
        self.gate = gate
        self.seed = seed
    }
}

extension ShadowAnswer {
    func json(includeOutput: Bool = true) -> JSONValue {
        var o: [String: JSONValue] = [
            "pass": .bool(pass), "score": .number(score), "prompt_tokens": .number(Double(promptTokens)),
            "completion_tokens": .number(Double(completionTokens)),
        ]
        if includeOutput, let output { o["output"] = .string(output) }
        if let latencyMs { o["latency_ms"] = .number(latencyMs) }
        if let costUSD { o["cost_usd"] = .number(costUSD) }
        if cached { o["cached"] = true }
        if let errorKind { o["error"] = ["kind": .string(errorKind), "message": .string(errorMessage ?? "")] }
        return .object(o)
    }

    init?(json j: JSONValue) {
        guard let pass = j["pass"]?.boolValue, let score = j["score"]?.numberValue else { return nil }
        self.init(output: j["output"]?.stringValue, pass: pass, score: score, latencyMs: j["latency_ms"]?.numberValue, costUSD: j["cost_usd"]?.numberValue,
                  promptTokens: j["prompt_tokens"]?.wholeNumber(in: 0...OutsideNumber.maxTokens) ?? 0,
                  completionTokens: j["completion_tokens"]?.wholeNumber(in: 0...OutsideNumber.maxTokens) ?? 0,
                  cached: j["cached"]?.boolValue ?? false, errorKind: j["error"]?["kind"]?.stringValue, errorMessage: j["error"]?["message"]?.stringValue)
    }
}

extension ShadowPair {
    /// The pair as it is persisted and reported.
    func json(includeOutputs: Bool = true) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "line": .number(Double(line)),
            "baseline": baseline.json(includeOutput: includeOutputs), "candidate": candidate.json(includeOutput: includeOutputs),
        ]
        if !tags.isEmpty { o["tags"] = .array(tags.map(JSONValue.string)) }
        if includeOutputs, let reference { o["reference"] = .string(reference) }
        return .object(o)
    }

    var json: JSONValue { json(includeOutputs: true) }

    init?(json j: JSONValue) {
        guard let id = j["id"]?.stringValue, let b = j["baseline"].flatMap(ShadowAnswer.init(json:)),
              let c = j["candidate"].flatMap(ShadowAnswer.init(json:)) else { return nil }
        self.init(id: id, line: j["line"]?.wholeNumber(in: 0...Int(Int32.max)) ?? 0, tags: j["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                  baseline: b, candidate: c, reference: j["reference"]?.stringValue)
    }
}

extension ShadowResult {
    /// The JSON report (docs/REPORT.md describes it).
    public func reportJSON(_ info: ShadowReportInfo) -> JSONValue {
        let c = comparison
        func latency(_ l: LatencySummary?) -> JSONValue {
            guard let l else { return .null }
            return ["p50": .number(l.p50), "p95": .number(l.p95), "p99": .number(l.p99), "mean": .number(l.mean), "max": .number(l.max), "count": .number(Double(l.count))]
        }
        func optional(_ v: Double?) -> JSONValue { v.map(JSONValue.number) ?? .null }
        func side(_ a: ShadowAnswer) -> JSONValue {
            var o: [String: JSONValue] = ["pass": .bool(a.pass), "score": .number(a.score)]
            if info.includeOutputs { o["output"] = a.output.map(JSONValue.string) ?? .null }
            return .object(o)
        }
        let n = Double(max(1, c.paired))
        var gate: [String: JSONValue] = [
            "margin": .number(info.gate.margin), "max_error_rate": .number(info.gate.maxErrorRate), "agreement_threshold": .number(info.gate.agreementThreshold),
        ]
        if let v = info.gate.maxP95LatencyRatio { gate["max_p95_latency_ratio"] = .number(v) }
        if let v = info.gate.maxCostRatio { gate["max_cost_ratio"] = .number(v) }
        return [
            "schema": "evalengine.shadow-report/v1",
            "stage": "shadow-compare",
            "verdict": .string(self.gate.verdict.rawValue),
            "reasons": .array(self.gate.reasons.map(JSONValue.string)),
            "warnings": .array(warnings.map(JSONValue.string)),
            "checks": .array(self.gate.checks.map(\.json)),
            "run": [
                "id": .string(runID), "input_digest": .string(inputDigest), "resumed_cases": .number(Double(resumedCases)),
                "started_at": .string(ISO8601DateFormatter().string(from: startedAt)), "duration_seconds": .number(durationSeconds),
                "cancelled": .bool(cancelled), "seed": .string(String(info.seed)), "cache_hits": .number(Double(cacheHits)),
            ],
            "mode": .string(info.mode == .agreement ? "traffic" : "golden_set"),
            "input": .string(info.input),
            "baseline": ["endpoint": .string(info.baselineEndpoint), "model": .string(info.baselineModel)],
            "candidate": ["endpoint": .string(info.candidateEndpoint), "model": .string(info.candidateModel)],
            "gate": .object(gate),
            "cases": [
                "total": .number(Double(total)), "compared": .number(Double(c.cases)), "paired": .number(Double(c.paired)),
                "errored_baseline": .number(Double(c.errors.baseline)), "errored_candidate": .number(Double(c.errors.candidate)),
            ],
            "quality": [
                "metric": .string(c.metric.rawValue),
                "baseline_rate": optional(c.baselinePassRate), "candidate_rate": optional(c.candidatePassRate),
                "difference": c.passRateDifference.json,
                "decision": .string(c.qualityDecision.rawValue),
                "cases_needed": c.casesNeeded.map { .number(Double($0)) } ?? .null,
                "mcnemar": ["p": .number(c.mcnemarP), "flips_to_fail": .number(Double(c.flipsToFail)), "flips_to_pass": .number(Double(c.flipsToPass))],
                "score": [
                    "baseline_mean": .number(c.score.baseline), "candidate_mean": .number(c.score.candidate), "delta": .number(c.score.delta),
                    "ci95": [.number(c.score.low), .number(c.score.high)],
                    "wins": .number(Double(c.score.wins)), "losses": .number(Double(c.score.losses)), "ties": .number(Double(c.score.ties)),
                ],
            ],
            "latency_ms": [
                "baseline": latency(c.latency.baseline), "candidate": latency(c.latency.candidate),
                "ratios": .object(c.latencyRatios.mapValues(\.json)), "live_pairs": .number(Double(c.latencyPairs)),
            ],
            "cost_usd": [
                "baseline": optional(c.cost.baseline), "candidate": optional(c.cost.candidate), "ratio": optional(c.costRatio),
                "per_case": ["baseline": optional(c.cost.baseline.map { $0 / n }), "candidate": optional(c.cost.candidate.map { $0 / n })],
            ],
            "tokens_per_case": ["baseline": .number(c.tokensPerCase.baseline), "candidate": .number(c.tokensPerCase.candidate)],
            "errors": [
                "baseline_rate": .number(c.errorRates.baseline), "candidate_rate": .number(c.errorRates.candidate),
                "by_kind": .object(c.errorKinds.mapValues { ["baseline": .number(Double($0.baseline)), "candidate": .number(Double($0.candidate))] }),
            ],
            "drift": [
                "frechet": optional(drift),
                "most_divergent": .array(divergent.map { d in
                    ["id": .string(d.pair.id), "cosine": .number(d.cosine), "baseline": side(d.pair.baseline), "candidate": side(d.pair.candidate)]
                }),
            ],
            "worst_regressions": .array(worstRegressions.map { p in
                ["id": .string(p.id), "line": .number(Double(p.line)), "baseline": side(p.baseline), "candidate": side(p.candidate)]
            }),
            "pairs": .array(pairs.map { $0.json(includeOutputs: info.includeOutputs) }),
        ]
    }

}
