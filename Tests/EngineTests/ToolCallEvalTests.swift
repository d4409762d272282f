import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// golden-sets/tools against the simulator: tool calls parsed, scored, cached and reported; a
/// candidate prompt whose schema renames a field fails exactly the affected cases.
@Suite struct ToolCallEvalTests {
    static let golden = repoRoot + "/golden-sets/tools/cases.jsonl"

    static func run(_ promptFile: String, store: Store? = nil) async throws -> (EvalResult, [CaseRecord], requests: Int) {
        let prompt = try ConfigFiles.loadPrompt(path: repoRoot + "/golden-sets/tools/" + promptFile)
        let total = try EvalRunner.validate(goldenSetPath: golden, prompt: prompt)
        return try await withSimulator { sim, port in
            let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
            var job = EvalJob(goldenSetPath: golden, prompt: prompt, gate: .default, concurrency: 16)
            job.memory.store = store
            var sink = MemorySink()
            let result = try await EvalRunner(client: client).run(job, total: total, sink: &sink)
            await client.shutdown()
            return (result, sink.records, sim.currentStats.chat)
        }
    }

    @Test func toolCallsAreScoredCachedAndASchemaRenameFailsExactlyTheAffectedCases() async throws {
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-tools-\(UUID().uuidString).sqlite")
        let (result, rows, requests) = try await Self.run("prompt.yaml", store: store)
        #expect(requests == rows.count && result.summary.errored == 0)
        // Every answer is one valid call; the simulator's wrong answers (an operand or the age off
        // by one) fail on the expected call, and only there.
        for r in rows {
            #expect(r.toolCalls.count == 1 && r.output == "", "\(r.id)")
            let validity = r.assertions.first { $0.type == "is-valid-openai-tools-call" }!
            #expect(validity.pass, "\(r.id): \(validity.reason)")
        }
        let failed = rows.filter { $0.status == .failed }
        #expect(failed.allSatisfy { r in r.assertions.contains { $0.type == "tool-call" && !$0.pass } })
        #expect(Double(result.summary.passed) / Double(rows.count) > 0.85)
        // A re-run answers from the cache, tool calls included.
        let (warm, warmRows, warmRequests) = try await Self.run("prompt.yaml", store: store)
        #expect(warmRequests == 0 && warm.summary.passed == result.summary.passed)
        #expect(Dictionary(uniqueKeysWithValues: warmRows.map { ($0.id, $0.toolCalls) }) == Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0.toolCalls) }))
        // The candidate renames calculator's `a` to `x`: every calculator case fails validation, no person case does.
        let (_, renamed, _) = try await Self.run("prompt-renamed.yaml")
        let invalid = Set(renamed.filter { r in r.assertions.contains { $0.type == "is-valid-openai-tools-call" && !$0.pass } }.map(\.id))
        #expect(invalid == Set(renamed.filter { $0.id.hasPrefix("calc-") }.map(\.id)) && invalid.count == 100)
        // The row's JSON carries the calls, and reads back.
        let back = try #require(CaseRecord(json: rows[0].json()))
        #expect(back.toolCalls == rows[0].toolCalls)
    }
}

/// A bad tool schema, or a tool assertion without tools, is named before anything is sent.
@Suite(.serialized) struct ToolCallCLITests {
    @Test func badToolSchemasAreNamedAndNothingIsSent() async throws {
        try await withSimulator { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:\(port)\", model: sim-small}\n",
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\ntools: file:tools.json\n",
                "tools.json": "[\n  {\"type\": \"function\", \"function\": {\"name\": \"calc\",\n    \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integr\"}}}}}\n]\n",
                "inline.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\ntools:\n  - type: function\n    function:\n      name: calc\n      parameters: {type: object, required: a}\n",
                "plain.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
                "g.jsonl": #"{"id":"a","vars":{"question":"What is 2 + 2?"},"assert":[{"type":"is-valid-openai-tools-call"}]}"# + "\n",
                "turns.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"equals","value":"4"}]}"# + "\n" + #"{"id":"b","turns":"What is 2 + 2?"}"# + "\n",
            ])
            let base = ["eval", "--golden", dir + "/g.jsonl", "--config", dir + "/endpoints.yaml", "--endpoint", "sim", "--quiet", "--cache-path", dir + "/c.sqlite"]
            let file = try await runCLI(base + ["--prompt", dir + "/prompt.yaml"])
            #expect(file.status == 65 && file.stderr.contains("tools.json:3") && file.stderr.contains("field '[0].function.parameters.properties.a.type'"), "\(file.stderr)")
            let inline = try await runCLI(base + ["--prompt", dir + "/inline.yaml"])
            #expect(inline.status == 65 && inline.stderr.contains("inline.yaml:") && inline.stderr.contains("tools[0].function.parameters.required"), "\(inline.stderr)")
            let noTools = try await runCLI(base + ["--prompt", dir + "/plain.yaml"])
            #expect(noTools.status == 65 && noTools.stderr.contains("g.jsonl:1: case 'a': field 'assert[0].type'") && noTools.stderr.contains("declares tools"), "\(noTools.stderr)")
            let badTurns = try await runCLI(["eval", "--golden", dir + "/turns.jsonl", "--config", dir + "/endpoints.yaml", "--endpoint", "sim", "--quiet",
                                             "--cache-path", dir + "/c.sqlite", "--prompt", dir + "/plain.yaml"])
            #expect(badTurns.status == 65 && badTurns.stderr.contains("turns.jsonl:2") && badTurns.stderr.contains("field 'turns'"), "\(badTurns.stderr)")
            #expect(sim.currentStats.requests == 0)
        }
    }
}
