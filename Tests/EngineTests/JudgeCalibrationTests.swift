import EvalCore
import Foundation
import ModelClient
import SimulatedModel
import TestSupport
import Testing
@testable import Engine

/// The calibration measures what the simulated judge is configured to be.
@Suite struct JudgeCalibrationTests {
    /// 1,000 labelled sums, half right, half wrong; people's verdict is the truth.
    static func labels(_ n: Int) throws -> (path: String, humanPassShare: Double) {
        let path = NSTemporaryDirectory() + "evalengine-labels-\(UUID().uuidString).jsonl"
        var lines: [String] = []
        var passes = 0
        for i in 0..<n {
            let a = 1000 + i
            let right = (i * 7919) % 2 == 0
            if right { passes += 1 }
            let output = String(right ? a + 19 : a + 20)
            lines.append(#"{"id":"l\#(i)","type":"llm-rubric","rubric":"Gives the correct sum","input":"What is \#(a) + 19?","output":"\#(output)","human":\#(right)}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, Double(passes) / Double(n))
    }

    static func calibrate(_ items: [LabelledJudgement], accuracy: Double, seed: UInt64, minKappa: Double? = nil) async throws -> JudgeCalibration.Result {
        var profile = SimulatorProfile()
        profile.judgeAccuracy = accuracy
        profile.seed = seed
        return try await withSimulator(profile) { _, port in
            try await withClient(EndpointConfig(name: "judge", baseURL: nil, model: "sim-judge"), port: port) { client in
                try await JudgeCalibration.run(items, judge: client, memory: RunMemory(), concurrency: 64, seed: seed, minKappa: minKappa)
            }
        }
    }

    @Test func accuracyAndKappaCoverTheConfiguredJudgeOverTwentySeeds() async throws {
        let (path, pi) = try Self.labels(1000)
        let items = try JudgeCalibration.readLabels(path: path)
        let a = 0.9
        let q = pi * a + (1 - pi) * (1 - a)
        let pe = pi * q + (1 - pi) * (1 - q)
        let kappa = (a - pe) / (1 - pe)
        var accuracyCovered = 0, kappaCovered = 0
        var table = ["seed  accuracy (95% CI)          kappa (95% CI)      configured: accuracy \(a), kappa \(String(format: "%.3f", kappa))"]
        for seed in 1...20 {
            let r = try await Self.calibrate(items, accuracy: a, seed: UInt64(seed))
            let g = try #require(r.agreement)
            #expect(g.items == 1000 && r.unscored.isEmpty)
            if g.accuracyCI.low <= a && a <= g.accuracyCI.high { accuracyCovered += 1 }
            if g.kappaCI.low <= kappa && kappa <= g.kappaCI.high { kappaCovered += 1 }
            table.append(String(format: "%4d  %.3f (%.3f–%.3f)      %.3f (%.3f–%.3f)", seed, g.accuracy, g.accuracyCI.low, g.accuracyCI.high, g.kappa, g.kappaCI.low, g.kappaCI.high))
        }
        table.append("covered: accuracy \(accuracyCovered)/20, kappa \(kappaCovered)/20")
        print(table.joined(separator: "\n"))
        // 95% intervals: about 19 of 20 cover; fewer than 16 would happen by chance with p < 0.3%.
        #expect(accuracyCovered >= 16 && kappaCovered >= 16)
    }

    @Test func aJudgeThatAgreesSixtyPercentIsRefusedByMinKappa() async throws {
        let (path, _) = try Self.labels(1000)
        let items = try JudgeCalibration.readLabels(path: path)
        let weak = try await Self.calibrate(items, accuracy: 0.6, seed: 3, minKappa: 0.6)
        #expect(weak.gate.verdict == .fail)
        #expect((weak.agreement?.kappa ?? 1) < 0.4)
        #expect(weak.disagreements.count == (weak.agreement!.missedPass + weak.agreement!.falsePass))
        let good = try await Self.calibrate(items, accuracy: 0.95, seed: 3, minKappa: 0.6)
        #expect(good.gate.verdict == .pass)
    }

    @Test func kappaIsCohensOnKnownTables() {
        // 20 items: 15 agree (10 pass/pass, 5 fail/fail), 5 disagree; marginals people 12/8, judge 13/7.
        var pairs: [(human: Bool, judge: Bool)] = Array(repeating: (true, true), count: 10) + Array(repeating: (false, false), count: 5)
        pairs += Array(repeating: (true, false), count: 2) + Array(repeating: (false, true), count: 3)
        let pe = 0.6 * 0.65 + 0.4 * 0.35
        #expect(abs(Agreement.kappa(pairs) - (0.75 - pe) / (1 - pe)) < 1e-12)
        #expect(Agreement.kappa(Array(repeating: (true, true), count: 5)) == 1)
    }

    @Test func badLabelsNameTheLine() throws {
        let path = NSTemporaryDirectory() + "evalengine-badlabels-\(UUID().uuidString).jsonl"
        try "{\"id\":\"a\",\"rubric\":\"r\",\"input\":\"i\",\"output\":\"o\",\"human\":true}\n{\"id\":\"b\",\"rubric\":\"r\",\"input\":\"i\",\"output\":\"o\"}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try JudgeCalibration.readLabels(path: path)
            Issue.record("a label without a human verdict must be refused")
        } catch {
            #expect(error.location.line == 2 && error.field == "human")
        }
    }
}
