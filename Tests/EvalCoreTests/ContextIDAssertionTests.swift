import Testing
@testable import EvalCore

@Suite struct ContextIDAssertionTests {
    func score(_ type: String, retrieved: [JSONValue], relevant: [JSONValue], threshold: Double? = nil) throws -> AssertionResult {
        var spec: JSONValue = ["type": .string(type)]
        if let threshold, case .object(var o) = spec {
            o["threshold"] = .number(threshold)
            spec = .object(o)
        }
        let c = GoldenCase(id: "r", assertions: [try AssertionSpec.decode(spec)],
                           metadata: ["retrieved_ids": .array(retrieved), "relevant_ids": .array(relevant)])
        let prepared = try Scorer().prepare(c)
        return Scorer().score(prepared, output: CaseOutput(text: "answer")).results[0]
    }

    @Test func idBasedPrecisionAndRecallAsRAGAS() throws {
        let p = try score("context-precision-ids", retrieved: ["d1", "d2", "d3", 4], relevant: ["d1", "4", "d9"])
        #expect(p.score == 0.5 && p.pass && p.errorKind == nil)
        let r = try score("context-recall-ids", retrieved: ["d1", "d2", "d3", 4], relevant: ["d1", "4", "d9"], threshold: 0.7)
        #expect(abs(r.score - 2.0 / 3.0) < 1e-12 && !r.pass)
        // Nothing retrieved is RAGAS's NaN: errored, not a 0 that fails.
        let none = try score("context-precision-ids", retrieved: [], relevant: ["d1"])
        #expect(none.errorKind == "no_context")
    }

    @Test func missingIDsAreNamedBeforeAnythingIsSent() throws {
        let c = GoldenCase(id: "r", assertions: [try AssertionSpec.decode(["type": "context-recall-ids"])], metadata: ["retrieved_ids": ["a"]])
        do {
            _ = try Scorer().prepare(c)
            Issue.record("missing relevant_ids must be refused")
        } catch {
            #expect(error.field == "assert[0].metadata.relevant_ids")
        }
    }

    @Test func defaultsJudgeIsTheProviderOfJudgedAssertionsWithoutOne() throws {
        var d = try CaseDefaults.decode(["judge": "grader"])
        d.assertions = []
        let c = try GoldenCase.decode(["id": "a", "assert": [["type": "llm-rubric", "value": "ok"], ["type": "llm-rubric", "value": "ok", "provider": "other"],
                                                             ["type": "equals", "value": "x"]]], defaults: d, location: SourceLocation(file: "f", line: 1))
        #expect(c.assertions.map(\.provider) == ["grader", "other", nil])
    }
}
