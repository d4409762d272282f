import EvalCore

/// How the simulated endpoint behaves: accuracy, latency, injected faults and its own rate limit.
public struct SimulatorProfile: Sendable, Hashable {
    public enum Latency: Sendable, Hashable {
        case none
        case fixed(ms: Double)
        case uniform(minMs: Double, maxMs: Double)
        /// Log-normal with the given median and 99th percentile.
        case lognormal(medianMs: Double, p99Ms: Double)
    }

    public struct Faults: Sendable, Hashable {
        /// Fraction of requests answered 429 with `Retry-After: retryAfterSeconds`.
        public var rate429 = 0.0
        /// Send `Retry-After` with injected 429s (a storm without it tests backoff).
        public var retryAfterSeconds: Double? = 1
        public var rate500 = 0.0
        public var rate502 = 0.0
        public var rate503 = 0.0
        /// Fraction of requests that hang for `hangSeconds` before answering (client-side timeouts).
        public var rateTimeout = 0.0
        public var hangSeconds = 30.0
        /// Fraction answered 200 with a truncated JSON body.
        public var rateMalformed = 0.0
        /// Fraction whose connection is dropped mid-response.
        public var rateDrop = 0.0
        /// Fraction answered 200 with a valid body sent a few bytes at a time over `dripSeconds`.
        public var rateSlowDrip = 0.0
        public var dripSeconds = 5.0
        /// Fraction answered 200 with empty content.
        public var rateEmpty = 0.0
        /// Fraction of embedding texts answered with one dimension too few.
        public var rateBadDimensions = 0.0
        public init() {}
    }

    /// How streamed answers (`stream: true` requests) arrive.
    public struct Stream: Sendable, Hashable {
        /// Time to the first token (the role-only chunk goes at once); nil: the profile's `latency`.
        public var ttft: Latency?
        /// Delay before each further token chunk.
        public var perToken: Latency = .none
        /// After this many token chunks the stream stalls (sends nothing more, keeps the connection).
        public var stallAfterChunks: Int?
        /// After this many token chunks the body ends, without a finish chunk or `[DONE]`.
        public var cutAfterChunks: Int?
        /// `openai`: role chunk, content chunks, finish chunk, a usage chunk when asked, `[DONE]`.
        /// `transformers` (as `transformers serve` 5.24): usage inside the finish chunk, no `[DONE]`.
        public var style = "openai"
        public init() {}
    }

    public var accuracy = 0.9
    public var stream = Stream()
    /// What `GET /v1/models` lists (the simulator answers any model name all the same).
    public var models = ["sim-small", "sim-large", "sim-judge"]
    /// The context window `GET /v1/models` reports (`max_model_len`, as vLLM) and `/tokenize` uses.
    public var contextWindow = 8192
    /// Accuracy per model name, overriding `accuracy`.
    public var modelAccuracy: [String: Double] = [:]
    public var latency: Latency = .none
    public var faults = Faults()
    /// The endpoint's own limit: beyond it, 429 with `Retry-After`.
    public var requestsPerMinute: Double?
    public var tokensPerMinute: Double?
    /// Bucket depth of the endpoint's limit, in seconds of rate.
    public var burstSeconds = 1.0
    /// Set to behave like the LiteLLM proxy's limiter instead of a token bucket: a fixed window of
    /// this many seconds admitting `requestsPerMinute × window / 60` requests, answering the rest
    /// 429 with only `llm_provider-retry-after` (seconds to the window's end), and
    /// `x-ratelimit-remaining-requests` (what is left of the window) and no reset header on successes.
    public var fixedWindowSeconds: Double?
    /// Most requests served at once; beyond it requests queue (a service-time limit for capacity tests).
    public var maxConcurrency: Int?
    public var embeddingDimensions = 256
    public var seed: UInt64 = 42
    /// As a judge (it recognises evalengine's judge prompts): the share of its verdicts that agree
    /// with the truth (it knows the right answers of its task families).
    public var judgeAccuracy = 1.0
    /// The share of judge answers in the messy formats real judges produce (code fences, prose
    /// around the JSON, `GRADE:` lines).
    public var judgeFormatNoise = 0.0
    /// The share of judge answers with no readable verdict at all.
    public var judgeUnparseableRate = 0.0
    /// Which way the judge's mistakes lean, from -1 (harsh: its errors fail right outputs) to 1
    /// (lenient: its errors pass wrong ones); 0 splits them evenly. Accuracy stays the mean.
    public var judgeBias = 0.0

    public init() {}

    static let knownFields: Set<String> = [
        "accuracy", "model_accuracy", "latency", "faults", "rate_limit", "max_concurrency", "embedding_dimensions", "seed", "description",
        "judge_accuracy", "judge_format_noise", "judge_unparseable_rate", "judge_bias", "stream", "models", "context_window",
    ]

    /// Decodes a profile file (`profiles/sim-*.yaml`).
    public static func decode(_ json: JSONValue) throws(FieldError) -> SimulatorProfile {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a simulator profile must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        var p = SimulatorProfile()
        func fraction(_ v: JSONValue?, _ field: String) throws(FieldError) -> Double? {
            guard let v, v != .null else { return nil }
            guard let n = v.numberValue, n >= 0, n <= 1 else { throw FieldError(field: field, message: "must be a number between 0 and 1") }
            return n
        }
        // Bounded: these become durations and counts, where inf and 1e30 trap.
        func nonNegative(_ v: JSONValue?, _ field: String) throws(FieldError) -> Double? {
            guard let v, v != .null else { return nil }
            guard let n = v.numberValue, n.isFinite, n >= 0, n <= 1e9 else { throw FieldError(field: field, message: "must be a number from 0 to 10^9") }
            return n
        }
        p.accuracy = try fraction(o["accuracy"], "accuracy") ?? p.accuracy
        if let m = o["model_accuracy"]?.objectValue {
            for (k, v) in m { p.modelAccuracy[k] = try fraction(v, "model_accuracy.\(k)") }
        }
        func latency(_ l: JSONValue, _ field: String) throws(FieldError) -> Latency {
            guard let lo = l.objectValue else { throw FieldError(field: field, message: "must be an object") }
            switch lo["distribution"]?.stringValue ?? "fixed" {
            case "none": return .none
            case "fixed": return .fixed(ms: try nonNegative(lo["ms"], field + ".ms") ?? 0)
            case "uniform":
                return .uniform(minMs: try nonNegative(lo["min_ms"], field + ".min_ms") ?? 0, maxMs: try nonNegative(lo["max_ms"], field + ".max_ms") ?? 0)
            case "lognormal":
                guard let median = try nonNegative(lo["median_ms"], field + ".median_ms"), median > 0,
                    let p99 = try nonNegative(lo["p99_ms"], field + ".p99_ms"), p99 >= median
                else { throw FieldError(field: field, message: "lognormal needs median_ms > 0 and p99_ms >= median_ms") }
                return .lognormal(medianMs: median, p99Ms: p99)
            case let other: throw FieldError(field: field + ".distribution", message: "unknown distribution '\(other)' (none, fixed, uniform, lognormal)")
            }
        }
        if let l = o["latency"], l != .null { p.latency = try latency(l, "latency") }
        if let m = o["models"], m != .null {
            guard let names = m.arrayValue?.compactMap(\.stringValue), names.count == m.arrayValue?.count, !names.isEmpty else {
                throw FieldError(field: "models", message: "must be a list of model names")
            }
            p.models = names
        }
        if let c = o["context_window"], c != .null {
            guard let n = c.wholeNumber(in: 1...100_000_000) else { throw FieldError(field: "context_window", message: "must be a whole number of tokens") }
            p.contextWindow = n
        }
        if let st = o["stream"], st != .null {
            guard let so = st.objectValue else { throw FieldError(field: "stream", message: "must be an object") }
            for key in so.keys where !["ttft", "per_token", "stall_after_chunks", "cut_after_chunks", "style"].contains(key) {
                throw FieldError(field: "stream.\(key)", message: "unknown field (expected ttft, per_token, stall_after_chunks, cut_after_chunks, style)")
            }
            if let v = so["ttft"], v != .null { p.stream.ttft = try latency(v, "stream.ttft") }
            if let v = so["per_token"], v != .null { p.stream.perToken = try latency(v, "stream.per_token") }
            for (key, path) in [("stall_after_chunks", \Stream.stallAfterChunks), ("cut_after_chunks", \Stream.cutAfterChunks)] {
                guard let v = so[key], v != .null else { continue }
                guard let n = v.wholeNumber(in: 0...1_000_000) else { throw FieldError(field: "stream.\(key)", message: "must be a whole number from 0 to 1000000") }
                p.stream[keyPath: path] = n
            }
            if let v = so["style"], v != .null {
                guard let s = v.stringValue, ["openai", "transformers"].contains(s) else { throw FieldError(field: "stream.style", message: "must be openai or transformers") }
                p.stream.style = s
            }
        }
        if let f = o["faults"], f != .null {
            guard let fo = f.objectValue else { throw FieldError(field: "faults", message: "must be an object") }
            let known: Set<String> = ["rate_429", "retry_after_seconds", "rate_500", "rate_502", "rate_503", "rate_timeout", "hang_seconds", "rate_malformed", "rate_drop", "rate_slow_drip", "drip_seconds", "rate_empty", "rate_bad_dimensions"]
            for key in fo.keys where !known.contains(key) {
                throw FieldError(field: "faults.\(key)", message: "unknown fault (expected one of \(known.sorted().joined(separator: ", ")))")
            }
            p.faults.rate429 = try fraction(fo["rate_429"], "faults.rate_429") ?? 0
            if let ra = fo["retry_after_seconds"] {
                p.faults.retryAfterSeconds = ra == .null ? nil : try nonNegative(ra, "faults.retry_after_seconds")
            }
            p.faults.rate500 = try fraction(fo["rate_500"], "faults.rate_500") ?? 0
            p.faults.rate502 = try fraction(fo["rate_502"], "faults.rate_502") ?? 0
            p.faults.rate503 = try fraction(fo["rate_503"], "faults.rate_503") ?? 0
            p.faults.rateTimeout = try fraction(fo["rate_timeout"], "faults.rate_timeout") ?? 0
            p.faults.hangSeconds = try nonNegative(fo["hang_seconds"], "faults.hang_seconds") ?? p.faults.hangSeconds
            p.faults.rateMalformed = try fraction(fo["rate_malformed"], "faults.rate_malformed") ?? 0
            p.faults.rateDrop = try fraction(fo["rate_drop"], "faults.rate_drop") ?? 0
            p.faults.rateSlowDrip = try fraction(fo["rate_slow_drip"], "faults.rate_slow_drip") ?? 0
            p.faults.dripSeconds = try nonNegative(fo["drip_seconds"], "faults.drip_seconds") ?? p.faults.dripSeconds
            p.faults.rateEmpty = try fraction(fo["rate_empty"], "faults.rate_empty") ?? 0
            p.faults.rateBadDimensions = try fraction(fo["rate_bad_dimensions"], "faults.rate_bad_dimensions") ?? 0
        }
        if let r = o["rate_limit"], r != .null {
            guard let ro = r.objectValue else { throw FieldError(field: "rate_limit", message: "must be an object") }
            p.requestsPerMinute = try nonNegative(ro["requests_per_minute"], "rate_limit.requests_per_minute")
            p.tokensPerMinute = try nonNegative(ro["tokens_per_minute"], "rate_limit.tokens_per_minute")
            p.burstSeconds = try nonNegative(ro["burst_seconds"], "rate_limit.burst_seconds") ?? p.burstSeconds
            for key in ro.keys where !["requests_per_minute", "tokens_per_minute", "burst_seconds", "style", "window_seconds"].contains(key) {
                throw FieldError(field: "rate_limit.\(key)", message: "unknown field (expected requests_per_minute, tokens_per_minute, burst_seconds, style, window_seconds)")
            }
            switch ro["style"]?.stringValue ?? "token_bucket" {
            case "token_bucket": break
            case "litellm":
                guard p.requestsPerMinute != nil else { throw FieldError(field: "rate_limit.requests_per_minute", message: "style litellm needs requests_per_minute") }
                let w = try nonNegative(ro["window_seconds"], "rate_limit.window_seconds") ?? 60
                guard w >= 0.1 else { throw FieldError(field: "rate_limit.window_seconds", message: "must be at least 0.1") }
                p.fixedWindowSeconds = w
            case let other: throw FieldError(field: "rate_limit.style", message: "unknown style '\(other)' (token_bucket, litellm)")
            }
        }
        if let n = try nonNegative(o["max_concurrency"], "max_concurrency") {
            guard n <= 100_000 else { throw FieldError(field: "max_concurrency", message: "must be at most 100000") }
            p.maxConcurrency = max(1, Int(n))
        }
        if let n = try nonNegative(o["embedding_dimensions"], "embedding_dimensions") {
            guard n >= 8, n <= 4096 else { throw FieldError(field: "embedding_dimensions", message: "must be between 8 and 4096") }
            p.embeddingDimensions = Int(n)
        }
        if let n = try nonNegative(o["seed"], "seed") { p.seed = UInt64(n.rounded(.down)) }
        p.judgeAccuracy = try fraction(o["judge_accuracy"], "judge_accuracy") ?? p.judgeAccuracy
        p.judgeFormatNoise = try fraction(o["judge_format_noise"], "judge_format_noise") ?? 0
        p.judgeUnparseableRate = try fraction(o["judge_unparseable_rate"], "judge_unparseable_rate") ?? 0
        if let v = o["judge_bias"], v != .null {
            guard let b = v.numberValue, b >= -1, b <= 1 else { throw FieldError(field: "judge_bias", message: "must be a number from -1 to 1") }
            p.judgeBias = b
        }
        return p
    }

    /// Accuracy for `model`.
    func accuracy(for model: String) -> Double { modelAccuracy[model] ?? accuracy }
}
