/// Range checks for numbers that come from outside (endpoints, files, requests, headers), applied
/// before they reach an integer conversion or `Duration` arithmetic: `Int(1e30)` traps, and so does
/// `Duration.seconds(.infinity)`. Every such number goes through one of these.
public enum OutsideNumber {
    /// `x` as a whole number within `range`; nil for NaN, infinities, fractions and anything outside.
    public static func whole(_ x: Double?, in range: ClosedRange<Int>) -> Int? {
        guard let x, x.isFinite, x.rounded(.towardZero) == x else { return nil }
        // `< upper + 1`, not `<= upper`: Double(Int.max) rounds up to 2^63, which Int() cannot hold.
        guard x >= Double(range.lowerBound), x < Double(range.upperBound) + 1 else { return nil }
        return Int(x)
    }

    /// `x` seconds when it is finite and within `0...limit`; nil otherwise.
    public static func seconds(_ x: Double?, limit: Double) -> Double? {
        guard let x, x.isFinite, x >= 0, x <= limit else { return nil }
        return x
    }

    /// The most seconds any duration we build may have (a year): above it `Duration` arithmetic
    /// and `Task.sleep` are still exact, and no configured or advertised wait is that long.
    public static let maxSeconds = 366.0 * 86_400

    /// Token counts reported by an endpoint: a billion tokens in one call is already absurd.
    public static let maxTokens = 1_000_000_000
}

extension JSONValue {
    /// This value as a whole number within `range`, or nil (see `OutsideNumber.whole`).
    public func wholeNumber(in range: ClosedRange<Int>) -> Int? {
        OutsideNumber.whole(numberValue, in: range)
    }
}

extension Duration {
    /// `seconds` as a duration, clamped to `0...OutsideNumber.maxSeconds` (NaN counts as 0), so a
    /// hostile or mistyped number can never trap in `Duration` arithmetic.
    public static func clampedSeconds(_ seconds: Double) -> Duration {
        let s = seconds.isNaN ? 0 : min(max(seconds, 0), OutsideNumber.maxSeconds)
        return .milliseconds(Int64((s * 1000).rounded()))
    }
}
