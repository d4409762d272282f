/// How a streamed answer arrived: time to its first token, the gaps between tokens, and how
/// long the tokens took after the first.
public struct StreamTiming: Sendable, Hashable {
    /// From the request's start to the first chunk that carried content or a tool call.
    public var ttftMs: Double
    /// Median and 95th percentile of the gaps between token chunks (nil with one token).
    public var interTokenP50Ms: Double?
    public var interTokenP95Ms: Double?
    /// Chunks that carried tokens.
    public var tokens: Int
    /// From the first token chunk to the last.
    public var streamMs: Double

    public init(ttftMs: Double, interTokenP50Ms: Double?, interTokenP95Ms: Double?, tokens: Int, streamMs: Double) {
        self.ttftMs = ttftMs
        self.interTokenP50Ms = interTokenP50Ms
        self.interTokenP95Ms = interTokenP95Ms
        self.tokens = tokens
        self.streamMs = streamMs
    }

    /// Completion tokens per second after the first (the usage's count when the server gave
    /// one, else the token chunks); nil when the stream had a single chunk.
    public func tokensPerSecond(completionTokens: Int) -> Double? {
        guard streamMs > 0 else { return nil }
        let n = completionTokens > 0 ? completionTokens : tokens
        return Double(max(0, n - 1)) / (streamMs / 1000)
    }

    /// `{ttft_ms, inter_token_p50_ms?, inter_token_p95_ms?, tokens, stream_ms}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["ttft_ms": .number(ttftMs), "tokens": .number(Double(tokens)), "stream_ms": .number(streamMs)]
        if let p = interTokenP50Ms { o["inter_token_p50_ms"] = .number(p) }
        if let p = interTokenP95Ms { o["inter_token_p95_ms"] = .number(p) }
        return .object(o)
    }

    /// Reads `json` back, range-checked (it comes back from caches and reports).
    public init?(json j: JSONValue) {
        func ms(_ v: JSONValue?) -> Double? {
            guard let n = v?.numberValue, n.isFinite, n >= 0, n <= 1e9 else { return nil }
            return n
        }
        guard let ttft = ms(j["ttft_ms"]), let tokens = j["tokens"]?.wholeNumber(in: 0...OutsideNumber.maxTokens), let stream = ms(j["stream_ms"]) else { return nil }
        if j["inter_token_p50_ms"] != nil && ms(j["inter_token_p50_ms"]) == nil { return nil }
        if j["inter_token_p95_ms"] != nil && ms(j["inter_token_p95_ms"]) == nil { return nil }
        self.init(ttftMs: ttft, interTokenP50Ms: ms(j["inter_token_p50_ms"]), interTokenP95Ms: ms(j["inter_token_p95_ms"]), tokens: tokens, streamMs: stream)
    }
}
