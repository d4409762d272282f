import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// Repeats (K samples per case, flakiness) and matrices (prompts × endpoints) on the one run core.
@Suite struct RepeatsAndMatrixTests {
    /// Arithmetic cases whose answers pass exactly when the simulated model answers correctly.
    static func golden(_ n: Int, dir: String) -> String {
        let path = dir + "/g.jsonl"
        var lines: [String] = []
        for i in 0..<n {
            let a = 1000 + i * 37
            lines.append(#"{"id":"c\#(i)","vars":{"question":"What is \#(a) + 11?"},"expected":"\#(a + 11)"}"#)
        }
        FileManager.default.createFile(atPath: path, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        return path
    }

    static func samplingPrompt(temperature: Double) -> PromptConfig {
        var p = ModelParams()
        p.temperature = temperature
        p.maxTokens = 16
        return PromptConfig(messages: [MessageTemplate(role: "user", content: Template("{{question}}"))], params: p)
    }

    static func scratch() -> String {
        let dir = NSTemporaryDirectory() + "evalengine-repeat-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func flakyCountsMatchTheSimulatorsNoiseModelAndRepeatsAreRealSamplesCachedApart() async throws {
        let n = 600, k = 3, accuracy = 0.6, temperature = 1.0
        let dir = Self.scratch()
        let golden = Self.golden(n, dir: dir)
        let prompt = Self.samplingPrompt(temperature: temperature)
        // The noise model (SimulatedBrain): a case of difficulty d is answered correctly when
        // d + j < accuracy, j uniform in ±0.05·t, drawn afresh for every unseeded sample.
        var expectedFlaky = 0.0, varianceFlaky = 0.0, expectedPass = 0.0
        for i in 0..<n {
            let d = SimulatedBrain.difficulty("What is \(1000 + i * 37) + 11?")
            let half = 0.05 * temperature
            let p = min(1, max(0, (accuracy - d + half) / (2 * half)))
            let q = 1 - pow(p, Double(k)) - pow(1 - p, Double(k))
            expectedFlaky += q
            varianceFlaky += q * (1 - q)
            expectedPass += p
        }
        #expect(expectedFlaky > 20, "the set must have cases near the model's accuracy")
        var profile = SimulatorProfile()
        profile.accuracy = accuracy
        let storePath = dir + "/cache.sqlite"
        let (cold, coldRequests, warm, warmRequests, rows) = try await withSimulator(profile) { sim, port in
            try await withClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port) { client in
                var job = EvalJob(goldenSetPath: golden, prompt: prompt, gate: GateConfig(), concurrency: 64)
                job.repeats = k
                job.memory.store = try Store.open(path: storePath)
                var sink = MemorySink()
                let cold = try await EvalRunner(client: client).run(job, total: n, sink: &sink)
                let coldRequests = sim.currentStats.chat
                job.memory.autoResume = false
                var again = MemorySink()
                let warm = try await EvalRunner(client: client).run(job, total: n, sink: &again)
                return (cold, coldRequests, warm, sim.currentStats.chat - coldRequests, sink.records)
            }
        }
        // Every repeat is a call of its own when cold (promptfoo #360: never one cached answer
        // for all repeats), and none when warm.
        #expect(coldRequests == k * n)
        #expect(warmRequests == 0)
        #expect(warm.summary.cacheHits == k * n)
        let r = try #require(cold.summary.repeats)
        #expect(r.k == k && r.cases == n && r.complete == n)
        let sd = varianceFlaky.squareRoot()
        print("repeats: \(n) cases × \(k) at accuracy \(accuracy), t=\(temperature): flaky \(r.flaky) (noise model expects \(String(format: "%.1f ± %.1f", expectedFlaky, sd))), pass@1 \(String(format: "%.4f", cold.summary.passRate!)) (expects \(String(format: "%.4f", expectedPass / Double(n)))), requests cold \(coldRequests) warm \(warmRequests)")
        #expect(abs(Double(r.flaky) - expectedFlaky) <= 4 * sd + 1, "flaky \(r.flaky), expected \(expectedFlaky) ± \(sd)")
        #expect(abs(cold.summary.passRate! - expectedPass / Double(n)) < 0.02)
        #expect(warm.summary.repeats == r, "a warm re-run of the same K reads the same samples")
        // Rows: one per case with its K samples; flaky ones really disagree.
        #expect(rows.count == n)
        for row in rows {
            let s = try #require(row.samples)
            #expect(s.records.count == k)
            #expect(s.flaky == (s.passed > 0 && s.failed > 0))
            #expect(row.status == (s.failed > 0 ? .failed : .passed))
            #expect(row.statusContradiction == nil)
        }
        #expect(rows.filter { $0.samples!.flaky }.count == r.flaky)
        #expect(r.flakiest.count == min(r.flaky, RepeatAccumulator.flakiestKept))
        // The pass-rate interval is over cases, not samples: wider than a Wilson over 3n samples.
        let ci = try #require(cold.summary.passRateInterval)
        let naive = Statistics.wilson(successes: cold.summary.passed, trials: cold.summary.scored)
        #expect(ci.high - ci.low > naive.high - naive.low)
    }

    @Test func repeatGatesJudgeFlakinessAndPassAll() async throws {
        var s = RunSummary()
        s.total = 30; s.passed = 25; s.failed = 5
        s.clusterSize = 3
        var r = RepeatSummary(k: 3)
        r.cases = 10; r.complete = 10; r.passAll = 7; r.passAny = 10; r.flaky = 3
        s.repeats = r
        var gate = GateConfig()
        gate.maxFlakyRate = 0.2
        gate.minPassAllRate = 0.6
        let result = gate.evaluate(s)
        #expect(result.verdict == .fail)
        #expect(result.checks.first { $0.name == "flaky_rate" }?.actual == 0.3)
        #expect(result.checks.first { $0.name == "pass_all_rate" }?.pass == true)
        #expect(gate.repeatProblem(repeats: 1) != nil && gate.repeatProblem(repeats: 2) == nil)
        #expect((try? GateConfig.decode(["repeat": 0])) == nil && (try? GateConfig.decode(["repeat": 1e6])) == nil)
        #expect(try GateConfig.decode(["repeat": 3, "max_flaky_rate": 0.1]).repeats == 3)
    }

    @Test func aMatrixOfTwoPromptsAndThreeEndpointsIsSixRunsInOne() async throws {
        let dir = Self.scratch()
        let golden = arithmeticGoldenSet(60)
        let path = dir + "/g.jsonl"
        FileManager.default.createFile(atPath: path, contents: Data(golden.utf8))
        var a = Self.samplingPrompt(temperature: 0)
        a.params.seed = 7
        var b = a
        b.messages.insert(MessageTemplate(role: "system", content: Template("Answer with the number only.")), at: 0)
        let prompts = [NamedPrompt(name: "terse", config: a), NamedPrompt(name: "system", config: b)]
        let first = a
        var profile = SimulatorProfile()
        profile.modelAccuracy = ["m-weak": 0.5, "m-mid": 0.8, "m-strong": 0.97]
        let models = ["m-weak", "m-mid", "m-strong"]
        let (matrix, requests, singles) = try await withSimulator(profile) { sim, port in
            let clients = models.map { makeClient(EndpointConfig(name: $0, baseURL: nil, model: $0), port: port) }
            defer { for c in clients { Task { await c.shutdown() } } }
            var job = EvalJob(goldenSetPath: path, prompt: first, gate: .default, concurrency: 32)
            job.prompts = prompts
            job.memory.store = try Store.open(path: dir + "/matrix.sqlite")
            var sink = MemorySink()
            let matrix = try await EvalRunner(clients: clients).run(job, total: 60, sink: &sink)
            let requests = sim.currentStats.chat
            #expect(sink.records.count == 6 * 60)
            #expect(Set(sink.records.compactMap(\.target)).count == 6)
            var singles: [String: RunSummary] = [:]
            for p in prompts {
                for c in clients {
                    var one = EvalJob(goldenSetPath: path, prompt: p.config, gate: GateConfig(), concurrency: 32)
                    one.memory.store = try Store.open(path: dir + "/single-\(p.name)-\(c.endpoint.name).sqlite")
                    var s = MemorySink()
                    singles["\(p.name)@\(c.endpoint.name)"] = try await EvalRunner(client: c).run(one, total: 60, sink: &s).summary
                }
            }
            return (matrix, requests, singles)
        }
        #expect(requests == 6 * 60)
        #expect(matrix.targets.map(\.label) == ["terse@m-weak", "terse@m-mid", "terse@m-strong", "system@m-weak", "system@m-mid", "system@m-strong"])
        for t in matrix.targets {
            let single = try #require(singles[t.label])
            #expect(t.summary.passed == single.passed && t.summary.failed == single.failed && t.summary.errored == single.errored)
            #expect(t.summary.meanScore == single.meanScore)
            #expect(t.summary.passRateInterval?.low == single.passRateInterval?.low)
        }
        // The default gate wants every case to pass: only the strong model could; the weak ones fail it.
        #expect(matrix.gate.verdict == .fail)
        #expect(matrix.gate.notes.first?.hasPrefix("targets passing:") == true)
        #expect(matrix.gate.checks.contains { $0.name == "terse@m-weak/pass_rate" })
        #expect(matrix.summary.total == 360)
    }

    @Test func aKilledMatrixWithRepeatsResumesEveryTargetWithoutResending() async throws {
        let dir = Self.scratch()
        let path = Self.golden(80, dir: dir)
        let prompt = Self.samplingPrompt(temperature: 1)
        var profile = SimulatorProfile()
        profile.accuracy = 0.6
        profile.latency = .uniform(minMs: 5, maxMs: 25)
        let (first, second, total) = try await withSimulator(profile) { sim, port in
            let clients = ["x", "y"].map { makeClient(EndpointConfig(name: $0, baseURL: nil, model: "sim-\($0)"), port: port) }
            defer { for c in clients { Task { await c.shutdown() } } }
            var job = EvalJob(goldenSetPath: path, prompt: prompt, gate: GateConfig(), concurrency: 8)
            job.repeats = 2
            job.memory.store = try Store.open(path: dir + "/cache.sqlite")
            let runner = EvalRunner(clients: clients)
            let task = Task {
                var sink = MemorySink()
                return try await runner.run(job, total: 80, sink: &sink)
            }
            while sim.currentStats.chat < 100 { try await Task.sleep(for: .milliseconds(5)) }
            task.cancel()
            let first = try await task.value
            let sentBefore = sim.currentStats.chat
            var sink = MemorySink()
            let second = try await runner.run(job, total: 80, sink: &sink)
            #expect(sink.records.count == 2 * 80)
            return (first, second, sim.currentStats.chat - sentBefore + first.summary.total)
        }
        #expect(first.cancelled && first.gate.verdict == .inconclusive)
        #expect(second.runID == first.runID && second.resumedCases >= first.summary.total - 8)
        // What the first attempt finished is not sent again: at most the in-flight ones twice.
        #expect(total <= 2 * 2 * 80 + 8)
        #expect(second.summary.total == 2 * 2 * 80)
    }
}
