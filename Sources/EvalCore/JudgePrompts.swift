/// The judge prompts of the model-graded assertion types, and the request one assertion of one
/// case sends. The texts follow what promptfoo documents for the same type names (llm-rubric's
/// `{reason, score, pass}` JSON, closedqa's Y/N from openai/evals, factuality's A–E categories
/// from openai/evals `fact`), in our own words; README documents the differences.
public enum JudgePrompts {
    /// Variables a `rubric_prompt` may read besides the case's own vars (and, for the types that
    /// have them, `criteria` and `steps` (g-eval), `sentences` (context-relevance), `outputs` (select-best)).
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

    public static let gEvalStepsSystem = """
        You write evaluation steps. Given an evaluation criterion, write 3 or 4 concise steps a grader should follow \
        to judge any text against it. Answer with one JSON object and nothing else: {"steps": ["<step>", ...]}.
        """
    public static let gEvalStepsUser = """
        <Criteria>
        {{criteria}}
        </Criteria>
        """
    public static let gEvalScoreSystem = """
        You are grading an AI system's output on one criterion by the evaluation steps given. Score it from 1 \
        (does not meet the criterion at all) to 10 (fully meets it). Answer with one JSON object and nothing else: \
        {"reason": "<one or two sentences>", "score": <a whole number from 1 to 10>}.
        """
    public static let gEvalScoreUser = """
        <Criteria>
        {{criteria}}
        </Criteria>
        <Steps>
        {{steps}}
        </Steps>
        <Input>
        {{input}}
        </Input>
        <Output>
        {{output}}
        </Output>
        """

    public static let faithfulnessSystem = """
        You check an answer against the context it was given. Break the output into short standalone factual claims, \
        then decide for each claim whether the context supports it (states it or directly implies it). Answer with one \
        JSON object and nothing else: {"claims": [{"claim": "<claim>", "supported": <true or false>}]}. An output that \
        makes no factual claim answers {"claims": []}.
        """
    public static let faithfulnessUser = """
        <Input>
        {{input}}
        </Input>
        <Context>
        {{context}}
        </Context>
        <Output>
        {{output}}
        </Output>
        """

    public static let recallSystem = """
        You check whether retrieved context holds what a reference answer says. Break the reference into short \
        standalone statements, then decide for each whether it can be attributed to the context. Answer with one JSON \
        object and nothing else: {"statements": [{"statement": "<statement>", "attributed": <true or false>}]}.
        """
    public static let recallUser = """
        <Input>
        {{input}}
        </Input>
        <Context>
        {{context}}
        </Context>
        <Reference>
        {{expected}}
        </Reference>
        """

    public static let relevanceSystem = """
        You judge retrieved context. Its sentences are numbered. List the numbers of the sentences needed to answer \
        the question; an empty list when the context cannot answer it. Answer with one JSON object and nothing else: \
        {"relevant": [<numbers>]}.
        """
    public static let relevanceUser = """
        <Input>
        {{input}}
        </Input>
        <Sentences>
        {{sentences}}
        </Sentences>
        """

    public static let answerRelevanceSystem = """
        Write three different questions that the given answer answers, and say whether the answer is noncommittal \
        (evasive, vague, or a refusal). Answer with one JSON object and nothing else: \
        {"questions": ["<question>", "<question>", "<question>"], "noncommittal": <true or false>}.
        """
    public static let answerRelevanceUser = """
        <Answer>
        {{output}}
        </Answer>
        """

    public static let selectBestSystem = """
        You compare several outputs for the same input against a criterion and pick the one that meets it best. The \
        outputs are numbered from 0. Answer with one JSON object and nothing else: {"reason": "<one sentence>", "best": <number>}.
        """
    public static let selectBestUser = """
        <Input>
        {{input}}
        </Input>
        <Criteria>
        {{criteria}}
        </Criteria>
        <Outputs>
        {{outputs}}
        </Outputs>
        """

    /// The judge's sentences of a context: its lines, each cut at sentence ends (`. `, `! `, `? `).
    public static func sentences(_ context: String) -> [String] {
        var out: [String] = []
        for line in context.split(whereSeparator: \.isNewline) {
            var current = ""
            var previous: Character = " "
            for ch in line {
                if ch.isWhitespace && (previous == "." || previous == "!" || previous == "?") {
                    if !current.trimmingSpaces.isEmpty { out.append(current.trimmingSpaces) }
                    current = ""
                } else {
                    current.append(ch)
                }
                previous = ch
            }
            if !current.trimmingSpaces.isEmpty { out.append(current.trimmingSpaces) }
        }
        return out
    }

    /// Sentences numbered from 1, one per line, as the context-relevance prompt shows them.
    public static func numbered(_ sentences: [String]) -> String {
        sentences.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n")
    }

    /// A matrix row's outputs as the select-best prompt shows them.
    public static func numberedOutputs(_ outputs: [String]) -> String {
        outputs.enumerated().map { "Output \($0.offset):\n\($0.element)" }.joined(separator: "\n\n")
    }
}

/// How a judged type asks its judge, and what it reads from the answer.
public enum JudgeKind: Sendable, Hashable {
    /// One call whose answer is a verdict in `format` (llm-rubric, closedqa, factuality).
    case verdict(JudgeVerdictParser.Format)
    /// Per criterion, evaluation steps (a request of the criterion alone: asked once per run and
    /// cached), then a 1–10 score by them; the scores averaged.
    case gEval(criteria: [String])
    /// One call checking each claim of the output (`reference`: each statement of the reference)
    /// against the context: supported ÷ all.
    case claims(reference: Bool)
    /// One call picking the needed sentences of the context: needed ÷ `count`.
    case contextSentences(count: Int)
    /// One call writing questions the output answers; their mean cosine with the input.
    case answerRelevance
    /// One call over every target's output of the same case and sample: the best passes.
    case selectBest(criteria: String)

    /// The JSON schema the answer follows, for `response_format: json_schema`; nil for the types
    /// that answer in prose (Y/N, a category letter).
    var answerSchema: (name: String, schema: JSONValue)? {
        func object(_ props: [String: JSONValue]) -> JSONValue {
            ["type": "object", "properties": .object(props), "required": .array(props.keys.sorted().map(JSONValue.string)), "additionalProperties": false]
        }
        let string: JSONValue = ["type": "string"]
        switch self {
        case .verdict(.rubricJSON): return ("verdict", object(["reason": string, "score": ["type": "number"], "pass": ["type": "boolean"]]))
        case .verdict: return nil
        case .gEval: return ("g_eval_score", object(["reason": string, "score": ["type": "integer"]]))
        case .claims: return nil  // faithfulness and recall name their lists differently; see `claimsSchema`
        case .contextSentences: return ("needed_sentences", object(["relevant": ["type": "array", "items": ["type": "integer"]]]))
        case .answerRelevance: return ("questions", object(["questions": ["type": "array", "items": string], "noncommittal": ["type": "boolean"]]))
        case .selectBest: return ("best_output", object(["reason": string, "best": ["type": "integer"]]))
        }
    }

    static func claimsSchema(list: String, item: String, verdict: String) -> (name: String, schema: JSONValue) {
        let entry: JSONValue = ["type": "object", "properties": [item: ["type": "string"], verdict: ["type": "boolean"]], "required": [.string(item), .string(verdict)], "additionalProperties": false]
        return (list, ["type": "object", "properties": [list: ["type": "array", "items": entry]], "required": [.string(list)], "additionalProperties": false])
    }

    static var gEvalStepsSchema: (name: String, schema: JSONValue) {
        ("g_eval_steps", ["type": "object", "properties": ["steps": ["type": "array", "items": ["type": "string"]]], "required": ["steps"], "additionalProperties": false])
    }
}

/// What one judged assertion of one case asks its judge, ready but for the output and the input.
public struct JudgeRequestSpec: Sendable, Hashable {
    /// The assertion's position in the case (its verdict is looked up by it).
    public let assertionIndex: Int
    /// The judge endpoint named on the assertion (`provider:`), else the run's.
    public let provider: String?
    public let kind: JudgeKind
    /// Times the judge is asked (`judge_samples`).
    public var samples = 1
    /// The judge's sampling parameters over the judge defaults.
    public var params: JudgeParams?
    let system: String?
    let user: Template
    /// The case's vars with `rubric`, `expected` and `context` filled in.
    let vars: [String: JSONValue]
    /// `response_format` for the grading call, when `params` asks for one.
    var responseFormat: JSONValue?

    /// The verdict format of the `.verdict` kind (rubric JSON for the others, which parse apart).
    public var format: JudgeVerdictParser.Format {
        if case .verdict(let f) = kind { return f }
        return .rubricJSON
    }

    /// The judge's messages for this output (`extra`: g-eval's `criteria` and `steps`, select-best's `outputs`).
    public func messages(output: String, input: String, extra: [String: String] = [:]) -> [ChatMessage] {
        var v = vars
        v["output"] = .string(output)
        v["input"] = .string(input)
        for (k, x) in extra { v[k] = .string(x) }
        // Checked at prepare time: every variable the template reads is defined.
        let text = (try? user.render(v)) ?? user.source
        return (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + [ChatMessage(role: "user", content: text)]
    }

    /// G-Eval's first call: the criterion alone, so every case with it shares one cached answer.
    public static func gEvalStepsMessages(criterion: String) -> [ChatMessage] {
        let user = (try? Template(JudgePrompts.gEvalStepsUser).render(["criteria": .string(criterion)])) ?? criterion
        return [ChatMessage(role: "system", content: JudgePrompts.gEvalStepsSystem), ChatMessage(role: "user", content: user)]
    }

    /// select-best: asked once over every target's output of the case, not per output.
    public var comparesTargets: Bool {
        if case .selectBest = kind { return true }
        return false
    }

    /// G-Eval's steps call's parameters (its own schema under `response_format: json_schema`).
    public func stepsParams(_ base: ModelParams) -> ModelParams {
        var p = modelParams(base, grading: false)
        if params?.responseFormat == .jsonSchema {
            let s = JudgeKind.gEvalStepsSchema
            p.responseFormat = ["type": "json_schema", "json_schema": ["name": .string(s.name), "strict": true, "schema": s.schema]]
        }
        return p
    }

    /// The model parameters of a judge call: `base` (the judge defaults) under this assertion's.
    public func modelParams(_ base: ModelParams, grading: Bool = true) -> ModelParams {
        var p = base
        if let j = params {
            if let t = j.temperature { p.temperature = t }
            if let m = j.maxTokens { p.maxTokens = m }
            if let s = j.seed { p.seed = s }
            if j.responseFormat == .jsonObject { p.responseFormat = ["type": "json_object"] }
        }
        if grading, let f = responseFormat { p.responseFormat = f }
        return p
    }
}

/// Sampling parameters of a judge (`provider: {id, config: {...}}`, `defaults.judge`): a judge
/// should not sample, so its temperature is 0 unless one is set here.
public struct JudgeParams: Sendable, Hashable {
    public var temperature: Double?
    public var maxTokens: Int?
    public var seed: Int?
    public var responseFormat: ResponseFormat?

    /// `json_schema`: the judge gets the JSON schema of the type's answer (OpenAI structured
    /// outputs, where the endpoint supports them); `json_object`: JSON mode.
    public enum ResponseFormat: String, Sendable, Hashable {
        case jsonSchema = "json_schema"
        case jsonObject = "json_object"
    }

    public init() {}

    static let knownFields: Set<String> = ["temperature", "max_tokens", "seed", "response_format"]

    public static func decode(_ json: JSONValue) throws(FieldError) -> JudgeParams {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "must be an object of judge parameters") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown judge parameter (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        // The numbers are checked as a prompt's params are.
        var numeric = o
        numeric["response_format"] = nil
        let p = try ModelParams.decode(.object(numeric))
        var j = JudgeParams()
        j.temperature = p.temperature
        j.maxTokens = p.maxTokens
        j.seed = p.seed
        switch o["response_format"] {
        case nil, .null?: break
        case let v?:
            guard let name = v.stringValue ?? v["type"]?.stringValue, let f = ResponseFormat(rawValue: name) else {
                throw FieldError(field: "response_format", message: "must be json_schema or json_object")
            }
            j.responseFormat = f
        }
        return j
    }

    /// These parameters with `other`'s where it sets them.
    public func overridden(by other: JudgeParams?) -> JudgeParams {
        guard let other else { return self }
        var j = self
        if let t = other.temperature { j.temperature = t }
        if let m = other.maxTokens { j.maxTokens = m }
        if let s = other.seed { j.seed = s }
        if let f = other.responseFormat { j.responseFormat = f }
        return j
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
