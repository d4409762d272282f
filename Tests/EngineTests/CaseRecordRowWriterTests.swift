import EvalCore
import Testing
@testable import Engine

/// The stored row written straight to bytes is the row `json()` gives, byte for byte.
@Suite struct CaseRecordRowWriterTests {
    func reference(_ r: CaseRecord, sample: Int) -> [UInt8] {
        var json = r.json()
        if sample > 0, case .object(var o) = json {
            o["sample"] = .number(Double(sample))
            json = .object(o)
        }
        var bytes: [UInt8] = []
        json.write(to: &bytes, sortedKeys: true)
        return bytes
    }

    func direct(_ r: CaseRecord, sample: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        CaseRecordRowWriter.write(r, sample: sample, to: &bytes)
        return bytes
    }

    @Test func everyFieldAndNoneAreWrittenAsTheJSONValueRow() throws {
        let base = try #require(CaseRecord(json: ["id": "c-1", "line": 3, "status": "passed", "score": 1, "tokens": ["prompt": 12, "completion": 3]]))
        var full = base
        full.description = "Ünïcode \"quoted\"\n and \u{1}control"
        full.tags = ["b", "a", "é"]
        full.namedScores = ["zeta": 0.5, "accuracy": 1, "Äpfel": 0.25, "format": 0.333333333333]
        full.output = "The answer is 42.\t✓"
        full.finishReason = "stop"
        full.latencyMs = 12.345678
        full.costUSD = 1.5e-7
        full.attempts = 3
        full.rateLimited = 1
        full.cached = true
        full.threshold = 0.8
        full.target = "prompt@sim"
        full.status = .failed
        full.score = 0.123456789
        full.assertions = [
            AssertionResult(type: "equals", pass: false, score: 0, weight: 1, metric: "accuracy", reason: "expected \"42\"", errorKind: nil),
            AssertionResult(type: "regex", pass: true, score: 1, weight: 0.5, metric: nil, reason: "", errorKind: "embedding_timeout"),
        ]
        full.errorKind = "timeout"
        full.errorMessage = "no answer within 5 s"
        var errored = base
        errored.status = .errored
        errored.errorKind = "connection"
        errored.output = nil
        var noMessage = errored
        noMessage.errorMessage = nil
        var withCalls = full
        withCalls.toolCalls = [ToolCall(id: "1", name: "lookup", rawArguments: "{\"q\":1}")]
        var agreement = full
        agreement.assertions[0].judgeContradiction = true
        for r in [base, full, errored, noMessage, withCalls, agreement] {
            for sample in [0, 2] {
                let a = direct(r, sample: sample), b = reference(r, sample: sample)
                #expect(a == b, "\(String(decoding: a, as: UTF8.self))\n\(String(decoding: b, as: UTF8.self))")
            }
        }
    }
}
