import Testing
@testable import EvalCore

@Suite struct PairedStatisticsTests {
    @Test func mcnemarExactMatchesTheBinomialTail() {
        #expect(abs(PairedStatistics.mcnemarExact(b: 1, c: 9) - 22.0 / 1024) < 1e-12)
        #expect(PairedStatistics.mcnemarExact(b: 5, c: 5) == 1)
        #expect(PairedStatistics.mcnemarExact(b: 0, c: 0) == 1)
        // Large counts stay finite and symmetric.
        let p = PairedStatistics.mcnemarExact(b: 400, c: 500)
        #expect(p > 0 && p < 0.002 && p == PairedStatistics.mcnemarExact(b: 500, c: 400))
    }

    @Test func nonInferiorityAndRequiredCases() {
        #expect(PairedStatistics.nonInferiority(low: -0.01, high: 0.02, margin: 0.02) == .pass)
        #expect(PairedStatistics.nonInferiority(low: -0.08, high: -0.03, margin: 0.02) == .fail)
        #expect(PairedStatistics.nonInferiority(low: -0.05, high: 0.01, margin: 0.02) == .inconclusive)
        #expect(PairedStatistics.requiredCases(sd: 0.3, meanDifference: 0, margin: 0.02) == 1766)
        #expect(PairedStatistics.requiredCases(sd: 0.3, meanDifference: -0.05, margin: 0.02) == nil)
        // Issue 15 item 23: 45 all-tie pairs need 96 (1.96/(n+2) < 0.02), from the Agresti–Min interval itself.
        let needed = PairedStatistics.pairsNeeded(b: 0, c: 0, n: 45, margin: 0.02)
        #expect(needed == 96)
        let at = PairedStatistics.pairedDifferenceInterval(b: 0, c: 0, n: needed!)
        let before = PairedStatistics.pairedDifferenceInterval(b: 0, c: 0, n: needed! - 1)
        #expect(at.low > -0.02 && before.low <= -0.02)
        // A candidate clearly worse so far: the cases that make it fail decisively.
        let worse = PairedStatistics.pairsNeeded(b: 35, c: 10, n: 1000, margin: 0.02)!
        #expect(worse > 5000 && worse < 9000)
        #expect(PairedStatistics.pairedDifferenceInterval(b: 35 * worse / 1000, c: 10 * worse / 1000, n: worse).high < -0.0195)
    }

    @Test func latencyPercentileRatioWithInterval() throws {
        var rng = SplitMix64(seed: 3)
        let base = (0..<500).map { _ in 20 + 80 * rng.nextUnit() }
        let slower = base.map { $0 * 1.3 }
        let r = try #require(PairedStatistics.percentileRatio(baseline: base, candidate: slower, q: 0.95))
        #expect(abs(r.ratio - 1.3) < 1e-9 && abs(r.low - 1.3) < 1e-9 && abs(r.high - 1.3) < 1e-9)
    }

    /// Calibration by simulation: 40 seeds of paired pass/fail outcomes, decided with a 2.5-point
    /// non-inferiority margin. The same model (a 2% chance per case that sampling flips an outcome,
    /// independently on each side) passes in at least 95% of seeds and never fails; a model 5 points
    /// worse never passes, on 1,000 cases or on 30 (where it is inconclusive). How often the worse
    /// model is *fail* on 1,000 cases depends on the margin and the sampling noise: see the
    /// shadow-compare issue.
    @Test func decisionsAreCalibrated() {
        func decide(cases: Int, worse: Bool, seed: UInt64) -> Verdict {
            var rng = SplitMix64(seed: seed)
            var b = 0, c = 0
            for _ in 0..<cases {
                let truth = rng.nextUnit() < 0.9
                var base = truth
                var cand = truth
                if rng.nextUnit() < 0.02 { base.toggle() }
                if rng.nextUnit() < 0.02 { cand.toggle() }
                if worse && cand && rng.nextUnit() < 0.05 / 0.9 { cand = false }
                if base && !cand { b += 1 }
                if cand && !base { c += 1 }
            }
            let ci = PairedStatistics.pairedDifferenceInterval(b: b, c: c, n: cases)
            return PairedStatistics.nonInferiority(low: ci.low, high: ci.high, margin: 0.025)
        }
        let seeds = (1...40).map { UInt64($0) * 7919 }
        let identical = seeds.map { decide(cases: 1000, worse: false, seed: $0) }
        let worse = seeds.map { decide(cases: 1000, worse: true, seed: $0) }
        let small = seeds.map { decide(cases: 30, worse: true, seed: $0) }
        #expect(identical.filter { $0 == .pass }.count >= 38, "identical: \(identical)")  // ≥ 95% of 40
        #expect(!identical.contains(.fail))
        #expect(!worse.contains(.pass), "5 points worse: \(worse)")
        #expect(!small.contains(.pass), "30 cases: \(small)")
        #expect(small.filter { $0 == .inconclusive }.count >= 38)
    }
}
