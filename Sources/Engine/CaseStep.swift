import EvalCore
import ModelClient
import VectorSearch

/// A step between a target's answer and the scorer. A step may call an endpoint of its own, with
/// that endpoint's client, limiter and response cache (a `ResponseSource` from the run core's
/// context, so its answers are cached and persisted with the run's); it adds to what the
/// assertions read. `SimilarityStep` embeds for `similar`; a judge for model-graded assertions
/// is the same kind of step. A step never throws: what it cannot compute it records, and the
/// assertions that needed it are errored, never failed.
protocol CaseStep: Sendable {
    /// Whether the case needs this step (nothing is called for the others).
    func applies(to prepared: PreparedCase) -> Bool
    func run(_ prepared: PreparedCase, output: inout CaseOutput) async
}

/// One embedding request for the output and every `similar` reference of a case, one batched cosine.
struct SimilarityStep: CaseStep {
    let embedder: Embedder

    /// The steps of a run with this embedder (none without one).
    static func steps(_ embedder: Embedder?) -> [any CaseStep] {
        embedder.map { [SimilarityStep(embedder: $0)] } ?? []
    }

    func applies(to prepared: PreparedCase) -> Bool { !prepared.similarityTexts.isEmpty }

    func run(_ prepared: PreparedCase, output: inout CaseOutput) async {
        let references = prepared.similarityTexts
        do {
            let vectors = try await embedder.embed([output.text] + references)
            let outputs = Matrix(rows: references.count, cols: vectors[0].count, storage: Array(repeating: vectors[0], count: references.count).flatMap { $0 })
            let refs = Matrix(rows: references.count, cols: vectors[0].count, storage: vectors.dropFirst().flatMap { $0 })
            let cosines = try Similarity.cosinePairs(outputs, refs)
            for (i, t) in references.enumerated() { output.similarities[t] = Double(cosines[i]) }
        } catch let e as ModelCallError {
            output.similarityError = ("embedding_" + e.kind, "embedding for 'similar' failed: \(e.message)")
        } catch {
            output.similarityError = ("embedding_bad_dimensions", "embedding for 'similar' failed: \(error)")
        }
    }
}

/// Asks the judge of each model-graded assertion of a case, through the judge endpoint's own
/// limiter and the run's response cache (namespace `judge`: the key covers the judge's whole
/// prompt, so a changed rubric is a new key and a re-run makes no judge call), and reads its
/// verdict. A failed call is `judge_error`, an answer without a verdict `judge_unparseable` with
/// the judge's text: both error the assertion, never fail it.
struct JudgeStep: CaseStep {
    /// Judge endpoints by name, one source per judge sample (`judge_samples`: each sample a cache
    /// namespace of its own, so the K answers are K real samples and a re-run is cached).
    let sources: [String: [ResponseSource]]
    /// The run's judge (`--judge-endpoint`); an assertion's `provider:` overrides it.
    let defaultJudge: String?
    /// Temperature 0 unless configured: a judge should not sample.
    let params: ModelParams

    static var defaultParams: ModelParams {
        var p = ModelParams()
        p.temperature = 0
        p.maxTokens = 512
        return p
    }

    func applies(to prepared: PreparedCase) -> Bool { !prepared.judgeRequests.isEmpty }

    func run(_ prepared: PreparedCase, output: inout CaseOutput) async {
        for spec in prepared.judgeRequests {
            guard let name = spec.provider ?? defaultJudge, let samples = sources[name], !samples.isEmpty else {
                output.judgements[spec.assertionIndex] = .failed(
                    kind: "judge_error", message: "no judge endpoint" + (spec.provider.map { " named '\($0)'" } ?? " (give --judge-endpoint)"))
                continue
            }
            let request = ModelRequest(messages: spec.messages(output: output.text, input: output.input), params: params)
            var verdicts: [JudgeVerdict] = []
            var failure: JudgeOutcome?
            for source in samples.prefix(spec.samples) {
                switch await ask(source, name: name, request, format: spec.format, usage: &output.judgeUsage) {
                case .verdict(let v): verdicts.append(v)
                case let failed: failure = failure ?? failed
                }
            }
            guard let (verdict, agreeing) = JudgeVerdict.combining(verdicts) else {
                output.judgements[spec.assertionIndex] = failure
                continue
            }
            var v = verdict
            if spec.samples > 1 {
                v.reason += " (judge samples: \(agreeing) of \(verdicts.count) agree" + (verdicts.count < spec.samples ? "; \(spec.samples - verdicts.count) gave no verdict" : "") + ")"
            }
            output.judgements[spec.assertionIndex] = .verdict(v)
        }
    }

    /// One judge answer, read.
    func ask(_ source: ResponseSource, name: String, _ request: ModelRequest, format: JudgeVerdictParser.Format, usage: inout JudgeUsage) async -> JudgeOutcome {
        do {
            let (answer, cached) = try await source.response(for: request)
            // A call shared with an identical one in flight (no attempt of its own) was not made.
            if cached || answer.attempts == 0 { usage.cacheHits += 1 } else { usage.calls += 1 }
            usage.promptTokens += answer.promptTokens
            usage.completionTokens += answer.completionTokens
            if let cost = source.client.endpoint.pricing?.cost(promptTokens: answer.promptTokens, completionTokens: answer.completionTokens) {
                usage.costUSD = (usage.costUSD ?? 0) + cost
            }
            if let verdict = JudgeVerdictParser.parse(answer.text, format: format) { return .verdict(verdict) }
            return .failed(kind: "judge_unparseable", message: "judge '\(name)' answered no \(format) verdict: \(String(answer.text.prefix(1000)).debugDescription)")
        } catch {
            return .failed(kind: "judge_error", message: "judge '\(name)': \(error.kind): \(error.message)")
        }
    }

    /// The sources of one judge endpoint: sample 0 in namespace `judge`, sample s in `judge-s`.
    static func sources(for client: EndpointClient, _ context: RunCore.Context) -> [ResponseSource] {
        (0..<AssertionSpec.maxJudgeSamples).map { s in context.responseSource(for: client, namespace: s == 0 ? "judge" : "judge-\(s)") }
    }
}
