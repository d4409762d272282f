import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// g-eval, the judged context metrics, answer-relevance and select-best end to end against the
/// simulator as targets and judge: scores that follow the truth, g-eval's steps asked once per
/// criterion, one select-best call per matrix row, judge parameters as configured, and the
/// cases that cannot be judged errored, never failed.
@Suite struct JudgedRAGTests {
    static func write(_ lines: [String]) -> String {
        let dir = NSTemporaryDirectory() + "evalengine-judged-rag-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/g.jsonl", contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        return dir + "/g.jsonl"
    }

    static func input(_ i: Int) -> String { "What is \(300 + i * 7) + 19?" }

    /// Cases whose context holds the right sum and an unrelated sentence.
    static func ragSet(_ n: Int, asserts: String) -> String {
        write((0..<n).map { i in
            let a = 300 + i * 7
            return #"{"id":"r\#(i)","vars":{"question":"\#(input(i))","context":["The sum of \#(a) and 19 is \#(a + 19).","Bananas are yellow fruit."]},"expected":"\#(a + 19)","assert":[\#(asserts)]}"#
        })
    }

    struct Run {
        var result: EvalResult
        var rows: [CaseRecord]
        var judgeRequests: Int
    }

    /// `golden` on targets of the given accuracies (a matrix with two or more), judged by a simulator.
    static func run(_ golden: String, n: Int, targets accuracies: [Double] = [0.7], judge: SimulatorProfile = SimulatorProfile(),
                    store: Store? = nil, downTarget: Bool = false, embed: Bool = false) async throws -> Run {
        try await withSimulator(judge) { judgeSim, judgePort in
            var profiles = accuracies.map { a -> SimulatorProfile in
                var p = SimulatorProfile()
                p.accuracy = a
                return p
            }
            if profiles.isEmpty { profiles = [SimulatorProfile()] }
            return try await withSimulators(profiles) { ports in
                var clients = ports.enumerated().map { i, port in
                    // Models of their own: test clients share one cache identity, and ports are reused between runs.
                    makeClient(EndpointConfig(name: "t\(i)", baseURL: nil, model: "sim-t\(i)"), port: port)
                }
                if downTarget {
                    var down = EndpointConfig(name: "down", baseURL: nil, model: "sim-small")
                    down.retry.maxAttempts = 1
                    clients.append(makeClient(down, port: 9))
                }
                var je = EndpointConfig(name: "judge", baseURL: nil, model: "sim-judge")
                je.pricing = .init(inputPerMillion: 1, outputPerMillion: 4)
                let judgeClient = makeClient(je, port: judgePort)
                var job = EvalJob(goldenSetPath: golden, prompt: JudgeTests.prompt, gate: .default, concurrency: 8)
                job.memory.store = store
                if embed { job.embedder = Embedder(client: clients[0]) }
                var runner = EvalRunner(clients: clients)
                runner.judges = [judgeClient]
                runner.defaultJudge = "judge"
                var sink = MemorySink()
                let result = try await runner.run(job, total: n, sink: &sink)
                for c in clients + [judgeClient] { await c.shutdown() }
                return Run(result: result, rows: sink.records, judgeRequests: judgeSim.currentStats.chat)
            }
        }
    }

    static func right(_ r: CaseRecord) -> Bool {
        SimulatedJudge.isRight(output: r.output ?? "", input: input(Int(r.id.dropFirst())!))
    }

    @Test func gEvalAndContextMetricsFollowTheTruthAndStepsAreAskedOncePerCriterion() async throws {
        let n = 40
        let golden = Self.ragSet(n, asserts: #"{"type":"g-eval","value":"Gives the correct sum as a number"},{"type":"context-faithfulness"},{"type":"context-recall"},{"type":"context-relevance"}"#)
        var judge = SimulatorProfile()
        judge.judgeFormatNoise = 0.5
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-judged-rag-\(UUID().uuidString).sqlite")
        let cold = try await Self.run(golden, n: n, judge: judge, store: store)
        // One steps call for the one criterion (cached, and shared while in flight), then per case a
        // score and the three context calls.
        #expect(cold.judgeRequests == 1 + 4 * n, "\(cold.judgeRequests)")
        #expect(cold.result.summary.errored == 0)
        let wrong = cold.rows.filter { !Self.right($0) }.count
        #expect(wrong > 0 && wrong < n, "the target must answer some cases wrong: \(wrong)")
        for r in cold.rows {
            let a = Dictionary(uniqueKeysWithValues: r.assertions.map { ($0.type, $0) })
            let right = Self.right(r)
            // g-eval: 8-10 of 10 when right, 1-3 when wrong; passes at 0.7.
            #expect(a["g-eval"]!.pass == right && (right ? a["g-eval"]!.score >= 0.8 : a["g-eval"]!.score <= 0.3), "\(r.id): \(a["g-eval"]!.reason)")
            // The output's one claim is the sum: supported by the context exactly when it is right.
            #expect(a["context-faithfulness"]!.score == (right ? 1 : 0), "\(r.id): \(a["context-faithfulness"]!.reason)")
            // The reference is always in the context; one of the two context sentences is needed.
            #expect(a["context-recall"]!.score == 1)
            #expect(a["context-relevance"]!.score == 0.5, "\(a["context-relevance"]!.reason)")
        }
        let warm = try await Self.run(golden, n: n, judge: judge, store: store)
        #expect(warm.judgeRequests == 0 && warm.result.summary.judge.calls == 0)
        #expect(warm.result.summary.passed == cold.result.summary.passed)
    }

    @Test func selectBestPicksTheRightTargetWithOneJudgeCallPerRow() async throws {
        let n = 30
        let golden = Self.write((0..<n).map { i in
            #"{"id":"s\#(i)","vars":{"question":"\#(Self.input(i))"},"assert":[{"type":"select-best","value":"gives the correct sum"}]}"#
        })
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-select-best-\(UUID().uuidString).sqlite")
        let cold = try await Self.run(golden, n: n, targets: [1.0, 0.0], store: store)
        #expect(cold.judgeRequests == n, "one call per row, not per target: \(cold.judgeRequests)")
        #expect(cold.result.summary.errored == 0)
        for r in cold.rows {
            #expect(r.status == (r.target == "t0" ? .passed : .failed), "\(r.id)@\(r.target ?? ""): \(r.assertions.first?.reason ?? "")")
        }
        // Accounted once per row: the calls over all rows are the judge's requests.
        #expect(cold.result.summary.judge.calls == n)
        #expect(cold.result.summary.judge.cacheHits == n, "the other target of each row shares the one answer")
        let warm = try await Self.run(golden, n: n, targets: [1.0, 0.0], store: store)
        #expect(warm.judgeRequests == 0)
        #expect(warm.result.targets.map(\.summary.passed) == [n, 0])
        #expect(warm.result.summary.judge.calls == 0 && warm.result.summary.judge.promptTokens == cold.result.summary.judge.promptTokens)
    }

    @Test func selectBestWithAFailedTargetErrorsInsteadOfHanging() async throws {
        let n = 6
        let golden = Self.write((0..<n).map { i in
            #"{"id":"s\#(i)","vars":{"question":"\#(Self.input(i))"},"assert":[{"type":"select-best","value":"gives the correct sum"}]}"#
        })
        let run = try await Self.run(golden, n: n, targets: [1.0], downTarget: true)
        #expect(run.result.summary.errored == 2 * n)
        #expect(run.judgeRequests == 0)
        let answered = run.rows.filter { $0.target == "t0" }
        #expect(answered.allSatisfy { $0.errorKind == "judge_error" && $0.errorMessage?.contains("1 of 2 targets answered") == true }, "\(answered.map(\.errorMessage))")
        #expect(run.result.gate.verdict == .inconclusive)
    }

    @Test func answerRelevanceEmbedsTheJudgesQuestions() async throws {
        let n = 10
        let golden = Self.write((0..<n).map { i in
            #"{"id":"q\#(i)","vars":{"question":"\#(Self.input(i))"},"assert":[{"type":"answer-relevance","threshold":0}]}"#
        })
        let run = try await Self.run(golden, n: n, embed: true)
        #expect(run.judgeRequests == n && run.result.summary.errored == 0)
        for r in run.rows {
            let a = r.assertions[0]
            #expect(a.score > -1 && a.score <= 1 && a.reason.contains("3 generated questions"), "\(a.reason)")
        }
        // Without an embedding endpoint the assertion is errored, not failed.
        let none = try await Self.run(golden, n: n)
        #expect(none.result.summary.errored == n && none.rows.allSatisfy { $0.assertions[0].errorKind == "judge_error" })
    }

    @Test func theSelectBestBoardReplaysAndCancels() async throws {
        let board = SelectBestBoard(targets: 2)
        let key = SelectBestBoard.GroupKey(caseID: "a", sample: 0)
        board.replayed(key, target: 0, output: "from the earlier attempt")
        let row = await board.wait(key, target: 1, output: "now")
        #expect(row?.outputs == ["from the earlier attempt", "now"] && row?.accountable == true)
        // A wait whose group never fills returns nil when the run is cancelled.
        let waiting = Task { await board.wait(.init(caseID: "b", sample: 0), target: 0, output: "x") }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)
    }

    /// Judge parameters reach the judge: temperature, seed, max_tokens from `provider.config`,
    /// and `response_format: json_schema` as the schema of each call's answer.
    @Test func judgeParamsAndStructuredOutputsReachTheJudge() async throws {
        let judge = ScriptedEndpoint { request in
            if request.body.contains("g_eval_steps") { return .chat(#"{"steps": ["Check the sum."]}"#) }
            return .chat(#"{"reason": "right", "score": 9}"#)
        }
        try await judge.with { judgePort in
            try await withSimulator { _, port in
                let golden = Self.write([
                    #"{"id":"p","vars":{"question":"What is 2 + 2?"},"assert":[{"type":"g-eval","value":"correct","provider":{"id":"judge","config":{"temperature":0.3,"seed":5,"max_tokens":200,"response_format":"json_schema"}}}]}"#,
                ])
                let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
                let judgeClient = makeClient(EndpointConfig(name: "judge", baseURL: nil, model: "m"), port: judgePort)
                var runner = EvalRunner(client: client)
                runner.judges = [judgeClient]
                var sink = MemorySink()
                let result = try await runner.run(EvalJob(goldenSetPath: golden, prompt: JudgeTests.prompt, gate: .default, concurrency: 2), total: 1, sink: &sink)
                await client.shutdown()
                await judgeClient.shutdown()
                #expect(result.summary.errored == 0 && abs(sink.records[0].assertions[0].score - 0.9) < 1e-9)
            }
        }
        let bodies = try judge.requests.map { try JSONValue.parse($0.body) }
        #expect(bodies.count == 2)
        for b in bodies {
            #expect(b["temperature"]?.numberValue == 0.3 && b["seed"]?.numberValue == 5 && b["max_tokens"]?.numberValue == 200, "\(b)")
            #expect(b["response_format"]?["type"]?.stringValue == "json_schema")
        }
        #expect(bodies.map { $0["response_format"]?["json_schema"]?["name"]?.stringValue } == ["g_eval_steps", "g_eval_score"])
    }
}

extension JudgedRAGTests {
    /// A self-contradicting verdict (promptfoo #2998) is decided by its score and flagged in the row.
    @Test func aContradictingVerdictIsDecidedByTheScoreAndFlagged() async throws {
        let judge = ScriptedEndpoint { _ in .chat(#"{"reason": "looks fine", "score": 0, "pass": true}"#) }
        let rows = try await judge.with { judgePort in
            try await withSimulator { _, port in
                let golden = Self.write([#"{"id":"c","vars":{"question":"What is 2 + 2?"},"assert":[{"type":"llm-rubric","value":"says 4"}]}"#])
                let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
                let judgeClient = makeClient(EndpointConfig(name: "judge", baseURL: nil, model: "m"), port: judgePort)
                var runner = EvalRunner(client: client)
                runner.judges = [judgeClient]
                runner.defaultJudge = "judge"
                var sink = MemorySink()
                _ = try await runner.run(EvalJob(goldenSetPath: golden, prompt: JudgeTests.prompt, gate: .default, concurrency: 2), total: 1, sink: &sink)
                await client.shutdown()
                await judgeClient.shutdown()
                return sink.records
            }
        }
        let a = rows[0].assertions[0]
        #expect(!a.pass && a.score == 0 && a.judgeContradiction && rows[0].status == .failed)
        // The flag survives the row's JSON (store, report, merge).
        let back = try #require(CaseRecord(json: rows[0].json()))
        #expect(back.assertions[0].judgeContradiction && rows[0].json()["assertions"]?.arrayValue?.first?["judge_contradiction"] == true)
    }
}

/// Runs `body` with one simulator per profile, their ports in order.
func withSimulators<T: Sendable>(_ profiles: [SimulatorProfile], _ body: @Sendable @escaping ([Int]) async throws -> T) async throws -> T {
    guard let first = profiles.first else { return try await body([]) }
    return try await withSimulator(first) { _, port in
        try await withSimulators(Array(profiles.dropFirst())) { rest in try await body([port] + rest) }
    }
}

/// What is wrong with a judged case is found before anything is sent, naming file:line and field.
@Suite(.serialized) struct JudgedRAGCLITests {
    @Test func badJudgedCasesAreNamedAndNothingIsSent() async throws {
        try await withSimulator { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:\(port)\", model: sim-small}\n",
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
                "noctx.jsonl": #"{"id":"a","vars":{"question":"q","context":"c"},"assert":[{"type":"context-faithfulness"}]}"# + "\n"
                    + #"{"id":"b","vars":{"question":"q"},"assert":[{"type":"context-recall","value":"r"}]}"# + "\n",
                "geval.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"g-eval","value":"clear","rubric_prompt":"Rate {{output}} by {{steps}} and {{tone}}"}]}"# + "\n",
                "schema.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"model-graded-closedqa","value":"ok","provider":{"id":"sim","config":{"response_format":"json_schema"}}}]}"# + "\n",
                "best.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"select-best","value":"the clearest"}]}"# + "\n",
                "params.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"g-eval","value":"x","provider":{"id":"sim","config":{"temperature":9}}}]}"# + "\n",
            ])
            let base = ["eval", "--prompt", dir + "/prompt.yaml", "--config", dir + "/endpoints.yaml", "--endpoint", "sim", "--judge-endpoint", "sim",
                        "--quiet", "--cache-path", dir + "/c.sqlite"]
            let noContext = try await runCLI(base + ["--golden", dir + "/noctx.jsonl"])
            #expect(noContext.status == 65 && noContext.stderr.contains("noctx.jsonl:2: case 'b': field 'assert[0].vars.context'"), "\(noContext.stderr)")
            let badVar = try await runCLI(base + ["--golden", dir + "/geval.jsonl"])
            #expect(badVar.status == 65 && badVar.stderr.contains("geval.jsonl:1: case 'a': field 'assert[0].rubric_prompt'") && badVar.stderr.contains("'tone'"), "\(badVar.stderr)")
            let schema = try await runCLI(base + ["--golden", dir + "/schema.jsonl"])
            #expect(schema.status == 65 && schema.stderr.contains("field 'assert[0].provider.config.response_format'"), "\(schema.stderr)")
            let best = try await runCLI(base + ["--golden", dir + "/best.jsonl"])
            #expect(best.status == 64 && best.stderr.contains("best.jsonl:1: field 'assert': select-best compares the targets of a matrix"), "\(best.stderr)")
            let params = try await runCLI(base + ["--golden", dir + "/params.jsonl"])
            #expect(params.status == 65 && params.stderr.contains("provider.config.temperature"), "\(params.stderr)")
            #expect(sim.currentStats.requests == 0)
        }
    }
}

/// The simulated judge's bias: its mistakes lean the configured way, its accuracy stays the mean.
@Suite struct SimulatedJudgeBiasTests {
    @Test(arguments: [-1.0, 0.0, 1.0])
    func mistakesLeanTheWayTheBiasSays(_ bias: Double) {
        var judge = SimulatedJudge(accuracy: 0.8, salt: 3)
        judge.bias = bias
        var (passedWrong, failedRight) = (0, 0)
        let n = 4000
        for i in 0..<n {
            let right = i % 2 == 0
            let a = 100 + i
            let prompt = "<Input>\nWhat is \(a) + 19?\n</Input>\n<Output>\n\(right ? a + 19 : a + 20)\n</Output>\n<Rubric>\nthe sum\n</Rubric>"
            let v = JudgeVerdictParser.parse(judge.answer(prompt: prompt) ?? "", format: .rubricJSON)!
            if v.pass && !right { passedWrong += 1 }
            if !v.pass && right { failedRight += 1 }
        }
        // Error rates: 0.2 × (1 ± bias) on each half.
        let (lenientRate, harshRate) = (Double(passedWrong) / Double(n / 2), Double(failedRight) / Double(n / 2))
        print("judge_bias \(bias): wrong outputs passed \(String(format: "%.3f", lenientRate)), right outputs failed \(String(format: "%.3f", harshRate))")
        #expect(abs(lenientRate - 0.2 * (1 + bias)) < 0.04 && abs(harshRate - 0.2 * (1 - bias)) < 0.04)
    }
}
