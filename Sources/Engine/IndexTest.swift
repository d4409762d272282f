import EvalCore
import Foundation
import GoldenSets
import ModelClient
import VectorSearch

/// What an index-test compares.
public struct IndexTestJob: Sendable {
    public var corpus: [TextRecord]
    public var queries: [TextRecord]
    public var qrels: Qrels
    public var baseline: RAGConfig
    public var candidate: RAGConfig
    public var gate: IndexTestGate
    /// Metrics reported (the gate's are added).
    public var measures: [RetrievalMeasure]
    public var seed: UInt64 = 0x5EED

    public static let defaultMeasures: [RetrievalMeasure] = [
        .ndcgCut(10), .recall(10), .recall(100), .averagePrecision, .reciprocalRank, .precision(10), .success(1), .success(10),
    ]

    public init(corpus: [TextRecord], queries: [TextRecord], qrels: Qrels, baseline: RAGConfig, candidate: RAGConfig, gate: IndexTestGate) {
        self.corpus = corpus
        self.queries = queries
        self.qrels = qrels
        self.baseline = baseline
        self.candidate = candidate
        self.gate = gate
        var m = IndexTestJob.defaultMeasures
        for x in gate.measures where !m.contains(x) { m.append(x) }
        measures = m
    }
}

/// One config's index and its scores.
public struct IndexSide: Sendable {
    public var config: RAGConfig
    public var chunks: Int
    public var run: Run
    public var evaluation: RetrievalEvaluation
}

/// The outcome of an index-test.
public struct IndexTestResult: Sendable {
    public var baseline: IndexSide
    public var candidate: IndexSide
    public var comparisons: [MetricComparison]
    public var gate: GateResult
    /// Queries where the candidate lost most on the first measure: (query id, text, baseline, candidate).
    public var worstRegressions: [(id: String, text: String, baseline: Double, candidate: Double)]
    public var durationSeconds: Double
}

/// Builds an index for each config (chunk → embed, cached per chunk text → exact index), runs the
/// queries, maps chunks to documents (a document scores as its best chunk, once), scores both runs
/// with the trec_eval-exact metrics and compares them query by query.
public struct IndexTestRunner: Sendable {
    /// Embedders by endpoint name.
    public let embedders: [String: Embedder]

    public init(embedders: [String: Embedder]) {
        self.embedders = embedders
    }

    public func run(_ job: IndexTestJob) async throws -> IndexTestResult {
        let clock = ContinuousClock()
        let start = clock.now
        // Lookups are counted whether the run ends well or not (a failed batch's neighbours were cached).
        let baseline: IndexSide
        let candidate: IndexSide
        do {
            baseline = try await side(job.baseline, job)
            candidate = try await side(job.candidate, job)
            for e in embedders.values { await e.recordLookups() }
        } catch {
            for e in embedders.values { await e.recordLookups() }
            throw error
        }
        // Compare over the judged queries both runs evaluated (every query is run, so these are
        // the queries with judgments), in the same order.
        let queries = baseline.evaluation.queries
        var comparisons: [MetricComparison] = []
        for (m, measure) in job.measures.enumerated() where !measure.isCount {
            let b = queries.map { baseline.evaluation.value(measure, query: $0) ?? 0 }
            let c = queries.map { candidate.evaluation.value(measure, query: $0) ?? 0 }
            comparisons.append(IndexComparison.compare(measure: measure.description, baseline: b, candidate: c, seed: job.seed &+ UInt64(m)))
        }
        let gate = job.gate.evaluate(comparisons, embeddingFailureRate: 0)
        let primary = job.measures.first { !$0.isCount } ?? .ndcgCut(10)
        let texts = Dictionary(uniqueKeysWithValues: job.queries.map { ($0.id, $0.text) })
        let worst = queries.map { q in (id: q, text: texts[q] ?? "", baseline: baseline.evaluation.value(primary, query: q) ?? 0, candidate: candidate.evaluation.value(primary, query: q) ?? 0) }
            .filter { $0.candidate < $0.baseline }
            .sorted { ($0.baseline - $0.candidate, $1.id) > ($1.baseline - $1.candidate, $0.id) }
            .prefix(10)
        let d = clock.now - start
        return IndexTestResult(baseline: baseline, candidate: candidate, comparisons: comparisons, gate: gate, worstRegressions: Array(worst),
                               durationSeconds: Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
    }

    func side(_ config: RAGConfig, _ job: IndexTestJob) async throws -> IndexSide {
        guard let embedder = embedders[config.embeddingEndpoint] else {
            throw RunError(.needsEmbeddings, "RAG config '\(config.name)': no embedding endpoint named '\(config.embeddingEndpoint)'")
        }
        var chunkTexts: [String] = []
        var chunkDoc: [Int] = []
        for (d, doc) in job.corpus.enumerated() {
            for c in config.chunker.chunks(doc.text) {
                chunkTexts.append(config.documentPrefix + c)
                chunkDoc.append(d)
            }
        }
        guard !chunkTexts.isEmpty else { throw RunError(.noChunks, "RAG config '\(config.name)': the corpus produced no chunks") }
        // One probe first: a model of another dimension must not cost the whole corpus's embeddings.
        if let want = config.embeddingDimensions {
            let got: Int
            do { got = try await embedder.embed(["evalengine dimension probe"], model: config.embeddingModel)[0].count } catch {
                throw RunError(.embeddingFailed, "RAG config '\(config.name)': the embedding probe failed: \(error.kind): \(error.message)")
            }
            guard got == want else {
                throw RunError(.needsEmbeddings, "RAG config '\(config.name)': embedding.dimensions is \(want), but '\(config.embeddingEndpoint)' answers \(got)-dimensional vectors; nothing of the corpus was embedded")
            }
        }
        let chunkVectors: [[Float]]
        let queryVectors: [[Float]]
        do {
            chunkVectors = try await embedder.embed(chunkTexts, model: config.embeddingModel)
            queryVectors = try await embedder.embed(job.queries.map { config.queryPrefix + $0.text }, model: config.embeddingModel)
        } catch {
            throw RunError(.embeddingFailed, "RAG config '\(config.name)': embedding failed: \(error.kind): \(error.message)")
        }
        guard chunkVectors[0].count == queryVectors[0].count else {
            throw RunError(.embeddingFailed, "RAG config '\(config.name)': query embeddings have \(queryVectors[0].count) dimensions, chunk embeddings \(chunkVectors[0].count)")
        }
        var corpusMatrix = try Matrix(vectors: chunkVectors, name: "\(config.name) chunk embeddings")
        var queryMatrix = try Matrix(vectors: queryVectors, name: "\(config.name) query embeddings")
        if config.normalize {
            corpusMatrix.normalizeRows()
            queryMatrix.normalizeRows()
        }
        let index = try ExactIndex(corpus: corpusMatrix, ids: (0..<chunkTexts.count).map { String($0) })
        // Enough chunks to find k distinct documents in the common case; all chunks when small.
        let perDoc = max(1, chunkTexts.count / max(1, job.corpus.count))
        let kChunks = min(chunkTexts.count, config.k * perDoc * 2 + 10)
        let hits = try index.search(queryMatrix, k: kChunks)
        var run: Run = [:]
        for (q, query) in job.queries.enumerated() {
            var docs: [String: Double] = [:]
            for h in hits[q] {
                let doc = job.corpus[chunkDoc[h.index]].id
                if docs[doc] == nil {  // hits are best first: the first chunk of a document is its best
                    if docs.count == config.k { break }
                    docs[doc] = Double(h.score)
                }
            }
            run[query.id] = docs
        }
        let evaluation = RetrievalMetrics.evaluate(qrels: job.qrels, run: run, measures: job.measures)
        return IndexSide(config: config, chunks: chunkTexts.count, run: run, evaluation: evaluation)
    }
}

extension IndexTestResult {
    /// The JSON report (`evalengine.index-test-report/v1`).
    public func reportJSON(_ job: IndexTestJob) -> JSONValue {
        func sideJSON(_ s: IndexSide) -> JSONValue {
            var means: [String: JSONValue] = [:]
            var complete: [String: JSONValue] = [:]
            for (i, m) in s.evaluation.measures.enumerated() {
                means[m.description] = .number(s.evaluation.means[i])
                complete[m.description] = .number(s.evaluation.completeMeans[i])
            }
            return [
                "config": .string(s.config.name), "chunker": .string(s.config.chunker.kind.rawValue), "chunk_size": .number(Double(s.config.chunker.size)),
                "chunk_overlap": .number(Double(s.config.chunker.overlap)), "chunks": .number(Double(s.chunks)), "k": .number(Double(s.config.k)),
                "embedding_endpoint": .string(s.config.embeddingEndpoint), "means": .object(means), "complete_means": .object(complete),
                "evaluated_queries": .number(Double(s.evaluation.queries.count)),
            ]
        }
        return [
            "schema": "evalengine.index-test-report/v1",
            "verdict": .string(gate.verdict.rawValue),
            "reasons": .array(gate.reasons.map(JSONValue.string)),
            "checks": .array(gate.checks.map(\.json)),
            "documents": .number(Double(job.corpus.count)), "queries": .number(Double(job.queries.count)),
            "baseline": sideJSON(baseline), "candidate": sideJSON(candidate),
            "comparison": .array(comparisons.map { c in
                ["measure": .string(c.measure), "baseline": .number(c.baseline), "candidate": .number(c.candidate), "delta": .number(c.delta),
                 "ci95": [.number(c.low), .number(c.high)], "wins": .number(Double(c.wins)), "losses": .number(Double(c.losses)), "ties": .number(Double(c.ties))]
            }),
            "worst_regressions": .array(worstRegressions.map { ["query_id": .string($0.id), "text": .string($0.text), "baseline": .number($0.baseline), "candidate": .number($0.candidate)] }),
            "duration_seconds": .number(durationSeconds),
        ]
    }
}
