import Testing
@testable import EvalCore

/// The judge answers of g-eval, the context metrics, answer-relevance and select-best, in the
/// forms judges produce: clean JSON, fences, prose around it, the plain-text fallbacks, and
/// answers that must be unparseable (nil), never read as a score.
@Suite struct JudgeAnswersTests {
    @Test(arguments: [
        (#"{"steps": ["Read the input.", "Check the facts.", "Score it."]}"#, 3),
        ("```json\n{\"steps\": [\"One\", \"Two\"]}\n```\nThese steps should work.", 2),
        ("Here are the steps:\n1. Read the question.\n2. Compare with the output.\n3) Decide.", 3),
        ("- first\n- second", 2),
        ("Step 1: read\nStep 2: grade", 2),
        (#"{"steps": []}"#, 0),
        ("I can't write steps for that.", 0),
        ("", 0),
    ])
    func steps(_ text: String, count: Int) {
        let steps = JudgeVerdictParser.steps(text)
        #expect((steps?.count ?? 0) == count, "\(text.debugDescription) → \(String(describing: steps))")
    }

    @Test(arguments: [
        (#"{"reason": "clear", "score": 8}"#, 0.8),
        ("```json\n{\"score\": 10, \"reason\": \"perfect\"}\n```", 1.0),
        (#"{"reason": "ok", "score": "7"}"#, 0.7),
        ("The output is partly right.\nScore: 6/10", 0.6),
        ("**Score**: 3", 0.3),
        (#"{"reason": "ok", "score": 11}"#, -1),  // out of 10: no score
        (#"{"reason": "ok", "score": -2}"#, -1),
        ("No score here.", -1),
        ("", -1),
    ])
    func gEvalScore(_ text: String, expected: Double) {
        let v = JudgeVerdictParser.gEvalScore(text)
        if expected < 0 { #expect(v == nil, "\(text.debugDescription)") } else { #expect(v.map { abs($0.score - expected) < 1e-9 } == true, "\(text.debugDescription) → \(String(describing: v))") }
    }

    @Test(arguments: [
        (#"{"claims": [{"claim": "Paris is the capital", "supported": true}, {"claim": "It has 3M people", "supported": false}]}"#, 1, 2),
        (#"{"statements": [{"statement": "a", "attributed": "yes"}, {"statement": "b", "attributed": "no"}, {"statement": "c", "attributed": true}]}"#, 2, 3),
        ("Sure!\n```json\n{\"claims\": [{\"claim\": \"x\", \"supported\": false}]}\n```", 0, 1),
        (#"[{"claim": "x", "supported": true}]"#, 1, 1),
        ("1. Paris is the capital. Verdict: Yes\n2. Lyon is the capital. Verdict: No", 1, 2),
        ("1. The sky is blue. [Attributed]\n2. Grass is red. [Not Attributed]\n3. Water is wet. [Attributed]", 2, 3),
        (#"{"claims": []}"#, 0, 0),
    ])
    func claims(_ text: String, supported: Int, total: Int) throws {
        let claims = try #require(JudgeVerdictParser.checkedClaims(text), "\(text.debugDescription)")
        #expect(claims.count == total && claims.count { $0.supported } == supported)
    }

    @Test(arguments: [
        #"{"claims": [{"claim": "x", "supported": "maybe"}]}"#,  // a verdict that is no verdict
        #"{"claims": [{"claim": "x"}]}"#,
        "The claims are mostly supported.",
        "",
    ])
    func unparseableClaims(_ text: String) {
        #expect(JudgeVerdictParser.checkedClaims(text) == nil, "\(text.debugDescription)")
    }

    @Test(arguments: [
        (#"{"relevant": [1, 3]}"#, 4, [1, 3]),
        (#"{"relevant": [2, 2, 2]}"#, 4, [2]),
        ("The needed sentences:\n```json\n{\"relevant\": []}\n```", 4, []),
        ("Insufficient Information", 4, []),
        ("[1, 2]", 2, [1, 2]),
    ])
    func neededSentences(_ text: String, count: Int, expected: [Int]) {
        #expect(JudgeVerdictParser.neededSentences(text, count: count) == Set(expected), "\(text.debugDescription)")
    }

    @Test(arguments: [
        (#"{"relevant": [0, 1]}"#, 3),  // numbered from 1
        (#"{"relevant": [5]}"#, 3),  // past the last sentence
        (#"{"relevant": [1.5]}"#, 3),
        (#"{"relevant": ["one"]}"#, 3),
        ("Sentences one and two.", 3),
    ])
    func unparseableSentences(_ text: String, count: Int) {
        #expect(JudgeVerdictParser.neededSentences(text, count: count) == nil, "\(text.debugDescription)")
    }

    @Test func questions() throws {
        let clean = try #require(JudgeVerdictParser.questions(#"{"questions": ["What is the capital of France?", "Which city is France's capital?"], "noncommittal": false}"#))
        #expect(clean.questions.count == 2 && !clean.noncommittal)
        let evasive = try #require(JudgeVerdictParser.questions("```json\n{\"questions\": [\"What?\"], \"noncommittal\": \"true\"}\n```"))
        #expect(evasive.noncommittal)
        let lines = try #require(JudgeVerdictParser.questions("1. What is the capital of France?\n2. Where is Paris?\nThat's all."))
        #expect(lines.questions == ["What is the capital of France?", "Where is Paris?"])
        #expect(JudgeVerdictParser.questions(#"{"questions": []}"#) == nil)
        #expect(JudgeVerdictParser.questions("Paris.") == nil)
    }

    @Test func best() {
        #expect(JudgeVerdictParser.best(#"{"reason": "most complete", "best": 1}"#, count: 3)?.index == 1)
        #expect(JudgeVerdictParser.best("Output 2 is clearly better.\n```json\n{\"best\": 2}\n```", count: 3)?.index == 2)
        #expect(JudgeVerdictParser.best("After comparing all three, the best is\n0", count: 3)?.index == 0)
        #expect(JudgeVerdictParser.best(#"{"best": 3}"#, count: 3) == nil)  // numbered from 0
        #expect(JudgeVerdictParser.best(#"{"best": -1}"#, count: 3) == nil)
        #expect(JudgeVerdictParser.best("They are all equally good.", count: 3) == nil)
    }

    /// A hostile answer (deep braces, a huge list) is read in bounded work, not quadratic time.
    @Test func hostileAnswersAreBounded() {
        let deep = String(repeating: "{\"claims\": [", count: 20_000) + String(repeating: "]}", count: 20_000)
        #expect(JudgeVerdictParser.checkedClaims(deep) == nil)
        let many = "{\"relevant\": [" + (1...50_000).map(String.init).joined(separator: ",") + "]}"
        #expect(JudgeVerdictParser.neededSentences(many, count: 10) == nil)
    }

    @Test func contextSentences() {
        #expect(JudgePrompts.sentences("Paris is the capital. It is in France!\nLyon is a city?  Yes.") == ["Paris is the capital.", "It is in France!", "Lyon is a city?", "Yes."])
        #expect(JudgePrompts.sentences("3.5 million people live there") == ["3.5 million people live there"])
    }
}

/// factuality's category scores are configurable (promptfoo's `factuality` option); a category
/// scoring above 0 passes.
@Suite struct FactualityScoresTests {
    func verdict(_ answer: String, scores: String) throws -> AssertionResult {
        let json = try JSONValue.parse(#"{"id":"f","vars":{"question":"q"},"assert":[{"type":"factuality","value":"ref"\#(scores)}]}"#)
        let c = try GoldenCase.decode(json, location: SourceLocation(file: "g.jsonl", line: 1))
        let scorer = Scorer()
        let prepared = try scorer.prepare(c)
        var output = CaseOutput(text: "out")
        let v = try #require(JudgeVerdictParser.parse(answer, format: prepared.judgeRequests[0].format))
        output.judgements[0] = .verdict(v)
        return scorer.score(prepared, output: output).results[0]
    }

    @Test func configuredScoresDecide() throws {
        let defaultD = try verdict("They disagree.\n(D)", scores: "")
        #expect(!defaultD.pass && defaultD.score == 0)
        let custom = #","factuality":{"disagree":0.5,"differ_but_factual":0}"#
        let d = try verdict("They disagree.\n(D)", scores: custom)
        #expect(d.pass && d.score == 0.5)
        let e = try verdict("Different but fine.\n(E)", scores: custom)
        #expect(!e.pass && e.score == 0)
        let a = try verdict("A subset.\n(A)", scores: custom)
        #expect(a.pass && a.score == 1)
    }

    @Test func badScoresAreNamed() {
        for (scores, field) in [(#","factuality":{"contradicts":0}"#, "factuality.contradicts"), (#","factuality":{"agree":2}"#, "factuality.agree")] {
            let json = try! JSONValue.parse(#"{"id":"f","vars":{"question":"q"},"assert":[{"type":"factuality","value":"ref"\#(scores)}]}"#)
            #expect(throws: FieldError.self) { try GoldenCase.decode(json, location: SourceLocation(file: "g.jsonl", line: 1)) }
            do { _ = try GoldenCase.decode(json, location: SourceLocation(file: "g.jsonl", line: 1)) } catch { #expect(error.field.contains(field), "\(error)") }
        }
    }
}
