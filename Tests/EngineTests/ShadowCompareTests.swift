import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import Testing
import TestSupport
@testable import Engine
import Spawn

let trafficFile = repoRoot + "/golden-sets/shadow/traffic.jsonl"

@Suite struct ShadowCompareTests {
    /// Runs `job` with a baseline and a candidate simulator, each on its own port.
    func run(baseline: SimulatorProfile, candidate: SimulatorProfile, candModel: String = "sim-small", candPrice: Double = 0.6,
             _ job: ShadowJob) async throws -> ShadowResult {
        try await withSimulator(baseline) { _, basePort in
            try await withSimulator(candidate) { _, candPort in
                var b = EndpointConfig(name: "base", baseURL: "http://127.0.0.1:\(basePort)", model: "sim-small")
                b.pricing = .init(inputPerMillion: 0.3, outputPerMillion: 0.6)
                var c = EndpointConfig(name: "cand", baseURL: "http://127.0.0.1:\(candPort)", model: candModel)
                c.pricing = .init(inputPerMillion: candPrice / 2, outputPerMillion: candPrice)
                let (bb, cc) = (b, c)
                return try await withClient(bb, port: basePort) { base in
                    try await withClient(cc, port: candPort) { cand in
                        var job = job
                        job.embedder = Embedder(client: base)
                        return try await ShadowRunner(baseline: base, candidate: cand).run(job)
                    }
                }
            }
        }
    }

    func golden(_ gate: ShadowGate = ShadowGate()) throws -> ShadowJob {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        return ShadowJob(cases: .goldenSet(path: qaGolden, baselinePrompt: prompt, candidatePrompt: prompt), gate: gate, concurrency: 64)
    }

    var traffic: ShadowJob { ShadowJob(cases: .traffic(path: trafficFile, sampler: TrafficSampler(), baselineParams: nil, candidateParams: nil), concurrency: 64) }

    var candidateDeployment: SimulatorProfile {
        var p = SimulatorProfile()
        p.seed = 7  // another deployment of the same model
        return p
    }

    @Test func anIdenticalCandidatePassesWithNoFlipsAndNoDrift() async throws {
        let r = try await run(baseline: SimulatorProfile(), candidate: candidateDeployment, try golden())
        #expect(r.gate.verdict == .pass, "\(r.gate.reasons)")
        #expect(r.pairs.count == 250 && r.comparison.paired == 250)
        #expect(r.comparison.flipsToFail == 0 && r.comparison.flipsToPass == 0 && r.comparison.mcnemarP == 1)
        #expect(r.comparison.score.delta == 0)
        #expect(r.drift! < 1e-6)
        #expect(r.worstRegressions.isEmpty)
    }

    @Test func aWorseModelFailsOnQualityAndItsWorstRegressionsAreRealFlips() async throws {
        var worse = candidateDeployment
        worse.modelAccuracy = ["sim-worse": 0.6]
        let r = try await run(baseline: SimulatorProfile(), candidate: worse, candModel: "sim-worse", try golden())
        #expect(r.gate.verdict == .fail)
        #expect(r.comparison.passRateDifference.high < -0.02)
        #expect(r.comparison.mcnemarP < 0.001 && r.comparison.flipsToFail > r.comparison.flipsToPass)
        #expect(r.divergent.first!.cosine < 0.9)
        let worst = try #require(r.worstRegressions.first)
        #expect(worst.baseline.pass && !worst.candidate.pass && worst.baseline.output != worst.candidate.output)
    }

    @Test func trafficIsJudgedByAgreementWithTheProductionAnswerOrElseTheBaseline() async throws {
        let same = try await run(baseline: SimulatorProfile(), candidate: candidateDeployment, traffic)
        #expect(same.comparison.metric == .agreement)
        #expect(same.gate.verdict == .pass, "\(same.gate.reasons)")
        #expect(same.comparison.score.wins == 0 && same.comparison.score.losses == 0)
        // Lines with a logged answer score the baseline against it: a good model mostly agrees, not always.
        let logged = same.pairs.filter { $0.reference != nil }
        #expect(logged.count == 170)
        #expect(logged.contains { $0.baseline.score < 0.999 } && logged.filter(\.baseline.pass).count > 150)
        // Lines without one: the baseline is the reference and agrees with itself.
        #expect(same.pairs.filter { $0.reference == nil }.allSatisfy { $0.baseline.score == 1 })

        var worse = candidateDeployment
        worse.modelAccuracy = ["sim-worse": 0.6]
        let r = try await run(baseline: SimulatorProfile(), candidate: worse, candModel: "sim-worse", traffic)
        #expect(r.gate.verdict == .fail, "\(r.gate.reasons)")
        #expect(r.comparison.candidatePassRate! < r.comparison.baselinePassRate! - 0.1)
    }

    @Test func aSecondRunIsAnsweredFromTheCacheAndSendsNothing() async throws {
        let dir = scratchDir([:])
        let store = try Store.open(path: dir + "/cache.sqlite")
        try await withSimulator { baseSim, basePort in
            try await withSimulator(candidateDeployment) { candSim, candPort in
                let b = EndpointConfig(name: "base", baseURL: "http://127.0.0.1:\(basePort)", model: "sim-small")
                let c = EndpointConfig(name: "cand", baseURL: "http://127.0.0.1:\(candPort)", model: "sim-small")
                var j = try golden()
                j.memory.store = store
                let job = j
                try await withClient(b, port: basePort) { base in
                    try await withClient(c, port: candPort) { cand in
                        let first = try await ShadowRunner(baseline: base, candidate: cand).run(job)
                        let sent = (baseSim.currentStats.chat, candSim.currentStats.chat)
                        #expect(sent.0 == distinctQuestions(qaGolden) && sent.1 == distinctQuestions(qaGolden))
                        let second = try await ShadowRunner(baseline: base, candidate: cand).run(job)
                        #expect(baseSim.currentStats.chat == sent.0 && candSim.currentStats.chat == sent.1)
                        #expect(second.cacheHits == 500)
                        #expect(second.pairs.map(\.candidate.score) == first.pairs.map(\.candidate.score))
                        #expect(second.gate.verdict == first.gate.verdict)
                    }
                }
            }
        }
    }

    /// Latency and cost gates judged on recorded pairs (measured latencies on a shared host are
    /// noise, so the pairs are built here; the simulated runs above test the measuring).
    @Test func aSlowerCandidateFailsTheLatencyRatioAndACheaperOnePassesTheCostGate() {
        func pairs(slowdown: Double, costFactor: Double) -> [ShadowPair] {
            var rng = SplitMix64(seed: 11)
            return (0..<1000).map { i in
                let latency = 20 + 60 * rng.nextUnit()
                let cost = 0.001 * (1 + rng.nextUnit())
                let pass = i % 10 != 0
                return ShadowPair(id: "c\(i)",
                                  baseline: ShadowAnswer(output: "x", pass: pass, score: pass ? 1 : 0, latencyMs: latency, costUSD: cost),
                                  candidate: ShadowAnswer(output: "x", pass: pass, score: pass ? 1 : 0, latencyMs: latency * slowdown, costUSD: cost * costFactor))
            }
        }
        var latencyGate = ShadowGate()
        latencyGate.maxP95LatencyRatio = 1.1
        let slower = ShadowComparison.compare(pairs(slowdown: 1.3, costFactor: 1), gate: latencyGate, metric: .passRate, seed: 1)
        #expect(slower.gate.verdict == .fail)
        #expect(abs(slower.latencyRatios["p95"]!.value - 1.3) < 1e-9)
        #expect(slower.gate.checks.first { $0.name == "latency_p95_ratio" }?.result == .fail)
        let same = ShadowComparison.compare(pairs(slowdown: 1, costFactor: 1), gate: latencyGate, metric: .passRate, seed: 1)
        #expect(same.gate.verdict == .pass, "\(same.gate.reasons)")

        var costGate = ShadowGate()
        costGate.maxCostRatio = 1.0
        let cheaper = ShadowComparison.compare(pairs(slowdown: 1, costFactor: 0.5), gate: costGate, metric: .passRate, seed: 1)
        #expect(cheaper.gate.verdict == .pass, "\(cheaper.gate.reasons)")
        #expect(abs(cheaper.costRatio! - 0.5) < 1e-9)
        let dearer = ShadowComparison.compare(pairs(slowdown: 1, costFactor: 1.5), gate: costGate, metric: .passRate, seed: 1)
        #expect(dearer.gate.verdict == .fail)
    }

    @Test func errorsAreNotQualityLossesButTooManyMakeItInconclusive() {
        func pairs(candidateErrors: Int) -> [ShadowPair] {
            (0..<400).map { i in
                let a = ShadowAnswer(output: "x", pass: true, score: 1, latencyMs: 10, costUSD: nil)
                let c = i < candidateErrors ? ShadowAnswer.failure(kind: "http_500", message: "boom") : a
                return ShadowPair(id: "c\(i)", baseline: a, candidate: c)
            }
        }
        let few = ShadowComparison.compare(pairs(candidateErrors: 20), gate: ShadowGate(), metric: .passRate)
        #expect(few.gate.verdict == .pass && few.paired == 380 && few.errors.candidate == 20)
        #expect(few.errorKinds["http_500"]?.candidate == 20)
        let many = ShadowComparison.compare(pairs(candidateErrors: 80), gate: ShadowGate(), metric: .passRate)
        #expect(many.gate.verdict == .inconclusive)
        #expect(many.gate.reasons.contains { $0.contains("error_rate_candidate") })
    }

    @Test func pairsSurviveTheirJSONRoundTrip() {
        let p = ShadowPair(id: "a", line: 3, tags: ["t"],
                           baseline: ShadowAnswer(output: "x", pass: true, score: 1, latencyMs: 12.5, costUSD: 0.001, promptTokens: 3, completionTokens: 4, cached: true),
                           candidate: .failure(kind: "timeout", message: "slow"), reference: "ref")
        #expect(ShadowPair(json: p.json) == p)
    }
}

/// The command line, end to end: real binary, simulated endpoints in this process.
@Suite(.serialized) struct ShadowCompareCLITests {
    func config(_ basePort: Int, _ candPort: Int) -> String {
        """
        endpoints:
          - {name: prod, base_url: "http://127.0.0.1:\(basePort)", model: sim-small, max_in_flight: 16, pricing: {input_per_million: 0.3, output_per_million: 0.6}}
          - {name: prod-copy, base_url: "http://127.0.0.1:\(basePort)", model: sim-small, max_in_flight: 16}
          - {name: next, base_url: "http://127.0.0.1:\(candPort)", model: sim-small, max_in_flight: 16, pricing: {input_per_million: 0.15, output_per_million: 0.3}}
        """
    }

    @Test func reportsAndHTMLAreWrittenAndTheExitCodeIsTheVerdict() async throws {
        var c = SimulatorProfile()
        c.seed = 7
        let cand = c
        try await withSimulator { _, basePort in
            try await withSimulator(cand) { _, candPort in
                let dir = scratchDir(["endpoints.yaml": config(basePort, candPort), "gate.yaml": "margin: 0.02\nmax_cost_ratio: 0.8\n"])
                let r = try await runCLI(["shadow-compare", "--cases", qaGolden, "--baseline", "prod", "--candidate", "next", "--baseline-prompt", qaPrompt,
                                          "--config", dir + "/endpoints.yaml", "--gate", dir + "/gate.yaml", "--report", dir + "/r.json", "--html", dir + "/r.html",
                                          "--quiet", "--cache-path", dir + "/c.sqlite"])
                #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
                #expect(r.stdout.contains("verdict: PASS"))
                let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: dir + "/r.json")!, as: UTF8.self))
                #expect(report["verdict"]?.stringValue == "pass")
                #expect(report["pairs"]?.arrayValue?.count == 250)
                #expect(report["quality"]?["metric"]?.stringValue == "pass_rate")
                #expect(abs((report["cost_usd"]?["ratio"]?.numberValue ?? 0) - 0.5) < 1e-9)
                #expect(report["latency_ms"]?["ratios"]?["p95"]?["ci95"]?.arrayValue?.count == 2)
                let html = String(decoding: FileManager.default.contents(atPath: dir + "/r.html")!, as: UTF8.self)
                for id in ["latency-cdf", "score-diff", "cost"] { #expect(html.contains("id=\"\(id)\"><svg")) }
                // Self-contained: no scripts, no fetched resources.
                #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"))
            }
        }
    }

    @Test func aMalformedTrafficLineIsNamedAndNothingIsSent() async throws {
        try await withSimulator { sim, port in
            let good = try String(contentsOfFile: trafficFile, encoding: .utf8).split(separator: "\n").prefix(3).joined(separator: "\n")
            let dir = scratchDir(["endpoints.yaml": config(port, port), "t.jsonl": good + "\n{\"request\": {\"messages\": [}\n"])
            let r = try await runCLI(["shadow-compare", "--cases", dir + "/t.jsonl", "--baseline", "prod", "--candidate", "next",
                                      "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite"])
            #expect(r.status == 65)
            #expect(r.stderr.contains(dir + "/t.jsonl:4: malformed JSON"), "\(r.stderr)")
            let noMessages = scratchDir(["endpoints.yaml": config(port, port), "t.jsonl": "{\"request\": {\"model\": \"m\"}}\n"])
            let r2 = try await runCLI(["shadow-compare", "--cases", noMessages + "/t.jsonl", "--baseline", "prod", "--candidate", "next",
                                       "--config", noMessages + "/endpoints.yaml", "--quiet", "--cache-path", noMessages + "/c.sqlite"])
            #expect(r2.status == 65)
            #expect(r2.stderr.contains("t.jsonl:1") && r2.stderr.contains("request.messages"), "\(r2.stderr)")
            #expect(sim.currentStats.requests == 0)
        }
    }

    @Test func anUnknownEndpointIsNamedWithTheFlagThatAskedForIt() async throws {
        let dir = scratchDir(["endpoints.yaml": config(9, 9)])
        let r = try await runCLI(["shadow-compare", "--cases", trafficFile, "--baseline", "prod", "--candidate", "nxet",
                                  "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("no endpoint named 'nxet' for --candidate") && r.stderr.contains("prod, prod-copy, next"), "\(r.stderr)")
        let noPrompt = try await runCLI(["shadow-compare", "--cases", qaGolden, "--baseline", "prod", "--candidate", "next",
                                         "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite"])
        #expect(noPrompt.status == 64)
        #expect(noPrompt.stderr.contains("--baseline-prompt"))
        let sampledGolden = try await runCLI(["shadow-compare", "--cases", qaGolden, "--baseline", "prod", "--candidate", "next", "--baseline-prompt", qaPrompt,
                                              "--max-cases", "10", "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite"])
        #expect(sampledGolden.status == 64 && sampledGolden.stderr.contains("golden set"))
        let badGate = scratchDir(["g.yaml": "margin: 0.02\nmax_p95_latency: 1.1\n"])
        let g = try await runCLI(["shadow-compare", "--cases", trafficFile, "--baseline", "prod", "--candidate", "next", "--gate", badGate + "/g.yaml",
                                  "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite"])
        #expect(g.status == 78)
        #expect(g.stderr.contains("g.yaml:2") && g.stderr.contains("max_p95_latency"), "\(g.stderr)")
    }

    @Test func theSameEndpointUnderTwoNamesIsWarnedAbout() async throws {
        try await withSimulator { _, port in
            let dir = scratchDir(["endpoints.yaml": config(port, port)])
            let r = try await runCLI(["shadow-compare", "--cases", trafficFile, "--baseline", "prod", "--candidate", "prod-copy",
                                      "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite", "--report", dir + "/r.json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("baseline 'prod' and candidate 'prod-copy' are the same endpoint, model and prompt"), "\(r.stderr)")
            let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: dir + "/r.json")!, as: UTF8.self))
            #expect(report["warnings"]?.arrayValue?.count == 1)
            #expect(report["cases"]?["compared"]?.numberValue == 250)
        }
    }

    @Test func aKilledRunResumesAndEachSideAnswersEveryCaseOnce() async throws {
        var p = SimulatorProfile()
        p.latency = .fixed(ms: 5)
        let profile = p
        var c = profile
        c.seed = 7
        let cand = c
        let base = profile
        try await withSimulator(base) { baseSim, basePort in
            try await withSimulator(cand) { candSim, candPort in
                let dir = scratchDir(["endpoints.yaml": config(basePort, candPort), "g.jsonl": arithmeticGoldenSet(1500),
                                      "prompt.yaml": "messages:\n  - {role: user, content: \"{{question}}\"}\n"])
                let args = ["shadow-compare", "--cases", dir + "/g.jsonl", "--baseline", "prod", "--candidate", "next", "--baseline-prompt", dir + "/prompt.yaml",
                            "--config", dir + "/endpoints.yaml", "--quiet", "--cache-path", dir + "/c.sqlite", "--report", dir + "/r.json"]
                let first = try startCLI(args, logBase: dir + "/first")
                while candSim.currentStats.chat < 600 && first.isRunning { try await Task.sleep(for: .milliseconds(10)) }
                first.send(SIGKILL)
                first.waitUntilExit()
                // Requests already in the servers' socket buffers are still served: let them land.
                try await Task.sleep(for: .milliseconds(300))
                let sentBefore = baseSim.currentStats.chat + candSim.currentStats.chat
                let store = try Store.open(path: dir + "/c.sqlite")
                let run = try #require(try store.unfinishedRunAny())
                var persisted = 0
                try store.forEachCaseResult(runID: run.id) { _, _ in persisted += 1 }
                #expect(persisted > 0 && persisted < 1500)

                let r = try await runCLI(args)
                #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
                let report = try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: dir + "/r.json")!, as: UTF8.self))
                #expect(report["run"]?["id"]?.stringValue == run.id)
                #expect(report["run"]?["resumed_cases"]?.numberValue == Double(persisted))
                #expect(report["pairs"]?.arrayValue?.count == 1500)
                // Only cases without a persisted pair were sent, on each side; the killed run's last
                // cached answers were reused rather than paid for twice.
                let hits = Int(report["run"]?["cache_hits"]?.numberValue ?? -1)
                let sentByResume = baseSim.currentStats.chat + candSim.currentStats.chat - sentBefore
                #expect(sentByResume == 2 * (1500 - persisted) - hits, "sent \(sentByResume), persisted \(persisted), hits \(hits)")
            }
        }
    }
}
