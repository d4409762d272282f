import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// The user's scorers: a pool of persistent Python workers answering JSON lines, crashes and
/// hangs errored case by case (the run goes on, the worker is replaced), answers cached by
/// content, webhooks answered by a configured URL only.
@Suite struct ScriptScorerTests {
    /// A scorer that passes outputs containing a digit; crashes on ids ending in `crash`, hangs
    /// on ids ending in `hang`, answers garbage on `garbage`; appends one line per request to `calls.log`.
    static let scorer = """
        import json, sys, time, os
        for line in sys.stdin:
            r = json.loads(line)
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.log"), "a") as f:
                f.write(r["id"] + "\\n")
            if r["id"].endswith("crash"):
                sys.stderr.write("boom on " + r["id"] + "\\n"); sys.exit(3)
            if r["id"].endswith("hang"):
                time.sleep(3600)
            if r["id"].endswith("garbage"):
                print("not json at all", flush=True); continue
            ok = any(ch.isdigit() for ch in r["output"])
            print(json.dumps({"pass": ok, "score": 1.0 if ok else 0.0, "reason": "has a digit" if ok else "no digit",
                              "named_scores": {"length": len(r["output"])}}), flush=True)
        """

    static func set(_ n: Int, special: [Int: String] = [:], extra: String = "") -> String {
        let path = JudgedRAGTests.write((0..<n).map { i in
            let suffix = special[i].map { "-" + $0 } ?? ""
            // The hang gets 2 s; every other case a budget no loaded host runs out of (a worker
            // started under a saturated CPU must not turn a fast answer into a timeout).
            let budget = special[i] == "hang" ? 2 : 30
            return #"{"id":"q\#(i)\#(suffix)","vars":{"question":"What is \#(100 + i) + 19?"},"assert":[{"type":"script","command":["python3","score.py"],"timeout_seconds":\#(budget)\#(extra)}]}"#
        })
        let dir = (path as NSString).deletingLastPathComponent
        FileManager.default.createFile(atPath: dir + "/score.py", contents: Data(scorer.utf8))
        return path
    }

    static func run(_ golden: String, n: Int, store: Store? = nil) async throws -> (EvalResult, [CaseRecord]) {
        try await withSimulator { _, port in
            let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
            var job = EvalJob(goldenSetPath: golden, prompt: JudgeTests.prompt, gate: .default, concurrency: 16)
            job.memory.store = store
            var runner = EvalRunner(client: client)
            runner.scorerWorkers = 3
            var sink = MemorySink()
            let result = try await runner.run(job, total: n, sink: &sink)
            await client.shutdown()
            return (result, sink.records)
        }
    }

    static func calls(_ golden: String) -> [String] {
        let log = (golden as NSString).deletingLastPathComponent + "/calls.log"
        return ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func crashesHangsAndGarbageErrorExactlyTheirCasesAndTheRunCompletes() async throws {
        let n = 200
        let golden = Self.set(n, special: [7: "crash", 107: "crash", 50: "hang", 150: "garbage"])
        let (result, rows) = try await Self.run(golden, n: n)
        let errored = Set(rows.filter { $0.status == .errored }.map(\.id))
        #expect(errored == ["q7-crash", "q107-crash", "q50-hang", "q150-garbage"], "\(errored)")
        let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        #expect(byID["q7-crash"]!.errorKind == "scorer_error" && byID["q7-crash"]!.errorMessage!.contains("exit status 3") && byID["q7-crash"]!.errorMessage!.contains("boom"))
        #expect(byID["q50-hang"]!.errorMessage!.contains("did not answer within 2 s"))
        #expect(byID["q150-garbage"]!.errorMessage!.contains("not JSON"))
        // The rest were scored by the workers (replaced after each crash and the hang).
        #expect(result.summary.scored == n - 4 && rows.filter { $0.status != .errored }.allSatisfy { $0.namedScores["length"] != nil })
        // (The hang's message is the deadline's: without it the worker would sleep for an hour.)
    }

    @Test func answersAreCachedByContentAndAnEditedScorerIsANewKey() async throws {
        let n = 30
        let golden = Self.set(n, extra: #","cache":true"#)
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-scorer-\(UUID().uuidString).sqlite")
        _ = try await Self.run(golden, n: n, store: store)
        #expect(Self.calls(golden).count == n)
        let (warm, _) = try await Self.run(golden, n: n, store: store)
        #expect(Self.calls(golden).count == n && warm.summary.scored == n, "a re-run asks the scorer nothing")
        let script = (golden as NSString).deletingLastPathComponent + "/score.py"
        try (Self.scorer + "\n# edited\n").write(toFile: script, atomically: true, encoding: .utf8)
        _ = try await Self.run(golden, n: n, store: store)
        #expect(Self.calls(golden).count == 2 * n, "an edited scorer is asked again")
    }

    @Test func aWebhookScorerIsAskedAtItsConfiguredURL() async throws {
        let hook = ScriptedEndpoint { r in
            let body = (try? JSONValue.parse(r.body)) ?? .null
            let ok = body["output"]?.stringValue?.contains(where: \.isNumber) ?? false
            return ScriptedAnswer(json: ["pass": .bool(ok), "score": .number(ok ? 1 : 0), "reason": "from the webhook"])
        }
        let rows = try await hook.with { hookPort in
            try await withSimulator { _, port in
                let golden = JudgedRAGTests.write((0..<5).map { i in #"{"id":"w\#(i)","vars":{"question":"What is \#(i) + 1?"},"assert":[{"type":"webhook","webhook":"grader","config":{"k":1}}]}"# })
                let client = makeClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port)
                var runner = EvalRunner(client: client)
                runner.webhooks = [WebhookConfig(name: "grader", url: "http://127.0.0.1:\(hookPort)/score")]
                var sink = MemorySink()
                _ = try await runner.run(EvalJob(goldenSetPath: golden, prompt: JudgeTests.prompt, gate: .default, concurrency: 4), total: 5, sink: &sink)
                await client.shutdown()
                return sink.records
            }
        }
        #expect(rows.count == 5 && rows.allSatisfy { $0.assertions[0].reason == "from the webhook" && $0.errorKind == nil })
        #expect(hook.requests.count == 5 && hook.requests.allSatisfy { $0.path == "/score" && $0.body.contains("\"config\"") })
    }
}

/// A scorer that cannot run, or a webhook that is not configured, is named before anything is sent.
@Suite(.serialized) struct ScriptScorerCLITests {
    @Test func badScorersAreNamedAndNothingIsSent() async throws {
        try await withSimulator { sim, port in
            let dir = scratchDir([
                "endpoints.yaml": "endpoints:\n  - {name: sim, base_url: \"http://127.0.0.1:\(port)\", model: sim-small}\nwebhooks:\n  - {name: grader, url: \"http://127.0.0.1:9/score\"}\n",
                "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n",
                "nocmd.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"equals","value":"x"}]}"# + "\n" + #"{"id":"b","vars":{"question":"q"},"assert":[{"type":"script","command":["no-such-scorer-binary"]}]}"# + "\n",
                "nofile.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"script","command":["python3","missing.py"]}]}"# + "\n",
                "hook.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"webhook","webhook":"nope"}]}"# + "\n",
                "bare.jsonl": #"{"id":"a","vars":{"question":"q"},"assert":[{"type":"script"}]}"# + "\n",
            ])
            let base = ["eval", "--prompt", dir + "/prompt.yaml", "--config", dir + "/endpoints.yaml", "--endpoint", "sim", "--quiet", "--cache-path", dir + "/c.sqlite"]
            let noCommand = try await runCLI(base + ["--golden", dir + "/nocmd.jsonl"])
            #expect(noCommand.status == 65 && noCommand.stderr.contains("nocmd.jsonl:2: case 'b': field 'assert[0].command'") && noCommand.stderr.contains("not an executable"), "\(noCommand.stderr)")
            let noFile = try await runCLI(base + ["--golden", dir + "/nofile.jsonl"])
            #expect(noFile.status == 65 && noFile.stderr.contains("missing.py"), "\(noFile.stderr)")
            let hook = try await runCLI(base + ["--golden", dir + "/hook.jsonl"])
            #expect(hook.status == 65 && hook.stderr.contains("hook.jsonl:1: field 'webhook': no webhook named 'nope'"), "\(hook.stderr)")
            let bare = try await runCLI(base + ["--golden", dir + "/bare.jsonl"])
            #expect(bare.status == 65 && bare.stderr.contains("field 'assert[0].command'"), "\(bare.stderr)")
            #expect(sim.currentStats.requests == 0)
        }
    }
}
