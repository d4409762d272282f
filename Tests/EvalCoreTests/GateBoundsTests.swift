import Testing
@testable import EvalCore

/// Issue 15 items 21 and 22: errors make a run inconclusive only when they could change the
/// verdict, and latency is gated on answers measured in this run only.
@Suite struct GateBoundsTests {
    func summary(passed: Int, failed: Int, errored: Int, cachedLatency: Double? = nil, liveLatency: Double? = nil) -> RunSummary {
        var acc = SummaryAccumulator()
        for _ in 0..<passed {
            var o = CaseOutcome(status: .passed, score: 1, latencyMs: cachedLatency ?? liveLatency)
            o.cached = cachedLatency != nil
            acc.add(o)
        }
        for _ in 0..<failed { acc.add(CaseOutcome(status: .failed, latencyMs: liveLatency)) }
        for i in 0..<errored {
            var o = CaseOutcome(status: .errored, errorKind: "http_500")
            o.errorMessage = "HTTP 500: overloaded \(i)"
            acc.add(o)
        }
        return acc.finish(durationSeconds: 1)
    }

    @Test func aGateThatFailsEvenIfEveryErrorPassedIsAFail() {
        // The reported defect: 5 of 50 errored, 10 of 45 passed, min_pass_rate 0.85.
        var g = GateConfig()
        g.minPassRate = 0.85
        g.maxErrorRate = 0.05
        let r = g.evaluate(summary(passed: 10, failed: 35, errored: 5))
        #expect(r.verdict == .fail)
        #expect(r.reasons.first?.hasPrefix("pass_rate") == true)
        #expect(r.notes.contains { $0.contains("even if every errored case had passed") })
    }

    @Test func aGateThatPassesEvenIfEveryErrorFailedIsAPass() {
        var g = GateConfig()
        g.minPassRate = 0.5
        g.maxErrorRate = 0.05
        let r = g.evaluate(summary(passed: 90, failed: 0, errored: 10))
        #expect(r.verdict == .pass)
        #expect(r.notes.contains { $0.contains("even if every errored case had failed") })
    }

    @Test func errorsThatCouldTipTheVerdictAreInconclusiveAndSayWhichCheckTripped() {
        var g = GateConfig()
        g.minPassRate = 0.85
        let r = g.evaluate(summary(passed: 80, failed: 5, errored: 15))
        #expect(r.verdict == .inconclusive)
        #expect(r.reasons.first?.hasPrefix("error_rate 0.15 is not <= 0.1") == true)
        // Nothing scored: nothing is decided.
        #expect(g.evaluate(summary(passed: 0, failed: 0, errored: 20)).verdict == .inconclusive)
    }

    @Test func firstErrorMessagePerKindIsKept() {
        let s = summary(passed: 1, failed: 0, errored: 3)
        #expect(s.firstErrorMessages == ["http_500": "HTTP 500: overloaded 0"])
    }

    @Test func cachedLatenciesAreNotGated() {
        var g = GateConfig()
        g.minPassRate = 0.5
        g.maxP95LatencyMs = 100
        // Every answer from the cache, with a slow latency recorded by an earlier run.
        let cached = g.evaluate(summary(passed: 10, failed: 0, errored: 0, cachedLatency: 16_000))
        #expect(cached.verdict == .pass)
        #expect(!cached.checks.contains { $0.name == "latency_p95_ms" })
        #expect(cached.notes.contains { $0.contains("latency checks skipped") })
        let live = g.evaluate(summary(passed: 10, failed: 0, errored: 0, liveLatency: 16_000))
        #expect(live.verdict == .fail)
    }
}

/// Issue 15 items 25 and 26.
@Suite struct ShadowLatencyAndShardBudgetTests {
    func answer(_ pass: Bool, latency: Double, cached: Bool) -> ShadowAnswer {
        ShadowAnswer(output: "x", pass: pass, score: pass ? 1 : 0, latencyMs: latency, costUSD: nil, cached: cached)
    }

    @Test func shadowLatencyComesOnlyFromPairsMeasuredLiveOnBothSides() {
        var gate = ShadowGate()
        gate.maxP95LatencyRatio = 1.1
        // The baseline from the cache of a slow earlier run, the candidate live and fast.
        let cachedBaseline = (0..<200).map { i in ShadowPair(id: "c\(i)", baseline: answer(true, latency: 16_000, cached: true), candidate: answer(true, latency: 100, cached: false)) }
        let c = ShadowComparison.compare(cachedBaseline, gate: gate, metric: .passRate)
        #expect(c.latencyPairs == 0)
        #expect(c.latencyRatios.isEmpty)
        #expect(c.gate.checks.first { $0.name == "latency_p95_ratio" }?.result == .inconclusive)
        #expect(c.gate.reasons.contains { $0.contains("no pair was measured live") })
        let live = (0..<200).map { i in ShadowPair(id: "c\(i)", baseline: answer(true, latency: 100, cached: false), candidate: answer(true, latency: 100, cached: false)) }
        #expect(ShadowComparison.compare(live, gate: gate, metric: .passRate).latencyPairs == 200)
    }

    @Test func shardsShareTheEndpointsBudgets() {
        var e = EndpointConfig(name: "p", baseURL: "https://x", model: "m")
        e.requestsPerMinute = 600
        e.tokensPerMinute = 90_000
        e.maxInFlight = 64
        let share = e.sharedAmong(4)
        #expect(share.requestsPerMinute == 150 && share.tokensPerMinute == 22_500 && share.maxInFlight == 16)
        #expect(e.sharedAmong(1) == e)
        #expect(e.sharedAmong(1000).maxInFlight == 1)
    }
}
