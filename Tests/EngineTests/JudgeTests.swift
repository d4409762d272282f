import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// Model-graded assertions end to end against the simulator as target and judge: verdicts that
/// follow the truth, the judge cached apart, and judge failures that error, never fail.
@Suite struct JudgeTests {
    static func golden(_ n: Int, types: [String] = ["llm-rubric", "model-graded-closedqa", "factuality"]) -> String {
        let dir = NSTemporaryDirectory() + "evalengine-judge-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var lines: [String] = []
        for i in 0..<n {
            let a = 300 + i * 7
            var asserts: [String] = []
            for t in types {
                switch t {
                case "factuality": asserts.append(#"{"type":"factuality","value":"\#(a + 19)"}"#)
                case "llm-rubric": asserts.append(#"{"type":"llm-rubric","value":"Gives the correct sum as a number"}"#)
                default: asserts.append(#"{"type":"\#(t)","value":"answers with the right number"}"#)
                }
            }
            lines.append(#"{"id":"j\#(i)","vars":{"question":"What is \#(a) + 19?"},"assert":[\#(asserts.joined(separator: ","))]}"#)
        }
        let path = dir + "/g.jsonl"
        FileManager.default.createFile(atPath: path, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        return path
    }

    static var prompt: PromptConfig {
        var p = ModelParams()
        p.temperature = 0
        p.maxTokens = 32
        return PromptConfig(messages: [MessageTemplate(role: "user", content: Template("{{question}}"))], params: p)
    }

    /// Runs `golden` on target `sim` (accuracy 0.8) judged by `judge` (its own simulator).
    static func run(_ golden: String, n: Int, judgeProfile: SimulatorProfile, judgeDown: Bool = false, store: Store? = nil)
        async throws -> (EvalResult, [CaseRecord], judgeRequests: Int)
    {
        var target = SimulatorProfile()
        target.accuracy = 0.8
        return try await withSimulator(target) { _, port in
            try await withSimulator(judgeProfile) { judgeSim, judgePort in
                let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
                var je = EndpointConfig(name: "judge", baseURL: nil, model: "sim-judge")
                je.pricing = .init(inputPerMillion: 1, outputPerMillion: 4)
                je.retry.maxAttempts = 2
                je.retry.initialBackoffSeconds = 0.01
                let judge = makeClient(je, port: judgeDown ? 9 : judgePort)
                defer { Task { await client.shutdown(); await judge.shutdown() } }
                var job = EvalJob(goldenSetPath: golden, prompt: prompt, gate: .default, concurrency: 16)
                job.memory.store = store
                var runner = EvalRunner(client: client)
                runner.judges = [judge]
                runner.defaultJudge = "judge"
                var sink = MemorySink()
                let result = try await runner.run(job, total: n, sink: &sink)
                return (result, sink.records, judgeSim.currentStats.chat)
            }
        }
    }

    @Test func verdictsFollowTheTruthAndAReRunMakesNoJudgeCall() async throws {
        let n = 60
        let golden = Self.golden(n)
        var judge = SimulatorProfile()
        judge.judgeFormatNoise = 0.5  // messy formats must all still parse
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-judge-\(UUID().uuidString).sqlite")
        let (cold, rows, coldCalls) = try await Self.run(golden, n: n, judgeProfile: judge, store: store)
        #expect(coldCalls == 3 * n)
        #expect(cold.summary.errored == 0)
        for r in rows {
            let right = SimulatedJudge.isRight(output: r.output ?? "", input: "What is \(300 + Int(r.id.dropFirst())! * 7) + 19?")
            #expect(r.assertions.allSatisfy { $0.pass == right }, "\(r.id): \(r.output ?? "") \(r.assertions.map(\.reason))")
            #expect(r.judgeUsage.calls == 3 && r.judgeUsage.promptTokens > 0)
        }
        #expect(cold.summary.judge.calls == 3 * n && cold.summary.judge.costUSD ?? 0 > 0)
        // The target's tokens and cost are its own.
        #expect(cold.summary.promptTokens < cold.summary.judge.promptTokens)
        let (warm, _, warmCalls) = try await Self.run(golden, n: n, judgeProfile: judge, store: store)
        #expect(warmCalls == 0)
        #expect(warm.summary.judge.calls == 0 && warm.summary.judge.cacheHits == 3 * n)
        #expect(warm.summary.passed == cold.summary.passed)
    }

    @Test func judgeSamplesAreRealSamplesAndTheMajorityIsRightMoreOften() async throws {
        let n = 300
        func set(_ samples: Int) -> String {
            let dir = NSTemporaryDirectory() + "evalengine-judge-samples-\(UUID().uuidString)"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let lines = (0..<n).map { i in
                #"{"id":"s\#(i)","vars":{"question":"What is \#(300 + i * 7) + 19?"},"assert":[{"type":"llm-rubric","value":"the right sum","judge_samples":\#(samples)}]}"#
            }
            FileManager.default.createFile(atPath: dir + "/g.jsonl", contents: Data((lines.joined(separator: "\n") + "\n").utf8))
            return dir + "/g.jsonl"
        }
        var judge = SimulatorProfile()
        judge.judgeAccuracy = 0.7
        func agreement(_ rows: [CaseRecord]) -> Double {
            let right = rows.filter { r in
                let truth = SimulatedJudge.isRight(output: r.output ?? "", input: "What is \(300 + Int(r.id.dropFirst())! * 7) + 19?")
                return r.assertions.first?.pass == truth
            }
            return Double(right.count) / Double(rows.count)
        }
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-judge-samples-\(UUID().uuidString).sqlite")
        let five = set(5)
        let (_, one, oneCalls) = try await Self.run(set(1), n: n, judgeProfile: judge)
        let (r5, many, manyCalls) = try await Self.run(five, n: n, judgeProfile: judge, store: store)
        #expect(oneCalls == n && manyCalls == 5 * n)
        #expect(many.allSatisfy { $0.assertions.first?.reason.contains("of 5 agree") == true })
        // A majority of five 70% judges is right ~84% of the time; one is right ~70%.
        let (a1, a5) = (agreement(one), agreement(many))
        print("judge_samples: agreement with the truth, 1 sample \(String(format: "%.3f", a1)), majority of 5 \(String(format: "%.3f", a5))")
        #expect(a5 > a1 + 0.05)
        #expect(r5.summary.judge.calls == 5 * n)
        let (warm, _, warmCalls) = try await Self.run(five, n: n, judgeProfile: judge, store: store)
        #expect(warmCalls == 0 && warm.summary.judge.cacheHits == 5 * n)
    }

    @Test func aJudgeThatIsDownMakesTheRunInconclusiveNeverFail() async throws {
        let golden = Self.golden(30, types: ["llm-rubric"])
        let (result, rows, _) = try await Self.run(golden, n: 30, judgeProfile: SimulatorProfile(), judgeDown: true)
        #expect(result.gate.verdict == .inconclusive)
        #expect(result.summary.errored == 30 && result.summary.failed == 0)
        #expect(rows.allSatisfy { $0.errorKind == "judge_error" && $0.output != nil })
    }

    @Test func unparseableJudgeAnswersErrorTheirCasesWithTheRawText() async throws {
        let n = 400
        let golden = Self.golden(n, types: ["llm-rubric"])
        var judge = SimulatorProfile()
        judge.judgeUnparseableRate = 0.1
        let (result, rows, _) = try await Self.run(golden, n: n, judgeProfile: judge)
        // A third of the simulator's verdict-less answers are empty, which the client already
        // calls an error (`empty_output` -> judge_error); the others are prose without a verdict.
        let unparseable = rows.filter { $0.errorKind == "judge_unparseable" }
        let errored = rows.filter { $0.errorKind == "judge_unparseable" || $0.errorKind == "judge_error" }
        // 10% of 400: binomial sd 6; allow 4 sd.
        #expect(abs(errored.count - 40) <= 24, "\(errored.count) errored")
        #expect(!unparseable.isEmpty && unparseable.allSatisfy { $0.errorMessage?.contains("answered no rubric JSON verdict") == true })
        #expect(unparseable.allSatisfy { $0.errorMessage?.contains("not able to grade") == true || $0.errorMessage?.contains("interesting") == true })
        #expect(result.summary.scored == n - errored.count && result.summary.errored == errored.count)
        #expect(result.summary.errorsByKind["judge_unparseable"] == unparseable.count)
    }

    @Test func badJudgeInputIsFoundBeforeAnythingIsSent() throws {
        let dir = NSTemporaryDirectory() + "evalengine-judge-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/g.jsonl"
        let text = """
            {"id":"a","vars":{"question":"q"},"assert":[{"type":"llm-rubric","value":"polite"}]}
            {"id":"b","vars":{"question":"q"},"assert":[{"type":"llm-rubric","value":"polite","rubric_prompt":"Grade {{output}} against {{tone}}"}]}

            """
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        do {
            _ = try EvalRunner.inspect(goldenSetPath: path, prompts: [Self.prompt])
            Issue.record("an undefined rubric_prompt var must be refused")
        } catch {
            #expect(error.location.line == 2 && error.field == "assert[0].rubric_prompt")
            #expect(error.message.contains("'tone'"))
        }
        _ = FileManager.default.createFile(atPath: path, contents: Data(#"{"id":"a","vars":{"question":"q"},"assert":[{"type":"llm-rubric","value":"polite","provider":"grader"}]}"#.utf8))
        let needs = try EvalRunner.inspect(goldenSetPath: path, prompts: [Self.prompt])
        #expect(needs.judgeProviders["grader"]?.line == 1 && !needs.needsDefaultJudge)
    }
}

/// Judge flags through the real binary: what is wrong is named before anything is sent.
@Suite(.serialized) struct JudgeCLITests {
    @Test func unknownJudgesAndMissingJudgesAreNamedAndNothingIsSent() async throws {
        try await withSimulator { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:\(port)\", model: sim-small}\n",
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
                "g.jsonl": #"{"id":"a","vars":{"question":"What is 2 + 2?"},"assert":[{"type":"llm-rubric","value":"says 4"}]}"# + "\n",
                "p.jsonl": #"{"id":"a","vars":{"question":"What is 2 + 2?"},"assert":[{"type":"equals","value":"4"}]}"# + "\n"
                    + #"{"id":"b","vars":{"question":"What is 3 + 3?"},"assert":[{"type":"factuality","value":"6","provider":"grader"}]}"# + "\n",
                "r.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"llm-rubric","value":"ok","rubric_prompt":"Grade {{output}} for {{tone}}"}]}"# + "\n",
            ])
            let base = ["eval", "--prompt", dir + "/prompt.yaml", "--config", dir + "/endpoints.yaml", "--endpoint", "sim", "--quiet", "--cache-path", dir + "/c.sqlite"]
            let noJudge = try await runCLI(base + ["--golden", dir + "/g.jsonl"])
            #expect(noJudge.status == 64 && noJudge.stderr.contains("--judge-endpoint"), "\(noJudge.stderr)")
            let unknownFlag = try await runCLI(base + ["--golden", dir + "/g.jsonl", "--judge-endpoint", "nope"])
            #expect(unknownFlag.status == 78 && unknownFlag.stderr.contains("no endpoint named 'nope' for --judge-endpoint"))
            let unknownProvider = try await runCLI(base + ["--golden", dir + "/p.jsonl"])
            #expect(unknownProvider.status == 65 && unknownProvider.stderr.contains("p.jsonl:2: field 'provider': no judge endpoint named 'grader'"), "\(unknownProvider.stderr)")
            let badPrompt = try await runCLI(base + ["--golden", dir + "/r.jsonl", "--judge-endpoint", "sim"])
            #expect(badPrompt.status == 65 && badPrompt.stderr.contains("r.jsonl:1: case 'a': field 'assert[0].rubric_prompt'"), "\(badPrompt.stderr)")
            #expect(sim.currentStats.requests == 0)
            // And with a judge: one target call and one judge call per case; again, no judge call.
            let judged = try await runCLI(base + ["--golden", dir + "/g.jsonl", "--judge-endpoint", "sim", "--report", dir + "/r.json"])
            #expect(judged.status == 0 || judged.status == 1)
            #expect(sim.currentStats.chat == 2)
            #expect(judged.stdout.contains("judge: 1 calls"))
            let again = try await runCLI(base + ["--golden", dir + "/g.jsonl", "--judge-endpoint", "sim", "--no-resume"])
            #expect(again.stdout.contains("judge: 0 calls, 1 from the cache") && sim.currentStats.chat == 2, "\(again.stdout)")
        }
    }
}
