import EvalCore
import Foundation
import NIOPosix
import Testing
import TestSupport
@testable import ModelClient
@testable import SimulatedModel

@Suite struct EndpointClientTests {
    /// The runner's direct writer and the JSONValue body agree byte for byte (so do the cache keys).
    @Test(arguments: [EndpointConfig.API.chat, .completions], [false, true])
    func theCanonicalBodyEqualsTheBodysCanonicalBytes(api: EndpointConfig.API, stream: Bool) async throws {
        var e = EndpointConfig(name: "b", baseURL: "http://127.0.0.1:1", model: "gpt-x \"quoted\"")
        e.api = api
        e.stream = stream && api == .chat
        let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: nil, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        var p = ModelParams()
        var requests: [ModelRequest] = [ModelRequest(messages: [ChatMessage(role: "user", content: "What is 2 + 3?")], params: p)]
        p.temperature = 0.7
        p.topP = 0.95
        p.maxTokens = 128
        p.seed = -7
        p.stop = ["\n\n", "Ü"]
        p.responseFormat = ["type": "json_schema", "json_schema": ["name": "x", "schema": ["type": "object", "b": 1, "a": [1.5, 2]]]]
        p.extraBody = ["zeta": 1, "alpha": ["nested": true, "a": .null], "model": "ignored: the configured model wins", "top_k": 40]
        var tools = ModelRequest(messages: [
            ChatMessage(role: "system", content: "Be brief.\u{1}\t\"\\"),
            ChatMessage(role: "user", content: "Weather in Paris? 🌧"),
            ChatMessage(role: "assistant", content: "", toolCalls: [ToolCall(id: "call_1", name: "get_weather", rawArguments: "{\"city\":\"Paris\"}"), ToolCall(id: nil, name: "n", rawArguments: "{}")]),
            ChatMessage(role: "tool", content: "12 C", toolCallID: "call_1"),
            ChatMessage(role: "assistant", content: "Also text", toolCalls: [ToolCall(id: "c2", name: "f", rawArguments: "{}")]),
        ], prompt: "a completion prompt", params: p)
        tools.toolFields = ["tools": [["type": "function", "function": ["name": "get_weather", "parameters": ["type": "object"]]]], "tool_choice": "auto", "parallel_tool_calls": false]
        requests.append(tools)
        requests.append(ModelRequest(messages: [], params: ModelParams()))
        for r in requests {
            #expect(client.canonicalBody(for: r) == client.body(for: r).canonicalBytes, "\(String(decoding: client.canonicalBody(for: r), as: UTF8.self))")
        }
        await client.shutdown()
    }

    @Test func parsesAnswerUsageAndFinishReason() async throws {
        try await withSimulator { sim, port in
            try await withClient(EndpointConfig(name: "s", baseURL: nil, model: "sim-small"), port: port) { client in
            let r = try await client.complete(request("What is 2 + 3?"))
            #expect(r.text == "5" || r.text == "4" || r.text == "6" || r.text == "7" || r.text == "3" || r.text == "2" || r.text == "8")
            #expect(r.finishReason == "stop")
            #expect(r.promptTokens > 0 && r.completionTokens > 0 && r.attempts == 1)
            let long = try await client.complete(request("Repeat exactly: " + String(repeating: "word ", count: 50), maxTokens: 2))
            #expect(long.finishReason == "length")
            #expect(sim.currentStats.chat == 2)
            }
        }
    }

    @Test func retriesServerErrorsAndRateLimitsUntilSuccess() async throws {
        var profile = SimulatorProfile()
        profile.faults.rate500 = 0.3
        profile.faults.rate429 = 0.2
        profile.faults.retryAfterSeconds = 0
        try await withSimulator(profile) { sim, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.retry.maxAttempts = 20
            e.retry.initialBackoffSeconds = 0.001
            try await withClient(e, port: port) { client in
            var attempts = 0
            var limited = 0
            for i in 0..<40 {
                let r = try await client.complete(request("Count the words: a b c \(i)"))
                attempts += r.attempts
                limited += r.rateLimited
            }
            #expect(attempts > 40)
            #expect(limited > 0)
            #expect(sim.currentStats.requests == attempts)  // every attempt reached the endpoint once
            }
        }
    }

    @Test func clientErrorsAreNotRetried() async throws {
        try await withSimulator { sim, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.retry.maxAttempts = 5
            try await withClient(e, port: port, path: "/missing") { client in
            do throws(ModelCallError) {
                _ = try await client.complete(request("hi"))
                Issue.record("expected an error")
            } catch {
                #expect(error.kind == "http_404" && !error.retryable && error.attempts == 1)
            }
            }
            #expect(sim.currentStats.requests == 0)  // 404 came from the router, not a model route
        }
    }

    @Test func emptyAnswerAndMalformedBodyAreClassified() async throws {
        var profile = SimulatorProfile()
        profile.faults.rateEmpty = 1
        try await withSimulator(profile) { _, port in
            try await withClient(EndpointConfig(name: "s", baseURL: nil, model: "sim-small"), port: port) { client in
            await #expect(throws: ModelCallError.self) { try await client.complete(request("hi")) }
            do throws(ModelCallError) { _ = try await client.complete(request("hi")) } catch { #expect(error.kind == "empty_output") }
            }
        }
        var malformed = SimulatorProfile()
        malformed.faults.rateMalformed = 1
        try await withSimulator(malformed) { sim, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.retry.maxAttempts = 2
            e.retry.initialBackoffSeconds = 0.001
            try await withClient(e, port: port) { client in
            do throws(ModelCallError) { _ = try await client.complete(request("hi")) } catch { #expect(error.kind == "malformed_response" && error.attempts == 2) }
            #expect(sim.currentStats.requests == 2)
            }
        }
    }

    @Test func droppedConnectionsAndTimeoutsAreRetryable() async throws {
        var drop = SimulatorProfile()
        drop.faults.rateDrop = 0.5
        try await withSimulator(drop) { _, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.retry.maxAttempts = 30
            e.retry.initialBackoffSeconds = 0.001
            try await withClient(e, port: port) { client in
            for i in 0..<10 { _ = try await client.complete(request("Repeat exactly: \(i)")) }
            }
        }
        var hang = SimulatorProfile()
        hang.faults.rateTimeout = 1
        hang.faults.hangSeconds = 5
        try await withSimulator(hang) { _, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.requestTimeoutSeconds = 0.2
            e.retry.maxAttempts = 2
            e.retry.initialBackoffSeconds = 0.001
            try await withClient(e, port: port) { client in
            do throws(ModelCallError) { _ = try await client.complete(request("hi")); Issue.record("expected a timeout") } catch {
                #expect(error.kind == "timeout" && error.attempts == 2)
            }
            }
        }
    }

    @Test func strictEndpointLimitIsNeverExceeded() async throws {
        var profile = SimulatorProfile()
        profile.requestsPerMinute = 1200  // 20/s, 1 s of burst
        try await withSimulator(profile) { sim, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.requestsPerMinute = 1200
            e.retry.maxAttempts = 1  // a single 429 would fail the call
            try await withClient(e, port: port) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<60 { group.addTask { _ = try await client.complete(request("What is \(i) + 1?")) } }
                try await group.waitForAll()
            }
            #expect(sim.currentStats.rateLimited == 0)
            #expect(sim.currentStats.chat == 60)
            }
        }
    }

    @Test func inFlightCapHoldsUnderFanOut() async throws {
        var profile = SimulatorProfile()
        profile.latency = .fixed(ms: 20)
        try await withSimulator(profile) { _, port in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "sim-small")
            e.maxInFlight = 4
            try await withClient(e, port: port) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<40 { group.addTask { _ = try await client.complete(request("Count the words: \(i)")) } }
                try await group.waitForAll()
            }
            #expect(await client.limiter.peakInFlight == 4)
            }
        }
    }

    @Test func cancellingAWaitingCallStopsIt() async throws {
        let limiter = EndpointLimiter(.init(requestsPerMinute: 1, maxInFlight: 1, burstSeconds: 0.01))  // the next token is a minute away
        try await limiter.acquire(estimatedTokens: 1)  // takes the only token and the only slot
        let waiter = Task { try await limiter.acquire(estimatedTokens: 1) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await limiter.release(estimatedTokens: 1, actualTokens: 1)
        #expect(await limiter.currentInFlight == 0)
    }

    @Test func apiKeyComesFromEnvOrFileAndIsSentOnlyAsAHeader() async throws {
        var e = EndpointConfig(name: "p", baseURL: "https://x.invalid", model: "m")
        e.apiKeyEnv = "EVALENGINE_TEST_KEY"
        #expect(throws: EndpointClient.KeyError.self) { try EndpointClient.resolveAPIKey(e, environment: [:]) }
        #expect(try EndpointClient.resolveAPIKey(e, environment: ["EVALENGINE_TEST_KEY": "sk-1"]) == "sk-1")
        let file = NSTemporaryDirectory() + "key-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: file, contents: "sk-file\n".data(using: .utf8))
        e.apiKeyEnv = nil
        e.apiKeyFile = file
        #expect(try EndpointClient.resolveAPIKey(e) == "sk-file")
        let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: "sk-file", eventLoopGroup: .singletonMultiThreadedEventLoopGroup)
        let body = client.body(for: request("hello")).serialized()
        await client.shutdown()
        #expect(!body.contains("sk-file"))
        #expect(body.contains("\"model\":\"m\""))
    }

    @Test func completionsAPIIsSupported() async throws {
        try await withSimulator { sim, port in
            var e = EndpointConfig(name: "c", baseURL: nil, model: "sim-small")
            e.api = .completions
            let text = try await withClient(e, port: port) { client in
                try await client.complete(ModelRequest(messages: [], prompt: "Convert to uppercase: quiet night", params: ModelParams())).text
            }
            #expect(text == "QUIET NIGHT" || text == "Quiet night")
            #expect(sim.currentStats.completions == 1 && sim.currentStats.chat == 0)
        }
    }

    @Test func simulatedEmbeddingsAreNormalisedAndSimilarTextsAreClose() {
        let a = SimulatedEmbedding.vector("the river flows past the old stone bridge", dimensions: 256)
        let b = SimulatedEmbedding.vector("an old stone bridge over the river", dimensions: 256)
        let c = SimulatedEmbedding.vector("quarterly revenue grew in the software segment", dimensions: 256)
        func dot(_ x: [Float], _ y: [Float]) -> Float { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(a, a) - 1) < 1e-5)
        #expect(dot(a, b) > dot(a, c) + 0.2)
    }

    @Test func goDurationsParse() {
        #expect(parseDuration("1s") == 1)
        #expect(parseDuration("6m0s") == 360)
        #expect(parseDuration("250ms") == 0.25)
        #expect(parseDuration("1h2m3.5s") == 3723.5)
        #expect(parseDuration("abc") == nil)
    }
}

/// An answer that is a tool call is an answer (not `empty_output`), and survives the cache.
@Suite struct ToolCallAnswerTests {
    @Test func aToolCallAnswerIsNotEmptyAndIsCached() throws {
        let body: JSONValue = [
            "choices": [["index": 0, "finish_reason": "tool_calls", "message": [
                "role": "assistant", "content": .null,
                "tool_calls": [["id": "c", "type": "function", "function": ["name": "calculator", "arguments": #"{"a":1}"#]]],
            ]]],
            "usage": ["prompt_tokens": 10, "completion_tokens": 5],
        ]
        guard case .success(let (r, _)) = EndpointClient.decodeCompletion(body, latencyMs: 3) else { Issue.record("not decoded"); return }
        #expect(r.text == "" && r.toolCalls.map(\.name) == ["calculator"] && r.finishReason == "tool_calls")
        let back = try #require(ModelResponse(cacheJSON: r.cacheJSON))
        #expect(back.toolCalls == r.toolCalls)
        // Still empty: neither text nor a call.
        let empty: JSONValue = ["choices": [["message": ["role": "assistant", "content": .null]]]]
        guard case .failure(let e) = EndpointClient.decodeCompletion(empty, latencyMs: 1) else { Issue.record("empty accepted"); return }
        #expect(e.code == .emptyOutput)
        let broken: JSONValue = ["choices": [["message": ["content": .null, "tool_calls": [["function": ["arguments": "{}"]]]]]]]
        guard case .failure(let m) = EndpointClient.decodeCompletion(broken, latencyMs: 1) else { Issue.record("broken accepted"); return }
        #expect(m.code == .malformedResponse)
    }
}
