import EvalCore
import Foundation
import TestSupport
import Testing

/// Issue 15 end to end through the binary: a bad key fails fast and says what the server said,
/// without the key; unmeasurable gates are configuration errors; base URLs ending in /v1 work.
@Suite(.serialized) struct HostileEndpointCLITests {
    static let key = "sk-live-TOPSECRET-0123456789abcdef"

    func files(port: Int, golden: String = arithmeticGoldenSet(20)) -> String {
        scratchDir([
            "endpoints.yaml": """
            endpoints:
              - name: target
                base_url: http://127.0.0.1:\(port)/v1/
                model: m
                api_key_env: HOSTILE_TEST_KEY
                retry: {max_attempts: 3, initial_backoff_seconds: 0.01}
            """,
            "cases.jsonl": golden,
            "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
            "cost-gate.yaml": "min_pass_rate: 0.5\nmax_cost_usd: 0.05\n",
        ])
    }

    func eval(_ dir: String, _ extra: [String] = []) async throws -> CLIResult {
        try await runCLI(["eval", "--golden", dir + "/cases.jsonl", "--prompt", dir + "/prompt.yaml", "--config", dir + "/endpoints.yaml",
                          "--endpoint", "target", "--cache-path", dir + "/cache.sqlite", "--report", dir + "/report.json",
                          "--junit", dir + "/junit.xml"] + extra, environment: ["HOSTILE_TEST_KEY": Self.key])
    }

    @Test func aBadKeyFailsFastInconclusiveWithTheServersMessageAndNoKeyAnywhere() async throws {
        let server = ScriptedEndpoint { req in
            let auth = req.headers.first { $0.0.lowercased() == "authorization" }?.1 ?? ""
            return ScriptedAnswer(status: 401, json: ["error": ["message": .string("Incorrect API key provided: \(auth)"), "type": "invalid_request_error"]])
        }
        let (result, dir) = try await server.with { port in
            let dir = files(port: port)
            return (try await eval(dir), dir)
        }
        #expect(result.status == 2)  // inconclusive: an infrastructure failure is never a quality fail
        #expect(server.requests.count == 3)  // the breaker opened after three 401s; 17 cases never sent
        #expect(server.requests.allSatisfy { $0.path == "/v1/chat/completions" })  // base_url ".../v1/" accepted
        #expect(result.stdout.contains("http_401, first: HTTP 401: Incorrect API key provided: Bearer [REDACTED]"))
        let report = try String(contentsOfFile: dir + "/report.json", encoding: .utf8)
        #expect(report.contains("circuit breaker opened after 3 consecutive http_401"))
        for file in ["report.json", "junit.xml", "cache.sqlite"] {
            let bytes = FileManager.default.contents(atPath: dir + "/" + file) ?? Data()
            #expect(!bytes.isEmpty, "\(file) written")
            #expect(bytes.range(of: Data("TOPSECRET".utf8)) == nil, "\(file) holds the key")
        }
        #expect(!result.stdout.contains("TOPSECRET") && !result.stderr.contains("TOPSECRET"))
    }

    @Test func aCostGateWithoutPricingIsAConfigurationErrorBeforeAnythingIsSent() async throws {
        let server = ScriptedEndpoint { _ in .chat("4") }
        let result = try await server.with { port in
            let dir = files(port: port)
            return try await eval(dir, ["--gate", dir + "/cost-gate.yaml"])
        }
        #expect(result.status == 78)
        #expect(result.stderr.contains("max_cost_usd is set but endpoint 'target' has no pricing"))
        #expect(server.requests.isEmpty)
    }

    @Test func slowRatesArePrintedAsTheyAre() async throws {
        // Two cases, each answered after 1.5 s: well under one case a second.
        let server = ScriptedEndpoint { _ in
            Thread.sleep(forTimeInterval: 1.5)
            return .chat("4")
        }
        let result = try await server.with { port in try await eval(files(port: port, golden: arithmeticGoldenSet(2)), ["--concurrency", "1"]) }
        let line = result.stdout.split(separator: "\n").first { $0.hasPrefix("eval: ") } ?? ""
        #expect(line.contains(" 0.") && line.hasSuffix(" cases/s"), "\(line)")
    }
}

/// Issue 15 item 20: a run that needs embeddings probes for them before sending any case.
@Suite struct EmbeddingProbeCLITests {
    @Test func anEndpointWithoutEmbeddingsIsNamedBeforeAnyCaseIsSent() async throws {
        let server = ScriptedEndpoint { req in
            req.path.hasSuffix("/embeddings") ? ScriptedAnswer(status: 404, json: ["detail": "Not Found"]) : .chat("Paris")
        }
        let result = try await server.with { port in
            let dir = scratchDir([
                "endpoints.yaml": "endpoints:\n  - {name: plain, base_url: \"http://127.0.0.1:\(port)\", model: m, retry: {max_attempts: 1}}\n",
                "cases.jsonl": #"{"id": "a", "vars": {"question": "Capital of France?"}, "assert": [{"type": "similar", "value": "Paris", "threshold": 0.8}]}"# + "\n",
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
            ])
            return try await runCLI(["eval", "--golden", dir + "/cases.jsonl", "--prompt", dir + "/prompt.yaml", "--config", dir + "/endpoints.yaml",
                                     "--endpoint", "plain", "--cache-path", dir + "/cache.sqlite", "--quiet"])
        }
        #expect(result.status == 78)
        #expect(result.stderr.contains("endpoint 'plain' does not answer embeddings (http_404: HTTP 404: Not Found)"), "\(result.stderr)")
        #expect(!server.requests.contains { $0.path.hasSuffix("/chat/completions") })
    }
}
