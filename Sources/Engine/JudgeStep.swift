import EvalCore
import ModelClient
import VectorSearch

/// Asks the judge of each model-graded assertion of a case, through the judge endpoint's own
/// limiter and the run's response cache (namespace `judge`: the key covers the judge's whole
/// request, so a changed rubric is a new key and a re-run makes no judge call), and reads its
/// answer. A failed call is `judge_error`, an answer without what the prompt asked for
/// `judge_unparseable` with the judge's text: both error the assertion, never fail it.
/// `select-best` compares targets and is `SelectBestStep`'s.
struct JudgeStep: CaseStep {
    /// Judge endpoints by name, one source per judge sample (`judge_samples`: each sample a cache
    /// namespace of its own, so the K answers are K real samples and a re-run is cached).
    let sources: [String: [ResponseSource]]
    /// The run's judge (`--judge-endpoint`); an assertion's `provider:` overrides it.
    let defaultJudge: String?
    /// Temperature 0 unless configured: a judge should not sample.
    let params: ModelParams
    /// answer-relevance embeds the judge's questions and the input with the run's embedding endpoint.
    var embedder: Embedder?

    /// The most g-eval steps passed on to the score call, and answer-relevance questions embedded.
    static let maxSteps = 12
    static let maxQuestions = 10

    static var defaultParams: ModelParams {
        var p = ModelParams()
        p.temperature = 0
        p.maxTokens = 512
        return p
    }

    func applies(to prepared: PreparedCase) -> Bool { prepared.hasJudged && prepared.judgeRequests.contains { !$0.comparesTargets } }

    func run(_ prepared: PreparedCase, output: inout CaseOutput) async {
        for spec in prepared.judgeRequests where !spec.comparesTargets {
            guard let name = spec.provider ?? defaultJudge, let samples = sources[name], !samples.isEmpty else {
                output.judgements[spec.assertionIndex] = .failed(
                    kind: "judge_error", message: "no judge endpoint" + (spec.provider.map { " named '\($0)'" } ?? " (give --judge-endpoint)"))
                continue
            }
            var outcomes: [JudgeOutcome] = []
            for source in samples.prefix(spec.samples) {
                // G-Eval's steps depend on the criterion alone: one answer (sample 0's) serves every sample and case.
                let judge = Judge(name: name, source: source, stepsSource: samples[0])
                outcomes.append(await grade(spec, judge, output: output, usage: &output.judgeUsage))
            }
            output.judgements[spec.assertionIndex] = JudgeStep.combined(outcomes, asked: spec.samples)
        }
    }

    /// The samples' verdict: the majority's (`JudgeVerdict.combining`), with their agreement; the
    /// first failure when no sample gave one.
    static func combined(_ outcomes: [JudgeOutcome], asked: Int) -> JudgeOutcome? {
        var verdicts: [JudgeVerdict] = []
        var failure: JudgeOutcome?
        for o in outcomes {
            if case .verdict(let v) = o { verdicts.append(v) } else { failure = failure ?? o }
        }
        guard let (verdict, agreeing) = JudgeVerdict.combining(verdicts) else { return failure }
        var v = verdict
        if asked > 1 {
            v.agreement = JudgeAgreement(samples: asked, verdicts: verdicts.count, agreeing: agreeing)
            v.reason += " (judge samples: \(agreeing) of \(verdicts.count) agree" + (verdicts.count < asked ? "; \(asked - verdicts.count) gave no verdict" : "") + ")"
        }
        return .verdict(v)
    }

    /// Where one sample of one assertion is asked.
    struct Judge {
        let name: String
        let source: ResponseSource
        let stepsSource: ResponseSource
    }

    /// One sample of one judged assertion: its call (or calls), read into a verdict.
    func grade(_ spec: JudgeRequestSpec, _ judge: Judge, output: CaseOutput, usage: inout JudgeUsage) async -> JudgeOutcome {
        let grading = spec.modelParams(params)
        func request(_ extra: [String: String] = [:]) -> ModelRequest {
            ModelRequest(messages: spec.messages(output: output.text, input: output.input, extra: extra), params: grading)
        }
        do {
            switch spec.kind {
            case .verdict(let format):
                return .verdict(try await ask(judge.source, judge.name, request(), "\(format) verdict", usage: &usage) { JudgeVerdictParser.parse($0, format: format) })
            case .gEval(let criteria):
                var scores: [JudgeVerdict] = []
                for criterion in criteria {
                    let stepsRequest = ModelRequest(messages: JudgeRequestSpec.gEvalStepsMessages(criterion: criterion), params: spec.stepsParams(params))
                    let steps = try await ask(judge.stepsSource, judge.name, stepsRequest, "evaluation steps", usage: &usage, parse: JudgeVerdictParser.steps)
                    // A judge that writes hundreds of steps does not make every score prompt that long.
                    let listed = steps.prefix(JudgeStep.maxSteps).map { "- " + $0 }.joined(separator: "\n")
                    scores.append(try await ask(judge.source, judge.name, request(["criteria": criterion, "steps": listed]), "1-10 score", usage: &usage) {
                        JudgeVerdictParser.gEvalScore($0)
                    })
                }
                let mean = scores.reduce(0) { $0 + $1.score } / Double(scores.count)
                let reasons = scores.map(\.reason).filter { !$0.isEmpty }
                return .verdict(JudgeVerdict(pass: true, score: mean, reason: "g-eval \(format(mean * 10))/10" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: " | "))))
            case .claims(let reference):
                let (noun, verb) = reference ? ("statements of the reference", "attributable to") : ("claims", "supported by")
                let claims = try await ask(judge.source, judge.name, request(), "\(noun) with verdicts", usage: &usage, parse: JudgeVerdictParser.checkedClaims)
                // RAGAS scores no claims as NaN: not a score, so not a fail either.
                guard !claims.isEmpty else { return .failed(kind: "no_claims", message: "the judge found no \(noun) to check") }
                let supported = claims.count { $0.supported }
                let unsupported = claims.filter { !$0.supported }.prefix(3).map { "\"\(String($0.text.prefix(120)))\"" }
                return .verdict(JudgeVerdict(pass: true, score: Double(supported) / Double(claims.count),
                                             reason: "\(supported) of \(claims.count) \(noun) \(verb) the context" + (unsupported.isEmpty ? "" : "; not: " + unsupported.joined(separator: ", "))))
            case .contextSentences(let count):
                let needed = try await ask(judge.source, judge.name, request(), "sentence numbers from 1 to \(count)", usage: &usage) {
                    JudgeVerdictParser.neededSentences($0, count: count)
                }
                return .verdict(JudgeVerdict(pass: true, score: Double(needed.count) / Double(count), reason: "\(needed.count) of \(count) context sentences needed"))
            case .answerRelevance:
                let (questions, noncommittal) = try await ask(judge.source, judge.name, request(), "questions", usage: &usage, parse: JudgeVerdictParser.questions)
                // RAGAS: a noncommittal answer is not relevant, whatever its questions.
                if noncommittal { return .verdict(JudgeVerdict(pass: true, score: 0, reason: "the judge found the answer noncommittal")) }
                guard let embedder else {
                    return .failed(kind: "judge_error", message: "answer-relevance needs an embedding endpoint (give --embedding-endpoint)")
                }
                let mean = try await meanCosine(embedder, output.input, Array(questions.prefix(JudgeStep.maxQuestions)))
                return .verdict(JudgeVerdict(pass: true, score: mean, reason: "mean cosine of \(min(questions.count, JudgeStep.maxQuestions)) generated questions with the input \(format(mean))"))
            case .selectBest:
                return .failed(kind: "judge_error", message: "select-best compares targets")
            }
        } catch {
            return .failed(kind: error.kind, message: error.message)
        }
    }

    /// A judge call that failed or answered nothing readable.
    struct Failure: Error {
        let kind: String
        let message: String
    }

    /// How a judge answer came: sent, from the cache, or shared with an identical call in flight.
    enum Answered {
        case called, cached, shared
    }

    /// One judge answer, read by `parse`.
    func ask<T>(_ source: ResponseSource, _ name: String, _ request: ModelRequest, _ expected: String, usage: inout JudgeUsage,
                parse: (String) -> T?) async throws(Failure) -> T {
        var answered = Answered.called
        return try await ask(source, name, request, expected, usage: &usage, answered: &answered, parse: parse)
    }

    func ask<T>(_ source: ResponseSource, _ name: String, _ request: ModelRequest, _ expected: String, usage: inout JudgeUsage,
                answered: inout Answered, parse: (String) -> T?) async throws(Failure) -> T {
        let answer: ModelResponse
        do {
            let (response, cached) = try await source.response(for: request)
            answer = response
            // A call shared with an identical one in flight (no attempt of its own) was not made.
            answered = cached ? .cached : answer.attempts == 0 ? .shared : .called
            if answered == .called { usage.calls += 1 } else { usage.cacheHits += 1 }
        } catch {
            throw Failure(kind: "judge_error", message: "judge '\(name)': \(error.kind): \(error.message)")
        }
        usage.promptTokens += answer.promptTokens
        usage.completionTokens += answer.completionTokens
        if let cost = source.client.endpoint.pricing?.cost(promptTokens: answer.promptTokens, completionTokens: answer.completionTokens) {
            usage.costUSD = (usage.costUSD ?? 0) + cost
        }
        guard let value = parse(answer.text) else {
            throw Failure(kind: "judge_unparseable", message: "judge '\(name)' answered no \(expected): \(String(answer.text.prefix(1000)).debugDescription)")
        }
        return value
    }

    func meanCosine(_ embedder: Embedder, _ input: String, _ questions: [String]) async throws(Failure) -> Double {
        do {
            let vectors = try await embedder.embed([input] + questions)
            let dims = vectors[0].count
            let inputs = Matrix(rows: questions.count, cols: dims, storage: Array(repeating: vectors[0], count: questions.count).flatMap { $0 })
            let qs = Matrix(rows: questions.count, cols: dims, storage: vectors.dropFirst().flatMap { $0 })
            let cosines = try Similarity.cosinePairs(inputs, qs)
            return cosines.reduce(0) { $0 + Double($1) } / Double(cosines.count)
        } catch let e as ModelCallError {
            throw Failure(kind: "embedding_" + e.kind, message: "embedding for answer-relevance failed: \(e.message)")
        } catch {
            throw Failure(kind: "embedding_bad_dimensions", message: "embedding for answer-relevance failed: \(error)")
        }
    }

    /// The sources of one judge endpoint: sample 0 in namespace `judge`, sample s in `judge-s`.
    static func sources(for client: EndpointClient, _ context: RunCore.Context) -> [ResponseSource] {
        (0..<AssertionSpec.maxJudgeSamples).map { s in context.responseSource(for: client, namespace: s == 0 ? "judge" : "judge-\(s)") }
    }
}
