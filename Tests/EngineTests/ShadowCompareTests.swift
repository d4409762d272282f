import EvalCore
import Foundation
import GoldenSets
import ModelClient
import SimulatedModel
import Testing
import TestSupport
@testable import Engine

@Suite struct ShadowCompareTests {
    func compare(baseline: SimulatorProfile, candidate: SimulatorProfile, baseModel: String = "sim-small", candModel: String = "sim-small",
                 candPrice: Double = 0.6, gate: ShadowGate, concurrency: Int = 64) async throws -> ShadowResult {
        let prompt = try ConfigFiles.loadPrompt(path: qaPrompt)
        return try await withSimulator(baseline) { _, basePort in
            try await withSimulator(candidate) { _, candPort in
                var b = EndpointConfig(name: "base", baseURL: nil, model: baseModel)
                b.pricing = .init(inputPerMillion: 0.3, outputPerMillion: 0.6)
                var cc = EndpointConfig(name: "cand", baseURL: nil, model: candModel)
                cc.pricing = .init(inputPerMillion: candPrice / 2, outputPerMillion: candPrice)
                let c = cc
                let bb = b
                return try await withClient(bb, port: basePort) { base in
                    try await withClient(c, port: candPort) { cand in
                        try await ShadowRunner(baseline: base, candidate: cand, embedder: Embedder(client: base))
                            .run(goldenSetPath: qaGolden, baselinePrompt: prompt, candidatePrompt: prompt, gate: gate, concurrency: concurrency)
                    }
                }
            }
        }
    }

    @Test func anIdenticalCandidatePassesWithNoFlipsAndNoDrift() async throws {
        let r = try await compare(baseline: SimulatorProfile(), candidate: SimulatorProfile(), gate: ShadowGate())
        #expect(r.gate.verdict == .pass, "\(r.gate.reasons)")
        #expect(r.flipsToFail == 0 && r.flipsToPass == 0 && r.mcnemarP == 1)
        #expect(r.score.delta == 0)
        #expect(r.drift! < 1e-6)
    }

    @Test func aWorseModelFailsOnQuality() async throws {
        var worse = SimulatorProfile()
        worse.modelAccuracy = ["sim-worse": 0.6]
        let r = try await compare(baseline: SimulatorProfile(), candidate: worse, candModel: "sim-worse", gate: ShadowGate())
        #expect(r.gate.verdict == .fail)
        #expect(r.passRateDifference.high < -0.025)
        #expect(r.mcnemarP < 0.001 && r.flipsToFail > r.flipsToPass)
        #expect(r.divergent.first!.cosine < 0.9)  // the most divergent outputs differ for real
    }

    /// Latency and cost gates judged on recorded pairs (measured latencies on a shared host are
    /// noise, so the pairs are built here; the simulated runs above test the measuring).
    @Test func aSlowerCandidateFailsTheLatencyRatioAndACheaperOnePassesTheCostGate() async throws {
        @Sendable func pairs(slowdown: Double, costFactor: Double) -> [ShadowPair] {
            var rng = SplitMix64(seed: 11)
            return (0..<500).map { i in
                let latency = 20 + 60 * rng.nextUnit()
                let cost = 0.001 * (1 + rng.nextUnit())
                let pass = i % 10 != 0
                return ShadowPair(id: "c\(i)",
                                  baseline: ShadowAnswer(output: "x", pass: pass, score: pass ? 1 : 0, latencyMs: latency, costUSD: cost, tokens: 10),
                                  candidate: ShadowAnswer(output: "x", pass: pass, score: pass ? 1 : 0, latencyMs: latency * slowdown, costUSD: cost * costFactor, tokens: 10))
            }
        }
        try await withSimulator { _, port in
            try await withClient(EndpointConfig(name: "s", baseURL: nil, model: "m"), port: port) { client in
                let runner = ShadowRunner(baseline: client, candidate: client)
                var latencyGate = ShadowGate()
                latencyGate.maxP95LatencyRatio = 1.1
                let slower = try await runner.compare(pairs(slowdown: 1.3, costFactor: 1), gate: latencyGate, seed: 1)
                #expect(slower.gate.verdict == .fail)
                #expect(abs(slower.latencyRatios["p95"]!.ratio - 1.3) < 1e-9)
                #expect(slower.gate.reasons.contains { $0.contains("latency_p95_ratio") })
                var costGate = ShadowGate()
                costGate.maxCostRatio = 1.0
                let cheaper = try await runner.compare(pairs(slowdown: 1, costFactor: 0.5), gate: costGate, seed: 1)
                #expect(cheaper.gate.verdict == .pass, "\(cheaper.gate.reasons)")
                #expect(abs(cheaper.cost.candidate! / cheaper.cost.baseline! - 0.5) < 1e-9)
            }
        }
    }
}
