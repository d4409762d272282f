import EvalCore
import Foundation
import Synchronization
import Testing
@testable import Engine

@Suite struct CapacityTests {
    @Test func profilesExpandAndAreBounded() throws {
        let ramp = try LoadProfile.decode(["kind": "ramp", "from": 10, "to": 50, "step": 10, "step_seconds": 2, "slo_p99_ms": 80])
        #expect(ramp.steps.map(\.rate) == [10, 20, 30, 40, 50] && ramp.steps.allSatisfy { $0.seconds == 2 } && ramp.sloP99Ms == 80)
        let spike = try LoadProfile.decode(["kind": "spike", "base": 5, "spike": 50, "seconds": 6, "spike_seconds": 2])
        #expect(spike.steps.map(\.rate) == [5, 50, 5] && spike.steps.map(\.seconds) == [6, 2, 6])
        let steady = try LoadProfile.decode(["rate": 3, "seconds": 4])
        #expect(steady.steps.count == 1)
        for bad: JSONValue in [["kind": "ramp", "from": 10, "to": 5, "step": 1, "step_seconds": 1], ["kind": "wave"], ["rate": 5000, "seconds": 600],
                               ["kind": "steady", "rate": 1], ["rate": 1, "seconds": 1, "burst": 2], ["steps": []],
                               // Hostile numbers: an error, never a trap (the message and the timeout's Duration convert them).
                               ["rate": 1e300, "seconds": 1e300], ["rate": 1, "seconds": 1, "timeout_seconds": 1e300]] {
            #expect(throws: FieldError.self) { try LoadProfile.decode(bad) }
        }
        // The repository's profiles decode.
        for name in ["ramp", "steady", "spike"] {
            let text = try String(contentsOfFile: repoRoot + "/profiles/\(name).yaml", encoding: .utf8)
            #expect(text.contains("kind: \(name)"))
        }
    }

    @Test func everyScheduledRequestIsCountedOnceAsAnswerOrError() async {
        let calls = Atomic<Int>(0)
        let runner = CapacityRunner(maxInFlight: 1000) {
            let n = calls.add(1, ordering: .relaxed).newValue
            return n % 10 == 0 ? "http_500" : nil
        }
        let profile = LoadProfile(name: "t", steps: [.init(rate: 200, seconds: 0.25), .init(rate: 400, seconds: 0.25)], sloP99Ms: 60_000, timeoutSeconds: 30, prompt: "x")
        let r = await runner.run(profile, target: "fake")
        #expect(r.steps.map(\.sent) == [50, 100])
        #expect(r.steps.map { $0.ok + $0.errors } == [50, 100])
        #expect(r.steps.reduce(0) { $0 + $1.errors } == 15 && r.steps.allSatisfy { ($0.errorKinds["http_500"] ?? 0) == $0.errors })
        #expect(calls.load(ordering: .relaxed) == 150)
        #expect(r.kneeRate == nil)  // errors in every step: no step meets the SLO
        let json = r.json
        #expect(json["steps"]?.arrayValue?.count == 2 && json["knee_rate"] == .null)
        #expect(r.svg.contains("<svg") && r.table.contains("knee: none"))
    }

    /// A streamed target's time to first token goes into each step's own histogram and the table.
    @Test func timeToFirstTokenIsReportedPerStep() async {
        let runner = CapacityRunner(maxInFlight: 1000, timedSend: { (nil, StreamTiming(ttftMs: 42, interTokenP50Ms: 7, interTokenP95Ms: 9, tokens: 5, streamMs: 30)) })
        let profile = LoadProfile(name: "t", steps: [.init(rate: 100, seconds: 0.2), .init(rate: 200, seconds: 0.2)], sloP99Ms: 60_000, timeoutSeconds: 30, prompt: "x")
        let r = await runner.run(profile, target: "fake")
        #expect(r.steps.allSatisfy { s in [s.ttftP50Ms, s.ttftP90Ms, s.ttftP99Ms].allSatisfy { abs(($0 ?? 0) - 42) < 0.1 } })
        #expect(r.table.contains("ttft p50") && r.json["steps"]?.arrayValue?.first?["ttft_ms"]?["p99"]?.numberValue != nil)
        #expect(r.steps.allSatisfy { $0.interTokenP50Ms == 7 })
        // An untimed target has no TTFT columns.
        let plain = await CapacityRunner(maxInFlight: 10) { nil }.run(profile, target: "fake")
        #expect(!plain.table.contains("ttft") && plain.json["steps"]?.arrayValue?.first?["ttft_ms"] == .null)
    }

    @Test func aFullInFlightBudgetCountsOverloadInsteadOfDelaying() async {
        let runner = CapacityRunner(maxInFlight: 1) {
            try? await Task.sleep(for: .seconds(2))
            return nil
        }
        let profile = LoadProfile(name: "t", steps: [.init(rate: 100, seconds: 0.1)], sloP99Ms: 10_000, timeoutSeconds: 30, prompt: "x")
        let r = await runner.run(profile, target: "fake")
        #expect(r.steps[0].sent == 10 && r.steps[0].ok == 1 && r.steps[0].errorKinds["overload"] == 9)
    }
}
