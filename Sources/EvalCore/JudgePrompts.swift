/// The judge prompts of the model-graded assertion types, and the request one assertion of one
/// case sends. The texts follow what promptfoo documents for the same type names (llm-rubric's
/// `{reason, score, pass}` JSON, closedqa's Y/N from openai/evals, factuality's A–E categories
/// from openai/evals `fact`), in our own words; README documents the differences.
public enum JudgePrompts {
    /// Variables a `rubric_prompt` may read besides the case's own vars.
    public static let variables: Set<String> = ["output", "input", "rubric", "expected", "context"]

    public static let rubricSystem = """
        You are grading an AI system's output against a rubric. Read the input, the output and the rubric. \
        Answer with one JSON object and nothing else: {"reason": "<one or two sentences>", "score": <a number from 0 to 1>, "pass": <true or false>}.
        """
    public static let rubricUser = """
        <Input>
        {{input}}
        </Input>
        <Output>
        {{output}}
        </Output>
        <Rubric>
        {{rubric}}
        </Rubric>
        """

    public static let closedQASystem = """
        You are assessing a submitted answer to a task against a criterion. Explain your reasoning step by step in a \
        few sentences, then on the last line write only Y if the submission meets the criterion, or N if it does not.
        """
    public static let closedQAUser = """
        <Input>
        {{input}}
        </Input>
        <Output>
        {{output}}
        </Output>
        <Criterion>
        {{rubric}}
        </Criterion>
        """

    public static let factualitySystem = """
        You are comparing the factual content of a submitted answer with an expert answer to the same question. \
        Ignore differences of style, grammar and punctuation. Choose one option: \
        (A) the submission is a subset of the expert answer and fully consistent with it; \
        (B) the submission is a superset of the expert answer and fully consistent with it; \
        (C) the submission contains all the same details as the expert answer; \
        (D) there is a disagreement between the submission and the expert answer; \
        (E) the answers differ, but these differences do not matter for factuality. \
        Explain briefly, then write the letter of your choice alone on the last line, in parentheses, like (A).
        """
    public static let factualityUser = """
        <Input>
        {{input}}
        </Input>
        <Expert>
        {{expected}}
        </Expert>
        <Output>
        {{output}}
        </Output>
        """
}

/// What one judged assertion of one case asks its judge, ready but for the output and the input.
public struct JudgeRequestSpec: Sendable, Hashable {
    /// The assertion's position in the case (its verdict is looked up by it).
    public let assertionIndex: Int
    /// The judge endpoint named on the assertion (`provider:`), else the run's.
    public let provider: String?
    public let format: JudgeVerdictParser.Format
    /// Times the judge is asked (`judge_samples`).
    public var samples = 1
    let system: String?
    let user: Template
    /// The case's vars with `rubric`, `expected` and `context` filled in.
    let vars: [String: JSONValue]

    /// The judge's messages for this output.
    public func messages(output: String, input: String) -> [ChatMessage] {
        var v = vars
        v["output"] = .string(output)
        v["input"] = .string(input)
        // Checked at prepare time: every variable the template reads is defined.
        let text = (try? user.render(v)) ?? user.source
        return (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + [ChatMessage(role: "user", content: text)]
    }
}

extension JudgeVerdictParser.Format: CustomStringConvertible {
    public var description: String {
        switch self {
        case .rubricJSON: return "rubric JSON"
        case .yesNo: return "Y/N"
        case .category: return "category A-E"
        }
    }
}
