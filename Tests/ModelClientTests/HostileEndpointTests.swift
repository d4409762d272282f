import EvalCore
import Foundation
import NIOHTTP1
import Testing
import TestSupport
@testable import ModelClient

/// Issue 15: an endpoint that answers with hostile numbers, headers and bodies gets a named error
/// for the one call concerned, never a trap, a hang or a leaked key.
@Suite struct HostileEndpointTests {
    /// Runs `body` with a client for a scripted endpoint; a hang fails the test instead of the suite.
    func withScripted<T: Sendable>(
        _ e: EndpointConfig = quick(), apiKey: String? = nil, script: @escaping @Sendable (ScriptedRequest) -> ScriptedAnswer,
        _ body: @escaping @Sendable (EndpointClient, ScriptedEndpoint) async throws -> T
    ) async throws -> T? {
        let server = ScriptedEndpoint(script)
        return try await server.with { port in
            try await withClient(e, port: port, apiKey: apiKey) { client in
                try await withDeadline(seconds: 30) { try await body(client, server) }
            }
        }
    }

    static func quick() -> EndpointConfig {
        var e = EndpointConfig(name: "hostile", baseURL: nil, model: "m")
        e.retry.maxAttempts = 3
        e.retry.initialBackoffSeconds = 0.001
        e.retry.maxRetryAfterSeconds = 5
        e.requestTimeoutSeconds = 10
        return e
    }

    func kind(_ client: EndpointClient) async -> ModelCallError? {
        do throws(ModelCallError) {
            _ = try await client.complete(request("hi"))
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ["prompt_tokens": 1e30, "completion_tokens": 1, "total_tokens": 1e30] as JSONValue,
        ["prompt_tokens": 9e18, "completion_tokens": 9e18] as JSONValue,
        ["prompt_tokens": -5_000_000, "completion_tokens": 1, "total_tokens": 1] as JSONValue,
        ["prompt_tokens": 1.5, "completion_tokens": 1] as JSONValue,
        ["prompt_tokens": "many"] as JSONValue,
        "usage" as JSONValue,
    ])
    func absurdUsageIsAMalformedResponse(usage: JSONValue) async throws {
        let r = try await withScripted(script: { _ in .chat("4", usage: usage) }) { client, server in
            let e = await self.kind(client)
            return (e?.kind, server.requests.count)
        }
        #expect(r?.0 == "malformed_response")
        #expect(r?.1 == 1)  // not worth a retry: the same server says the same
    }

    @Test(arguments: ["inf", "1e300", "999999", "nan", "-3"])
    func aRetryAfterAboveTheCapFailsOnlyThatCall(value: String) async throws {
        let r = try await withScripted(script: { req in
            req.index == 0 ? ScriptedAnswer(status: 429, headers: [("Retry-After", value)], json: ["error": ["message": "slow down"]]) : .chat("4")
        }) { client, _ in
            let first = await self.kind(client)
            let second = await self.kind(client)
            return (first, second)
        }
        let (first, second) = try #require(r)  // nil: it hung
        if value == "nan" || value == "-3" {
            // Not a number we can use: the call is retried with our own backoff and succeeds.
            #expect(first == nil)
        } else {
            #expect(first?.kind == "rate_limited")
            #expect(first?.message.contains("max_retry_after_seconds") == true)
        }
        #expect(second == nil)  // the endpoint was not paused for the asked time
    }

    @Test(arguments: ["inf", "1e300", "9999999999s", "junk"])
    func aHugeResetWithRemainingZeroDoesNotFreezeTheEndpoint(value: String) async throws {
        let r = try await withScripted(script: { _ in
            .chat("4", headers: [("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", value)])
        }) { client, _ in
            var errors = 0
            for _ in 0..<3 { if await self.kind(client) != nil { errors += 1 } }
            return errors
        }
        #expect(r == 0)
    }

    @Test func aHugeTotalTokensAgainstTheTokenBudgetWaitsAtMostTheCap() async throws {
        var e = Self.quick()
        e.tokensPerMinute = 1000
        e.retry.maxRetryAfterSeconds = 1
        let r = try await withScripted(e, script: { _ in .chat("4", usage: ["prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 999_999_999]) }) { client, _ in
            var errors = 0
            for _ in 0..<3 { if await self.kind(client) != nil { errors += 1 } }
            return errors
        }
        #expect(r == 0)  // nil would be a hang: a 1e9-token debt at 1000 tokens a minute
    }

    @Test func anAbsurdEmbeddingIndexIsMalformed() async throws {
        let r = try await withScripted(script: { _ in
            ScriptedAnswer(json: ["data": [["index": 1e30, "embedding": [0.1, 0.2]]], "usage": ["prompt_tokens": 1, "total_tokens": 1]])
        }) { client, _ in
            do throws(ModelCallError) {
                _ = try await client.embed(["a"])
                return "ok"
            } catch { return error.kind }
        }
        #expect(r == "malformed_response")
    }

    @Test func anEchoedKeyIsRedactedFromErrors() async throws {
        let key = "sk-test-SECRET-1234567890"
        let r = try await withScripted(apiKey: key, script: { req in
            let auth = req.headers.first { $0.0.lowercased() == "authorization" }?.1 ?? ""
            return ScriptedAnswer(status: 401, json: ["error": ["message": .string("Incorrect API key provided: \(auth) (key \(key))")]])
        }) { client, _ in await self.kind(client) }
        let e = try #require(r ?? nil)
        #expect(e.kind == "http_401")
        #expect(!e.message.contains("SECRET"))
        #expect(e.message.contains(SecretRedactor.mask))
    }

    @Test func redirectsAreNotFollowed() async throws {
        let target = ScriptedEndpoint { _ in .chat("stolen") }
        let r = try await target.with { targetPort in
            try await withScripted(script: { _ in
                ScriptedAnswer(status: 307, headers: [("Location", "http://127.0.0.1:\(targetPort)/v1/chat/completions")], body: [])
            }) { client, _ in await self.kind(client) }
        }
        let e = try #require(r ?? nil)
        #expect(e.kind == "redirected")
        #expect(e.message.contains("127.0.0.1"))
        #expect(target.requests.isEmpty)  // the prompt never reached the other origin
    }

    @Test func aGzipBombIsTooLargeAndNotRetried() async throws {
        let bomb = try gzipped([UInt8](repeating: 0x20, count: 80 * 1024 * 1024))
        let r = try await withScripted(script: { _ in
            ScriptedAnswer(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")], body: bomb)
        }) { client, server in (await self.kind(client), server.requests.count) }
        #expect(r?.0?.kind == "response_too_large")
        #expect(r?.1 == 1)
    }

    @Test func anOversizeBodyIsTooLargeAndNotRetried() async throws {
        let big = [UInt8](repeating: 0x20, count: 65 * 1024 * 1024)
        let r = try await withScripted(script: { _ in ScriptedAnswer(body: big) }) { client, server in (await self.kind(client), server.requests.count) }
        #expect(r?.0?.kind == "response_too_large")
        #expect(r?.0?.message.contains("64 MiB") == true)
        #expect(r?.1 == 1)
    }

    @Test func fastAPIStyleDetailIsShown() async throws {
        let r = try await withScripted(script: { _ in ScriptedAnswer(status: 400, json: ["detail": "model 'gpt-9' is not served here"]) }) { client, _ in await self.kind(client) }
        #expect(r??.message == "HTTP 400: model 'gpt-9' is not served here")
        let list = try await withScripted(script: { _ in
            ScriptedAnswer(status: 422, json: ["detail": [["loc": ["body", "messages"], "msg": "field required", "type": "missing"]]])
        }) { client, _ in await self.kind(client) }
        #expect(list??.message == "HTTP 422: field required")
    }

    @Test func aBadKeyTripsTheBreakerAfterThreeCalls() async throws {
        let r = try await withScripted(script: { _ in ScriptedAnswer(status: 401, json: ["error": ["message": "invalid key"]]) }) { client, server in
            var kinds: [String] = []
            for _ in 0..<20 { kinds.append(await self.kind(client)?.kind ?? "ok") }
            return (kinds, server.requests.count, client.breaker.rejectedCalls)
        }
        let (kinds, sent, rejected) = try #require(r)
        #expect(Set(kinds) == ["http_401"])
        #expect(sent == 3)
        #expect(rejected == 17)
    }

    @Test func theBreakerProbesAndClosesWhenTheEndpointRecovers() async {
        var policy = CircuitBreaker.Policy()
        policy.probeAfterSeconds = 0
        let b = CircuitBreaker(policy: policy)
        func refused(_ a: CircuitBreaker.Admission) -> String? {
            if case .refused(let e) = a { return e.kind }
            return nil
        }
        let e = ModelCallError(code: .connection, message: "refused", retryable: true, attempts: 1, rateLimited: 0)
        for _ in 0..<10 { b.record(e) }
        #expect(b.openError != nil)
        #expect(refused(await b.admit()) == nil)  // the probe
        #expect(refused(await b.admit()) == "connection")  // only one probe at a time
        b.record(nil)
        #expect(b.openError == nil)
        #expect(refused(await b.admit()) == nil)
    }

    @Test func concurrentCallsWithABadKeySendOnlyThree() async throws {
        let r = try await withScripted(script: { _ in ScriptedAnswer(status: 401, json: ["error": ["message": "invalid key"]]) }) { client, server in
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<64 { group.addTask { _ = await self.kind(client) } }
            }
            return server.requests.count
        }
        #expect(r == 3)
    }

    @Test func gatewayRateLimitHeadersAreRead() {
        func h(_ pairs: [(String, String)]) -> RateLimitHeaders {
            var headers = HTTPHeaders()
            for (n, v) in pairs { headers.add(name: n, value: v) }
            return RateLimitHeaders(headers, now: Date(timeIntervalSince1970: 1_000_000))
        }
        #expect(h([("llm_provider-retry-after", "60")]).retryAfter == 60)  // LiteLLM
        #expect(h([("retry-after-ms", "1500")]).retryAfter == 1.5)  // Azure OpenAI
        #expect(h([("Retry-After", "Mon, 12 Jan 1970 13:46:50 GMT")]).retryAfter == 10)  // HTTP date, 10 s after `now`
        #expect(h([("retry-after", "inf")]).retryAfter == OutsideNumber.maxSeconds)
        #expect(h([("retry-after", "nan")]).retryAfter == nil)
        // No reset header: the limiter follows the remaining count (and probes once it is spent).
        #expect(h([("x-ratelimit-remaining-requests", "0")]).proactivePause == nil)
        #expect(h([("x-ratelimit-remaining-requests", "0")]).remainingRequests == 0)
        #expect(h([("x-ratelimit-remaining-tokens", "0")]).proactivePause == RateLimitHeaders.probePauseSeconds)
        #expect(h([("llm_provider-x-ratelimit-remaining-requests", "7"), ("x-ratelimit-remaining-requests", "9")]).remainingRequests == 7)
        #expect(h([("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "6m0s")]).proactivePause == 360)
        #expect(h([("anthropic-ratelimit-requests-remaining", "0"), ("anthropic-ratelimit-requests-reset", "1970-01-12T13:47:10Z")]).proactivePause == 30)
        #expect(h([("x-ratelimit-remaining-requests", "12"), ("x-ratelimit-reset-requests", "1s")]).proactivePause == nil)
    }

    @Test func redactorMasksKeysAndBearerTokens() {
        let r = SecretRedactor(secrets: ["sk-abcdef123456", "ab"])
        #expect(r.redact("key sk-abcdef123456 used") == "key [REDACTED] used")
        #expect(r.redact("Authorization: Bearer other-gateway-key, next") == "Authorization: Bearer [REDACTED], next")
        #expect(r.redact("ab cd") == "ab cd")  // too short to be a secret
    }
}
