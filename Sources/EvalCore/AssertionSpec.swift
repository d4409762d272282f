/// The deterministic assertion types, named as promptfoo names them.
public enum AssertionType: String, Sendable, CaseIterable, Hashable {
    case equals
    case contains
    case icontains
    case containsAny = "contains-any"
    case containsAll = "contains-all"
    case icontainsAny = "icontains-any"
    case icontainsAll = "icontains-all"
    case startsWith = "starts-with"
    case regex
    case isJSON = "is-json"
    case containsJSON = "contains-json"
    case levenshtein
    case rougeN = "rouge-n"
    case bleu
    case latency
    /// Time to the first token of a streamed answer, in ms, at most `threshold`.
    case ttft
    case cost
    case finishReason = "finish-reason"
    /// Cosine similarity of the output's and the expected value's embeddings (promptfoo's `similar`).
    case similar
    /// A judge model grades the output against the rubric in `value`: `{reason, score, pass}`.
    case llmRubric = "llm-rubric"
    /// A judge model says whether the output meets the criterion in `value`: Y or N.
    case modelGradedClosedQA = "model-graded-closedqa"
    /// A judge model compares the output's facts with the reference (`value` or `expected`): A–E.
    case factuality
    /// G-Eval: the judge writes evaluation steps for each criterion in `value` (a request of the
    /// criterion alone, so it is asked once and cached), then scores the output 1–10 by them; the
    /// score is out of 10, criteria averaged. Passes at `threshold` (0.7).
    case gEval = "g-eval"
    /// The judge writes questions the output answers; their embeddings' mean cosine with the input's
    /// (the run's embedding endpoint). Passes at `threshold` (0.7).
    case answerRelevance = "answer-relevance"
    /// The output's claims, each checked against `vars.context`: supported ÷ claims.
    case contextFaithfulness = "context-faithfulness"
    /// The reference's statements (`value` or `expected`), each attributable to `vars.context` or not: attributed ÷ statements.
    case contextRecall = "context-recall"
    /// The sentences of `vars.context` needed to answer the input: needed ÷ sentences.
    case contextRelevance = "context-relevance"
    /// Across the targets of a matrix: the judge picks the best output for the criterion in
    /// `value`; it passes, the others fail.
    case selectBest = "select-best"

    /// RAGAS's id-based context precision: |retrieved ∩ relevant| / |retrieved| over the case's
    /// `metadata.retrieved_ids` and `metadata.relevant_ids` (no model call).
    case contextPrecisionIDs = "context-precision-ids"
    /// RAGAS's id-based context recall: |relevant ∩ retrieved| / |relevant|.
    case contextRecallIDs = "context-recall-ids"

    /// Every tool call names a tool the prompt declares and its arguments parse and validate
    /// against that tool's parameters schema (promptfoo's name); no tool call fails.
    case isValidOpenAIToolsCall = "is-valid-openai-tools-call"
    /// Set F1 of the called tool names against the expected ones in `value` (promptfoo, RAGAS);
    /// passes at `threshold` (1).
    case toolCallF1 = "tool-call-f1"
    /// The answer calls the expected `{name, arguments}` (or each of a list): arguments compared
    /// as JSON, or with `partial: true` only the expected keys.
    case toolCall = "tool-call"
    /// The called tool names, in order, are the expected list in `value`.
    case toolSequence = "tool-sequence"
    /// The user's own scorer: a persistent worker process (`command`) answering JSON lines.
    case script
    /// The user's own scorer behind a URL named in the endpoints config's `webhooks:`.
    case webhook

    /// Graded by a judge model (a call to the judge endpoint per assertion).
    public var isJudged: Bool {
        switch self {
        case .llmRubric, .modelGradedClosedQA, .factuality, .gEval, .answerRelevance, .contextFaithfulness, .contextRecall, .contextRelevance, .selectBest:
            return true
        default: return false
        }
    }

    /// Judged types whose score is a measured fraction, passing at a threshold (not a judge's pass).
    var isJudgedScore: Bool {
        switch self {
        case .gEval, .answerRelevance, .contextFaithfulness, .contextRecall, .contextRelevance: return true
        default: return false
        }
    }

    /// Types that exist in promptfoo but need a model, a script or the vector engine; named so the
    /// error can say "not supported yet" rather than "unknown".
    static let recognisedButUnsupported: Set<String> = [
        "similar:dot", "similar:euclidean", "javascript", "python", "ruby", "assert-set",
        "max-score", "moderation", "classifier", "perplexity", "perplexity-score",
    ]

    /// Default pass threshold where the type has one (promptfoo's defaults).
    var defaultThreshold: Double? {
        switch self {
        case .levenshtein: return 5
        case .rougeN: return 0.75
        case .bleu: return 0.5
        case .similar: return 0.75
        case .gEval, .answerRelevance: return 0.7
        case .toolCallF1: return 1
        case .contextFaithfulness, .contextRecall, .contextRelevance: return 0
        default: return nil
        }
    }
}

/// One assertion as written in a golden set.
public struct AssertionSpec: Sendable, Hashable {
    public var type: AssertionType
    /// `not-` prefix: the result is inverted.
    public var negated: Bool
    /// Expected value; nil means "the case's `expected`".
    public var value: JSONValue?
    public var threshold: Double?
    /// Weight in the case's weighted mean score; 0 makes the assertion metric-only.
    public var weight: Double
    /// Name of the metric this assertion's score is reported under.
    public var metric: String?
    /// Judged types: the judge endpoint (a name from the endpoints config); nil is the run's judge.
    public var provider: String?
    /// Judged types: the judge's user message instead of the type's own, a `{{var}}` template
    /// reading `output`, `input`, `rubric`, `expected`, `context` and the case's vars.
    public var rubricPrompt: String?
    /// Judged types: ask the judge this many times (each a cache namespace of its own) and take
    /// the majority verdict and the mean score; the agreement among them is reported.
    public var judgeSamples: Int?
    public static let maxJudgeSamples = 9
    /// Judged types: sampling parameters for the judge (`provider: {id, config: {...}}`), over
    /// the judge defaults (temperature 0, max_tokens 512).
    public var judgeParams: JudgeParams?
    /// Multi-turn cases: the turn (1-based) whose answer this assertion checks; nil is the last.
    public var turn: Int?
    /// script: the worker's command line (relative paths are the golden set's).
    public var command: [String]?
    /// script / webhook: handed to the scorer as `config`.
    public var scorerConfig: JSONValue?
    /// webhook: the name of a webhook in the endpoints config (never a URL).
    public var webhook: String?
    /// script / webhook: the most one answer may take.
    public var scorerTimeoutSeconds: Double?
    /// script / webhook: answers cached by the content of the request (and the scorer's files).
    public var scorerCache = false
    public static let maxScorerTimeoutSeconds = 600.0
    /// factuality: the score of each category, A–E (promptfoo's `factuality` option:
    /// `subset`, `superset`, `agree`, `disagree`, `differ_but_factual`); a category scoring above 0 passes.
    public var factualityScores: [Character: Double]?

    public init(
        type: AssertionType, negated: Bool = false, value: JSONValue? = nil, threshold: Double? = nil,
        weight: Double = 1, metric: String? = nil
    ) {
        self.type = type
        self.negated = negated
        self.value = value
        self.threshold = threshold
        self.weight = weight
        self.metric = metric
    }

    /// The type as written, with its `not-` prefix.
    public var displayType: String { (negated ? "not-" : "") + type.rawValue }

    static let knownFields: Set<String> = ["type", "value", "threshold", "weight", "metric", "provider", "rubric_prompt", "judge_samples", "factuality", "turn", "command", "config", "webhook",
        "timeout_seconds", "cache"]

    /// promptfoo's names of the factuality categories.
    static let factualityCategories: [(name: String, letter: Character)] = [
        ("subset", "A"), ("superset", "B"), ("agree", "C"), ("disagree", "D"), ("differ_but_factual", "E"),
    ]

    /// Resolves `not-TYPE` and checks the type is one we run.
    public static func resolveType(_ raw: String) throws(FieldError) -> (AssertionType, Bool) {
        var name = raw
        var negated = false
        if name.hasPrefix("not-") {
            negated = true
            name.removeFirst(4)
        }
        if name == "similar:cosine" { return (.similar, negated) }
        if name == "model-graded-factuality" { return (.factuality, negated) }
        if let t = AssertionType(rawValue: name) { return (t, negated) }
        if AssertionType.recognisedButUnsupported.contains(name) {
            throw FieldError(field: "type", message: "assertion type '\(raw)' is not supported by this version")
        }
        throw FieldError(
            field: "type",
            message: "unknown assertion type '\(raw)' (known: \(AssertionType.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// Decodes `{type, value, threshold, weight, metric}`.
    public static func decode(_ json: JSONValue) throws(FieldError) -> AssertionSpec {
        guard let object = json.objectValue else {
            throw FieldError(field: "", message: "an assertion must be an object with a 'type', got \(json.typeName)")
        }
        for key in object.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        guard let rawType = object["type"]?.stringValue else {
            throw FieldError(field: "type", message: "missing or not a string")
        }
        let (type, negated) = try resolveType(rawType)
        var spec = AssertionSpec(type: type, negated: negated)
        if let v = object["value"], v != .null { spec.value = v }
        switch object["threshold"] {
        case nil, .null?: break
        case .number(let n)?: spec.threshold = n
        default: throw FieldError(field: "threshold", message: "must be a number")
        }
        switch object["weight"] {
        case nil, .null?: break
        // Bounded so that a case's weighted sum stays finite (1e308 + 1e308 is inf, inf/inf NaN).
        case .number(let n)? where n >= 0 && n <= AssertionSpec.maxWeight: spec.weight = n
        default: throw FieldError(field: "weight", message: "must be a number from 0 to \(format(AssertionSpec.maxWeight))")
        }
        switch object["metric"] {
        case nil, .null?: break
        case .string(let s)? where !s.isEmpty: spec.metric = s
        default: throw FieldError(field: "metric", message: "must be a non-empty string")
        }
        switch object["provider"] {
        case nil, .null?: break
        case .string(let s)? where !s.isEmpty: spec.provider = s
        // promptfoo's object form names its provider under `id`.
        case .object(let o)? where o["id"]?.stringValue?.isEmpty == false:
            spec.provider = o["id"]!.stringValue
            for key in o.keys where !["id", "config"].contains(key) {
                throw FieldError(field: "provider.\(key)", message: "unknown field (expected id, config)")
            }
            if let config = o["config"], config != .null {
                do { spec.judgeParams = try JudgeParams.decode(config) } catch { throw error.nested(in: "provider.config") }
            }
        default: throw FieldError(field: "provider", message: "must be the name of a judge endpoint, or {id, config}")
        }
        switch object["rubric_prompt"] {
        case nil, .null?: break
        case .string(let s)? where !s.trimmingSpaces.isEmpty: spec.rubricPrompt = s
        default: throw FieldError(field: "rubric_prompt", message: "must be a non-empty string")
        }
        if let v = object["judge_samples"], v != .null {
            guard let k = v.wholeNumber(in: 1...AssertionSpec.maxJudgeSamples) else {
                throw FieldError(field: "judge_samples", message: "must be a whole number from 1 to \(AssertionSpec.maxJudgeSamples)")
            }
            spec.judgeSamples = k
        }
        if let c = object["command"], c != .null {
            let parts = c.arrayValue?.compactMap(\.stringValue) ?? c.stringValue.map { $0.split(separator: " ").map(String.init) }
            guard type == .script else { throw FieldError(field: "command", message: "only script assertions take a command") }
            guard let parts, !parts.isEmpty, parts.count == (c.arrayValue?.count ?? parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
                throw FieldError(field: "command", message: "must be a list of strings, e.g. [python3, scorers/grade.py]")
            }
            spec.command = parts
        }
        if let v = object["config"], v != .null {
            guard type == .script || type == .webhook else { throw FieldError(field: "config", message: "only script and webhook assertions take a config") }
            spec.scorerConfig = v
        }
        if let w = object["webhook"], w != .null {
            guard type == .webhook, let name = w.stringValue, !name.isEmpty else { throw FieldError(field: "webhook", message: "the name of a webhook in the endpoints config (webhook assertions only)") }
            spec.webhook = name
        }
        if let t = object["timeout_seconds"], t != .null {
            guard type == .script || type == .webhook, let n = t.numberValue, n >= 0.001, n <= maxScorerTimeoutSeconds else {
                throw FieldError(field: "timeout_seconds", message: "a number of seconds from 0.001 to \(format(maxScorerTimeoutSeconds)) (script and webhook assertions)")
            }
            spec.scorerTimeoutSeconds = n
        }
        if let v = object["cache"], v != .null {
            guard type == .script || type == .webhook, let b = v.boolValue else { throw FieldError(field: "cache", message: "true or false (script and webhook assertions)") }
            spec.scorerCache = b
        }
        if type == .script, spec.command == nil { throw FieldError(field: "command", message: "a script assertion needs its command, e.g. [python3, scorers/grade.py]") }
        if type == .webhook, spec.webhook == nil { throw FieldError(field: "webhook", message: "a webhook assertion needs the name of a webhook in the endpoints config") }
        if let t = object["turn"], t != .null {
            guard let n = t.wholeNumber(in: 1...ConversationTurn.maxTurns) else { throw FieldError(field: "turn", message: "must be a turn number from 1 to \(ConversationTurn.maxTurns)") }
            // A judge sees the final answer's input and output; a turn's answer is for the deterministic types.
            if type.isJudged { throw FieldError(field: "turn", message: "model-graded assertions check the final answer; turn applies to the deterministic types") }
            spec.turn = n
        }
        if let f = object["factuality"], f != .null {
            guard type == .factuality else { throw FieldError(field: "factuality", message: "only factuality assertions take category scores") }
            guard let o = f.objectValue else { throw FieldError(field: "factuality", message: "must be an object of category scores") }
            var scores = JudgeVerdictParser.factualityScores
            let names = Dictionary(uniqueKeysWithValues: factualityCategories.map { ($0.name, $0.letter) })
            for (key, v) in o {
                guard let letter = names[key] else {
                    throw FieldError(field: "factuality.\(key)", message: "unknown category (expected one of \(factualityCategories.map(\.name).joined(separator: ", ")))")
                }
                guard let n = v.numberValue, n >= 0, n <= 1 else { throw FieldError(field: "factuality.\(key)", message: "must be a score from 0 to 1") }
                scores[letter] = n
            }
            spec.factualityScores = scores
        }
        if !type.isJudged, spec.provider != nil || spec.rubricPrompt != nil || spec.judgeSamples != nil {
            let field = spec.provider != nil ? "provider" : spec.rubricPrompt != nil ? "rubric_prompt" : "judge_samples"
            throw FieldError(field: field, message: "only model-graded assertion types take a judge")
        }
        try spec.checkShape()
        return spec
    }

    /// Parses promptfoo's CSV shorthand: `type:value`, `not-type:value`, `type(0.8):value`; text that
    /// does not start with a known type is an `equals` of the whole text.
    public static func parseShorthand(_ text: String) throws(FieldError) -> AssertionSpec {
        guard let colon = text.firstIndex(of: ":") else { return AssertionSpec(type: .equals, value: .string(text)) }
        var head = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        var threshold: Double?
        if head.hasSuffix(")"), let open = head.firstIndex(of: "(") {
            let inner = head[head.index(after: open)..<head.index(before: head.endIndex)]
            guard let t = Double(inner) else { return AssertionSpec(type: .equals, value: .string(text)) }
            threshold = t
            head = String(head[..<open])
        }
        let bare = head.hasPrefix("not-") ? String(head.dropFirst(4)) : head
        let looksLikeType = !bare.isEmpty && bare.allSatisfy { $0.isLowercase || $0 == "-" || $0.isNumber }
        guard looksLikeType,
            AssertionType(rawValue: bare) != nil || AssertionType.recognisedButUnsupported.contains(bare)
                || ["grade", "fn"].contains(bare)
        else {
            return AssertionSpec(type: .equals, value: .string(text))
        }
        if bare == "grade" { return AssertionSpec(type: .llmRubric, negated: head.hasPrefix("not-"), value: .string(rest.trimmingSpaces), threshold: threshold) }
        if bare == "fn" { throw FieldError(field: "type", message: "assertion type 'javascript' is not supported by this version") }
        let (type, negated) = try resolveType(head)
        var spec = AssertionSpec(type: type, negated: negated, threshold: threshold)
        switch type {
        case .containsAny, .containsAll, .icontainsAny, .icontainsAll:
            spec.value = .array(splitCommaList(rest).map(JSONValue.string))
        case .latency, .cost:
            if !rest.isEmpty {
                guard let n = Double(rest.trimmingSpaces) else { throw FieldError(field: "value", message: "\(type.rawValue) needs a number") }
                spec.threshold = n
            }
        case .similar:
            spec.value = .string(rest)
        case .levenshtein, .rougeN, .bleu, .isJSON, .containsJSON:
            if !rest.isEmpty {
                if type == .isJSON || type == .containsJSON {
                    do {
                        spec.value = try JSONValue.parse(rest)
                    } catch {
                        throw FieldError(field: "value", message: "\(type.rawValue) schema is not valid JSON: \(error.message)")
                    }
                } else {
                    spec.value = .string(rest)
                }
            }
        default:
            spec.value = .string(rest)
        }
        try spec.checkShape()
        return spec
    }

    /// The largest weight an assertion may have.
    public static let maxWeight = 1e6

    /// The range a threshold of this type means something in.
    var thresholdRange: ClosedRange<Double> {
        switch type {
        case .rougeN, .bleu, .llmRubric, .modelGradedClosedQA, .factuality, .contextPrecisionIDs, .contextRecallIDs, .gEval, .contextFaithfulness,
            .contextRecall, .contextRelevance:
            return 0...1
        case .answerRelevance: return -1...1
        case .toolCallF1: return 0...1
        case .similar: return -1...1
        case .levenshtein: return 0...1e6
        case .latency, .ttft: return 0...1e9  // milliseconds
        case .cost: return 0...1e6  // USD
        default: return -1e15...1e15
        }
    }

    /// Checks what can be checked without the case: value shapes and required thresholds.
    func checkShape() throws(FieldError) {
        if let t = threshold, !(t.isFinite && thresholdRange.contains(t)) {
            throw FieldError(field: "threshold", message: "\(type.rawValue) threshold must be a number from \(format(thresholdRange.lowerBound)) to \(format(thresholdRange.upperBound)), got \(t)")
        }
        switch type {
        case .latency, .cost, .ttft:
            if threshold == nil && metric == nil {
                throw FieldError(field: "threshold", message: "\(type.rawValue) needs a threshold (or a metric to record the raw value)")
            }
        case .contains, .icontains, .startsWith:
            if let v = value {
                switch v {
                case .string(let s) where !s.isEmpty: break
                case .number: break
                default: throw FieldError(field: "value", message: "\(type.rawValue) needs a non-empty string or a number")
                }
            }
        case .regex:
            if let v = value, v.stringValue == nil { throw FieldError(field: "value", message: "regex needs a pattern string") }
        case .containsAny, .containsAll, .icontainsAny, .icontainsAll:
            if let v = value {
                switch v {
                case .string, .array: break
                default: throw FieldError(field: "value", message: "\(type.rawValue) needs a list or a comma-separated string")
                }
            }
        case .finishReason:
            if value == nil || value?.stringValue == nil { throw FieldError(field: "value", message: "finish-reason needs a string value") }
        case .llmRubric, .modelGradedClosedQA:
            if value?.stringValue?.trimmingSpaces.isEmpty != false { throw FieldError(field: "value", message: "\(type.rawValue) needs the rubric as a string value") }
        case .factuality, .contextRecall:
            if let v = value, v.stringValue == nil { throw FieldError(field: "value", message: "\(type.rawValue) needs the reference answer as a string value") }
        case .gEval:
            switch value {
            case .string(let s)? where !s.trimmingSpaces.isEmpty: break
            case .array(let items)? where !items.isEmpty && items.allSatisfy({ $0.stringValue?.trimmingSpaces.isEmpty == false }): break
            default: throw FieldError(field: "value", message: "g-eval needs the criteria as a string or a list of strings")
            }
        case .selectBest:
            if value?.stringValue?.trimmingSpaces.isEmpty != false { throw FieldError(field: "value", message: "select-best needs the criterion as a string value") }
            if negated { throw FieldError(field: "type", message: "select-best has no not- form") }
        case .isValidOpenAIToolsCall:
            if value != nil { throw FieldError(field: "value", message: "is-valid-openai-tools-call checks the answer against the prompt's tools; it takes no value") }
        case .toolCallF1, .toolSequence:
            switch value {
            case .string(let s)? where !splitCommaList(s).isEmpty: break
            case .array(let items)? where !items.isEmpty && items.allSatisfy({ $0.stringValue?.isEmpty == false }): break
            default: throw FieldError(field: "value", message: "\(type.rawValue) needs the expected tool names, a list or a comma-separated string")
            }
        case .toolCall:
            let calls = value?.arrayValue ?? (value.map { [$0] } ?? [])
            guard !calls.isEmpty, calls.allSatisfy({ $0["name"]?.stringValue?.isEmpty == false }) else {
                throw FieldError(field: "value", message: "tool-call needs {name, arguments?, partial?} or a list of them")
            }
            for c in calls {
                for key in c.objectValue!.keys where !["name", "arguments", "partial"].contains(key) {
                    throw FieldError(field: "value.\(key)", message: "unknown field (expected name, arguments, partial)")
                }
                if let p = c["partial"], p.boolValue == nil { throw FieldError(field: "value.partial", message: "must be true or false") }
            }
        case .script, .webhook:
            break  // the value is the scorer's to read
        case .answerRelevance, .contextFaithfulness, .contextRelevance:
            if value != nil { throw FieldError(field: "value", message: "\(type.rawValue) reads the output, the input and vars.context; it takes no value") }
        case .contextPrecisionIDs, .contextRecallIDs:
            if value != nil { throw FieldError(field: "value", message: "\(type.rawValue) reads the case's metadata.retrieved_ids and metadata.relevant_ids; it takes no value") }
        case .isJSON, .containsJSON:
            if let v = value {
                switch v {
                case .object, .bool, .string: break
                default: throw FieldError(field: "value", message: "\(type.rawValue) value must be a JSON Schema object")
                }
            }
        case .similar:
            if let v = value {
                switch v {
                case .string: break
                case .array(let items) where !items.isEmpty && items.allSatisfy({ $0.stringValue != nil }): break
                default: throw FieldError(field: "value", message: "similar needs a string or a list of strings")
                }
            }
        case .equals, .levenshtein, .rougeN, .bleu:
            break
        }
    }
}

/// Splits `a, b, "c, d"` into items, honouring double quotes as promptfoo's CSV lists do.
func splitCommaList(_ text: String) -> [String] {
    var items: [String] = []
    var current = ""
    var quoted = false
    for ch in text {
        if ch == "\"" {
            quoted.toggle()
        } else if ch == "," && !quoted {
            items.append(current.trimmingSpaces)
            current = ""
        } else {
            current.append(ch)
        }
    }
    items.append(current.trimmingSpaces)
    return items.filter { !$0.isEmpty }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
