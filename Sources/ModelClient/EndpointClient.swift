import AsyncHTTPClient
import CoreMetrics
import EvalCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPCompression
import NIOPosix
import NIOSSL

/// What one case asks the model.
public struct ModelRequest: Sendable {
    public var messages: [ChatMessage]
    /// Set instead of `messages` for the `/v1/completions` API.
    public var prompt: String?
    public var params: ModelParams
    /// `tools`, `tool_choice`, `parallel_tool_calls` of a prompt with tools (chat only).
    public var toolFields: [String: JSONValue] = [:]

    public init(messages: [ChatMessage], prompt: String? = nil, params: ModelParams) {
        self.messages = messages
        self.prompt = prompt
        self.params = params
    }

    /// Rough token count of the request (4 characters a token, 4 tokens of overhead per message),
    /// plus the completion budget: what the tokens-per-minute bucket is charged before the call.
    public var estimatedTokens: Int {
        var chars = prompt?.utf8.count ?? 0
        for m in messages { chars += m.content.utf8.count + 16 }
        if let tools = toolFields["tools"] { chars += tools.serialized().utf8.count }
        return chars / 4 + 1 + (params.maxTokens ?? 256)
    }
}

/// A successful answer.
public struct ModelResponse: Sendable {
    public var text: String
    public var finishReason: String?
    public var promptTokens: Int
    public var completionTokens: Int
    /// Wall time of the successful HTTP attempt, in milliseconds.
    public var latencyMs: Double
    /// HTTP attempts made, the successful one included.
    public var attempts: Int
    /// 429 answers seen before success.
    public var rateLimited: Int
    /// The functions the model called (chat `message.tool_calls`), beside any text.
    public var toolCalls: [ToolCall] = []

    public init(text: String, finishReason: String?, promptTokens: Int, completionTokens: Int, latencyMs: Double, attempts: Int = 1, rateLimited: Int = 0) {
        self.text = text
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.latencyMs = latencyMs
        self.attempts = attempts
        self.rateLimited = rateLimited
    }

    /// A streamed answer's timing (endpoints with `stream: true`).
    public var stream: StreamTiming?

    /// The cache's form: what the answer was and how long it took to get.
    public var cacheJSON: JSONValue {
        var o: [String: JSONValue] = [
            "text": .string(text), "prompt_tokens": .number(Double(promptTokens)),
            "completion_tokens": .number(Double(completionTokens)), "latency_ms": .number(latencyMs),
        ]
        if let f = finishReason { o["finish_reason"] = .string(f) }
        if !toolCalls.isEmpty { o["tool_calls"] = .array(toolCalls.map(\.json)) }
        if let t = stream { o["stream"] = t.json }
        return .object(o)
    }

    /// Reads the cache's form back; nil if it is not one.
    public init?(cacheJSON j: JSONValue) {
        // Range-checked like an endpoint's answer: a damaged cache row is a miss, never a trap.
        guard let text = j["text"]?.stringValue, let p = j["prompt_tokens"]?.wholeNumber(in: 0...OutsideNumber.maxTokens),
            let c = j["completion_tokens"]?.wholeNumber(in: 0...OutsideNumber.maxTokens), let l = j["latency_ms"]?.numberValue, l.isFinite, l >= 0
        else { return nil }
        self.init(text: text, finishReason: j["finish_reason"]?.stringValue, promptTokens: p, completionTokens: c, latencyMs: l, attempts: 0)
        if let calls = j["tool_calls"] {
            guard let list = ToolCall.list(json: calls) else { return nil }
            toolCalls = list
        }
        if let t = j["stream"] {
            guard let timing = StreamTiming(json: t) else { return nil }
            stream = timing
        }
    }
}

/// Calls one OpenAI-compatible endpoint: renders the request body, admits it through the
/// endpoint's limiter, retries what is worth retrying with backoff (holding no slot while it
/// sleeps), and parses `choices`, `usage` and `finish_reason`.
public final class EndpointClient: Sendable {
    public let endpoint: EndpointConfig
    public let limiter: EndpointLimiter
    /// For what the lean pool does not do: streamed answers, model listing, tokenizing.
    private let http: HTTPClient
    /// The hot path: chat, completions and embeddings answered whole (see `HTTP1ConnectionPool`).
    private let pool: HTTP1ConnectionPool?
    /// Why there is no pool for an endpoint that needs one (an unreadable CA file): every call fails with it.
    private let setupError: ModelCallError?
    /// The header lines of every pooled request but `Content-Length`, as sent; the key's only copy outside `authorization`.
    private let pooledHeaderBytes: [UInt8]
    /// Bytes of `scheme://authority` at the start of every URL this client calls: the rest is the request target.
    private let authorityBytes: Int
    /// The request target of `url` (chat or completions), written once rather than per request.
    private let completionPath: String
    private let eventLoopGroup: any EventLoopGroup
    private let url: String
    /// `Authorization` header value; never logged, never part of a cache key.
    private let authorization: String?
    /// Masks the API key (and any bearer credential) in every error text the endpoint sends back.
    public let redactor: SecretRedactor
    /// Fails the rest of a run fast once the endpoint fails every request.
    public let breaker: CircuitBreaker
    /// The most body we read from one answer (compressed or not).
    public static let maxResponseBytes = 64 * 1024 * 1024

    /// Creates the client; `baseURL` overrides the config's (for the in-process simulator).
    public init(
        endpoint: EndpointConfig, limiter: EndpointLimiter, apiKey: String?, baseURL: String? = nil, eventLoopGroup: any EventLoopGroup,
        breaker: CircuitBreaker = CircuitBreaker(), otherSecrets: [String] = []
    ) {
        self.endpoint = endpoint
        self.limiter = limiter
        self.breaker = breaker
        let base = baseURL ?? endpoint.baseURL ?? "http://127.0.0.1"
        url = base + (endpoint.api == .chat ? "/v1/chat/completions" : "/v1/completions")
        authorization = apiKey.map { "Bearer \($0)" }
        redactor = SecretRedactor(secrets: (apiKey.map { [$0] } ?? []) + otherSecrets)
        var config = HTTPClient.Configuration(
            timeout: .init(connect: .clampedSeconds(endpoint.connectTimeoutSeconds), read: .clampedSeconds(endpoint.requestTimeoutSeconds)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, endpoint.maxInFlight)))
        config.httpVersion = .http1Only
        // A model API does not redirect: following one would send the prompt (and the key) to
        // another origin. A 3xx is reported as `redirected` with its target.
        config.redirectConfiguration = .disallow
        // One retry layer: ours, which honours the endpoint's policy. AHC's own reconnect loop would
        // hold a refused request until the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        config.decompression = .enabled(limit: .size(EndpointClient.maxResponseBytes))
        if let ca = endpoint.tlsCAFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(ca)
            config.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: config)
        self.eventLoopGroup = eventLoopGroup
        var headers = ""
        var poolMade: HTTP1ConnectionPool?
        var problem: ModelCallError?
        var authority = 0
        if let origin = HTTPOrigin(url: url) {
            headers += "Host: \(origin.hostHeader)\r\n"
            authority = url.utf8.count - origin.path.utf8.count
            do {
                poolMade = try HTTP1ConnectionPool(
                    origin: origin, group: eventLoopGroup, maxConnections: max(1, endpoint.maxInFlight),
                    connectTimeout: .clampedSeconds(endpoint.connectTimeoutSeconds), tlsCAFile: endpoint.tlsCAFile, maxBodyBytes: EndpointClient.maxResponseBytes)
            } catch {
                problem = ModelCallError(code: .connection, message: "TLS setup for \(endpoint.name) failed (tls_ca_file \(endpoint.tlsCAFile ?? "-")): \(error)",
                    retryable: false, attempts: 0, rateLimited: 0)
            }
        }
        headers += "Content-Type: application/json\r\nAccept: application/json\r\nUser-Agent: evalengine\r\n"
        if let authorization {
            // A line break in a key would end the header and start others of the key's making.
            if authorization.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                problem = ModelCallError(code: .connection, message: "the API key of \(endpoint.name) holds a control character (a line break?): not sent",
                    retryable: false, attempts: 0, rateLimited: 0)
            }
            headers += "Authorization: \(authorization)\r\n"
        }
        pooledHeaderBytes = Array(headers.utf8)
        pool = poolMade
        setupError = problem
        authorityBytes = authority
        completionPath = String(decoding: url.utf8.dropFirst(authority), as: UTF8.self)
    }

    /// Reads the endpoint's API key from its env var or file; nil when it names neither.
    public static func resolveAPIKey(_ e: EndpointConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let name = e.apiKeyEnv {
            guard let key = environment[name], !key.isEmpty else {
                throw KeyError(message: "endpoint '\(e.name)': environment variable \(name) (api_key_env) is not set")
            }
            return key
        }
        if let path = e.apiKeyFile {
            guard let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) else {
                throw KeyError(message: "endpoint '\(e.name)': cannot read api_key_file \(path)")
            }
            return s.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }

    public struct KeyError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public func shutdown() async {
        await pool?.shutdown()
        try? await http.shutdown()
    }

    /// The JSON body sent for `request`.
    public func body(for request: ModelRequest) -> JSONValue {
        var o: [String: JSONValue] = ["model": .string(endpoint.model)]
        if endpoint.api == .chat {
            o["messages"] = .array(request.messages.map { m in
                var message: [String: JSONValue] = ["role": .string(m.role), "content": .string(m.content)]
                if !m.toolCalls.isEmpty {
                    // OpenAI's form of an assistant turn that called tools: content may be null.
                    if m.content.isEmpty { message["content"] = .null }
                    message["tool_calls"] = .array(m.toolCalls.map { c in
                        ["id": .string(c.id ?? ""), "type": "function", "function": ["name": .string(c.name), "arguments": .string(c.rawArguments)]]
                    })
                }
                if let id = m.toolCallID { message["tool_call_id"] = .string(id) }
                return .object(message)
            })
        } else {
            o["prompt"] = .string(request.prompt ?? request.messages.map(\.content).joined(separator: "\n\n"))
        }
        if endpoint.api == .chat { for (k, v) in request.toolFields { o[k] = v } }
        let p = request.params
        if let v = p.temperature { o["temperature"] = .number(v) }
        if let v = p.topP { o["top_p"] = .number(v) }
        if let v = p.maxTokens { o["max_tokens"] = .number(Double(v)) }
        if let v = p.seed { o["seed"] = .number(Double(v)) }
        if let v = p.stop { o["stop"] = .array(v.map(JSONValue.string)) }
        if let v = p.responseFormat { o["response_format"] = v }
        if endpoint.stream {
            o["stream"] = true
            o["stream_options"] = ["include_usage": true]
        }
        for (k, v) in p.extraBody where o[k] == nil { o[k] = v }
        return .object(o)
    }

    /// `body(for:)` written canonically (keys sorted by UTF-8 bytes, as `JSONValue.canonicalBytes`)
    /// straight to bytes: the runner's per-request path, without a dictionary per message and
    /// per body. Equal byte for byte to `body(for: request).canonicalBytes` (tested), so cache keys
    /// do not depend on which of the two wrote a body.
    public func canonicalBody(for request: ModelRequest) -> [UInt8] {
        enum Value {
            case json(JSONValue)
            case messages([ChatMessage])
        }
        var fields: [(key: String, value: Value)] = []
        fields.reserveCapacity(10 + request.params.extraBody.count)
        func set(_ key: String, _ value: Value) {
            if let i = fields.firstIndex(where: { $0.key == key }) { fields[i].value = value } else { fields.append((key, value)) }
        }
        set("model", .json(.string(endpoint.model)))
        if endpoint.api == .chat {
            set("messages", .messages(request.messages))
            for (k, v) in request.toolFields { set(k, .json(v)) }
        } else {
            set("prompt", .json(.string(request.prompt ?? request.messages.map(\.content).joined(separator: "\n\n"))))
        }
        let p = request.params
        if let v = p.temperature { set("temperature", .json(.number(v))) }
        if let v = p.topP { set("top_p", .json(.number(v))) }
        if let v = p.maxTokens { set("max_tokens", .json(.number(Double(v)))) }
        if let v = p.seed { set("seed", .json(.number(Double(v)))) }
        if let v = p.stop { set("stop", .json(.array(v.map(JSONValue.string)))) }
        if let v = p.responseFormat { set("response_format", .json(v)) }
        if endpoint.stream {
            set("stream", .json(true))
            set("stream_options", .json(["include_usage": true]))
        }
        for (k, v) in p.extraBody where !fields.contains(where: { $0.key == k }) { fields.append((k, .json(v))) }
        fields.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }

        var out: [UInt8] = []
        out.reserveCapacity(256 + request.messages.reduce(0) { $0 + $1.content.utf8.count })
        out.append(UInt8(ascii: "{"))
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(field.key, to: &out)
            out.append(UInt8(ascii: ":"))
            switch field.value {
            case .json(let v): v.write(to: &out, sortedKeys: true)
            case .messages(let messages): EndpointClient.writeMessages(messages, to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Chat messages in canonical key order: content, role, tool_call_id, tool_calls.
    private static func writeMessages(_ messages: [ChatMessage], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, m) in messages.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"content":"#.utf8)
            if !m.toolCalls.isEmpty && m.content.isEmpty {
                out.append(contentsOf: "null".utf8)
            } else {
                JSONValue.writeString(m.content, to: &out)
            }
            out.append(contentsOf: #","role":"#.utf8)
            JSONValue.writeString(m.role, to: &out)
            if let id = m.toolCallID {
                out.append(contentsOf: #","tool_call_id":"#.utf8)
                JSONValue.writeString(id, to: &out)
            }
            if !m.toolCalls.isEmpty {
                out.append(contentsOf: #","tool_calls":["#.utf8)
                for (j, c) in m.toolCalls.enumerated() {
                    if j > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: #"{"function":{"arguments":"#.utf8)
                    JSONValue.writeString(c.rawArguments, to: &out)
                    out.append(contentsOf: #","name":"#.utf8)
                    JSONValue.writeString(c.name, to: &out)
                    out.append(contentsOf: #"},"id":"#.utf8)
                    JSONValue.writeString(c.id ?? "", to: &out)
                    out.append(contentsOf: #","type":"function"}"#.utf8)
                }
                out.append(UInt8(ascii: "]"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    /// What identifies this endpoint in cache keys: its configured base URL (or, for the built-in
    /// simulator, its profile), never the loopback port it happens to run on, nor any credential.
    public var cacheIdentity: String {
        endpoint.baseURL ?? "simulated:" + (endpoint.simulatedProfile ?? "")
    }

    /// Sends `request`, retrying per the endpoint's policy. Cancellation stops it between attempts
    /// and while waiting for admission.
    public func complete(_ request: ModelRequest) async throws(ModelCallError) -> ModelResponse {
        try await complete(body: body(for: request), estimatedTokens: request.estimatedTokens)
    }

    /// Sends an already-built request body (see `body(for:)`).
    public func complete(body: JSONValue, estimatedTokens: Int) async throws(ModelCallError) -> ModelResponse {
        var bytes: [UInt8] = []
        body.write(to: &bytes)
        return try await complete(bytes: bytes, estimatedTokens: estimatedTokens)
    }

    /// Sends a request body already written as JSON bytes.
    public func complete(bytes: [UInt8], estimatedTokens: Int) async throws(ModelCallError) -> ModelResponse {
        let result = try await call(url: url, bytes: bytes, estimate: estimatedTokens) { json, latencyMs in
            EndpointClient.decodeCompletion(json, latencyMs: latencyMs)
        }
        var response = result.value
        // An endpoint that echoes the key into an answer must not get it into reports or the cache.
        response.text = redactor.redactSecrets(response.text)
        // ... nor into a tool call's name or arguments.
        for i in response.toolCalls.indices {
            let c = response.toolCalls[i]
            response.toolCalls[i] = ToolCall(id: c.id, name: redactor.redactSecrets(c.name), rawArguments: redactor.redactSecrets(c.rawArguments))
        }
        response.attempts = result.attempts
        response.rateLimited = result.rateLimited
        return response
    }

    /// The server's root: the base URL without the API path.
    private var rootURL: String {
        String(url.dropLast(endpoint.api == .chat ? "/v1/chat/completions".count : "/v1/completions".count))
    }

    /// One GET or POST outside the completion path (model listing, tokenizing), bounded like the
    /// rest: the request deadline, 1 MiB, no redirects; nil and a message when it fails.
    private func fetchJSON(_ path: String, body: JSONValue? = nil) async -> (json: JSONValue?, status: Int, problem: String?) {
        var request = HTTPClientRequest(url: rootURL + path)
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            var bytes: [UInt8] = []
            body.write(to: &bytes)
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        do {
            let exchange = try await withDeadline(seconds: endpoint.requestTimeoutSeconds) { [http, request] in
                let response = try await http.execute(request, timeout: .clampedSeconds(self.endpoint.requestTimeoutSeconds))
                return (Int(response.status.code), try await response.body.collect(upTo: 1 << 20))
            }
            guard let (status, data) = exchange else { return (nil, 0, "no answer within \(format(endpoint.requestTimeoutSeconds)) s") }
            let json = try? JSONValue.parse(bytes: Array(data.readableBytesView))
            if status != 200 { return (json, status, redactor.redact("HTTP \(status): \(EndpointClient.errorText(data))")) }
            return (json, status, json == nil ? "the answer is not JSON" : nil)
        } catch {
            return (nil, 0, classify(error).message)
        }
    }

    /// `GET /v1/models`: the ids the server lists, and what it says of each (vLLM's
    /// `max_model_len`, others' `context_length` / `context_window`).
    public func listModels() async -> Result<[String: JSONValue], ModelCallError> {
        let (json, _, problem) = await fetchJSON("/v1/models")
        if let problem { return .failure(ModelCallError(code: .malformedResponse, message: "GET /v1/models: \(problem)", retryable: false, attempts: 1, rateLimited: 0)) }
        guard let data = json?["data"]?.arrayValue ?? json?["models"]?.arrayValue else {
            return .failure(ModelCallError(code: .malformedResponse, message: "GET /v1/models answered no 'data' list", retryable: false, attempts: 1, rateLimited: 0))
        }
        var out: [String: JSONValue] = [:]
        for m in data.prefix(10_000) { if let id = m["id"]?.stringValue ?? m["name"]?.stringValue { out[id] = m } }
        return .success(out)
    }

    /// The exact prompt token count from the server's `/tokenize` (vLLM: `{model, messages}` →
    /// `count`; llama.cpp: `{content}` → `tokens`), or nil where it offers none.
    public func tokenize(_ request: ModelRequest) async -> Int? {
        var body: [String: JSONValue] = ["model": .string(endpoint.model)]
        if endpoint.api == .chat {
            body["messages"] = .array(request.messages.map { ["role": .string($0.role), "content": .string($0.content)] })
        } else {
            body["prompt"] = .string(request.prompt ?? "")
        }
        body["content"] = .string(request.prompt ?? request.messages.map(\.content).joined(separator: "\n"))
        let (json, status, _) = await fetchJSON("/tokenize", body: .object(body))
        guard status == 200, let json else { return nil }
        if let n = json["count"]?.wholeNumber(in: 0...OutsideNumber.maxTokens) { return n }
        if let tokens = json["tokens"]?.arrayValue, tokens.count <= OutsideNumber.maxTokens { return tokens.count }
        return nil
    }

    /// Embeds `texts` in one `/v1/embeddings` request (same limiter and retry policy as chat),
    /// returning one vector per text, in order.
    public func embed(_ texts: [String], model: String? = nil) async throws(ModelCallError) -> (vectors: [[Float]], attempts: Int) {
        let body: JSONValue = ["model": .string(model ?? endpoint.model), "input": .array(texts.map(JSONValue.string))]
        var bytes: [UInt8] = []
        body.write(to: &bytes)
        let estimate = texts.reduce(0) { $0 + $1.utf8.count / 4 + 1 }
        let base = embeddingsURL
        let result = try await call(url: base, bytes: bytes, estimate: estimate) { json, _ in
            EndpointClient.decodeEmbeddings(json, count: texts.count)
        }
        return (result.value, result.attempts)
    }

    private var embeddingsURL: String {
        String(url.dropLast(endpoint.api == .chat ? "/v1/chat/completions".count : "/v1/completions".count)) + "/v1/embeddings"
    }

    /// The one retry layer: admission through the endpoint's limiter, the HTTP call, decoding, and
    /// backoff (holding no slot) for whatever is worth retrying, a decoding failure included.
    func call<T: Sendable>(
        url: String, bytes: [UInt8], estimate: Int,
        decode: (JSONValue, Double) -> Result<(T, usedTokens: Int?), ModelCallError>
    ) async throws(ModelCallError) -> (value: T, attempts: Int, rateLimited: Int) {
        let slowStart: Bool
        switch await breaker.admit() {
        case .refused(let error): throw error
        case .go(let s): slowStart = s
        }
        do {
            let result = try await callWithRetries(url: url, bytes: bytes, estimate: estimate, decode: decode)
            breaker.record(nil, slowStart: slowStart)
            return result
        } catch {
            breaker.record(error, slowStart: slowStart)
            throw error
        }
    }

    private func callWithRetries<T: Sendable>(
        url: String, bytes: [UInt8], estimate: Int,
        decode: (JSONValue, Double) -> Result<(T, usedTokens: Int?), ModelCallError>
    ) async throws(ModelCallError) -> (value: T, attempts: Int, rateLimited: Int) {
        let policy = endpoint.retry
        var attempts = 0
        var rateLimited = 0
        var rng = SplitMix64(seed: UInt64(truncatingIfNeeded: bytes.count &* 31 &+ Int(clockSeed())))
        while true {
            attempts += 1
            if attempts > 1 { CoreMetrics.Counter(label: "evalengine_endpoint_retries_total", dimensions: [("endpoint", endpoint.name)]).increment() }
            let waitStart = ContinuousClock.now
            do {
                try await limiter.acquire(estimatedTokens: estimate)
                CoreMetrics.Timer(label: "evalengine_limiter_wait_seconds", dimensions: [("endpoint", endpoint.name)]).recordInterval(since: waitStart)
            } catch {
                throw ModelCallError(code: .cancelled, message: "cancelled while waiting for the rate limiter", retryable: false, attempts: attempts - 1, rateLimited: rateLimited)
            }
            var outcome: Result<(T, usedTokens: Int?), ModelCallError>
            var pause: Double?
            var remaining: Int?
            let callStart = ContinuousClock.now
            switch await send(bytes, to: url) {
            case .success(let json, let latencyMs, let limits):
                outcome = decode(json, latencyMs)
                pause = limits.proactivePause
                remaining = limits.remainingRequests
            case .failure(let error):
                outcome = .failure(error)
            }
            let outcomeLabel: String
            switch outcome {
            case .success: outcomeLabel = "ok"
            case .failure(let e): outcomeLabel = e.kind
            }
            CoreMetrics.Timer(label: "evalengine_endpoint_request_duration_seconds", dimensions: [("endpoint", endpoint.name), ("outcome", outcomeLabel)])
                .recordInterval(since: callStart)
            switch outcome {
            case .success(let (value, usedTokens)):
                await limiter.release(estimatedTokens: estimate, actualTokens: usedTokens, answered: true, remainingRequests: remaining)
                // Cap first: an advertised reset longer than the cap pauses nobody (the next call's
                // 429 and its Retry-After decide), so one answer can never freeze the endpoint.
                if let pause, pause <= policy.maxRetryAfterSeconds { await limiter.pause(seconds: pause) }
                return (value, attempts, rateLimited)
            case .failure(var error):
                await limiter.release(estimatedTokens: estimate, actualTokens: nil)
                if error.code == .rateLimited { rateLimited += 1 }
                error.attempts = attempts
                error.rateLimited = rateLimited
                // Cap before pausing anyone: a Retry-After above the cap fails only this call.
                if let ra = error.retryAfter, ra > policy.maxRetryAfterSeconds {
                    error.message += " (the endpoint asked to wait \(format(ra)) s, more than max_retry_after_seconds \(format(policy.maxRetryAfterSeconds)))"
                    error.retryable = false
                    throw error
                }
                if error.code == .rateLimited, let ra = error.retryAfter { await limiter.pause(seconds: ra) }
                guard error.retryable, attempts < policy.maxAttempts, !Task.isCancelled else { throw error }
                var delay: Double
                if let ra = error.retryAfter {
                    delay = ra
                } else {
                    // Exponential backoff with full jitter.
                    let cap = min(policy.maxBackoffSeconds, policy.initialBackoffSeconds * pow(2, Double(attempts - 1)))
                    delay = cap * (0.5 + 0.5 * rng.nextUnit())
                }
                do {
                    try await Task.sleep(for: .clampedSeconds(delay))
                } catch {
                    throw ModelCallError(code: .cancelled, message: "cancelled during retry backoff", retryable: false, attempts: attempts, rateLimited: rateLimited)
                }
            }
        }
    }

    private enum SendResult {
        case success(JSONValue, latencyMs: Double, limits: RateLimitHeaders)
        case failure(ModelCallError)
    }

    /// One HTTP attempt: status classification and JSON parsing.
    private func send(_ bytes: [UInt8], to url: String) async -> SendResult {
        if let setupError { return .failure(setupError) }
        let start = ContinuousClock.now
        let status: Int
        let headers: HTTPHeaders
        let body: ByteBuffer
        var streamed: StreamedCompletion?
        if let pool, !endpoint.stream {
            do {
                let path = url == self.url ? completionPath : String(decoding: url.utf8.dropFirst(authorityBytes), as: UTF8.self)
                let answer = try await exchange(bytes, path: path, on: pool)
                (status, headers, body) = (answer.status, answer.headers, answer.body)
            } catch {
                return .failure(classify(error))
            }
        } else {
            switch await sendStreaming(bytes, to: url, start: start) {
            case .success(let answer):
                (status, headers, body, streamed) = answer
            case .failure(let error):
                return .failure(error)
            }
        }
        return interpret(status: status, headers: headers, body: body, streamed: streamed, start: start)
    }

    /// One request through the pool, awaited once; cancelling the caller ends the wait at once
    /// (the exchange finishes on its connection, or dies at its deadline).
    private func exchange(_ bytes: [UInt8], path: String, on pool: HTTP1ConnectionPool) async throws -> HTTPAnswer {
        // A cancelled caller sends nothing (the handler below only ends the wait for what was sent).
        try Task.checkCancellation()
        let promise = eventLoopGroup.any().makePromise(of: HTTPAnswer.self)
        let length = String(bytes.count)
        var request = ByteBufferAllocator().buffer(capacity: 40 + path.utf8.count + pooledHeaderBytes.count + length.utf8.count + bytes.count)
        request.writeStaticString("POST ")
        request.writeString(path)
        request.writeStaticString(" HTTP/1.1\r\n")
        request.writeBytes(pooledHeaderBytes)
        request.writeStaticString("Content-Length: ")
        request.writeString(length)
        request.writeStaticString("\r\n\r\n")
        request.writeBytes(bytes)
        pool.execute(request, deadline: .now() + .clampedSeconds(endpoint.requestTimeoutSeconds), promise: promise)
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    /// One attempt through AsyncHTTPClient: a streamed answer (or a server that ignores `stream`).
    private func sendStreaming(_ bytes: [UInt8], to url: String, start: ContinuousClock.Instant)
        async -> Result<(Int, HTTPHeaders, ByteBuffer, StreamedCompletion?), ModelCallError>
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: endpoint.stream ? "text/event-stream" : "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response: HTTPClientResponse
        let body: ByteBuffer
        let streamed: StreamedCompletion?
        do {
            // One deadline over head and body: AsyncHTTPClient's timeout covers the head and its
            // read timeout restarts with every byte, so a dripping body (or a stream that stalls)
            // would outlive request_seconds.
            let streaming = endpoint.stream
            let exchange = try await withDeadline(seconds: endpoint.requestTimeoutSeconds) { [http, request] in
                let response = try await http.execute(request, timeout: .clampedSeconds(self.endpoint.requestTimeoutSeconds))
                // A server that ignores `stream` answers one JSON body: read it as one.
                let isEventStream = response.headers.first(name: "content-type")?.lowercased().contains("text/event-stream") ?? false
                guard streaming, response.status == .ok, isEventStream else {
                    return (response, try await response.body.collect(upTo: EndpointClient.maxResponseBytes), StreamedCompletion?.none)
                }
                var s = StreamedCompletion()
                var total = 0
                for try await chunk in response.body {
                    total += chunk.readableBytes
                    if total > EndpointClient.maxResponseBytes { throw NIOTooManyBytesError(maxBytes: EndpointClient.maxResponseBytes) }
                    s.feed(chunk.readableBytesView, elapsedMs: (ContinuousClock.now - start).seconds * 1000)
                    if s.done || s.error != nil { break }
                }
                s.finish(elapsedMs: (ContinuousClock.now - start).seconds * 1000)
                return (response, ByteBuffer(), Optional(s))
            }
            guard let exchange else { throw HTTPClientError.deadlineExceeded }
            (response, body, streamed) = exchange
        } catch {
            return .failure(classify(error))
        }
        return .success((Int(response.status.code), response.headers, body, streamed))
    }

    /// Status classification and JSON parsing of one attempt's answer.
    private func interpret(status: Int, headers: HTTPHeaders, body: ByteBuffer, streamed: StreamedCompletion?, start: ContinuousClock.Instant) -> SendResult {
        let elapsed = ContinuousClock.now - start
        let latencyMs = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) * 1e-15
        let limits = RateLimitHeaders(headers)
        guard status == 200 else {
            let snippet = redactor.redact(EndpointClient.errorText(body))
            switch status {
            case 300...399:
                let target = redactor.redact(headers.first(name: "location") ?? "no Location")
                return .failure(ModelCallError(code: .redirected, message: "HTTP \(status) to \(target): not followed (a model API does not redirect)",
                    retryable: false, attempts: 0, rateLimited: 0))
            case 429:
                // A spent quota is not a rate limit: waiting will not help (as inspect_ai treats it).
                let quota = snippet.contains("insufficient_quota")
                return .failure(ModelCallError(code: .rateLimited, message: "HTTP 429: \(snippet)", retryable: !quota, attempts: 0, rateLimited: 0,
                    retryAfter: limits.retryAfter ?? limits.reset))
            case 408, 409, 500...599:
                return .failure(ModelCallError(code: .http(status), message: "HTTP \(status): \(snippet)", retryable: true, attempts: 0, rateLimited: 0,
                    retryAfter: limits.retryAfter))
            default:
                return .failure(ModelCallError(code: .http(status), message: "HTTP \(status): \(snippet)", retryable: false, attempts: 0, rateLimited: 0))
            }
        }
        if let s = streamed {
            // What a stream's error event says is the endpoint's text: redacted like an error body.
            if var e = s.error {
                e.message = redactor.redact(e.message)
                return .failure(e)
            }
            guard s.complete else {
                return .failure(ModelCallError(code: .streamCut, message: "the stream ended after \(s.tokenTimesMs.count) token chunks without a finish chunk or [DONE]",
                    retryable: true, attempts: 0, rateLimited: 0))
            }
            return .success(s.completionJSON, latencyMs: latencyMs, limits: limits)
        }
        var json: JSONValue
        do {
            json = try body.withUnsafeReadableBytes { raw throws(JSONParseError) in
                try JSONValue.parse(bytes: UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
            }
        } catch {
            return .failure(ModelCallError(code: .malformedResponse, message: "the endpoint answered 200 with \(error)", retryable: true, attempts: 0, rateLimited: 0))
        }
        // The stream timing is ours alone: a body cannot bring its own.
        if case .object(var o) = json, o[StreamedCompletion.timingKey] != nil {
            o[StreamedCompletion.timingKey] = nil
            json = .object(o)
        }
        // Proactively stop when the endpoint says its window is spent.
        return .success(json, latencyMs: latencyMs, limits: limits)
    }

    /// What an error body says, for a person: OpenAI's `error.message`, FastAPI's `detail`, or
    /// a plain `message`/`error` string; otherwise the first 300 bytes of the body as text.
    static func errorText(_ body: ByteBuffer) -> String {
        let raw = Array(body.readableBytesView.prefix(64 * 1024))
        if let json = try? JSONValue.parse(bytes: raw) {
            let candidates: [JSONValue?] = [json["error"]?["message"], json["error"], json["detail"]?["message"], json["detail"], json["message"]]
            for case let value? in candidates {
                if let s = value.stringValue, !s.isEmpty { return String(s.prefix(300)) }
                if case .array(let items) = value, !items.isEmpty {  // FastAPI validation errors: [{loc, msg, type}]
                    let text = items.prefix(3).compactMap { $0["msg"]?.stringValue ?? $0.stringValue }.joined(separator: "; ")
                    if !text.isEmpty { return String(text.prefix(300)) }
                }
            }
        }
        return String(decoding: raw.prefix(300), as: UTF8.self)
    }

    /// `choices[0]`, `usage` and `finish_reason` of a chat or completions answer.
    public static func decodeCompletion(_ json: JSONValue, latencyMs: Double) -> Result<(ModelResponse, usedTokens: Int?), ModelCallError> {
        guard let choice = json["choices"]?.arrayValue?.first else {
            return .failure(ModelCallError(code: .malformedResponse, message: "the response has no choices", retryable: true, attempts: 0, rateLimited: 0))
        }
        let text: String? = choice["message"]?["content"]?.stringValue ?? choice["text"]?.stringValue
        var toolCalls: [ToolCall] = []
        if let message = choice["message"] {
            guard let calls = ToolCall.decode(message: message) else {
                return .failure(ModelCallError(code: .malformedResponse, message: "the message's tool_calls are malformed (each needs function.name and string arguments; at most \(ToolCall.maxPerAnswer))",
                    retryable: false, attempts: 0, rateLimited: 0))
            }
            toolCalls = calls
        }
        // An answer that is a tool call has no text, and is an answer.
        guard (text.map { !$0.isEmpty } ?? false) || !toolCalls.isEmpty else {
            return .failure(ModelCallError(code: .emptyOutput, message: "the model answered with empty content", retryable: false, attempts: 0, rateLimited: 0))
        }
        guard let (prompt, completion, used) = decodeUsage(json["usage"]) else {
            return .failure(ModelCallError(code: .malformedResponse, message: "the usage token counts are not whole numbers from 0 to \(OutsideNumber.maxTokens)",
                retryable: false, attempts: 0, rateLimited: 0))
        }
        var r = ModelResponse(text: text ?? "", finishReason: choice["finish_reason"]?.stringValue, promptTokens: prompt, completionTokens: completion, latencyMs: latencyMs)
        r.toolCalls = toolCalls
        r.stream = json[StreamedCompletion.timingKey].flatMap(StreamTiming.init(json:))
        return .success((r, used))
    }

    /// `usage` range-checked: counts absent are 0; negative, fractional, absurd or non-numeric
    /// counts make the answer malformed (nil), so they can neither trap nor lower a cost.
    static func decodeUsage(_ usage: JSONValue?) -> (prompt: Int, completion: Int, total: Int?)? {
        guard let usage, usage != .null else { return (0, 0, nil) }
        guard usage.objectValue != nil else { return nil }
        func count(_ key: String) -> Int?? {
            guard let v = usage[key], v != .null else { return .some(nil) }
            guard let n = v.wholeNumber(in: 0...OutsideNumber.maxTokens) else { return nil }
            return .some(n)
        }
        guard let prompt = count("prompt_tokens"), let completion = count("completion_tokens"), let total = count("total_tokens") else { return nil }
        let p = prompt ?? 0, c = completion ?? 0
        return (p, c, total ?? (p + c))
    }

    /// `data[i].embedding` in `index` order; every vector must have the same, non-zero dimension.
    static func decodeEmbeddings(_ json: JSONValue, count: Int) -> Result<([[Float]], usedTokens: Int?), ModelCallError> {
        guard let data = json["data"]?.arrayValue, data.count == count else {
            return .failure(ModelCallError(code: .malformedResponse, message: "expected \(count) embeddings in 'data'", retryable: true, attempts: 0, rateLimited: 0))
        }
        var vectors = [[Float]](repeating: [], count: count)
        var dimension: Int?
        for (position, item) in data.enumerated() {
            let index = item["index"]
            let i = index == nil || index == .null ? position : (index?.wholeNumber(in: 0...(count - 1)) ?? -1)
            guard (0..<count).contains(i), let values = item["embedding"]?.arrayValue else {
                return .failure(ModelCallError(code: .malformedResponse, message: "embedding \(position) has no index/embedding", retryable: true, attempts: 0, rateLimited: 0))
            }
            var v = [Float]()
            v.reserveCapacity(values.count)
            for x in values {
                guard let n = x.numberValue, n.isFinite else {
                    return .failure(ModelCallError(code: .malformedResponse, message: "embedding \(i) holds a non-number", retryable: false, attempts: 0, rateLimited: 0))
                }
                v.append(Float(n))
            }
            if dimension == nil { dimension = v.count }
            guard !v.isEmpty, v.count == dimension else {
                return .failure(ModelCallError(code: .badDimensions, message: "embedding \(i) has \(v.count) dimensions, expected \(dimension ?? 0)", retryable: false, attempts: 0, rateLimited: 0))
            }
            vectors[i] = v
        }
        guard let usage = decodeUsage(json["usage"]) else {
            return .failure(ModelCallError(code: .malformedResponse, message: "the usage token counts are not whole numbers from 0 to \(OutsideNumber.maxTokens)",
                retryable: false, attempts: 0, rateLimited: 0))
        }
        return .success((vectors, usage.total))
    }

    private func classify(_ error: any Error) -> ModelCallError {
        // A decompression bomb or an oversize body: waiting or retrying gets the same answer.
        if error is NIOTooManyBytesError || (error as? NIOHTTPDecompression.DecompressionError) == .limit {
            return ModelCallError(code: .responseTooLarge, message: "the response body is larger than \(EndpointClient.maxResponseBytes / (1024 * 1024)) MiB (decompressed)",
                retryable: false, attempts: 0, rateLimited: 0)
        }
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return ModelCallError(code: .timeout, message: "no answer within \(format(endpoint.requestTimeoutSeconds)) s", retryable: true, attempts: 0, rateLimited: 0)
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return ModelCallError(code: .connection, message: "connect timed out", retryable: true, attempts: 0, rateLimited: 0)
            case .cancelled:
                return ModelCallError(code: .cancelled, message: "cancelled", retryable: false, attempts: 0, rateLimited: 0)
            default:
                return ModelCallError(code: .connection, message: redactor.redact("\(e)"), retryable: true, attempts: 0, rateLimited: 0)
            }
        }
        if let e = error as? HTTP1ParseError {
            if case .tooLarge = e {
                return ModelCallError(code: .responseTooLarge, message: "the response body is larger than \(EndpointClient.maxResponseBytes / (1024 * 1024)) MiB (decompressed)",
                    retryable: false, attempts: 0, rateLimited: 0)
            }
            return ModelCallError(code: .connection, message: redactor.redact(e.description), retryable: true, attempts: 0, rateLimited: 0)
        }
        if let e = error as? HTTPExchangeError {
            switch e {
            case .deadline:
                return ModelCallError(code: .timeout, message: "no answer within \(format(endpoint.requestTimeoutSeconds)) s", retryable: true, attempts: 0, rateLimited: 0)
            case .closedEarly:
                return ModelCallError(code: .connection, message: "the connection closed before the answer was complete", retryable: true, attempts: 0, rateLimited: 0)
            case .poolClosed:
                return ModelCallError(code: .cancelled, message: "the client was shut down", retryable: false, attempts: 0, rateLimited: 0)
            }
        }
        if let e = error as? NIOConnectionError {
            // The first reason of each address tried, as the system says it ("Connection refused").
            let reasons = e.connectionErrors.map { f -> String in
                if let io = f.error as? IOError { return "\(f.target): \(String(cString: strerror(io.errnoCode)))" }
                return "\(f.target): \(f.error)"
            }
            let dns = e.dnsAError.map { "DNS: \($0)" } ?? ""
            let text = reasons.isEmpty ? (dns.isEmpty ? "no address answered" : dns) : reasons.joined(separator: "; ")
            return ModelCallError(code: .connection, message: redactor.redact("cannot connect to \(e.host):\(e.port): \(text)"), retryable: true, attempts: 0, rateLimited: 0)
        }
        if case ChannelError.connectTimeout = error {
            return ModelCallError(code: .connection, message: "connect timed out", retryable: true, attempts: 0, rateLimited: 0)
        }
        if error is CancellationError {
            return ModelCallError(code: .cancelled, message: "cancelled", retryable: false, attempts: 0, rateLimited: 0)
        }
        return ModelCallError(code: .connection, message: redactor.redact("\(error)"), retryable: true, attempts: 0, rateLimited: 0)
    }
}

/// A little entropy for backoff jitter, so parallel cases do not retry in lockstep.
private func clockSeed() -> UInt64 {
    UInt64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds)
}
