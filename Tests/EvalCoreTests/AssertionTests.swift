import Testing
@testable import EvalCore

/// Scores `output` against one assertion decoded from JSON.
private func run(_ assertion: JSONValue, _ output: String, expected: JSONValue? = nil, latency: Double? = nil, cost: Double? = nil,
                 finish: String? = "stop") throws -> AssertionResult {
    let spec = try AssertionSpec.decode(assertion)
    let c = GoldenCase(id: "t", vars: ["who": "world"], expected: expected, assertions: [spec])
    let scorer = Scorer()
    let prepared = try scorer.prepare(c)
    return scorer.score(prepared, output: CaseOutput(text: output, latencyMs: latency, costUSD: cost, finishReason: finish)).results[0]
}

@Suite struct AssertionTests {
    @Test func equalsIsExactAndComparesJSONByValue() throws {
        #expect(try run(["type": "equals", "value": "Paris"], "Paris").pass)
        #expect(try !run(["type": "equals", "value": "Paris"], "Paris ").pass)
        #expect(try !run(["type": "equals", "value": "Paris"], "paris").pass)
        #expect(try run(["type": "equals", "value": ["a": 1, "b": [true]]], #"{"b":[true], "a": 1.0}"#).pass)
        #expect(try !run(["type": "equals", "value": ["a": 1]], "not json").pass)
        #expect(try run(["type": "equals"], "42", expected: "42").pass)
        #expect(try run(["type": "equals", "value": "hello {{who}}"], "hello world").pass)
    }

    @Test func containsFamily() throws {
        #expect(try run(["type": "contains", "value": "Par"], "Paris").pass)
        #expect(try !run(["type": "contains", "value": "par"], "Paris").pass)
        #expect(try run(["type": "icontains", "value": "PAR"], "Paris").pass)
        #expect(try run(["type": "contains-any", "value": "x, Par, y"], "Paris").pass)
        #expect(try !run(["type": "contains-any", "value": ["x", "y"]], "Paris").pass)
        let all = try run(["type": "contains-all", "value": ["Par", "is", "zz"]], "Paris")
        #expect(!all.pass)
        #expect(all.reason.contains("zz"))
        #expect(try run(["type": "icontains-all", "value": ["PAR", "IS"]], "Paris").pass)
        #expect(try run(["type": "starts-with", "value": "The"], "The end").pass)
        #expect(try !run(["type": "starts-with", "value": "the"], "The end").pass)
    }

    @Test func notPrefixInvertsPassAndScore() throws {
        let r = try run(["type": "not-contains", "value": "error"], "all good")
        #expect(r.pass && r.score == 1)
        let r2 = try run(["type": "not-icontains", "value": "ERROR"], "an error")
        #expect(!r2.pass && r2.score == 0)
        #expect(try run(["type": "not-levenshtein", "value": "abc", "threshold": 1], "xyz").pass)
    }

    @Test func regexSearchesAnywhereAndBadPatternsAreCaughtBeforeRunning() throws {
        #expect(try run(["type": "regex", "value": "\\d{3}"], "abc 123").pass)
        #expect(try !run(["type": "regex", "value": "^\\d+$"], "12a").pass)
        let c = GoldenCase(id: "x", assertions: [AssertionSpec(type: .regex, value: "([")])
        #expect(throws: FieldError.self) { try Scorer().prepare(c) }
        do { _ = try Scorer().prepare(c) } catch { #expect(error.field == "assert[0].value") }
    }

    @Test func isJSONWithSchemaAndContainsJSON() throws {
        let schema: JSONValue = ["type": "object", "required": ["name", "age"], "properties": ["age": ["type": "integer", "minimum": 0]]]
        #expect(try run(["type": "is-json"], #" {"a": 1} "#).pass)
        #expect(try !run(["type": "is-json"], "{a: 1}").pass)
        #expect(try run(["type": "is-json", "value": schema], #"{"name":"A","age":3}"#).pass)
        let bad = try run(["type": "is-json", "value": schema], #"{"name":"A","age":"3"}"#)
        #expect(!bad.pass)
        #expect(bad.reason.contains("$.age"))
        #expect(try run(["type": "contains-json", "value": schema], #"Result: {"name":"A","age":3} ok"#).pass)
        #expect(try !run(["type": "contains-json"], "no json here").pass)
    }

    @Test func textSimilarityMetrics() throws {
        #expect(TextMetrics.levenshtein("kitten", "sitting") == 3)
        #expect(TextMetrics.levenshtein("", "abc") == 3)
        #expect(try run(["type": "levenshtein", "value": "kitten"], "sitting").pass)  // default limit 5
        #expect(try !run(["type": "levenshtein", "value": "kitten", "threshold": 2], "sitting").pass)
        #expect(TextMetrics.rougeN(candidate: "The cat sat.", reference: "the cat sat") > 0.85)
        let r = try run(["type": "rouge-n", "value": "the quick brown fox"], "the quick brown dog")
        #expect(abs(r.score - 0.75) < 1e-9 && r.pass)
        #expect(abs(TextMetrics.bleu(candidate: "the cat is on the mat", references: ["the cat is on the mat"]) - 1) < 1e-9)
        #expect(TextMetrics.bleu(candidate: "a b", references: ["x y z w"]) < 1e-5)
        #expect(try !run(["type": "bleu", "value": ["completely different words here"]], "the cat sat on the mat").pass)
    }

    @Test func latencyCostAndFinishReason() throws {
        #expect(try run(["type": "latency", "threshold": 100], "x", latency: 80).pass)
        #expect(try !run(["type": "latency", "threshold": 100], "x", latency: 120).pass)
        #expect(try !run(["type": "latency", "threshold": 100], "x").pass)  // not measured
        #expect(try run(["type": "cost", "threshold": 0.01], "x", cost: 0.002).pass)
        #expect(try !run(["type": "cost", "threshold": 0.001], "x").pass)  // no pricing
        #expect(try run(["type": "finish-reason", "value": "stop"], "x").pass)
        #expect(try !run(["type": "finish-reason", "value": "stop"], "x", finish: "length").pass)
        #expect(throws: FieldError.self) { try AssertionSpec.decode(["type": "latency"]) }
    }

    @Test func caseScoreIsWeightedMeanAndThresholdOverridesAllPass() throws {
        let c = GoldenCase(id: "w", assertions: [
            AssertionSpec(type: .contains, value: "a", weight: 3, metric: "m"),
            AssertionSpec(type: .contains, value: "zz", weight: 1, metric: "m"),
            AssertionSpec(type: .contains, value: "qq", weight: 0, metric: "other"),
        ])
        let scorer = Scorer()
        let s = scorer.score(try scorer.prepare(c), output: CaseOutput(text: "abc"))
        #expect(abs(s.score - 0.75) < 1e-12)
        #expect(!s.pass)
        #expect(s.results[2].pass)  // weight 0: metric only
        #expect(s.namedScores["m"] == 0.75 && s.namedScores["other"] == 0)
        var t = c
        t.threshold = 0.7
        #expect(scorer.score(try scorer.prepare(t), output: CaseOutput(text: "abc")).pass)
    }

    @Test func similarPassesIfAnyReferenceIsCloseAndNotSimilarIfNoneIs() throws {
        let spec = try AssertionSpec.decode(["type": "similar", "value": ["a cat sat", "a dog ran"]])
        let c = GoldenCase(id: "s", assertions: [spec, try AssertionSpec.decode(["type": "not-similar", "value": "a dog ran", "threshold": 0.5])])
        let scorer = Scorer()
        let prepared = try scorer.prepare(c)
        #expect(prepared.similarityTexts == ["a cat sat", "a dog ran"])
        var out = CaseOutput(text: "the cat sat")
        out.similarities = ["a cat sat": 0.9, "a dog ran": 0.3]
        let s = scorer.score(prepared, output: out)
        #expect(s.results[0].pass && abs(s.results[0].score - 0.9) < 1e-12)  // default threshold 0.75, best reference
        #expect(s.results[1].pass && abs(s.results[1].score - 0.7) < 1e-12)  // 0.3 < 0.5: dissimilar
        #expect(s.namedScores["semantic_similarity"] != nil)
        out.similarities = ["a cat sat": 0.7, "a dog ran": 0.6]
        let t = scorer.score(prepared, output: out)
        #expect(!t.results[0].pass && !t.results[1].pass)
        #expect(!scorer.score(prepared, output: CaseOutput(text: "x")).results[0].pass)  // no embeddings: fails, says why
        #expect(try AssertionSpec.parseShorthand("similar(0.9):hello").threshold == 0.9)
    }

    @Test func unknownAndUnsupportedTypesAreNamed() {
        #expect(throws: FieldError(field: "type", message: "unknown assertion type 'equalz' (known: \(AssertionType.allCases.map(\.rawValue).joined(separator: ", ")))")) {
            try AssertionSpec.decode(["type": "equalz", "value": "x"])
        }
        do { _ = try AssertionSpec.decode(["type": "g-eval", "value": "x"]) } catch { #expect(error.message.contains("not supported")) }
        #expect((try? AssertionSpec.decode(["type": "llm-rubric", "value": "x", "provider": "judge"]))?.provider == "judge")
        #expect(throws: FieldError.self) { try AssertionSpec.decode(["type": "equals", "value": "x", "provider": "judge"]) }
        #expect(throws: FieldError.self) { try AssertionSpec.decode(["type": "contains", "valeu": "x"]) }
    }

    @Test func csvShorthand() throws {
        let a = try AssertionSpec.parseShorthand("icontains:paris")
        #expect(a.type == .icontains && a.value == "paris" && !a.negated)
        let b = try AssertionSpec.parseShorthand("not-contains-any:a, \"b, c\"")
        #expect(b.type == .containsAny && b.negated && b.value == ["a", "b, c"])
        let c = try AssertionSpec.parseShorthand("rouge-n(0.6):the text")
        #expect(c.type == .rougeN && c.threshold == 0.6 && c.value == "the text")
        let d = try AssertionSpec.parseShorthand("Paris: the capital")  // not a type: equals the whole text
        #expect(d.type == .equals && d.value == "Paris: the capital")
        #expect(try AssertionSpec.parseShorthand("latency:500").threshold == 500)
        let g = try AssertionSpec.parseShorthand("grade:is polite")
        #expect(g.type == .llmRubric && g.value == "is polite")
    }
}
