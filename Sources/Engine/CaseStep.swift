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
    /// Judge endpoints by name.
    let sources: [String: ResponseSource]
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
            guard let name = spec.provider ?? defaultJudge, let source = sources[name] else {
                output.judgements[spec.assertionIndex] = .failed(
                    kind: "judge_error", message: "no judge endpoint" + (spec.provider.map { " named '\($0)'" } ?? " (give --judge-endpoint)"))
                continue
            }
            let request = ModelRequest(messages: spec.messages(output: output.text, input: output.input), params: params)
            do {
                let (answer, cached) = try await source.response(for: request)
                // A call shared with an identical one in flight (no attempt of its own) was not made.
                if cached || answer.attempts == 0 { output.judgeUsage.cacheHits += 1 } else { output.judgeUsage.calls += 1 }
                output.judgeUsage.promptTokens += answer.promptTokens
                output.judgeUsage.completionTokens += answer.completionTokens
                if let cost = source.client.endpoint.pricing?.cost(promptTokens: answer.promptTokens, completionTokens: answer.completionTokens) {
                    output.judgeUsage.costUSD = (output.judgeUsage.costUSD ?? 0) + cost
                }
                if let verdict = JudgeVerdictParser.parse(answer.text, format: spec.format) {
                    output.judgements[spec.assertionIndex] = .verdict(verdict)
                } else {
                    output.judgements[spec.assertionIndex] = .failed(
                        kind: "judge_unparseable", message: "judge '\(name)' answered no \(spec.format) verdict: \(String(answer.text.prefix(1000)).debugDescription)")
                }
            } catch {
                output.judgements[spec.assertionIndex] = .failed(kind: "judge_error", message: "judge '\(name)': \(error.kind): \(error.message)")
            }
        }
    }
}
