import EvalCore
import SimulatedModel
import Testing

/// The shadow verdict's calibration, by simulation: the simulated model's own brain answers fresh
/// arithmetic questions for each of 40 seeds (sampling at temperature 0.3, so two deployments of
/// one model disagree near its accuracy), both sides are scored and the pairs compared with the
/// default gate (2-point non-inferiority margin). `scripts/calibrate-shadow.sh` runs the same
/// design end to end over HTTP against simulated endpoints.
@Suite struct ShadowCalibrationTests {
    /// Pairs for `n` questions of `seed`: baseline accuracy 0.90 on one deployment, candidate
    /// `candidateAccuracy` on another.
    static func pairs(seed: UInt64, n: Int, candidateAccuracy: Double) -> [ShadowPair] {
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        let base = SimulatedBrain(accuracy: 0.90, samplingSalt: 1)
        let cand = SimulatedBrain(accuracy: candidateAccuracy, samplingSalt: 2)
        return (0..<n).map { i in
            let a = Int(rng.next(below: 1_000_000)), b = Int(rng.next(below: 1_000_000))
            let prompt = "What is \(a) + \(b)?"
            func answer(_ brain: SimulatedBrain) -> ShadowAnswer {
                let pass = brain.answer(model: "sim-small", prompt: prompt, seed: nil, temperature: 0.3) == String(a + b)
                return ShadowAnswer(output: nil, pass: pass, score: pass ? 1 : 0, latencyMs: nil, costUSD: nil)
            }
            return ShadowPair(id: "q\(i)", baseline: answer(base), candidate: answer(cand))
        }
    }

    static func verdicts(n: Int, candidateAccuracy: Double) -> [Verdict: Int] {
        var counts: [Verdict: Int] = [:]
        for seed in 1...40 {
            let c = ShadowComparison.compare(pairs(seed: UInt64(seed), n: n, candidateAccuracy: candidateAccuracy), gate: ShadowGate(), metric: .passRate, seed: UInt64(seed))
            counts[c.gate.verdict, default: 0] += 1
        }
        return counts
    }

    @Test func theSimulatedDeploymentsReallyDisagreeAndTheWorseOneIsFivePointsWorse() {
        var flips = 0, base = 0, worse = 0
        let n = 40_000
        for p in Self.pairs(seed: 99, n: n, candidateAccuracy: 0.90) where p.baseline.pass != p.candidate.pass { flips += 1 }
        for p in Self.pairs(seed: 99, n: n, candidateAccuracy: 0.85) {
            base += p.baseline.pass ? 1 : 0
            worse += p.candidate.pass ? 1 : 0
        }
        // Sampling noise: about 1% of identical-model pairs flip (0.05·t jitter, t = 0.3).
        #expect(Double(flips) / Double(n) > 0.005 && Double(flips) / Double(n) < 0.02)
        #expect(abs(Double(base - worse) / Double(n) - 0.05) < 0.005)
    }

    @Test func anIdenticalCandidatePassesInAtLeast95PercentOfSeeds() {
        let v = Self.verdicts(n: 1000, candidateAccuracy: 0.90)
        print("calibration: identical candidate, 1,000 cases, 40 seeds: \(v)")
        #expect(v[.pass, default: 0] >= 38, "\(v)")
        #expect(v[.fail, default: 0] == 0, "\(v)")
    }

    @Test func aCandidateFivePointsWorseFailsInAtLeast95PercentOfSeedsOn1000Cases() {
        let v = Self.verdicts(n: 1000, candidateAccuracy: 0.85)
        print("calibration: 5 points worse, 1,000 cases, 40 seeds: \(v)")
        #expect(v[.fail, default: 0] >= 38, "\(v)")
        #expect(v[.pass, default: 0] == 0, "\(v)")
    }

    @Test func onThirtyCasesTheSameCandidateIsInconclusiveNeverPass() {
        let v = Self.verdicts(n: 30, candidateAccuracy: 0.85)
        print("calibration: 5 points worse, 30 cases, 40 seeds: \(v)")
        #expect(v[.pass, default: 0] == 0, "\(v)")
        #expect(v[.inconclusive, default: 0] == 40, "\(v)")
        // And the report says how many cases would decide it.
        let c = ShadowComparison.compare(Self.pairs(seed: 3, n: 30, candidateAccuracy: 0.85), gate: ShadowGate(), metric: .passRate)
        #expect(c.casesNeeded != nil || c.passRateDifference.value <= -0.02)
    }
}
