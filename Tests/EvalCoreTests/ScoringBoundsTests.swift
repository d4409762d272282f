import Foundation
import Testing
@testable import EvalCore

/// Issue 15 items 3, 11, 12: scoring is bounded in time, schemas are checked before the run, and
/// numbers that would overflow or mean nothing are refused.
@Suite struct ScoringBoundsTests {
    func score(_ assertions: [JSONValue], _ output: String, threshold: Double? = nil) throws -> CaseScore {
        let specs = try assertions.map { try AssertionSpec.decode($0) }
        let c = GoldenCase(id: "t", vars: [:], expected: nil, assertions: specs, threshold: threshold)
        let scorer = Scorer()
        return scorer.score(try scorer.prepare(c), output: CaseOutput(text: output))
    }

    func prepareError(_ assertion: JSONValue) -> FieldError? {
        do {
            let spec = try AssertionSpec.decode(assertion)
            _ = try Scorer().prepare(GoldenCase(id: "t", vars: [:], expected: nil, assertions: [spec]))
            return nil
        } catch {
            return error
        }
    }

    @Test func catastrophicRegexesAnswerAtOnce() throws {
        // 70 s on a backtracking engine (the defect): decided, not errored, here.
        let r = try score([["type": "regex", "value": "(a+)+$"]], String(repeating: "a", count: 80) + "!")
        #expect(r.error == nil)
        #expect(!r.pass)  // the a's never reach the end of the text: a plain failure, decided at once
    }

    @Test func aSchemaPatternIsLinearToo() throws {
        let schema: JSONValue = ["type": "object", "properties": ["name": ["type": "string", "pattern": "^(a|a)+$"]]]
        let text = #"{"name": ""# + String(repeating: "a", count: 40) + #"!"}"#
        let r = try score([["type": "is-json", "value": schema]], text)
        #expect(r.error == nil)
        #expect(!r.pass)
        #expect(r.results[0].reason.contains("does not match pattern"))
    }

    @Test func containsJSONOnManyOpenBracketsIsBoundedAndNeverPasses() throws {
        for negated in [false, true] {
            let r = try score([["type": negated ? "not-contains-json" : "contains-json"]], String(repeating: "[", count: 40_000))
            #expect(r.error?.errorKind == "scorer_timeout")
            #expect(!r.pass)
        }
        // Found JSON still counts, however much garbage follows it.
        let found = try score([["type": "contains-json"]], #"{"a": 1} "# + String(repeating: "[", count: 40_000))
        #expect(found.pass && found.error == nil)
    }

    @Test func editDistanceOnLongTextsIsBanded() throws {
        let long = String(repeating: "abcdefghij", count: 20_000)
        let near = try score([["type": "levenshtein", "value": .string(long + "xy"), "threshold": 5]], long)
        #expect(near.pass)
        #expect(near.results[0].reason == "edit distance 2 (limit 5)")
        let far = try score([["type": "levenshtein", "value": .string(String(long.reversed())), "threshold": 5]], long)
        #expect(!far.pass && far.error == nil)
        #expect(TextMetrics.levenshtein("kitten", "sitting", atMost: 10, maxCells: 1000) == 3)
        #expect(TextMetrics.levenshtein("kitten", "sitting", atMost: 2, maxCells: 1000) == 3)  // "more than 2"
        #expect(TextMetrics.levenshtein("", "abc", atMost: 5, maxCells: 1000) == 3)
    }

    @Test func refsAreFollowed() throws {
        let schema: JSONValue = [
            "$defs": ["count": ["type": "integer", "minimum": 0]],
            "type": "object", "properties": ["n": ["$ref": "#/$defs/count"], "m": ["$ref": "#/properties/n"]], "required": ["n"],
        ]
        #expect(try score([["type": "is-json", "value": schema]], #"{"n": 3}"#).pass)
        let bad = try score([["type": "is-json", "value": schema]], #"{"n": "three"}"#)
        #expect(!bad.pass)
        #expect(bad.results[0].reason.contains("expected integer"))
        #expect(try !score([["type": "is-json", "value": schema]], #"{"n": 1, "m": -1}"#).pass)
        // A recursive schema (a tree) works; a cycle that never descends is refused, not a hang.
        let tree: JSONValue = ["type": "object", "properties": ["kids": ["type": "array", "items": ["$ref": "#"]]]]
        #expect(try score([["type": "is-json", "value": tree]], #"{"kids": [{"kids": []}, {"kids": [{"kids": []}]}]}"#).pass)
        let cycle = try score([["type": "is-json", "value": ["$ref": "#"]]], "1")
        #expect(!cycle.pass)
    }

    @Test func badSchemasFailValidationNotCases() {
        #expect(prepareError(["type": "is-json", "value": ["type": "string", "pattern": "(unclosed"]])?.message.contains("bad pattern") == true)
        #expect(prepareError(["type": "is-json", "value": ["$ref": "https://example.com/schema.json"]])?.message.contains("not a local reference") == true)
        #expect(prepareError(["type": "is-json", "value": ["$ref": "#/$defs/missing"]])?.message.contains("points nowhere") == true)
        #expect(prepareError(["type": "regex", "value": "(?<=a)b"])?.message.contains("lookbehind") == true)
    }

    @Test func hugeWeightsAndMeaninglessThresholdsAreRefused() {
        #expect(prepareError(["type": "equals", "value": "a", "weight": 1e308])?.field == "weight")
        #expect(prepareError(["type": "rouge-n", "value": "a", "threshold": 1.5])?.field == "threshold")
        #expect(prepareError(["type": "similar", "value": "a", "threshold": -2])?.field == "threshold")
        #expect(prepareError(["type": "latency", "threshold": -1])?.field == "threshold")
        #expect(throws: FieldError.self) { try AssertionSpec.parseShorthand("rouge-n(nan):x") }
        #expect(throws: FieldError.self) { try AssertionSpec.parseShorthand("similar(inf):x") }
        #expect(throws: FieldError.self) { try GoldenCase.checkedThreshold(.nan) }
        #expect(throws: FieldError.self) { try GoldenCase.checkedThreshold(2) }
    }

    @Test func largeWeightsStillGiveAFiniteScore() throws {
        let r = try score([["type": "equals", "value": "a", "weight": 1e6], ["type": "contains", "value": "a", "weight": 1e6]], "a")
        #expect(r.pass && r.score == 1)
    }
}
