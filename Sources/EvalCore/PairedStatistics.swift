#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Paired statistics for baseline-vs-candidate comparisons (the shadow-compare stage builds on
/// these): McNemar's exact test, non-inferiority decisions with the sample size a decision would
/// need, and bootstrap intervals for ratios of latency percentiles.
public enum PairedStatistics {
    /// Two-sided exact McNemar p-value from the discordant pairs: `b` cases passed on the
    /// baseline only, `c` on the candidate only (binomial test of b against n = b + c, p = ½).
    public static func mcnemarExact(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        // Sum C(n, i) / 2^n for i ≤ k in log space: stable for large n.
        var total = 0.0
        for i in 0...k { total += exp(logChoose(n, i) - Double(n) * log(2.0)) }
        return min(1, 2 * total)
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double {
        lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1))
    }

    /// 95% interval for the difference of paired pass rates (candidate − baseline) from the
    /// discordant counts: `b` pairs passed only on the baseline, `c` only on the candidate, of `n`.
    /// Agresti–Min's adjusted Wald interval (½ added to each cell): unlike a bootstrap it does not
    /// collapse to [0, 0] when a small sample happens to show no disagreement.
    public static func pairedDifferenceInterval(b: Int, c: Int, n: Int, z: Double = 1.959963984540054) -> (estimate: Double, low: Double, high: Double) {
        guard n > 0 else { return (0, -1, 1) }
        let bb = Double(b) + 0.5
        let cc = Double(c) + 0.5
        let nn = Double(n) + 2
        let estimate = (cc - bb) / nn
        let se = max(0, (bb + cc) - (cc - bb) * (cc - bb) / nn).squareRoot() / nn
        return (Double(c - b) / Double(n), max(-1, estimate - z * se), min(1, estimate + z * se))
    }

    /// The non-inferiority decision for a quality difference (candidate − baseline) with margin
    /// `margin` > 0: pass when the whole interval is above `-margin`, fail when it is wholly below,
    /// otherwise inconclusive.
    public static func nonInferiority(low: Double, high: Double, margin: Double) -> Verdict {
        if low > -margin { return .pass }
        if high < -margin { return .fail }
        return .inconclusive
    }

    /// Cases a paired design needs so that the 95% interval of the mean difference clears
    /// `-margin` with 80% power, if the true difference is `meanDifference` with per-case standard
    /// deviation `sd`: n = ((z₀.₉₇₅ + z₀.₈) · sd / (meanDifference + margin))². Nil when the
    /// observed difference is already at or below `-margin` (no sample size makes it pass).
    public static func requiredCases(sd: Double, meanDifference: Double, margin: Double) -> Int? {
        let gap = meanDifference + margin
        guard gap > 0 else { return nil }
        let z = 1.959963984540054 + 0.8416212335729143
        return Int((z * sd / gap * z * sd / gap).rounded(.up))
    }

    /// Paired cases the decision would need: the smallest n' ≥ n at which the Agresti–Min interval
    /// that decides the gate (`pairedDifferenceInterval`), with the discordance rates observed so
    /// far, lies wholly above or wholly below `-margin`. Nil when no n' up to 10⁹ would (the
    /// observed difference sits on the margin). With no disagreement at all the half-width is about
    /// 1.96/(n'+2), so a 2-point margin needs 96 pairs.
    public static func pairsNeeded(b: Int, c: Int, n: Int, margin: Double) -> Int? {
        guard n > 0 else { return nil }
        let pb = Double(b) / Double(n)
        let pc = Double(c) / Double(n)
        func decided(_ m: Int) -> Bool {
            let bb = pb * Double(m) + 0.5
            let cc = pc * Double(m) + 0.5
            let nn = Double(m) + 2
            let estimate = (cc - bb) / nn
            let se = max(0, (bb + cc) - (cc - bb) * (cc - bb) / nn).squareRoot() / nn
            let half = 1.959963984540054 * se
            return estimate - half > -margin || estimate + half < -margin
        }
        if decided(n) { return n }
        let cap = 1_000_000_000
        var lo = n
        var hi = n
        while !decided(hi) {
            guard hi < cap else { return nil }
            lo = hi
            hi = min(cap, hi * 2)
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if decided(mid) { hi = mid } else { lo = mid }
        }
        return hi
    }

    /// The ratio candidate/baseline of the `q` percentile of paired latencies, with a percentile
    /// bootstrap 95% interval that resamples cases (keeping pairs together), seeded.
    public static func percentileRatio(baseline: [Double], candidate: [Double], q: Double, resamples: Int = 1000, seed: UInt64 = 0x5EED)
        -> (ratio: Double, low: Double, high: Double)?
    {
        precondition(baseline.count == candidate.count)
        let n = baseline.count
        guard n > 0 else { return nil }
        func ratio(_ idx: [Int]) -> Double {
            let b = Statistics.percentile(sorted: idx.map { baseline[$0] }.sorted(), q)!
            let c = Statistics.percentile(sorted: idx.map { candidate[$0] }.sorted(), q)!
            return b > 0 ? c / b : .infinity
        }
        let point = ratio(Array(0..<n))
        var rng = SplitMix64(seed: seed)
        var ratios = [Double](repeating: 0, count: resamples)
        var idx = [Int](repeating: 0, count: n)
        for r in 0..<resamples {
            for i in 0..<n { idx[i] = Int(rng.next(below: UInt64(n))) }
            ratios[r] = ratio(idx)
        }
        ratios.sort()
        return (point, Statistics.percentile(sorted: ratios, 0.025)!, Statistics.percentile(sorted: ratios, 0.975)!)
    }

    /// Sample standard deviation (n − 1).
    public static func standardDeviation(_ v: [Double]) -> Double {
        guard v.count > 1 else { return 0 }
        let m = v.reduce(0, +) / Double(v.count)
        return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
    }
}
