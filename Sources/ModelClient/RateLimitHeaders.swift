import EvalCore
import Foundation
import NIOHTTP1

/// What an answer's headers say about when to send again, read from the headers of the
/// providers and gateways our users meet (docs/RATE-LIMITS.md has the table):
///
/// | header | who sends it | form |
/// |---|---|---|
/// | `retry-after` | everyone (RFC 9110) | seconds or an HTTP date |
/// | `retry-after-ms` | OpenAI, Azure OpenAI | milliseconds |
/// | `llm_provider-retry-after`, `llm_provider-retry-after-ms` | LiteLLM proxy (the provider's own header, passed on) | as above |
/// | `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens` (also `llm_provider-`) | OpenAI, LiteLLM, vLLM gateways | `1s`, `6m0s`, `250ms`, or seconds |
/// | `x-ratelimit-remaining-requests`, `x-ratelimit-remaining-tokens` (also `llm_provider-`) | same | a count; `0` means the window is spent |
/// | `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` | Anthropic | RFC 3339 instant |
/// | `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining` | Anthropic | a count |
///
/// Every value is range-checked here: anything non-finite or negative is ignored, and an absurdly
/// long wait is kept as a long wait (the caller compares it with its cap before pausing anyone).
public struct RateLimitHeaders: Sendable, Equatable {
    /// Seconds the endpoint asked us to wait before retrying (the longest `Retry-After` form given).
    public var retryAfter: Double?
    /// Seconds until the spent window resets (the longest reset header given).
    public var reset: Double?
    /// True when a `remaining` header says the window is spent.
    public var exhausted: Bool
    /// The smallest `remaining-requests` count given (OpenAI, LiteLLM, Anthropic).
    public var remainingRequests: Int?

    /// Stand-in when a header says the window is spent but none says when it resets: wait this
    /// long, then let one request find out (its 429 carries the real `Retry-After`).
    public static let probePauseSeconds = 1.0

    public init(retryAfter: Double? = nil, reset: Double? = nil, exhausted: Bool = false, remainingRequests: Int? = nil) {
        self.retryAfter = retryAfter
        self.reset = reset
        self.exhausted = exhausted
        self.remainingRequests = remainingRequests
    }

    /// One pass over the headers, allocating nothing for the ones that do not matter (every answer
    /// goes through here: the runner's malloc budget per case is guarded in Benchmarks/).
    public init(_ headers: HTTPHeaders, now: Date = Date()) {
        exhausted = false
        for (rawName, value) in headers {
            guard let first = rawName.utf8.first, RateLimitHeaders.mayMatter(first) else { continue }
            var name = rawName.lowercased()
            if name.hasPrefix("llm_provider-") { name.removeFirst("llm_provider-".count) }
            switch name {
            case "retry-after":
                if let w = RateLimitHeaders.parseRetryAfter(value, now: now) { retryAfter = max(retryAfter ?? 0, w) }
            case "retry-after-ms":
                if let ms = RateLimitHeaders.number(value) { retryAfter = max(retryAfter ?? 0, ms / 1000) }
            case "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens":
                if let r = RateLimitHeaders.bounded(parseDuration(value)) { reset = max(reset ?? 0, r) }
            case "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset", "anthropic-ratelimit-input-tokens-reset",
                 "anthropic-ratelimit-output-tokens-reset":
                if let r = RateLimitHeaders.secondsUntil(value, now: now) { reset = max(reset ?? 0, r) }
            case "x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining":
                if RateLimitHeaders.number(value) == 0 { exhausted = true }
                if let n = OutsideNumber.whole(Double(value.trimmingCharacters(in: .whitespaces)), in: 0...Int(Int32.max)) {
                    remainingRequests = min(remainingRequests ?? n, n)
                }
            case "x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-input-tokens-remaining",
                 "anthropic-ratelimit-output-tokens-remaining":
                if RateLimitHeaders.number(value) == 0 { exhausted = true }
            default: break
            }
        }
    }

    /// Whether a header whose name starts with this byte can be one of ours (r, x, l, a, any case).
    private static func mayMatter(_ byte: UInt8) -> Bool {
        switch byte | 0x20 {
        case UInt8(ascii: "r"), UInt8(ascii: "x"), UInt8(ascii: "l"), UInt8(ascii: "a"): return true
        default: return false
        }
    }

    /// How long to stop sending after a successful answer: until the reset when the window is spent
    /// (a short probe pause when no header says when, and no remaining count the limiter can
    /// follow instead), nothing otherwise.
    public var proactivePause: Double? {
        guard exhausted else { return nil }
        if let reset { return reset }
        return remainingRequests == nil ? RateLimitHeaders.probePauseSeconds : nil
    }

    /// `Retry-After` as seconds: the delta form, or an HTTP date (RFC 9110 §10.2.3).
    static func parseRetryAfter(_ value: String, now: Date) -> Double? {
        if let n = number(value) { return n }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: value.trimmingCharacters(in: .whitespaces)) else { return nil }
        return bounded(max(0, date.timeIntervalSince(now)))
    }

    /// Seconds until an RFC 3339 instant (Anthropic's reset headers); 0 when it has passed.
    static func secondsUntil(_ value: String, now: Date) -> Double? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let t = value.trimmingCharacters(in: .whitespaces)
        guard let date = f.date(from: t) ?? ISO8601DateFormatter().date(from: t) else { return nil }
        return bounded(max(0, date.timeIntervalSince(now)))
    }

    /// A plain non-negative number; `nan` and negatives are not accepted, `inf` and anything above a
    /// year are kept as a year (a wait that long is refused by every cap anyway).
    static func number(_ value: String) -> Double? {
        bounded(Double(value.trimmingCharacters(in: .whitespaces)))
    }

    static func bounded(_ x: Double?) -> Double? {
        guard let x, !x.isNaN, x >= 0 else { return nil }
        return min(x, OutsideNumber.maxSeconds)
    }
}
