import EvalCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals
import NIOCore
import Synchronization

/// A built-in OpenAI-compatible endpoint (`/v1/chat/completions`, `/v1/completions`,
/// `/v1/embeddings`, `/v1/models`) for demos, tests and capacity runs. Answers come from
/// `SimulatedBrain`; latency, faults and a strict rate limit come from the profile.
/// `GET /sim/stats` reports what it served; `POST /sim/reset` zeroes that.
public final class SimulatedEndpoint: Sendable {
    public let profile: SimulatorProfile
    private let stats = Mutex(SimulatorStats())
    /// Unseeded sampling requests seen, per (model, prompt, temperature): the n-th identical one
    /// is sample n, as a real model at temperature > 0 answers each call afresh (and a fresh
    /// simulator replays the same sequence). Bounded: cleared when it reaches `maxSampledPrompts`.
    private let samplesSeen = Mutex<[UInt64: Int]>([:])
    static let maxSampledPrompts = 1 << 20
    private let bucket: Mutex<SimBucket?>
    private let window = Mutex(FixedWindow())
    private let requestCounter = Atomic<UInt64>(0)
    private let gate: ConcurrencyGate?
    /// The running server's service group, for a graceful `stop()`; `true` once a stop was asked.
    private let lifecycle = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    public init(profile: SimulatorProfile = SimulatorProfile()) {
        self.profile = profile
        bucket = Mutex(profile.requestsPerMinute.map { SimBucket(perMinute: $0, burstSeconds: profile.burstSeconds) })
        gate = profile.maxConcurrency.map { ConcurrencyGate(limit: $0) }
    }

    /// Counters since start (or the last reset).
    public var currentStats: SimulatorStats { stats.withLock { $0 } }

    /// Zeroes the counters (as `POST /sim/reset` does).
    public func resetStats() { stats.withLock { $0 = SimulatorStats() } }

    /// Serves on `host:port` (port 0 picks a free one) until `stop()`, one of `shutdownSignals`, or
    /// cancellation; `onReady` receives the bound port. Prefer `stop()` to cancelling: cancelling a
    /// server with accepted connections still queued traps inside NIO (swift-server/swift-http-server#137).
    public func run(
        host: String = "127.0.0.1", port: Int = 0, logLevel: Logger.Level = .critical, shutdownSignals: [UnixSignal] = [],
        onReady: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        var logger = Logger(label: "evalengine-simulator")
        logger.logLevel = logLevel
        let router = Router()
        router.post("/v1/chat/completions") { request, _ in try await self.handle(request, api: .chat) }
        router.post("/v1/completions") { request, _ in try await self.handle(request, api: .completions) }
        router.post("/v1/embeddings") { request, _ in try await self.handleEmbeddings(request) }
        router.get("/v1/models") { _, _ in
            self.json(.ok, ["object": "list", "data": .array(self.profile.models.map { ["id": .string($0), "object": "model", "max_model_len": .number(Double(self.profile.contextWindow))] })])
        }
        // vLLM's /tokenize: the simulator's own count (4 bytes a token, as it charges usage).
        router.post("/tokenize") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 16 * 1024 * 1024)
            guard let parsed = try? JSONValue.parse(bytes: Array(buffer: body)) else { return self.json(.badRequest, self.errorBody("invalid JSON body", type: "invalid_request_error")) }
            let chars = parsed["messages"]?.arrayValue?.reduce(0) { $0 + ($1["content"]?.stringValue?.utf8.count ?? 0) } ?? parsed["prompt"]?.stringValue?.utf8.count ?? 0
            return self.json(.ok, ["count": .number(Double(chars / 4 + 1)), "max_model_len": .number(Double(self.profile.contextWindow))])
        }
        router.get("/sim/stats") { _, _ in self.json(.ok, self.currentStats.json) }
        router.post("/sim/reset") { _, _ in
            self.stats.withLock { $0 = SimulatorStats() }
            return self.json(.ok, ["reset": true])
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "evalengine-simulator", backlog: 1024),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? port) },
            logger: logger
        )
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: shutdownSignals, cancellationSignals: [], logger: logger)
        let stopNow = lifecycle.withLock { l -> Bool in
            l.group = group
            return l.stopRequested
        }
        if stopNow { await group.triggerGracefulShutdown() }
        try await group.run()
    }

    /// Stops gracefully: no new connections, in-flight requests finish, then `run` returns.
    public func stop() async {
        let group = lifecycle.withLock { l -> ServiceGroup? in
            l.stopRequested = true
            return l.group
        }
        await group?.triggerGracefulShutdown()
    }

    enum API { case chat, completions }

    private func handle(_ request: Request, api: API) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 4 * 1024 * 1024)
        let n = requestCounter.add(1, ordering: .relaxed).newValue
        var rng = SplitMix64(seed: profile.seed ^ (n &* 0x9E37_79B9_7F4A_7C15))
        stats.withLock {
            $0.requests += 1
            $0.inFlight += 1
            if api == .chat { $0.chat += 1 } else { $0.completions += 1 }
        }
        defer { stats.withLock { $0.inFlight -= 1 } }
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(bytes: Array(buffer: body))
        } catch {
            return finish(json(.badRequest, errorBody("invalid JSON body: \(error)", type: "invalid_request_error")))
        }
        let model = parsed["model"]?.stringValue ?? "sim-small"
        let prompt: String
        var system = ""
        // Multi-turn: the assistant's answer before the last user message, and a tool result after it.
        var previousAnswer: String?
        var pendingAnswer: String?
        var toolResult: String?
        var promptChars = 0
        switch api {
        case .chat:
            guard let messages = parsed["messages"]?.arrayValue, !messages.isEmpty else {
                return finish(json(.badRequest, errorBody("'messages' is required", type: "invalid_request_error")))
            }
            var last = ""
            for m in messages {
                let content = m["content"]?.stringValue ?? ""
                promptChars += content.utf8.count
                if m["role"]?.stringValue == "user" {
                    last = content
                    previousAnswer = pendingAnswer
                }
                if m["role"]?.stringValue == "assistant" { pendingAnswer = content }
                // A tool's answer stands for the assistant's (the model goes on from the result).
                if m["role"]?.stringValue == "tool" { toolResult = content }
                if m["role"]?.stringValue == "system" { system += content }
            }
            prompt = last
        case .completions:
            guard let p = parsed["prompt"]?.stringValue else {
                return finish(json(.badRequest, errorBody("'prompt' is required", type: "invalid_request_error")))
            }
            prompt = p
            promptChars = p.utf8.count
        }
        let promptTokens = promptChars / 4 + 1

        // A LiteLLM-style fixed window instead of the bucket.
        var windowRemaining: Int?
        if let seconds = profile.fixedWindowSeconds, let rpm = profile.requestsPerMinute {
            switch window.withLock({ $0.take(limit: max(1, Int(rpm * seconds / 60)), seconds: seconds) }) {
            case .admitted(let left):
                windowRemaining = left
            case .refused(let wait):
                stats.withLock { $0.rateLimited += 1; $0.status[429, default: 0] += 1 }
                var r = json(.tooManyRequests, errorBody("litellm.RateLimitError: Rate limit exceeded (simulated LiteLLM proxy window)", type: "requests"))
                r.headers[HTTPField.Name("llm_provider-retry-after")!] = String(max(1, Int(wait.rounded(.up))))
                return r
            }
        } else if let wait = bucket.withLock({ $0?.take() }) {
            stats.withLock { $0.rateLimited += 1; $0.status[429, default: 0] += 1 }
            var r = json(.tooManyRequests, errorBody("Rate limit reached for requests", type: "requests"))
            r.headers[.retryAfter] = String(max(1, Int(wait.rounded(.up))))
            r.headers[HTTPField.Name("x-ratelimit-limit-requests")!] = String(Int(profile.requestsPerMinute ?? 0))
            r.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] = "0"
            r.headers[HTTPField.Name("x-ratelimit-reset-requests")!] = "\(Int((wait * 1000).rounded(.up)))ms"
            return r
        }

        if let gate { await gate.enter() }
        defer { if let gate { Task { await gate.leave() } } }

        let fault = try await injectFault(&rng)
        if let early = fault.response { return early }
        let empty = fault.empty

        // A streamed answer's wait is its time to first token, spent while streaming.
        let streaming = api == .chat && parsed["stream"]?.boolValue == true
        if !streaming { try await sleepLatency(&rng) }

        let params = parsed
        let seed = params["seed"]?.wholeNumber(in: Int.min...Int.max)
        let temperature = params["temperature"]?.numberValue
        var sample = 0
        // A judge is asked again to measure its noise: its n-th identical prompt is sample n too.
        let judgePrompt = (prompt.contains("<Output>") && prompt.contains("<Input>")) || system.contains(SimulatedJudge.jsonMarker)
        if !empty, judgePrompt || (seed == nil && (temperature ?? 0) > 0) {
            let key = fnv1a(Array("\(model)\u{0}\(prompt)\u{0}\(temperature ?? 0)".utf8))
            sample = samplesSeen.withLock { seen in
                if seen.count >= SimulatedEndpoint.maxSampledPrompts { seen.removeAll() }
                defer { seen[key, default: 0] += 1 }
                return seen[key, default: 0]
            }
        }
        var judge = SimulatedJudge(accuracy: profile.judgeAccuracy, formatNoise: profile.judgeFormatNoise, unparseableRate: profile.judgeUnparseableRate, salt: profile.seed)
        judge.bias = profile.judgeBias
        let brain = SimulatedBrain(accuracy: profile.accuracy(for: model), samplingSalt: profile.seed)
        let afterTool = toolResult != nil && (parsed["messages"]?.arrayValue?.last?["role"]?.stringValue == "tool")
        var text: String
        if empty {
            text = ""
        } else if afterTool {
            // Given a tool's result, the model answers with it.
            text = "The result is \(toolResult!.trimmingCharacters(in: .whitespacesAndNewlines))."
        } else if let judged = judge.answer(prompt: prompt, system: system, sample: sample) {
            text = judged
        } else {
            text = brain.answer(model: model, prompt: prompt, seed: seed, temperature: temperature, sample: sample, previous: previousAnswer)
        }
        var finishReason = "stop"
        for stop in params["stop"]?.arrayValue?.compactMap(\.stringValue) ?? params["stop"]?.stringValue.map({ [$0] }) ?? [] {
            if let r = text.range(of: stop) { text = String(text[..<r.lowerBound]) }
        }
        // Range-checked: a request's 1e30 must be a 400, not a trap in the simulator.
        if let v = params["max_tokens"], v != .null, v.wholeNumber(in: 1...OutsideNumber.maxTokens) == nil {
            return finish(json(.badRequest, errorBody("'max_tokens' must be a whole number from 1 to \(OutsideNumber.maxTokens)", type: "invalid_request_error")))
        }
        if let maxTokens = params["max_tokens"]?.wholeNumber(in: 1...OutsideNumber.maxTokens), text.utf8.count > maxTokens * 4 {
            text = String(text.prefix(maxTokens * 4))
            finishReason = "length"
        }
        let completionTokens = text.isEmpty ? 0 : text.utf8.count / 4 + 1
        stats.withLock {
            $0.status[200, default: 0] += 1
            $0.promptTokens += promptTokens
            $0.completionTokens += completionTokens
        }
        // Offered tools it knows how to use: it answers with a call instead of text.
        let offered = Set(parsed["tools"]?.arrayValue?.compactMap { $0["function"]?["name"]?.stringValue } ?? [])
        var call: (name: String, arguments: String)?
        if api == .chat, !empty, !afterTool, !offered.isEmpty, parsed["tool_choice"]?.stringValue != "none" {
            call = brain.toolCall(
                model: model, prompt: prompt, tools: offered, seed: seed, temperature: temperature, sample: sample)
        }
        let choice: JSONValue
        switch api {
        case .chat where call != nil:
            let id = "call_" + String(fnv1a(Array((prompt + call!.arguments).utf8)), radix: 16)
            choice = ["index": 0, "finish_reason": "tool_calls", "message": [
                "role": "assistant", "content": .null,
                "tool_calls": [["id": .string(id), "type": "function", "function": ["name": .string(call!.name), "arguments": .string(call!.arguments)]]],
            ]]
        case .chat: choice = ["index": 0, "message": ["role": "assistant", "content": .string(text)], "finish_reason": .string(finishReason)]
        case .completions: choice = ["index": 0, "text": .string(text), "finish_reason": .string(finishReason)]
        }
        let answer: JSONValue = [
            "id": .string("cmpl-sim-\(n)"), "object": api == .chat ? "chat.completion" : "text_completion", "model": .string(model),
            "choices": [choice],
            "usage": ["prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(completionTokens)),
                      "total_tokens": .number(Double(promptTokens + completionTokens))],
        ]
        if streaming {
            let usage: JSONValue = ["prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(completionTokens)),
                                    "total_tokens": .number(Double(promptTokens + completionTokens))]
            return stream(text: text, call: call, finishReason: call == nil ? finishReason : "tool_calls", usage: usage,
                          includeUsage: parsed["stream_options"]?["include_usage"]?.boolValue == true, model: model, id: "cmpl-sim-\(n)", seed: rng.next())
        }
        var response = fault.slowDrip ? drip(answer) : json(.ok, answer)
        // LiteLLM says what is left of the window, and not when it resets.
        if let windowRemaining { response.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] = String(windowRemaining) }
        return response
    }

    /// What the fault draw decided for one request: an answer to send instead (429, 5xx,
    /// truncated or dropped body), or how to alter the real one.
    private struct FaultDraw {
        var response: Response?
        var slowDrip = false
        var empty = false
    }

    /// Injected faults, drawn per request so that a retry can succeed; the same for every API.
    private func injectFault(_ rng: inout SplitMix64) async throws -> FaultDraw {
        let f = profile.faults
        var u = rng.nextUnit()
        func hit(_ rate: Double) -> Bool {
            if u < rate { return true }
            u -= rate
            return false
        }
        if hit(f.rate429) {
            stats.withLock { $0.injected += 1; $0.status[429, default: 0] += 1 }
            var r = json(.tooManyRequests, errorBody("Rate limit reached (injected)", type: "requests"))
            if let ra = f.retryAfterSeconds { r.headers[.retryAfter] = format(ra) }
            return FaultDraw(response: r)
        }
        if hit(f.rate500) { return FaultDraw(response: injectedStatus(.internalServerError)) }
        if hit(f.rate502) { return FaultDraw(response: injectedStatus(.badGateway)) }
        if hit(f.rate503) { return FaultDraw(response: injectedStatus(.serviceUnavailable)) }
        if hit(f.rateTimeout) {
            stats.withLock { $0.injected += 1 }
            try await Task.sleep(for: .milliseconds(Int64(f.hangSeconds * 1000)))
        }
        if hit(f.rateMalformed) {
            stats.withLock { $0.injected += 1; $0.status[200, default: 0] += 1 }
            return FaultDraw(response: Response(status: .ok, headers: [.contentType: "application/json"],
                                                body: .init(byteBuffer: ByteBuffer(string: "{\"id\": \"cmpl-sim\", \"choices\": [{\"mess"))))
        }
        if hit(f.rateDrop) {
            stats.withLock { $0.injected += 1 }
            // Promise a body, send half, then fail: the server closes the connection mid-response.
            return FaultDraw(response: Response(status: .ok, headers: [.contentType: "application/json"], body: .init(contentLength: 200) { writer in
                try await writer.write(ByteBuffer(string: "{\"id\": \"cmpl-sim\", \"choi"))
                throw DroppedConnection()
            }))
        }
        if hit(f.rateSlowDrip) {
            stats.withLock { $0.injected += 1 }
            return FaultDraw(slowDrip: true)
        }
        return FaultDraw(empty: hit(f.rateEmpty))
    }

    /// The real answer, eight bytes at a time over `dripSeconds`: only a deadline on the whole
    /// response (not an idle timer, which every byte resets) cuts it short.
    /// A streamed answer as `chat.completion.chunk` events: a role-only chunk at once, the first
    /// token after the profile's time to first token, each further one after its per-token delay,
    /// then the finish chunk (with usage, in the `transformers` style) and, in the `openai` style,
    /// a usage chunk when asked and `[DONE]`. `stall_after_chunks` / `cut_after_chunks` stop it early.
    private func stream(text: String, call: (name: String, arguments: String)?, finishReason: String, usage: JSONValue, includeUsage: Bool,
                        model: String, id: String, seed: UInt64) -> Response {
        let config = profile.stream
        let ttft = config.ttft ?? profile.latency
        let hang = profile.faults.hangSeconds
        @Sendable func event(_ delta: JSONValue, finish: String? = nil, usage: JSONValue? = nil) -> ByteBuffer {
            var o: [String: JSONValue] = [
                "id": .string(id), "object": "chat.completion.chunk", "model": .string(model),
                "choices": [["index": 0, "delta": delta, "finish_reason": finish.map(JSONValue.string) ?? .null]],
            ]
            if let usage { o["usage"] = usage }
            var bytes = Array("data: ".utf8)
            JSONValue.object(o).write(to: &bytes)
            bytes.append(contentsOf: "\n\n".utf8)
            return ByteBuffer(bytes: bytes)
        }
        var deltas: [JSONValue] = []
        if let call {
            deltas.append(["tool_calls": [["index": 0, "id": .string("call_" + String(seed, radix: 16)), "type": "function", "function": ["name": .string(call.name), "arguments": ""]]]])
            var rest = Substring(call.arguments)
            while !rest.isEmpty {
                deltas.append(["tool_calls": [["index": 0, "function": ["arguments": .string(String(rest.prefix(8)))]]]])
                rest = rest.dropFirst(8)
            }
        } else {
            // Tokens: words with the space before them.
            var current = ""
            for ch in text {
                if ch == " ", !current.isEmpty {
                    deltas.append(["content": .string(current)])
                    current = ""
                }
                current.append(ch)
            }
            if !current.isEmpty { deltas.append(["content": .string(current)]) }
        }
        let style = config.style
        let chunks = deltas
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: .init { writer in
            var rng = SplitMix64(seed: seed)
            try await writer.write(event(["role": "assistant"]))
            for (i, delta) in chunks.enumerated() {
                if let stall = config.stallAfterChunks, i == stall {
                    try await Task.sleep(for: .seconds(hang))
                    break
                }
                if let cut = config.cutAfterChunks, i == cut {
                    try await writer.finish(nil)
                    return
                }
                let ms = SimulatedEndpoint.sampleMs(i == 0 ? ttft : config.perToken, &rng)
                if ms > 0 { try await Task.sleep(for: .microseconds(Int64(ms * 1000))) }
                try await writer.write(event(delta))
            }
            if style == "transformers" {
                try await writer.write(event([:], finish: finishReason, usage: usage))
            } else {
                try await writer.write(event([:], finish: finishReason))
                if includeUsage {
                    var bytes = Array("data: ".utf8)
                    JSONValue.object(["id": .string(id), "object": "chat.completion.chunk", "model": .string(model), "choices": [], "usage": usage]).write(to: &bytes)
                    bytes.append(contentsOf: "\n\n".utf8)
                    try await writer.write(ByteBuffer(bytes: bytes))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            }
            try await writer.finish(nil)
        })
    }

    private func drip(_ answer: JSONValue) -> Response {
        var bytes: [UInt8] = []
        answer.write(to: &bytes)
        let body = bytes
        let pause = Int64(profile.faults.dripSeconds * 1000) / Int64(max(1, (body.count + 7) / 8))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(contentLength: body.count) { writer in
            var i = 0
            while i < body.count {
                try await writer.write(ByteBuffer(bytes: body[i..<min(body.count, i + 8)]))
                i += 8
                try await Task.sleep(for: .milliseconds(pause))
            }
            try await writer.finish(nil)
        })
    }

    private func handleEmbeddings(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024 * 1024)
        stats.withLock { $0.requests += 1; $0.embeddings += 1 }
        guard let parsed = try? JSONValue.parse(bytes: Array(buffer: body)) else {
            return finish(json(.badRequest, errorBody("invalid JSON body", type: "invalid_request_error")))
        }
        let inputs: [String]
        switch parsed["input"] {
        case .string(let s)?: inputs = [s]
        case .array(let a)?: inputs = a.compactMap(\.stringValue)
        default: return finish(json(.badRequest, errorBody("'input' must be a string or a list of strings", type: "invalid_request_error")))
        }
        if let wait = bucket.withLock({ $0?.take() }) {
            stats.withLock { $0.rateLimited += 1; $0.status[429, default: 0] += 1 }
            var r = json(.tooManyRequests, errorBody("Rate limit reached for requests", type: "requests"))
            r.headers[.retryAfter] = String(max(1, Int(wait.rounded(.up))))
            return r
        }
        var rng = SplitMix64(seed: profile.seed ^ requestCounter.add(1, ordering: .relaxed).newValue)
        let fault = try await injectFault(&rng)
        if let early = fault.response { return early }
        try await sleepLatency(&rng)
        if let d = parsed["dimensions"], d != .null, d.wholeNumber(in: 2...65_536) == nil {
            return finish(json(.badRequest, errorBody("'dimensions' must be a whole number from 2 to 65536", type: "invalid_request_error")))
        }
        let dims = parsed["dimensions"]?.wholeNumber(in: 2...65_536) ?? profile.embeddingDimensions
        var data: [JSONValue] = []
        var tokens = 0
        var badDimensions = false
        for (i, text) in inputs.enumerated() {
            tokens += text.utf8.count / 4 + 1
            // Injected fault: one vector of a batch comes back one dimension short.
            let short = !badDimensions && rng.nextUnit() < profile.faults.rateBadDimensions
            badDimensions = badDimensions || short
            let v = SimulatedEmbedding.vector(text, dimensions: short ? dims - 1 : dims)
            data.append(["object": "embedding", "index": .number(Double(i)), "embedding": .array(v.map { .number(Double($0)) })])
        }
        stats.withLock {
            $0.status[200, default: 0] += 1
            $0.promptTokens += tokens
            $0.embeddedTexts += inputs.count
        }
        let answer: JSONValue = ["object": "list", "data": .array(data), "model": parsed["model"] ?? "sim-embed",
                                 "usage": ["prompt_tokens": .number(Double(tokens)), "total_tokens": .number(Double(tokens))]]
        return fault.slowDrip ? drip(answer) : json(.ok, answer)
    }

    private func sleepLatency(_ rng: inout SplitMix64) async throws {
        let ms = SimulatedEndpoint.sampleMs(profile.latency, &rng)
        if ms > 0 { try await Task.sleep(for: .microseconds(Int64(ms * 1000))) }
    }

    /// One draw of a latency distribution, in milliseconds.
    static func sampleMs(_ latency: SimulatorProfile.Latency, _ rng: inout SplitMix64) -> Double {
        switch latency {
        case .none: return 0
        case .fixed(let v): return v
        case .uniform(let lo, let hi): return lo + (hi - lo) * rng.nextUnit()
        case .lognormal(let median, let p99):
            let sigma = log(p99 / median) / 2.326_347_874
            let u1 = max(rng.nextUnit(), 1e-12)
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * rng.nextUnit())
            return median * exp(sigma * z)
        }
    }

    private func injectedStatus(_ status: HTTPResponse.Status) -> Response {
        stats.withLock { $0.injected += 1; $0.status[status.code, default: 0] += 1 }
        return json(status, errorBody("injected \(status.code)", type: "server_error"))
    }

    private func finish(_ r: Response) -> Response {
        stats.withLock { $0.status[r.status.code, default: 0] += 1 }
        return r
    }

    private func errorBody(_ message: String, type: String) -> JSONValue {
        ["error": ["message": .string(message), "type": .string(type)]]
    }

    private func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var bytes: [UInt8] = []
        value.write(to: &bytes)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

struct DroppedConnection: Error {}

/// What the simulator served.
public struct SimulatorStats: Sendable {
    public var requests = 0
    /// Chat and completion requests received whose handler has not returned yet.
    public var inFlight = 0
    public var chat = 0
    public var completions = 0
    public var embeddings = 0
    /// Texts embedded (all requests together).
    public var embeddedTexts = 0
    /// 429s from the simulator's own rate limit (not injected ones).
    public var rateLimited = 0
    public var injected = 0
    public var status: [Int: Int] = [:]
    public var promptTokens = 0
    public var completionTokens = 0

    public var json: JSONValue {
        var s: [String: JSONValue] = [:]
        for (k, v) in status { s[String(k)] = .number(Double(v)) }
        return [
            "requests": .number(Double(requests)), "in_flight": .number(Double(inFlight)), "chat": .number(Double(chat)), "completions": .number(Double(completions)),
            "embeddings": .number(Double(embeddings)), "embedded_texts": .number(Double(embeddedTexts)), "rate_limited": .number(Double(rateLimited)), "injected": .number(Double(injected)),
            "status": .object(s), "prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(completionTokens)),
        ]
    }
}

/// The simulator's strict request bucket.
/// A fixed window counter, as the LiteLLM proxy's per-minute limiter keeps: the window starts at
/// its first request and admits `limit` requests until it ends.
struct FixedWindow {
    var start: ContinuousClock.Instant?
    var count = 0

    enum Outcome {
        /// With what is left of the window after this request.
        case admitted(remaining: Int)
        case refused(wait: Double)
    }

    mutating func take(limit: Int, seconds: Double) -> Outcome {
        let now = ContinuousClock.now
        if let s = start, now - s < .clampedSeconds(seconds) {
            count += 1
        } else {
            start = now
            count = 1
        }
        if count <= limit { return .admitted(remaining: limit - count) }
        let left = (start! + .clampedSeconds(seconds)) - now
        return .refused(wait: Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18)
    }
}

struct SimBucket {
    let ratePerSecond: Double
    let capacity: Double
    var level: Double
    var last = ContinuousClock.now

    init(perMinute: Double, burstSeconds: Double) {
        ratePerSecond = perMinute / 60
        capacity = max(1, ratePerSecond * burstSeconds)
        level = capacity
    }

    /// Takes a token; returns nil when admitted, else the seconds until one is available.
    mutating func take() -> Double? {
        let now = ContinuousClock.now
        let d = (now - last).components
        last = now
        level = min(capacity, level + (Double(d.seconds) + Double(d.attoseconds) * 1e-18) * ratePerSecond)
        if level >= 1 {
            level -= 1
            return nil
        }
        return (1 - level) / ratePerSecond
    }
}

/// At most `limit` requests served at once; the rest queue in order.
actor ConcurrencyGate {
    let limit: Int
    var active = 0
    var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func enter() async {
        if active < limit {
            active += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty {
            active -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

/// Deterministic embeddings from hashed word unigrams and character trigrams, L2-normalised:
/// texts that share words land close together, so retrieval over them means something.
public enum SimulatedEmbedding {
    public static func vector(_ text: String, dimensions: Int) -> [Float] {
        var v = [Float](repeating: 0, count: dimensions)
        let lower = text.lowercased()
        for word in lower.split(whereSeparator: { !$0.isLetter && !$0.isNumber }) {
            let h = fnv1a(Array(word.utf8))
            v[Int(h % UInt64(dimensions))] += (h >> 63) == 0 ? 1 : -1
            let chars = Array(" \(word) ".utf8)
            if chars.count >= 3 {
                for i in 0...(chars.count - 3) {
                    let g = fnv1a(Array(chars[i..<(i + 3)]) + [0x7C])
                    v[Int(g % UInt64(dimensions))] += (g >> 63) == 0 ? 0.5 : -0.5
                }
            }
        }
        var norm: Float = 0
        for x in v { norm += x * x }
        norm = norm.squareRoot()
        if norm > 0 { for i in v.indices { v[i] /= norm } }
        return v
    }
}

extension SimulatedEndpoint {
    /// Serves a simulator on a loopback port (chosen by the system) for the length of `body`,
    /// then stops it gracefully (not by cancelling: see `run`) on every path.
    public static func serving<T: Sendable>(
        _ profile: SimulatorProfile, _ body: @Sendable (SimulatedEndpoint, Int) async throws -> T
    ) async throws -> T {
        let sim = SimulatedEndpoint(profile: profile)
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await sim.run(port: 0) { sink.yield($0) }
                sink.finish()
                return nil
            }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else {
                try await group.waitForAll()
                throw SimulatorStartError()
            }
            do {
                let result = try await body(sim, port)
                await sim.stop()
                try await group.waitForAll()
                return result
            } catch {
                await sim.stop()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

/// The simulator stopped before it listened.
public struct SimulatorStartError: Error, CustomStringConvertible {
    public var description: String { "the simulated endpoint did not start" }
}
