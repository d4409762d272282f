/// Small, deterministic statistics used by the gates. Everything that draws random numbers takes
/// a seed, so the same inputs always give the same interval.
public enum Statistics {
    /// Wilson score interval for a binomial proportion (z = 1.96 for 95%).
    public static func wilson(successes: Int, trials: Int, z: Double = 1.959963984540054) -> (low: Double, high: Double) {
        guard trials > 0 else { return (0, 1) }
        return wilson(proportion: Double(successes) / Double(trials), trials: Double(trials), z: z)
    }

    /// Wilson interval of proportion `p` observed over `n` (possibly effective, non-whole) trials.
    /// Repeats use it at n = cases: K samples of one case are not K independent trials.
    public static func wilson(proportion p: Double, trials n: Double, z: Double = 1.959963984540054) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let z2 = z * z
        let denom = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denom
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / denom
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Percentile by linear interpolation between closest ranks (numpy's default, "type 7").
    /// `sorted` must be ascending; nil when empty.
    public static func percentile(sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let h = (Double(sorted.count) - 1) * q
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }

    /// Mean of `values`, or nil when empty.
    public static func mean<C: Collection>(_ values: C) -> Double? where C.Element: BinaryFloatingPoint {
        guard !values.isEmpty else { return nil }
        var s = 0.0
        for v in values { s += Double(v) }
        return s / Double(values.count)
    }

    /// Percentile-bootstrap interval of the mean (seeded, `resamples` draws).
    public static func bootstrapMeanInterval(
        _ values: [Float], resamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 0x5EED
    ) -> (low: Double, high: Double)? {
        guard !values.isEmpty else { return nil }
        let n = values.count
        if n == 1 { return (Double(values[0]), Double(values[0])) }
        var rng = SplitMix64(seed: seed)
        var means = [Double](repeating: 0, count: resamples)
        values.withUnsafeBufferPointer { v in
            for b in 0..<resamples {
                var sum = 0.0
                for _ in 0..<n { sum += Double(v[Int(rng.next(below: UInt64(n)))]) }
                means[b] = sum / Double(n)
            }
        }
        means.sort()
        let alpha = (1 - confidence) / 2
        return (percentile(sorted: means, alpha)!, percentile(sorted: means, 1 - alpha)!)
    }
}

/// SplitMix64: a tiny, fast, seedable generator; good enough for resampling and jitter.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (Lemire's multiply-shift; bias is negligible for our bounds).
    public mutating func next(below bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
