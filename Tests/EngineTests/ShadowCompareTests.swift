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

    @Test func aSlowerCandidateFailsTheLatencyRatioAndACheaperOnePassesTheCostGate() async throws {
        var fast = SimulatorProfile()
        fast.latency = .fixed(ms: 20)
        var slow = SimulatorProfile()
        slow.latency = .fixed(ms: 80)
        var latencyGate = ShadowGate()
        latencyGate.maxP95LatencyRatio = 1.1
        // Few cases at once, so the endpoints' own latency, not our queueing, is what is measured.
        let slower = try await compare(baseline: fast, candidate: slow, gate: latencyGate, concurrency: 4)
        #expect(slower.gate.verdict == .fail)
        #expect(slower.latencyRatios["p50"]!.ratio > 2)  // tails are noisy on a shared host; the median is not
        var costGate = ShadowGate()
        costGate.maxCostRatio = 1.0
        let cheaper = try await compare(baseline: SimulatorProfile(), candidate: SimulatorProfile(), candPrice: 0.3, gate: costGate)
        #expect(cheaper.gate.verdict == .pass, "\(cheaper.gate.reasons)")
        #expect(abs(cheaper.cost.candidate! / cheaper.cost.baseline! - 0.5) < 1e-9)
    }
}
