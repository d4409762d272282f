import Foundation
import Synchronization

/// What a model answered for one case, as the assertions see it.
public struct CaseOutput: Sendable {
    public var text: String
    public var latencyMs: Double?
    public var costUSD: Double?
    public var finishReason: String?
    /// Cosine similarity of the output's embedding with each expected text of the case's
    /// `similar` assertions (computed by the runner in one batch per case).
    public var similarities: [String: Double] = [:]
    /// Why no similarity could be computed (the embedding call failed): `similar` assertions are
    /// then errored with this kind, the case's other assertions still run.
    public var similarityError: (kind: String, message: String)?
    /// The input the target was given (its last user message): judge prompts show it.
    public var input = ""
    /// The functions the model called.
    public var toolCalls: [ToolCall] = []
    /// Time to the first token of a streamed answer.
    public var ttftMs: Double?
    /// A multi-turn case's answers, turn by turn (the last is this output's text); assertions
    /// with `turn: i` check the i-th.
    public var turnOutputs: [CaseOutput] = []
    /// The user's scorers' answers (script, webhook), by the assertion's position in the case.
    public var scorerResults: [Int: ScorerOutcome] = [:]
    /// Judged assertions' outcomes, by the assertion's position in the case.
    public var judgements: [Int: JudgeOutcome] = [:]
    /// What the judge calls of this case cost.
    public var judgeUsage = JudgeUsage()

    public init(text: String, latencyMs: Double? = nil, costUSD: Double? = nil, finishReason: String? = nil) {
        self.text = text
        self.latencyMs = latencyMs
        self.costUSD = costUSD
        self.finishReason = finishReason
    }
}

/// The outcome of one assertion.
public struct AssertionResult: Sendable, Hashable {
    public var type: String
    public var pass: Bool
    public var score: Double
    public var weight: Double
    public var metric: String?
    public var reason: String
    /// Set when the assertion could not be decided (`scorer_timeout`, `embedding_<kind>`): it is
    /// neither passed nor failed, and makes its case errored.
    public var errorKind: String?
    /// Judged with `judge_samples`: how the samples agreed.
    public var judgeAgreement: JudgeAgreement?
    /// The judge's pass and score disagreed (`pass: true, score: 0`): the score decided.
    public var judgeContradiction = false

    public init(type: String, pass: Bool, score: Double, weight: Double, metric: String?, reason: String, errorKind: String? = nil) {
        self.type = type
        self.pass = pass
        self.score = score
        self.weight = weight
        self.metric = metric
        self.reason = reason
        self.errorKind = errorKind
    }
}

/// The outcome of all of a case's assertions.
public struct CaseScore: Sendable {
    public var pass: Bool
    /// Weighted mean of the assertion scores (0 when the total weight is 0).
    public var score: Double
    /// Weighted mean score per named metric.
    public var namedScores: [String: Double]
    public var results: [AssertionResult]

    /// The first undecided assertion's error, if any: the case is then errored, not failed.
    public var error: AssertionResult? { results.first { $0.errorKind != nil } }
}

/// A case whose assertion values are rendered with its vars and whose patterns are compiled:
/// everything that can be wrong with a case is found here, before any model call.
public struct PreparedCase: Sendable {
    public let goldenCase: GoldenCase
    let assertions: [PreparedAssertion]
    /// The prompt's tools and their compiled parameter schemas, by name (is-valid-openai-tools-call).
    var tools: [String: JSONSchemaValidator] = [:]
    /// Whether any assertion needs a judge, or the user's scorer (cheap checks for the run's steps).
    public internal(set) var hasJudged = false
    public internal(set) var hasScorers = false

    /// True when an assertion may take real CPU time on a large output (patterns, schemas,
    /// embedded-JSON search, edit distance, n-gram metrics): the runner scores such cases on
    /// threads of their own, away from the ones that serve HTTP.
    public var hasCostlyAssertions: Bool {
        assertions.contains { a in
            switch a.spec.type {
            case .regex, .containsJSON, .levenshtein, .rougeN, .bleu, .isValidOpenAIToolsCall: return true
            case .isJSON: return a.schema != nil
            default: return false
            }
        }
    }

    /// What the case's judged assertions ask their judges.
    public var judgeRequests: [JudgeRequestSpec] { assertions.compactMap(\.judge) }

    /// What the case asks the user's scorers (script and webhook assertions).
    public var scorerRequests: [ScorerRequestSpec] {
        assertions.enumerated().compactMap { i, a in
            switch a.spec.type {
            case .script, .webhook:
                let dir = goldenCase.location.file.contains("/") ? String(goldenCase.location.file[..<goldenCase.location.file.lastIndex(of: "/")!]) : "."
                var r = ScorerRequestSpec(assertionIndex: i, target: a.spec.type == .script ? .command(a.spec.command ?? [], directory: dir) : .webhook(a.spec.webhook ?? ""),
                                          value: a.value, config: a.spec.scorerConfig, timeoutSeconds: a.spec.scorerTimeoutSeconds ?? ScorerRequestSpec.defaultTimeoutSeconds,
                                          cache: a.spec.scorerCache)
                r.turn = a.spec.turn
                return r
            default: return nil
            }
        }
    }

    /// Texts whose embeddings the `similar` assertions compare the output with.
    public var similarityTexts: [String] {
        var out: [String] = []
        for a in assertions where a.spec.type == .similar {
            for t in a.list where !out.contains(t) { out.append(t) }
        }
        return out
    }
}

struct PreparedAssertion: Sendable {
    let spec: AssertionSpec
    let value: JSONValue?
    let regex: LinearRegex?
    let schema: JSONSchemaValidator?
    let list: [String]
    var judge: JudgeRequestSpec?
    /// The assertion's position in its case (steps' answers are looked up by it).
    var position = 0
}

/// Prepares and scores cases. Compiled regular expressions and schemas are shared across cases.
///
/// Every assertion is bounded: patterns run in linear time (`LinearRegex`), schema validation,
/// embedded-JSON search and edit distance within step budgets. An assertion over its budget is
/// errored `scorer_timeout`, never passed.
public final class Scorer: Sendable {
    private let regexCache = Mutex<[String: LinearRegex]>([:])
    private let schemaCache = Mutex<[JSONValue: JSONSchemaValidator]>([:])

    /// Work one `contains-json` search may do, in bytes scanned and parsed per byte of output.
    public static let embeddedJSONWorkPerByte = 16
    /// The most cells an edit-distance table may have (beyond its band) before `scorer_timeout`.
    public static let maxEditDistanceCells = 50_000_000

    public init() {}

    /// Renders assertion values and compiles patterns; a bad case throws naming the field.
    /// `tools` are the prompt's (is-valid-openai-tools-call checks answers against them).
    public func prepare(_ c: GoldenCase, tools: [ToolDefinition] = []) throws(FieldError) -> PreparedCase {
        var prepared: [PreparedAssertion] = []
        prepared.reserveCapacity(c.assertions.count)
        var validators: [String: JSONSchemaValidator] = [:]
        for (i, spec) in c.assertions.enumerated() {
            do throws(FieldError) {
                var a = try prepare(spec, in: c)
                a.position = i
                if spec.type.isJudged { a.judge = try judgeRequest(spec, index: i, value: a.value, in: c) }
                if spec.type == .isValidOpenAIToolsCall {
                    guard !tools.isEmpty else { throw FieldError(field: "type", message: "is-valid-openai-tools-call needs a prompt that declares tools") }
                    if validators.isEmpty { for t in tools { validators[t.name] = try compiledSchema(t.parameters) } }
                }
                prepared.append(a)
            } catch {
                throw error.nested(in: "assert[\(i)]")
            }
        }
        var p = PreparedCase(goldenCase: c, assertions: prepared)
        p.tools = validators
        p.hasJudged = prepared.contains { $0.judge != nil }
        p.hasScorers = prepared.contains { $0.spec.type == .script || $0.spec.type == .webhook }
        return p
    }

    /// Types that compare with a value (their own or the case's `expected`). Built once: a set
    /// literal in `prepare` was built anew for every assertion of every case.
    private static let needsValue: Set<AssertionType> = [
        .equals, .contains, .icontains, .containsAny, .containsAll, .icontainsAny, .icontainsAll, .startsWith,
        .regex, .levenshtein, .rougeN, .bleu, .similar,
    ]

    private func prepare(_ spec: AssertionSpec, in c: GoldenCase) throws(FieldError) -> PreparedAssertion {
        var value = spec.value ?? c.expected
        if let v = value { value = try render(v, vars: c.vars) }
        if value == nil, Scorer.needsValue.contains(spec.type) {
            throw FieldError(field: "value", message: "\(spec.displayType) needs a value (or the case's 'expected')")
        }
        var regex: LinearRegex?
        var schema: JSONSchemaValidator?
        var list: [String] = []
        switch spec.type {
        case .regex:
            guard let pattern = value?.stringValue else { throw FieldError(field: "value", message: "regex needs a pattern string") }
            regex = try compiledRegex(pattern)
        case .isJSON, .containsJSON:
            if let v = value {
                switch v {
                case .string(let s):
                    let parsed: JSONValue
                    do { parsed = try JSONValue.parse(s) } catch {
                        throw FieldError(field: "value", message: "schema is not valid JSON: \(error.message)")
                    }
                    schema = try compiledSchema(parsed)
                default: schema = try compiledSchema(v)
                }
            }
        case .similar:
            switch value {
            case .string(let s)?: list = [s]
            case .array(let items)?: list = items.map(\.textForm)
            default: throw FieldError(field: "value", message: "similar needs a string or a list of strings (or the case's 'expected')")
            }
        case .containsAny, .containsAll, .icontainsAny, .icontainsAll:
            switch value {
            case .string(let s)?: list = splitCommaList(s)
            case .array(let items)?: list = items.map(\.textForm)
            default: throw FieldError(field: "value", message: "\(spec.displayType) needs a list or a comma-separated string")
            }
            if list.isEmpty { throw FieldError(field: "value", message: "\(spec.displayType) needs at least one item") }
        case .contains, .icontains, .startsWith:
            if let v = value, v.textForm.isEmpty { throw FieldError(field: "value", message: "\(spec.displayType) needs a non-empty value") }
        case .toolCallF1, .toolSequence:
            switch value {
            case .string(let s)?: list = splitCommaList(s)
            case .array(let items)?: list = items.map(\.textForm)
            default: throw FieldError(field: "value", message: "\(spec.displayType) needs the expected tool names (or the case's 'expected')")
            }
            if list.isEmpty { throw FieldError(field: "value", message: "\(spec.displayType) needs at least one tool name") }
        case .contextPrecisionIDs, .contextRecallIDs:
            // The ids are the case's: missing ones are an error here, before anything is sent.
            for key in ["retrieved_ids", "relevant_ids"] {
                guard let ids = c.metadata[key]?.arrayValue, ids.allSatisfy({ $0.stringValue != nil || $0.numberValue != nil }) else {
                    throw FieldError(field: "metadata.\(key)", message: "\(spec.displayType) needs the case's metadata.\(key), a list of ids")
                }
            }
            list = c.metadata["retrieved_ids"]!.arrayValue!.map(\.textForm)
            value = .array(c.metadata["relevant_ids"]!.arrayValue!.map { .string($0.textForm) })
        default: break
        }
        return PreparedAssertion(spec: spec, value: value, regex: regex, schema: schema, list: list)
    }

    /// The judge request of a judged assertion; a `rubric_prompt` reading a var that neither the
    /// case nor the judge defines, a context type without `vars.context`, a reference type without
    /// a reference are errors here, before anything is sent.
    private func judgeRequest(_ spec: AssertionSpec, index: Int, value: JSONValue?, in c: GoldenCase) throws(FieldError) -> JudgeRequestSpec {
        var vars = c.vars
        var kind: JudgeKind
        var system: String
        var user: String
        /// Variables this type's prompt gives besides the case's.
        var given: Set<String> = ["output", "input"]
        let contextTypes: Set<AssertionType> = [.contextFaithfulness, .contextRecall, .contextRelevance]
        if let context = c.vars["context"] {
            vars["context"] = .string(context.arrayValue.map { $0.map(\.textForm).joined(separator: "\n\n") } ?? context.textForm)
        } else if contextTypes.contains(spec.type) {
            throw FieldError(field: "vars.context", message: "\(spec.displayType) checks against the case's vars.context (the retrieved chunks, a string or a list), which it does not have")
        }
        if vars["context"]?.stringValue?.trimmingSpaces.isEmpty == true, contextTypes.contains(spec.type) {
            throw FieldError(field: "vars.context", message: "\(spec.displayType) needs a non-empty vars.context")
        }
        vars["expected"] = .string(c.expected?.textForm ?? "")
        switch spec.type {
        case .llmRubric, .modelGradedClosedQA:
            guard let rubric = spec.value.flatMap({ _ in value?.textForm }), !rubric.trimmingSpaces.isEmpty else {
                throw FieldError(field: "value", message: "\(spec.displayType) needs the rubric as its value")
            }
            vars["rubric"] = .string(rubric)
            (kind, system, user) = spec.type == .llmRubric
                ? (.verdict(.rubricJSON), JudgePrompts.rubricSystem, JudgePrompts.rubricUser)
                : (.verdict(.yesNo), JudgePrompts.closedQASystem, JudgePrompts.closedQAUser)
        case .factuality, .contextRecall:
            guard let reference = value?.textForm, !reference.trimmingSpaces.isEmpty else {
                throw FieldError(field: "value", message: "\(spec.displayType) needs the reference answer as its value (or the case's 'expected')")
            }
            vars["expected"] = .string(reference)
            if spec.type == .factuality {
                // A category scoring above 0 passes (promptfoo), so configured scores move the passing set too.
                let scores = spec.factualityScores ?? JudgeVerdictParser.factualityScores
                kind = .verdict(.category(scores: scores, passing: Set(scores.filter { $0.value > 0 }.keys)))
                (system, user) = (JudgePrompts.factualitySystem, JudgePrompts.factualityUser)
            } else {
                (kind, system, user) = (.claims(reference: true), JudgePrompts.recallSystem, JudgePrompts.recallUser)
            }
        case .gEval:
            let criteria = value?.arrayValue?.map(\.textForm) ?? [value?.textForm ?? ""]
            guard !criteria.isEmpty, criteria.allSatisfy({ !$0.trimmingSpaces.isEmpty }) else {
                throw FieldError(field: "value", message: "g-eval needs the criteria as a string or a list of strings")
            }
            (kind, system, user) = (.gEval(criteria: criteria), JudgePrompts.gEvalScoreSystem, JudgePrompts.gEvalScoreUser)
            given.formUnion(["criteria", "steps"])
        case .contextFaithfulness:
            (kind, system, user) = (.claims(reference: false), JudgePrompts.faithfulnessSystem, JudgePrompts.faithfulnessUser)
        case .contextRelevance:
            let sentences = JudgePrompts.sentences(vars["context"]?.stringValue ?? "")
            vars["sentences"] = .string(JudgePrompts.numbered(sentences))
            (kind, system, user) = (.contextSentences(count: sentences.count), JudgePrompts.relevanceSystem, JudgePrompts.relevanceUser)
        case .answerRelevance:
            (kind, system, user) = (.answerRelevance, JudgePrompts.answerRelevanceSystem, JudgePrompts.answerRelevanceUser)
        default:  // .selectBest
            guard let criteria = value?.textForm, !criteria.trimmingSpaces.isEmpty else {
                throw FieldError(field: "value", message: "select-best needs the criterion as its value")
            }
            vars["criteria"] = .string(criteria)
            (kind, system, user) = (.selectBest(criteria: criteria), JudgePrompts.selectBestSystem, JudgePrompts.selectBestUser)
            given.insert("outputs")
        }
        if let custom = spec.rubricPrompt { user = custom }
        let template = Template(user)
        for name in template.variableNames where vars[name.split(separator: ".").first.map(String.init) ?? name] == nil && !given.contains(name) {
            throw FieldError(field: "rubric_prompt", message: "the judge prompt reads var '\(name)', which neither the case nor the judge defines (the judge gives \(JudgePrompts.variables.union(given).sorted().joined(separator: ", ")))")
        }
        var request = JudgeRequestSpec(assertionIndex: index, provider: spec.provider, kind: kind, system: spec.rubricPrompt == nil ? system : nil, user: template, vars: vars)
        request.samples = spec.judgeSamples ?? 1
        request.params = spec.judgeParams
        if spec.judgeParams?.responseFormat == .jsonSchema {
            let schema: (name: String, schema: JSONValue)?
            switch spec.type {
            case .contextFaithfulness: schema = JudgeKind.claimsSchema(list: "claims", item: "claim", verdict: "supported")
            case .contextRecall: schema = JudgeKind.claimsSchema(list: "statements", item: "statement", verdict: "attributed")
            default: schema = kind.answerSchema
            }
            guard let schema else {
                throw FieldError(field: "provider.config.response_format", message: "\(spec.displayType)'s judge answers in prose (\(request.format)), not JSON: json_schema does not apply")
            }
            request.responseFormat = ["type": "json_schema", "json_schema": ["name": .string(schema.name), "strict": true, "schema": schema.schema]]
        }
        return request
    }

    private func render(_ value: JSONValue, vars: [String: JSONValue]) throws(FieldError) -> JSONValue {
        switch value {
        case .string(let s) where s.contains("{{"):
            do { return .string(try Template(s).render(vars)) } catch {
                throw FieldError(field: "value", message: "template reads var '\(error.name)', which the case does not define")
            }
        case .array(let items):
            var out: [JSONValue] = []
            for item in items { out.append(try render(item, vars: vars)) }
            return .array(out)
        default: return value
        }
    }

    private func compiledSchema(_ json: JSONValue) throws(FieldError) -> JSONSchemaValidator {
        if let cached = schemaCache.withLock({ $0[json] }) { return cached }
        let v: JSONValue
        do {
            let validator = try JSONSchemaValidator(schema: json)
            schemaCache.withLock { $0[json] = validator }
            return validator
        } catch {
            v = .string(error.field)
            throw FieldError(field: "value", message: "schema\(v.stringValue!.isEmpty ? "" : " at \(v.stringValue!)"): \(error.message)")
        }
    }

    private func compiledRegex(_ pattern: String) throws(FieldError) -> LinearRegex {
        if let cached = regexCache.withLock({ $0[pattern] }) { return cached }
        let re: LinearRegex
        do { re = try LinearRegex(pattern) } catch {
            throw FieldError(field: "value", message: "invalid regular expression /\(pattern)/: \(error.message)")
        }
        regexCache.withLock { $0[pattern] = re }
        return re
    }

    /// Scores an output. Pass = every weighted assertion passes, or score >= threshold when the case
    /// sets one; weight-0 assertions only record their metric.
    public func score(_ prepared: PreparedCase, output: CaseOutput) -> CaseScore {
        var results: [AssertionResult] = []
        results.reserveCapacity(prepared.assertions.count)
        var weighted = 0.0
        var totalWeight = 0.0
        var allPass = true
        var metricSums: [String: (Double, Double)] = [:]
        for a in prepared.assertions {
            // A turn beyond the answers the conversation got (it ended early) is not a pass.
            let subject = a.spec.turn.map { $0 <= output.turnOutputs.count ? output.turnOutputs[$0 - 1] : CaseOutput(text: "") } ?? output
            var r = evaluate(a, subject, tools: prepared.tools)
            if let t = a.spec.turn { r.reason = "turn \(t): " + r.reason }
            if a.spec.weight == 0 && r.errorKind == nil { r.pass = true }
            results.append(r)
            let metricOnly = (a.spec.type == .latency || a.spec.type == .cost || a.spec.type == .ttft) && a.spec.threshold == nil
            if let m = a.spec.metric ?? (a.spec.type == .similar ? "semantic_similarity" : nil) {
                let w = a.spec.weight == 0 || metricOnly ? 1 : a.spec.weight
                let s = metricSums[m] ?? (0, 0)
                metricSums[m] = (s.0 + r.score * w, s.1 + w)
            }
            // A scorer's own named scores are metrics of the case.
            if r.errorKind == nil, case .answer(_, _, _, let named)? = output.scorerResults[a.position] {
                for (k, v) in named {
                    let s = metricSums[k] ?? (0, 0)
                    metricSums[k] = (s.0 + v, s.1 + 1)
                }
            }
            if metricOnly { continue }
            weighted += r.score * a.spec.weight
            totalWeight += a.spec.weight
            if !r.pass { allPass = false }
        }
        let score = totalWeight > 0 ? weighted / totalWeight : 0
        var pass = allPass
        if let t = prepared.goldenCase.threshold, !t.isNaN { pass = score >= t }
        var named: [String: Double] = [:]
        for (k, v) in metricSums { named[k] = v.1 > 0 ? v.0 / v.1 : 0 }
        return CaseScore(pass: pass, score: score, namedScores: named, results: results)
    }

    private func evaluate(_ a: PreparedAssertion, _ output: CaseOutput, tools: [String: JSONSchemaValidator]) -> AssertionResult {
        let spec = a.spec
        let text = output.text
        var pass: Bool
        var score: Double?
        var reason: String
        var agreement: JudgeAgreement?
        var contradiction = false
        switch spec.type {
        case .equals:
            switch a.value {
            case .object?, .array?:
                let parsed = try? JSONValue.parse(text)
                pass = parsed.map { jsonEqual($0, a.value!) } ?? false
                reason = pass ? "output equals the expected JSON" : "output is not the expected JSON"
            default:
                pass = text == a.value!.textForm
                reason = pass ? "output equals expected" : "expected \(quote(a.value!.textForm)), got \(quote(text))"
            }
        case .contains, .icontains:
            let needle = a.value!.textForm
            pass = spec.type == .contains ? text.contains(needle) : text.lowercased().contains(needle.lowercased())
            reason = pass ? "output contains \(quote(needle))" : "output does not contain \(quote(needle))"
        case .containsAny, .icontainsAny:
            let hay = spec.type == .containsAny ? text : text.lowercased()
            let found = a.list.first { hay.contains(spec.type == .containsAny ? $0 : $0.lowercased()) }
            pass = found != nil
            reason = found.map { "output contains \(quote($0))" } ?? "output contains none of \(a.list.map(quote).joined(separator: ", "))"
        case .containsAll, .icontainsAll:
            let hay = spec.type == .containsAll ? text : text.lowercased()
            let missing = a.list.filter { !hay.contains(spec.type == .containsAll ? $0 : $0.lowercased()) }
            pass = missing.isEmpty
            reason = pass ? "output contains all items" : "missing: \(missing.map(quote).joined(separator: ", "))"
        case .startsWith:
            let prefix = a.value!.textForm
            pass = text.hasPrefix(prefix)
            reason = pass ? "output starts with \(quote(prefix))" : "output does not start with \(quote(prefix))"
        case .regex:
            switch a.regex!.firstMatch(in: text) {
            case .matched: pass = true
            case .noMatch: pass = false
            case .overBudget: return overBudget(spec, "matching /\(a.regex!.pattern)/ against \(text.unicodeScalars.count) characters")
            }
            reason = pass ? "output matches /\(a.regex!.pattern)/" : "output does not match /\(a.regex!.pattern)/"
        case .isJSON:
            do {
                let parsed = try JSONValue.parse(text)
                switch a.schema?.validate(parsed) ?? .valid {
                case .valid:
                    pass = true
                    reason = "output is valid JSON"
                case .invalid(let err):
                    pass = false
                    reason = "JSON does not match the schema: \(err)"
                case .overBudget:
                    return overBudget(spec, "validating the output against the schema")
                }
            } catch {
                pass = false
                reason = "output is not valid JSON (\(error.message) at byte \(error.offset))"
            }
        case .containsJSON:
            let (found, complete) = extractEmbeddedJSON(text, workBudget: text.utf8.count * Scorer.embeddedJSONWorkPerByte + 1_000_000)
            pass = false
            reason = "output contains no JSON"
            if let schema = a.schema {
                var lastError: String?
                for v in found {
                    switch schema.validate(v) {
                    case .valid: pass = true
                    case .invalid(let err): lastError = err
                    case .overBudget: return overBudget(spec, "validating embedded JSON against the schema")
                    }
                    if pass { break }
                }
                if pass { reason = "output contains JSON matching the schema" } else if let lastError { reason = "no embedded JSON matches the schema: \(lastError)" }
            } else if !found.isEmpty {
                pass = true
                reason = "output contains JSON"
            }
            // Only an answer found counts before the budget ran out; "none found" is not decided.
            if !pass && !complete { return overBudget(spec, "searching \(text.utf8.count) bytes for embedded JSON") }
        case .levenshtein:
            let limit = spec.threshold ?? 5
            guard let d = TextMetrics.levenshtein(text, a.value!.textForm, atMost: Int(limit), maxCells: Scorer.maxEditDistanceCells) else {
                return overBudget(spec, "an edit distance between \(text.unicodeScalars.count) and \(a.value!.textForm.unicodeScalars.count) characters")
            }
            pass = d <= Int(limit)
            reason = d <= Int(limit) ? "edit distance \(d) (limit \(format(limit)))" : "edit distance more than \(format(limit)) (limit \(format(limit)))"
        case .rougeN:
            let t = spec.threshold ?? 0.75
            let f1 = TextMetrics.rougeN(candidate: text, reference: a.value!.textForm)
            pass = f1 >= t
            score = f1
            reason = "ROUGE-1 F1 \(format(f1)) (threshold \(format(t)))"
        case .bleu:
            let t = spec.threshold ?? 0.5
            let refs = a.value!.arrayValue?.map(\.textForm) ?? [a.value!.textForm]
            let b = TextMetrics.bleu(candidate: text, references: refs)
            pass = b >= t
            score = b
            reason = "BLEU \(format(b)) (threshold \(format(t)))"
        case .latency, .cost, .ttft:
            // Each compares a measured quantity with an upper limit; without a limit they only
            // record the raw value under their metric.
            let measured = spec.type == .latency ? output.latencyMs : spec.type == .ttft ? output.ttftMs : output.costUSD
            let describe: (Double) -> String = spec.type == .cost ? { "$\(format($0))" } : { "\(format($0)) ms" }
            guard let value = measured else {
                let why = spec.type == .latency ? "no latency was measured"
                    : spec.type == .ttft ? "no time to first token was measured (the endpoint does not stream: set stream: true)"
                    : "the endpoint has no pricing, so no cost is known"
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric, reason: why)
            }
            guard let t = spec.threshold else {
                return AssertionResult(type: spec.displayType, pass: true, score: value, weight: spec.weight, metric: spec.metric, reason: "\(spec.type.rawValue) \(describe(value))")
            }
            pass = value <= t
            reason = "\(spec.type.rawValue) \(describe(value)) (limit \(describe(t)))"
        case .similar:
            let t = spec.threshold ?? 0.75
            if let failure = output.similarityError {
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric,
                                       reason: "no embedding: \(failure.message)", errorKind: failure.kind)
            }
            let sims = a.list.map { output.similarities[$0] }
            guard !sims.contains(where: { $0 == nil }) else {
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric,
                                       reason: "no embedding similarity was computed (is an embedding endpoint configured?)")
            }
            let best = sims.map { $0! }.max() ?? 0
            // Any expected value may match (promptfoo); `not-similar` must be dissimilar to all.
            pass = best >= t - 1e-9
            score = best
            reason = "cosine similarity \(format(best)) (threshold \(format(t)))"
        case .contextPrecisionIDs, .contextRecallIDs:
            let relevant = a.value?.arrayValue?.map(\.textForm) ?? []
            let measured = spec.type == .contextPrecisionIDs
                ? ContextMetrics.idBasedPrecision(retrieved: a.list, reference: relevant) : ContextMetrics.idBasedRecall(retrieved: a.list, reference: relevant)
            guard let m = measured else {
                // RAGAS's NaN (nothing retrieved, or nothing relevant): not a score, so not a fail either.
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric,
                                       reason: spec.type == .contextPrecisionIDs ? "no retrieved ids to score" : "no relevant ids to score", errorKind: "no_context")
            }
            let t = spec.threshold ?? 0
            pass = m >= t - 1e-12
            score = m
            reason = "\(spec.type.rawValue) \(format(m)) (threshold \(format(t)))"
        case .llmRubric, .modelGradedClosedQA, .factuality, .gEval, .answerRelevance, .contextFaithfulness, .contextRecall, .contextRelevance, .selectBest:
            guard let index = a.judge?.assertionIndex, let outcome = output.judgements[index] else {
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric,
                                       reason: "no judge verdict (is a judge endpoint configured?)", errorKind: "judge_error")
            }
            switch outcome {
            case .failed(let kind, let message):
                // A judge that failed or answered nothing readable is not a verdict on the output.
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric, reason: message, errorKind: kind)
            case .verdict(let v):
                pass = v.pass
                score = v.score
                // With a threshold, a pass needs the judge's pass and a score that reaches it (promptfoo);
                // the measured types (g-eval, context-*, answer-relevance) pass on the threshold alone.
                let t = spec.threshold ?? spec.type.defaultThreshold
                if let t { pass = pass && v.score >= t - 1e-12 }
                reason = (spec.type.isJudgedScore ? "" : "judge: ") + (v.reason.isEmpty ? (v.pass ? "pass" : "fail") : v.reason)
                if let t { reason += " (score \(format(v.score)), threshold \(format(t)))" }
                if v.contradiction { reason += " [the judge's pass and score disagreed: the score decided]" }
                agreement = v.agreement
                contradiction = v.contradiction
            }
        case .isValidOpenAIToolsCall:
            (pass, reason) = Scorer.validToolCalls(output.toolCalls, tools: tools)
        case .toolCallF1:
            let expected = Set(a.list)
            let called = Set(output.toolCalls.map(\.name))
            let hit = Double(expected.intersection(called).count)
            let precision = called.isEmpty ? 0 : hit / Double(called.count)
            let recall = hit / Double(expected.count)
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            let t = spec.threshold ?? 1
            pass = f1 >= t - 1e-12
            score = f1
            reason = "tool-call F1 \(format(f1)) (precision \(format(precision)), recall \(format(recall)); expected [\(expected.sorted().joined(separator: ", "))], called [\(called.sorted().joined(separator: ", "))])"
        case .toolSequence:
            let called = output.toolCalls.map(\.name)
            pass = called == a.list
            reason = pass ? "tools called in order: \(called.joined(separator: " → "))" : "called [\(called.joined(separator: " → "))], expected [\(a.list.joined(separator: " → "))]"
        case .toolCall:
            (pass, reason) = Scorer.matchToolCalls(output.toolCalls, expected: a.value?.arrayValue ?? a.value.map { [$0] } ?? [])
        case .script, .webhook:
            guard let outcome = output.scorerResults[a.position] else {
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric,
                                       reason: "the scorer gave no answer", errorKind: "scorer_error")
            }
            switch outcome {
            case .failed(let message):
                // A scorer that crashed, hung or answered nonsense is not a verdict on the output.
                return AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric, reason: message, errorKind: "scorer_error")
            case .answer(let p, let sc, let why, _):
                pass = p
                score = sc
                reason = why.isEmpty ? (p ? "the scorer passed it" : "the scorer failed it") : why
            }
        case .finishReason:
            let want = a.value!.textForm.lowercased()
            let got = output.finishReason?.lowercased() ?? "(none)"
            pass = got == want
            reason = "finish reason \(got), expected \(want)"
        }
        var s = score ?? (pass ? 1 : 0)
        if spec.negated {
            pass.toggle()
            s = 1 - s
            reason = "not: " + reason
        }
        var result = AssertionResult(type: spec.displayType, pass: pass, score: s, weight: spec.weight, metric: spec.metric, reason: reason)
        result.judgeAgreement = agreement
        result.judgeContradiction = contradiction
        return result
    }

    /// An assertion that ran out of its budget: errored, whatever its `not-` prefix says.
    private func overBudget(_ spec: AssertionSpec, _ what: String) -> AssertionResult {
        AssertionResult(type: spec.displayType, pass: false, score: 0, weight: spec.weight, metric: spec.metric,
                        reason: "over the scoring budget: \(what)", errorKind: "scorer_timeout")
    }
}

private func quote(_ s: String) -> String {
    let short = s.count > 80 ? String(s.prefix(77)) + "..." : s
    return "\"" + short + "\""
}

extension Scorer {
    /// Every call names a declared tool, and its arguments parse and validate against that tool's schema.
    static func validToolCalls(_ calls: [ToolCall], tools: [String: JSONSchemaValidator]) -> (Bool, String) {
        guard !calls.isEmpty else { return (false, "the answer calls no tool") }
        for call in calls {
            guard let schema = tools[call.name] else {
                return (false, "'\(call.name)' is not a declared tool (declared: \(tools.keys.sorted().joined(separator: ", ")))")
            }
            guard let args = call.arguments else { return (false, "the arguments of '\(call.name)' are not JSON: \(quote(call.rawArguments))") }
            switch schema.validate(args) {
            case .valid: continue
            case .invalid(let e): return (false, "the arguments of '\(call.name)' do not match its schema: \(e)")
            case .overBudget: return (false, "validating the arguments of '\(call.name)' exceeded the step budget")
            }
        }
        return (true, "\(calls.count) tool call\(calls.count == 1 ? "" : "s") valid against the declared tools")
    }

    /// Each expected `{name, arguments?, partial?}` is matched by a call of its own.
    static func matchToolCalls(_ calls: [ToolCall], expected: [JSONValue]) -> (Bool, String) {
        var unused = calls
        for e in expected {
            let name = e["name"]?.stringValue ?? ""
            let partial = e["partial"]?.boolValue ?? false
            let want = e["arguments"]
            guard let i = unused.firstIndex(where: { c in
                guard c.name == name else { return false }
                guard let want, want != .null else { return true }
                guard let got = c.arguments else { return false }
                return partial ? jsonContains(got, want) : jsonEqual(got, want)
            }) else {
                let seen = calls.filter { $0.name == name }.map(\.rawArguments)
                return (false, seen.isEmpty ? "no call of '\(name)' (called: \(calls.map(\.name).joined(separator: ", ")))"
                    : "'\(name)' was called with \(seen.map(quote).joined(separator: ", ")), not \(partial ? "arguments containing " : "")\(want?.serialized(sortedKeys: true) ?? "")")
            }
            unused.remove(at: i)
        }
        return (true, "called \(expected.compactMap { $0["name"]?.stringValue }.joined(separator: ", ")) as expected")
    }
}

/// Whether `whole` holds everything `part` says: objects by their keys (recursively), anything
/// else equal (numbers by value).
func jsonContains(_ whole: JSONValue, _ part: JSONValue) -> Bool {
    if let p = part.objectValue {
        guard let w = whole.objectValue else { return false }
        return p.allSatisfy { k, v in w[k].map { jsonContains($0, v) } ?? false }
    }
    return jsonEqual(whole, part)
}

/// Short human form of a number for reasons and summaries.
public func format(_ x: Double) -> String {
    if x.rounded() == x && abs(x) < 1e15 { return String(Int64(x)) }
    return String(format: "%.4g", x)
}
