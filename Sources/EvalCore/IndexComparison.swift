/// Thresholds for promoting a RAG config (`configs/gates/*.yaml`, index-test form).
public struct IndexTestGate: Sendable, Hashable {
    /// Largest allowed drop (baseline − candidate) of a metric's mean.
    public var maxDrop: [String: Double] = [:]
    /// Smallest allowed candidate mean.
    public var minimum: [String: Double] = [:]
    /// Above this fraction of failed embeddings the verdict is inconclusive.
    public var maxEmbeddingFailureRate = 0.0

    public init() {}

    static let knownFields: Set<String> = ["max_drop", "min", "max_embedding_failure_rate", "description"]

    /// Decodes `{max_drop: {metric: x}, min: {metric: y}}`; metric names are trec_eval's.
    public static func decode(_ json: JSONValue) throws(FieldError) -> IndexTestGate {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a gate must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown gate field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        var g = IndexTestGate()
        for (field, target) in [("max_drop", \IndexTestGate.maxDrop), ("min", \IndexTestGate.minimum)] {
            guard let m = o[field], m != .null else { continue }
            guard let mo = m.objectValue else { throw FieldError(field: field, message: "must map metric names to numbers") }
            for (name, v) in mo {
                guard RetrievalMeasure(name: name) != nil else { throw FieldError(field: "\(field).\(name)", message: "unknown metric (use trec_eval names such as ndcg_cut_10, recall_100, map)") }
                guard let n = v.numberValue else { throw FieldError(field: "\(field).\(name)", message: "must be a number") }
                g[keyPath: target][name] = n
            }
        }
        if let r = o["max_embedding_failure_rate"]?.numberValue { g.maxEmbeddingFailureRate = r }
        return g
    }

    /// Every metric the gate reads.
    public var measures: [RetrievalMeasure] {
        Set(maxDrop.keys).union(minimum.keys).sorted().compactMap(RetrievalMeasure.init(name:))
    }
}

/// One metric, baseline against candidate, paired over queries.
public struct MetricComparison: Sendable, Hashable {
    public var measure: String
    public var baseline: Double
    public var candidate: Double
    /// candidate − baseline.
    public var delta: Double
    /// 95% paired bootstrap interval of the mean delta.
    public var low: Double
    public var high: Double
    public var wins: Int
    public var losses: Int
    public var ties: Int
}

public enum IndexComparison {
    /// Compares per-query values (same query order on both sides).
    public static func compare(measure: String, baseline: [Double], candidate: [Double], seed: UInt64 = 0x5EED, resamples: Int = 2000) -> MetricComparison {
        precondition(baseline.count == candidate.count)
        let n = baseline.count
        let deltas = (0..<n).map { candidate[$0] - baseline[$0] }
        let mean = { (v: [Double]) in v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        var wins = 0, losses = 0, ties = 0
        for d in deltas {
            if d > 1e-12 { wins += 1 } else if d < -1e-12 { losses += 1 } else { ties += 1 }
        }
        var low = 0.0, high = 0.0
        if n > 0 {
            var rng = SplitMix64(seed: seed)
            var means = [Double](repeating: 0, count: resamples)
            for b in 0..<resamples {
                var s = 0.0
                for _ in 0..<n { s += deltas[Int(rng.next(below: UInt64(n)))] }
                means[b] = s / Double(n)
            }
            means.sort()
            low = Statistics.percentile(sorted: means, 0.025)!
            high = Statistics.percentile(sorted: means, 0.975)!
        }
        return MetricComparison(measure: measure, baseline: mean(baseline), candidate: mean(candidate), delta: mean(deltas), low: low, high: high,
                                wins: wins, losses: losses, ties: ties)
    }
}

extension IndexTestGate {
    /// The verdict on the comparisons; `embeddingFailureRate` above the limit is inconclusive.
    public func evaluate(_ comparisons: [MetricComparison], embeddingFailureRate: Double) -> GateResult {
        var checks: [GateCheck] = []
        checks.append(GateCheck(name: "embedding_failure_rate", kind: .infrastructure, comparison: "<=", threshold: maxEmbeddingFailureRate,
                                actual: embeddingFailureRate, pass: embeddingFailureRate <= maxEmbeddingFailureRate))
        for (name, limit) in maxDrop.sorted(by: { $0.key < $1.key }) {
            let c = comparisons.first { $0.measure == name }
            let drop = c.map { -$0.delta }
            checks.append(GateCheck(name: "drop:\(name)", kind: .quality, comparison: "<=", threshold: limit, actual: drop, pass: drop.map { $0 <= limit + 1e-12 } ?? false))
        }
        for (name, floor) in minimum.sorted(by: { $0.key < $1.key }) {
            let v = comparisons.first { $0.measure == name }?.candidate
            checks.append(GateCheck(name: "min:\(name)", kind: .quality, comparison: ">=", threshold: floor, actual: v, pass: v.map { $0 >= floor } ?? false))
        }
        var reasons: [String] = []
        for c in checks where !c.pass {
            if c.name.hasPrefix("drop:"), let m = comparisons.first(where: { "drop:" + $0.measure == c.name }) {
                reasons.append("\(m.measure) dropped by \(format(-m.delta)) (95% CI of the change \(format(m.low)) to \(format(m.high))), more than the allowed \(format(c.threshold))")
            } else {
                reasons.append("\(c.name) \(c.actual.map(format) ?? "not measured") is not \(c.comparison) \(format(c.threshold))")
            }
        }
        let verdict: Verdict = checks.contains { $0.kind == .infrastructure && !$0.pass } ? .inconclusive : (checks.contains { !$0.pass } ? .fail : .pass)
        return GateResult(verdict: verdict, checks: checks, reasons: reasons)
    }
}
