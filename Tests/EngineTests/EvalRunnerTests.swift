import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// Collects records in memory (tests only; real runs stream to disk).
struct MemorySink: CaseSink {
    var records: [CaseRecord] = []
    mutating func write(_ record: CaseRecord) throws { records.append(record) }
}

let qaGolden = repoRoot + "/golden-sets/qa/cases.jsonl"
let qaPrompt = repoRoot + "/golden-sets/qa/prompt.yaml"
/// The QA gate without its latency limit: these tests judge verdicts, and a loaded CI host must not
/// turn scheduling noise into a failed gate (latency gating is tested where latency is controlled).
let qaGate: String = {
    let text = (try? String(contentsOfFile: repoRoot + "/configs/gates/qa.yaml", encoding: .utf8)) ?? ""
    let kept = text.split(separator: "\n").filter { !$0.contains("latency") }.joined(separator: "\n") + "\n"
    let path = NSTemporaryDirectory() + "evalengine-test-gate-\(getpid()).yaml"
    try? kept.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}()

@Suite struct EvalRunnerTests {
    @Test func qaGoldenSetPassesOnAGoodModelWithOneCallPerCase() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        let gate = try ConfigFiles.loadGate(path: qaGate)
        let total = try EvalRunner.validate(goldenSetPath: qaGolden, prompt: prompt)
        #expect(total == 250)
        var profile = SimulatorProfile()
        profile.accuracy = 0.97
        let (result, records) = try await withSimulator(profile) { sim, port in
            var e = EndpointConfig(name: "sim", baseURL: nil, model: "sim-small")
            e.pricing = .init(inputPerMillion: 1, outputPerMillion: 2)
            let out = try await withClient(e, port: port) { client in
                var sink = MemorySink()
                var job = EvalJob(goldenSetPath: qaGolden, prompt: prompt, gate: gate, concurrency: 32)
                job.memory.store = try Store.open(path: NSTemporaryDirectory() + "evalengine-\(UUID().uuidString).sqlite")
                let r = try await EvalRunner(client: client).run(job, total: total, sink: &sink)
                return (r, sink.records)
            }
            #expect(sim.currentStats.chat == distinctQuestions(qaGolden))  // no wasted calls: duplicates share one
            return out
        }
        #expect(result.gate.verdict == .pass)
        #expect(result.summary.total == 250 && result.summary.errored == 0)
        #expect(Set(records.map(\.id)).count == 250)
        #expect(result.summary.passed == records.filter { $0.status == .passed }.count)
        #expect(result.summary.latency != nil && result.summary.costUSD! > 0)
        #expect(result.summary.metrics["accuracy"]!.mean > 0.9)
    }

    /// A small set is read once: the run takes the cases the validation pass decoded, and its
    /// records are those of a run that reads the file again. A larger file is not kept.
    @Test func theValidatedCasesRunAsTheFileWould() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        let shard = try #require(Shard(index: 1, count: 2))
        let kept = try EvalRunner.inspect(goldenSetPath: qaGolden, prompts: [prompt], shard: shard, keepingFilesUpTo: 16 << 20)
        let all = try GoldenSetReader(path: qaGolden).readAll().filter { shard.contains($0.id) }
        #expect(kept.kept == all && kept.cases == all.count)
        #expect(try EvalRunner.inspect(goldenSetPath: qaGolden, prompts: [prompt], keepingFilesUpTo: 100).kept == nil)
        #expect(try EvalRunner.inspect(goldenSetPath: qaGolden, prompts: [prompt]).kept == nil)
        var profile = SimulatorProfile()
        profile.accuracy = 0.9
        let (fromFile, fromKept) = try await withSimulator(profile) { _, port in
            try await withClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port) { client in
                var job = EvalJob(goldenSetPath: qaGolden, prompt: prompt, concurrency: 16)
                job.shard = shard
                var a = MemorySink(), b = MemorySink()
                _ = try await EvalRunner(client: client).run(job, total: kept.cases, sink: &a)
                job.validatedCases = kept.kept
                _ = try await EvalRunner(client: client).run(job, total: kept.cases, sink: &b)
                return (a.records, b.records)
            }
        }
        let byID = { (records: [CaseRecord]) in Dictionary(uniqueKeysWithValues: records.map { ($0.id, "\($0.status) \($0.output ?? "") \($0.line)") }) }
        #expect(fromKept.count == all.count && byID(fromKept) == byID(fromFile))
    }

    @Test func aWeakModelFailsTheGateForReal() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        let gate = try ConfigFiles.loadGate(path: qaGate)
        var profile = SimulatorProfile()
        profile.accuracy = 0.6
        let result = try await withSimulator(profile) { _, port in
            try await withClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port) { client in
                var sink = MemorySink()
                return try await EvalRunner(client: client).run(EvalJob(goldenSetPath: qaGolden, prompt: prompt, gate: gate), total: 250, sink: &sink)
            }
        }
        #expect(result.gate.verdict == .fail)
        #expect(result.summary.errored == 0)
        #expect(result.gate.checks.first { $0.name == "pass_rate" }?.pass == false)
    }

    @Test func rateLimitsAndServerErrorsAreRetriedAndCounted() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        var profile = SimulatorProfile()
        profile.faults.rate429 = 0.1
        profile.faults.retryAfterSeconds = 0
        profile.faults.rate500 = 0.05
        let result = try await withSimulator(profile) { sim, port in
            var e = EndpointConfig(name: "sim", baseURL: nil, model: "sim-small")
            e.retry.maxAttempts = 10
            e.retry.initialBackoffSeconds = 0.001
            let r = try await withClient(e, port: port) { client in
                var sink = MemorySink()
                return try await EvalRunner(client: client).run(EvalJob(goldenSetPath: qaGolden, prompt: prompt), total: 250, sink: &sink)
            }
            #expect(sim.currentStats.requests == distinctQuestions(qaGolden) + r.summary.retries)
            return r
        }
        #expect(result.summary.errored == 0 && result.summary.total == 250)
        #expect(result.summary.retries > 0 && result.summary.rateLimited > 0)
    }

    @Test func anEndpointThatIsDownIsInconclusiveNotFail() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        let gate = try ConfigFiles.loadGate(path: qaGate)
        var e = EndpointConfig(name: "down", baseURL: nil, model: "m")
        e.retry.maxAttempts = 2
        e.retry.initialBackoffSeconds = 0.001
        e.connectTimeoutSeconds = 1
        let result = try await withClient(e, port: 9) { client in
            var sink = MemorySink()
            return try await EvalRunner(client: client).run(EvalJob(goldenSetPath: qaGolden, prompt: prompt, gate: gate), total: 250, sink: &sink)
        }
        #expect(result.gate.verdict == .inconclusive)
        #expect(result.summary.errored == 250)
        #expect(result.summary.errorsByKind["connection"] == 250)
    }

    @Test func cancellingARunStopsItAndReportsWhatFinished() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        var profile = SimulatorProfile()
        profile.latency = .fixed(ms: 50)
        try await withSimulator(profile) { sim, port in
            var e = EndpointConfig(name: "sim", baseURL: nil, model: "sim-small")
            e.maxInFlight = 4
            try await withClient(e, port: port) { client in
                let run = Task {
                    var sink = MemorySink()
                    return try await EvalRunner(client: client).run(EvalJob(goldenSetPath: qaGolden, prompt: prompt, concurrency: 8), total: 250, sink: &sink)
                }
                try await Task.sleep(for: .milliseconds(300))
                run.cancel()
                let result = try await run.value
                #expect(result.cancelled)
                #expect(result.gate.verdict == .inconclusive)
                #expect(result.summary.total < 250)
                #expect(result.summary.errored == 0)  // cases stopped by the cancel are not errors
                #expect(sim.currentStats.chat < 250)
            }
        }
    }

    @Test func missingTemplateVarIsFoundBeforeAnyCall() throws {
        let dir = scratchDir(["g.jsonl": "{\"id\": \"a\", \"vars\": {\"question\": \"x\"}}\n{\"id\": \"b\", \"vars\": {\"q\": \"y\"}}\n"])
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        do { _ = try EvalRunner.validate(goldenSetPath: dir + "/g.jsonl", prompt: prompt); Issue.record("expected an error") } catch {
            #expect(error.location.line == 2 && error.caseID == "b" && error.field == "vars.question")
        }
    }

    @Test func rotatingTheAPIKeyKeepsTheCacheKey() async throws {
        var config = EndpointConfig(name: "p", baseURL: "http://127.0.0.1:9", model: "m")
        config.apiKeyEnv = "KEY"
        let e = config
        let keys = try await withClient(e, port: 9, apiKey: "sk-old") { old in
            try await withClient(e, port: 9, apiKey: "sk-new") { new in
                let body = old.body(for: request("hi"))
                return (ResponseSource(client: old, store: nil, mode: .off, ttl: nil, writer: nil).cacheKey(body: body),
                        ResponseSource(client: new, store: nil, mode: .off, ttl: nil, writer: nil).cacheKey(body: new.body(for: request("hi"))))
            }
        }
        #expect(keys.0 == keys.1)
    }

    @Test func cacheModesDecideWhatIsReadAndWritten() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        let storePath = NSTemporaryDirectory() + "evalengine-modes-\(UUID().uuidString).sqlite"
        let distinct = distinctQuestions(qaGolden)
        try await withSimulator { sim, port in
            let e = EndpointConfig(name: "sim", baseURL: "http://sim.test", model: "sim-small")  // identity independent of the port
            func run(_ mode: CacheMode, ttl: Double? = nil) async throws -> (calls: Int, hits: Int) {
                let before = sim.currentStats.chat
                let result = try await withClient(e, port: port) { client in
                    var job = EvalJob(goldenSetPath: qaGolden, prompt: prompt)
                    job.memory.store = try Store.open(path: storePath)
                    job.memory.cacheMode = mode
                    job.memory.cacheTTL = ttl
                    var sink = MemorySink()
                    return try await EvalRunner(client: client).run(job, total: 250, sink: &sink)
                }
                return (sim.currentStats.chat - before, result.summary.cacheHits)
            }
            let readOnlyEmpty = try await run(.readOnly)
            #expect(readOnlyEmpty.calls >= distinct && readOnlyEmpty.hits == 0)  // nothing to read, nothing written
            let off = try await run(.off)
            #expect(off.calls >= distinct && off.hits == 0)
            let cold = try await run(.readWrite)
            #expect(cold.calls == distinct)
            let warm = try await run(.readWrite)
            #expect(warm.calls == 0 && warm.hits == 250)
            let expired = try await run(.readWrite, ttl: -1)
            #expect(expired.calls == distinct)
            let refresh = try await run(.refresh)
            #expect(refresh.calls >= distinct && refresh.hits == 0)
            let readOnly = try await run(.readOnly)
            #expect(readOnly.calls == 0 && readOnly.hits == 250)
        }
    }

    @Test func similarAssertionsEmbedOutputAndReferencesInOneBatch() async throws {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        let dir = scratchDir(["s.jsonl": """
            {"id":"close","vars":{"question":"Repeat exactly: the quick brown fox"},"assert":[{"type":"similar","value":["the quick brown fox","something else"]}]}
            {"id":"far","vars":{"question":"Repeat exactly: the quick brown fox"},"assert":[{"type":"not-similar","value":"quarterly revenue grew in asia","threshold":0.5}]}

            """])
        var profile = SimulatorProfile()
        profile.accuracy = 1
        let (result, records) = try await withSimulator(profile) { sim, port in
            let out = try await withClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port) { client in
                var job = EvalJob(goldenSetPath: dir + "/s.jsonl", prompt: prompt)
                job.embedder = Embedder(client: client)
                var sink = MemorySink()
                let r = try await EvalRunner(client: client).run(job, total: 2, sink: &sink)
                return (r, sink.records)
            }
            #expect(sim.currentStats.embeddings == 2)  // one request per case: output + references
            return out
        }
        #expect(result.summary.passed == 2, "\(records.map { $0.assertions.map(\.reason) })")
        #expect(result.summary.metrics["semantic_similarity"] != nil)
    }
}
