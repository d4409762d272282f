import EvalCore
import Foundation
import GoldenSets
import ModelClient
import SimulatedModel
import Testing
import TestSupport
@testable import Engine

/// Issue 15 item 14: behind a LiteLLM-style gateway (a fixed window answering 429 with only
/// `llm_provider-retry-after`), a client configured above the gateway's limit still completes
/// every case, with no more 429s than one window's worth.
@Suite struct GatewayRateLimitTests {
    @Test func aClientAboveTheGatewaysLimitCompletesEveryCaseWithFew429s() async throws {
        var profile = SimulatorProfile()
        profile.requestsPerMinute = 600  // 20 requests per 2 s window
        profile.fixedWindowSeconds = 2
        profile.latency = .fixed(ms: 5)
        let cases = 100
        let dir = scratchDir(["g.jsonl": arithmeticGoldenSet(cases), "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n"])
        let prompt = try ConfigFiles.loadPrompt(path: dir + "/prompt.yaml")
        try await withSimulator(profile) { sim, port in
            var e = EndpointConfig(name: "gateway", baseURL: nil, model: "sim-small")
            e.requestsPerMinute = 1200  // twice the gateway's limit
            e.maxInFlight = 8
            e.retry.maxAttempts = 5
            e.retry.maxRetryAfterSeconds = 10
            try await withClient(e, port: port) { client in
                var sink = MemorySink()
                let job = EvalJob(goldenSetPath: dir + "/g.jsonl", prompt: prompt, gate: .default, concurrency: 32)
                let result = try await EvalRunner(client: client).run(job, total: cases, sink: &sink)
                let stats = sim.currentStats
                print("gateway window: \(cases) cases, errored \(result.summary.errored), 429s \(stats.rateLimited), requests \(stats.requests), \(String(format: "%.1f", result.summary.durationSeconds)) s")
                #expect(result.summary.errored == 0)
                #expect(result.summary.total == cases)
                #expect(stats.rateLimited <= 20)  // at most one window's worth
            }
        }
    }
}
