import Testing
@testable import EvalCore

/// Judge answers in the shapes real judges produce (the anchors' trackers: promptfoo #2084, #6491,
/// #2998; inspect_ai's GRADE pattern), each with the verdict it must give; nil = unparseable.
@Suite struct JudgeVerdictParserTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var text: String
        var format: JudgeVerdictParser.Format
        /// (pass, score, contradiction), or nil for unparseable.
        var expected: (Bool, Double, Bool)?
        var testDescription: String { String(text.prefix(40)) }
    }

    static let factuality = JudgeVerdictParser.Format.category(scores: JudgeVerdictParser.factualityScores, passing: JudgeVerdictParser.factualityPassing)

    static let rows: [Row] = [
        // Clean JSON.
        Row(text: #"{"reason": "covers all points", "score": 1, "pass": true}"#, format: .rubricJSON, expected: (true, 1, false)),
        Row(text: #"{"reason": "misses the date", "score": 0, "pass": false}"#, format: .rubricJSON, expected: (false, 0, false)),
        Row(text: #"{"pass": true, "score": 0.8, "reason": "ok"}"#, format: .rubricJSON, expected: (true, 0.8, false)),
        // Fences and prose around the JSON.
        Row(text: "```json\n{\"reason\": \"fine\", \"score\": 0.9, \"pass\": true}\n```", format: .rubricJSON, expected: (true, 0.9, false)),
        Row(text: "Here is my grade:\n```\n{\"reason\": \"wrong city\", \"score\": 0.1, \"pass\": false}\n```\nLet me know if you need more.", format: .rubricJSON, expected: (false, 0.1, false)),
        Row(text: "{\"reason\": \"good\", \"score\": 0.7, \"pass\": true}\n\nThe output follows the rubric closely.", format: .rubricJSON, expected: (true, 0.7, false)),
        Row(text: "Thinking: the answer {mostly} fits.\n{\"reason\": \"fits\", \"pass\": true, \"score\": 0.75}", format: .rubricJSON, expected: (true, 0.75, false)),
        // The last well-formed verdict wins.
        Row(text: "Draft: {\"pass\": false, \"score\": 0}\nOn reflection: {\"pass\": true, \"score\": 1, \"reason\": \"re-read\"}", format: .rubricJSON, expected: (true, 1, false)),
        // Nested quotes and braces inside the reason.
        Row(text: #"{"reason": "it says \"done\" and uses {braces}", "score": 1, "pass": true}"#, format: .rubricJSON, expected: (true, 1, false)),
        // pass as a string, score as a string or out of 10 / 100.
        Row(text: #"{"reason": "ok", "score": 1, "pass": "true"}"#, format: .rubricJSON, expected: (true, 1, false)),
        Row(text: #"{"reason": "no", "score": 0, "pass": "false"}"#, format: .rubricJSON, expected: (false, 0, false)),
        Row(text: #"{"reason": "good", "score": 8, "pass": true}"#, format: .rubricJSON, expected: (true, 0.8, false)),
        Row(text: #"{"reason": "poor", "score": 3, "pass": false}"#, format: .rubricJSON, expected: (false, 0.3, false)),
        Row(text: #"{"reason": "great", "score": 95, "pass": true}"#, format: .rubricJSON, expected: (true, 0.95, false)),
        Row(text: #"{"reason": "ok", "score": "0.6", "pass": "yes"}"#, format: .rubricJSON, expected: (true, 0.6, false)),
        Row(text: #"{"reason": "ok", "score": "7/10", "pass": true}"#, format: .rubricJSON, expected: (true, 0.7, false)),
        // pass or score alone.
        Row(text: #"{"reason": "meets it", "pass": true}"#, format: .rubricJSON, expected: (true, 1, false)),
        Row(text: #"{"reason": "half", "score": 0.4}"#, format: .rubricJSON, expected: (false, 0.4, false)),
        // Contradictions: the score decides, flagged (promptfoo #2998).
        Row(text: #"{"reason": "bad", "score": 0, "pass": true}"#, format: .rubricJSON, expected: (false, 0, true)),
        Row(text: #"{"reason": "good", "score": 1, "pass": false}"#, format: .rubricJSON, expected: (true, 1, true)),
        // Not verdicts.
        Row(text: "", format: .rubricJSON, expected: nil),
        Row(text: "   \n ", format: .rubricJSON, expected: nil),
        Row(text: "I'm sorry, I can't help with grading this.", format: .rubricJSON, expected: nil),
        Row(text: #"{"reason": "ok", "score": -1, "pass": true}"#, format: .rubricJSON, expected: nil),
        Row(text: #"{"reason": "ok", "score": "high", "pass": true}"#, format: .rubricJSON, expected: nil),
        Row(text: #"{"reason": "ok", "pass": "maybe"}"#, format: .rubricJSON, expected: nil),
        Row(text: #"{"reason": "truncated", "score": 1, "pass": tr"#, format: .rubricJSON, expected: nil),
        Row(text: #"{"summary": "no verdict fields"}"#, format: .rubricJSON, expected: nil),
        // GRADE lines (inspect_ai) where JSON was asked for, and in Y/N prompts.
        Row(text: "The answer names the capital.\nGRADE: C", format: .rubricJSON, expected: (true, 1, false)),
        Row(text: "Partly right.\nGRADE: P", format: .yesNo, expected: (false, 0.5, false)),
        Row(text: "Wrong.\n**GRADE: I**", format: .yesNo, expected: (false, 0, false)),
        // Y/N (closedqa).
        Row(text: "The submission meets the criterion because it names Paris.\nY", format: .yesNo, expected: (true, 1, false)),
        Row(text: "It does not mention the refund policy.\n\nN", format: .yesNo, expected: (false, 0, false)),
        Row(text: "Reasoning: fine.\nAnswer: Yes", format: .yesNo, expected: (true, 1, false)),
        Row(text: "Not relevant at all.\nNo.", format: .yesNo, expected: (false, 0, false)),
        Row(text: "I cannot decide without more context about what the user intended here.", format: .yesNo, expected: nil),
        // Categories (factuality).
        Row(text: "The submission is a subset of the expert answer and fully consistent.\n(A)", format: factuality, expected: (true, 1, false)),
        Row(text: "There is a disagreement between the submitted answer and the expert answer.\nD", format: factuality, expected: (false, 0, false)),
        Row(text: "Answer: E", format: factuality, expected: (true, 1, false)),
        Row(text: #"{"category": "B", "reason": "superset"}"#, format: factuality, expected: (true, 1, false)),
        Row(text: "I would pick (a) or maybe (b); final: (D)", format: factuality, expected: (false, 0, false)),
        Row(text: "The answers are hard to compare.", format: factuality, expected: nil),
    ]

    @Test(arguments: rows) func eachAnswerGivesItsVerdict(_ row: Row) {
        let v = JudgeVerdictParser.parse(row.text, format: row.format)
        if let (pass, score, contradiction) = row.expected {
            #expect(v?.pass == pass, "\(row.text)")
            #expect(v.map { abs($0.score - score) < 1e-9 } == true, "\(row.text): score \(String(describing: v?.score))")
            #expect(v?.contradiction == contradiction, "\(row.text)")
        } else {
            #expect(v == nil, "\(row.text) should be unparseable, got \(String(describing: v))")
        }
    }

    @Test func thereAreAtLeastThirtyRows() { #expect(Self.rows.count >= 30) }

    @Test func nestedBracesAreBoundedWork() {
        // 64 KiB of nesting: every close would otherwise rescan the rest (quadratic).
        let nested = String(repeating: "{\"a\":", count: 6000) + "1" + String(repeating: "}", count: 6000)
        let braces = String(repeating: "{", count: 30_000) + String(repeating: "}", count: 30_000)
        // No timing is asserted: without the budget these take minutes (the suite's timeout), with it milliseconds.
        for text in [nested, braces, String(repeating: "{}", count: 30_000) + #"{"pass": true}"#] {
            _ = JudgeVerdictParser.parse(text, format: .rubricJSON)
            _ = JudgeVerdictParser.parse(text, format: Self.factuality)
        }
        #expect(JudgeVerdictParser.parse(String(repeating: "{}", count: 30_000) + #"{"pass": true}"#, format: .rubricJSON)?.pass == true)
    }

    @Test func aHugeAnswerIsBoundedWork() {
        let text = String(repeating: "{", count: 200_000) + #"{"pass": true, "score": 1}"#
        // Cut at the bound: no verdict within the first 64 KiB, so unparseable, and quickly.
        #expect(JudgeVerdictParser.parse(text, format: .rubricJSON) == nil)
    }
}
