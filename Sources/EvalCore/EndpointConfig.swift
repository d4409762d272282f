/// A model endpoint as the operator configured it (`configs/endpoints.yaml`). Requests name an
/// endpoint; they never carry URLs or keys of their own.
public struct EndpointConfig: Sendable, Hashable {
    public enum API: String, Sendable { case chat, completions }

    public struct Retry: Sendable, Hashable {
        /// Total HTTP attempts per call, the first included.
        public var maxAttempts = 5
        public var initialBackoffSeconds = 0.5
        public var maxBackoffSeconds = 30.0
        /// A `Retry-After` longer than this is not waited for: the call fails as rate-limited.
        public var maxRetryAfterSeconds = 120.0
        public init() {}
    }

    public struct Pricing: Sendable, Hashable {
        public var inputPerMillion: Double
        public var outputPerMillion: Double
        /// When the prices were last checked (`as_of: YYYY-MM-DD`): `validate --check-endpoints`
        /// calls them stale past an age.
        public var asOf: String?

        public init(inputPerMillion: Double, outputPerMillion: Double) {
            self.inputPerMillion = inputPerMillion
            self.outputPerMillion = outputPerMillion
        }

        /// Cost in USD of one call's usage.
        public func cost(promptTokens: Int, completionTokens: Int) -> Double {
            (Double(promptTokens) * inputPerMillion + Double(completionTokens) * outputPerMillion) / 1_000_000
        }
    }

    public var name: String
    /// `http(s)://host[:port]` without the `/v1/...` path; nil for a simulated endpoint until it starts.
    public var baseURL: String?
    public var model: String
    public var api: API = .chat
    /// Name of the environment variable holding the API key.
    public var apiKeyEnv: String?
    /// Path of a file holding the API key (e.g. a mounted Kubernetes secret).
    public var apiKeyFile: String?
    /// PEM file of the certificate authorities to trust for this endpoint's TLS (a gateway with a
    /// private CA) instead of the system's roots.
    public var tlsCAFile: String?
    public var connectTimeoutSeconds = 10.0
    public var requestTimeoutSeconds = 120.0
    /// Most requests in flight at once to this endpoint, across every run in the process.
    public var maxInFlight = 64
    public var requestsPerMinute: Double?
    public var tokensPerMinute: Double?
    /// Bucket depth in seconds of rate: how much may go at once after an idle spell.
    public var burstSeconds = 0.5
    public var retry = Retry()
    public var pricing: Pricing?
    /// When set, the CLI starts the built-in simulated endpoint in-process with this profile file
    /// ("" = default profile) and points this endpoint at it.
    public var simulatedProfile: String?
    /// Chat answers are streamed (SSE), timing the first token and the gaps between tokens.
    public var stream = false
    /// The model's context window in tokens (`validate --check-endpoints` checks the longest case against it).
    public var contextWindow: Int?

    public init(name: String, baseURL: String?, model: String) {
        self.name = name
        self.baseURL = baseURL
        self.model = model
    }

    /// This endpoint's budgets divided among `shards` concurrent processes (the shards of one
    /// run, each with a limiter of its own): requests and tokens per minute and requests in
    /// flight, so N shards together keep to the provider's limits instead of exceeding them N-fold.
    public func sharedAmong(_ shards: Int) -> EndpointConfig {
        guard shards > 1 else { return self }
        var e = self
        e.requestsPerMinute = requestsPerMinute.map { $0 / Double(shards) }
        e.tokensPerMinute = tokensPerMinute.map { $0 / Double(shards) }
        e.maxInFlight = max(1, maxInFlight / shards)
        return e
    }

    public static let knownFields: Set<String> = [
        "name", "base_url", "model", "api", "api_key_env", "api_key_file", "tls_ca_file", "timeouts", "max_in_flight",
        "requests_per_minute", "tokens_per_minute", "burst_seconds", "retry", "pricing", "simulated", "description", "stream", "context_window",
    ]

    /// Decodes one entry of `endpoints:`.
    public static func decode(_ json: JSONValue) throws(FieldError) -> EndpointConfig {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "an endpoint must be an object") }
        if o["api_key"] != nil {
            throw FieldError(field: "api_key", message: "API keys are not written in config files; use api_key_env or api_key_file")
        }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        guard let name = o["name"]?.stringValue, !name.isEmpty else { throw FieldError(field: "name", message: "missing or not a string") }
        guard let model = o["model"]?.stringValue, !model.isEmpty else { throw FieldError(field: "model", message: "missing or not a string") }
        var e = EndpointConfig(name: name, baseURL: nil, model: model)
        switch o["simulated"] {
        case nil, .null?, .bool(false)?: break
        case .bool(true)?: e.simulatedProfile = ""
        case .object(let so)?: e.simulatedProfile = so["profile"]?.stringValue ?? ""
        default: throw FieldError(field: "simulated", message: "must be true or {profile: FILE}")
        }
        if let url = o["base_url"]?.stringValue {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw FieldError(field: "base_url", message: "must start with http:// or https://")
            }
            var base = url
            while base.hasSuffix("/") { base.removeLast() }
            // We append `/v1/chat/completions`; OpenAI's documentation writes base URLs with `/v1`.
            // Accept both forms rather than send every case to `/v1/v1/...` and a silent 404.
            if base.hasSuffix("/v1") { base.removeLast(3) }
            guard base.split(separator: "/", omittingEmptySubsequences: false).count >= 3, !base.hasSuffix(":") else {
                throw FieldError(field: "base_url", message: "'\(url)' has no host")
            }
            e.baseURL = base
        } else if o["base_url"] != nil && o["base_url"] != .null {
            throw FieldError(field: "base_url", message: "must be a string")
        } else if e.simulatedProfile == nil {
            throw FieldError(field: "base_url", message: "missing (or set simulated: true)")
        }
        if let a = o["api"] {
            guard let s = a.stringValue, let api = API(rawValue: s) else { throw FieldError(field: "api", message: "must be 'chat' or 'completions'") }
            e.api = api
        }
        if let v = o["context_window"], v != .null {
            guard let n = v.wholeNumber(in: 1...100_000_000) else { throw FieldError(field: "context_window", message: "must be a whole number of tokens from 1 to 100000000") }
            e.contextWindow = n
        }
        if let v = o["stream"], v != .null {
            guard let b = v.boolValue else { throw FieldError(field: "stream", message: "must be true or false") }
            guard !b || e.api == .chat else { throw FieldError(field: "stream", message: "streaming is for the chat API") }
            e.stream = b
        }
        if let v = o["api_key_env"] {
            guard let s = v.stringValue, !s.isEmpty else { throw FieldError(field: "api_key_env", message: "must be a variable name") }
            e.apiKeyEnv = s
        }
        if let v = o["api_key_file"] {
            guard let s = v.stringValue, !s.isEmpty else { throw FieldError(field: "api_key_file", message: "must be a path") }
            e.apiKeyFile = s
        }
        if let v = o["tls_ca_file"], v != .null {
            guard let s = v.stringValue, !s.isEmpty else { throw FieldError(field: "tls_ca_file", message: "must be a path to a PEM file") }
            e.tlsCAFile = s
        }
        // Bounded both ways: these numbers become durations and integer counts, where 1e300 traps
        // and 1e-300 divides to infinity.
        func positive(_ v: JSONValue?, _ field: String, max: Double = 1e9) throws(FieldError) -> Double? {
            guard let v, v != .null else { return nil }
            guard let n = v.numberValue, n.isFinite, n >= 1e-6, n <= max else {
                throw FieldError(field: field, message: "must be a number from 0.000001 to \(format(max))")
            }
            return n
        }
        let day = 86_400.0
        if let t = o["timeouts"] {
            guard let to = t.objectValue else { throw FieldError(field: "timeouts", message: "must be an object") }
            for key in to.keys where !["connect_seconds", "request_seconds"].contains(key) {
                throw FieldError(field: "timeouts.\(key)", message: "unknown field (expected connect_seconds, request_seconds)")
            }
            e.connectTimeoutSeconds = try positive(to["connect_seconds"], "timeouts.connect_seconds", max: day) ?? e.connectTimeoutSeconds
            e.requestTimeoutSeconds = try positive(to["request_seconds"], "timeouts.request_seconds", max: day) ?? e.requestTimeoutSeconds
        }
        if let n = try positive(o["max_in_flight"], "max_in_flight") {
            guard n.rounded() == n, n <= 100_000 else { throw FieldError(field: "max_in_flight", message: "must be a whole number") }
            e.maxInFlight = Int(n)
        }
        e.requestsPerMinute = try positive(o["requests_per_minute"], "requests_per_minute")
        e.tokensPerMinute = try positive(o["tokens_per_minute"], "tokens_per_minute")
        e.burstSeconds = try positive(o["burst_seconds"], "burst_seconds", max: 3600) ?? e.burstSeconds
        if let r = o["retry"] {
            guard let ro = r.objectValue else { throw FieldError(field: "retry", message: "must be an object") }
            let known: Set<String> = ["max_attempts", "initial_backoff_seconds", "max_backoff_seconds", "max_retry_after_seconds"]
            for key in ro.keys where !known.contains(key) {
                throw FieldError(field: "retry.\(key)", message: "unknown field (expected one of \(known.sorted().joined(separator: ", ")))")
            }
            if let n = try positive(ro["max_attempts"], "retry.max_attempts") {
                guard n.rounded() == n, n <= 100 else { throw FieldError(field: "retry.max_attempts", message: "must be a whole number <= 100") }
                e.retry.maxAttempts = Int(n)
            }
            e.retry.initialBackoffSeconds = try positive(ro["initial_backoff_seconds"], "retry.initial_backoff_seconds", max: day) ?? e.retry.initialBackoffSeconds
            e.retry.maxBackoffSeconds = try positive(ro["max_backoff_seconds"], "retry.max_backoff_seconds", max: day) ?? e.retry.maxBackoffSeconds
            e.retry.maxRetryAfterSeconds = try positive(ro["max_retry_after_seconds"], "retry.max_retry_after_seconds", max: day) ?? e.retry.maxRetryAfterSeconds
        }
        if let p = o["pricing"], p != .null {
            guard let i = p["input_per_million"]?.numberValue, i >= 0, i <= 1e6 else {
                throw FieldError(field: "pricing.input_per_million", message: "must be a number >= 0 (USD per million input tokens)")
            }
            guard let out = p["output_per_million"]?.numberValue, out >= 0, out <= 1e6 else {
                throw FieldError(field: "pricing.output_per_million", message: "must be a number >= 0 (USD per million output tokens)")
            }
            e.pricing = Pricing(inputPerMillion: i, outputPerMillion: out)
            if let d = p["as_of"], d != .null {
                guard let text = d.stringValue, EndpointConfig.dayNumber(text) != nil else {
                    throw FieldError(field: "pricing.as_of", message: "must be a date YYYY-MM-DD")
                }
                e.pricing?.asOf = text
            }
            for key in p.objectValue?.keys ?? [:].keys where !["input_per_million", "output_per_million", "as_of"].contains(key) {
                throw FieldError(field: "pricing.\(key)", message: "unknown field (expected input_per_million, output_per_million, as_of)")
            }
        }
        return e
    }
}

extension EndpointConfig {
    /// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian), nil when it is not one.
    public static func dayNumber(_ text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1970...9999).contains(y), (1...12).contains(m)
        else { return nil }
        let days = [31, (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...days[m - 1]).contains(d) else { return nil }
        // Howard Hinnant's days_from_civil.
        let yy = m <= 2 ? y - 1 : y
        let era = yy / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
