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
    /// The target's call failed, so `run` will not be called (a step others wait for is told).
    func skipped(_ prepared: PreparedCase) async
}

extension CaseStep {
    func skipped(_ prepared: PreparedCase) async {}
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
