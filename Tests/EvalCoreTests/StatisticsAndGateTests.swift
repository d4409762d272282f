import Testing
@testable import EvalCore

@Suite struct StatisticsTests {
    @Test func wilsonIntervalMatchesReferenceValues() {
        // Reference: statsmodels proportion_confint(8, 10, method="wilson") = (0.4902, 0.9433).
        let ci = Statistics.wilson(successes: 8, trials: 10)
        #expect(abs(ci.low - 0.4902) < 1e-4 && abs(ci.high - 0.9433) < 1e-4)
        let all = Statistics.wilson(successes: 50, trials: 50)
        #expect(all.high == 1 && abs(all.low - 0.9287) < 1e-4)
    }

    @Test func percentilesInterpolateLikeNumpy() {
        let v = [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        #expect(Statistics.percentile(sorted: v, 0.5) == 5.5)
        #expect(abs(Statistics.percentile(sorted: v, 0.95)! - 9.55) < 1e-12)
        #expect(abs(Statistics.percentile(sorted: v, 0.99)! - 9.91) < 1e-12)
        #expect(Statistics.percentile(sorted: [], 0.5) == nil)
    }

    @Test func bootstrapIsSeededAndBracketsTheMean() {
        var rng = SplitMix64(seed: 1)
        let values = (0..<500).map { _ in Float(rng.nextUnit()) }
        let a = Statistics.bootstrapMeanInterval(values, seed: 7)!
        let b = Statistics.bootstrapMeanInterval(values, seed: 7)!
        #expect(a.low == b.low && a.high == b.high)
        let mean = Statistics.mean(values)!
        #expect(a.low < mean && mean < a.high)
        // Standard error of a U(0,1) mean over 500 draws is ~0.0129: the 95% interval is ~±0.025.
        #expect(a.high - a.low > 0.03 && a.high - a.low < 0.07)
    }
}

@Suite struct GateTests {
    func summary(passed: Int, failed: Int, errored: Int, metric: Double? = nil, latencies: [Double] = []) -> RunSummary {
        var acc = SummaryAccumulator()
        for i in 0..<(passed + failed) {
            acc.add(CaseOutcome(status: i < passed ? .passed : .failed, score: i < passed ? 1 : 0,
                                namedScores: metric.map { ["accuracy": $0] } ?? [:], latencyMs: latencies.isEmpty ? 10 : latencies[i % latencies.count]))
        }
        for _ in 0..<errored { acc.add(CaseOutcome(status: .errored, errorKind: "timeout")) }
        return acc.finish(durationSeconds: 1)
    }

    @Test func qualityShortfallFails() throws {
        let gate = try GateConfig.decode(["min_pass_rate": 0.9, "min_metrics": ["accuracy": 0.8]])
        let r = gate.evaluate(summary(passed: 80, failed: 20, errored: 0, metric: 0.85))
        #expect(r.verdict == .fail)
        #expect(r.checks.first { $0.name == "pass_rate" }?.pass == false)
        #expect(r.checks.first { $0.name == "metric:accuracy" }?.pass == true)
    }

    @Test func infrastructureErrorsAreInconclusiveNotFail() throws {
        let gate = try GateConfig.decode(["min_pass_rate": 0.9, "max_error_rate": 0.05])
        let r = gate.evaluate(summary(passed: 10, failed: 10, errored: 80))
        #expect(r.verdict == .inconclusive)
        let down = gate.evaluate(summary(passed: 0, failed: 0, errored: 100))
        #expect(down.verdict == .inconclusive)
    }

    @Test func passWhenEveryThresholdHolds() throws {
        let gate = try GateConfig.decode(["min_pass_rate": 0.9, "max_p95_latency_ms": 100, "min_scored_cases": 10])
        let r = gate.evaluate(summary(passed: 95, failed: 5, errored: 2, latencies: [10, 20, 30]))
        #expect(r.verdict == .pass)
        #expect(r.reasons.isEmpty)
    }

    @Test func badGateFieldsAreNamed() {
        #expect(throws: FieldError(field: "min_pass_rate", message: "must be a number between 0 and 1")) {
            try GateConfig.decode(["min_pass_rate": 1.5])
        }
        #expect(throws: FieldError.self) { try GateConfig.decode(["min_pass": 0.5]) }
    }

    @Test func summaryLatencyPercentilesAreExact() {
        let s = summary(passed: 100, failed: 0, errored: 0, latencies: (1...100).map(Double.init))
        #expect(s.latency?.p50 == 50.5)
        #expect(abs(s.latency!.p99 - 99.01) < 1e-9)
    }
}
