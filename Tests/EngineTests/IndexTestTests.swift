import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import SimulatedModel
import Testing
import TestSupport
@testable import Engine

let ragDir = repoRoot + "/golden-sets/rag"

func ragJob(candidate: RAGConfig? = nil) throws -> IndexTestJob {
    let corpus = try RAGInputs.readRecords(path: ragDir + "/corpus.jsonl", what: "document")
    let queries = try RAGInputs.readRecords(path: ragDir + "/queries.jsonl", what: "query", allowEmptyText: false)
    let qrels = try RAGInputs.readQrels(path: ragDir + "/qrels.txt", corpusIDs: Set(corpus.map(\.id)))
    let base = try RAGInputs.loadConfig(path: ragDir + "/baseline.yaml")
    let cand = try candidate ?? RAGInputs.loadConfig(path: ragDir + "/candidate.yaml")
    return IndexTestJob(corpus: corpus, queries: queries, qrels: qrels, baseline: base, candidate: cand,
                        gate: try RAGInputs.loadGate(path: repoRoot + "/configs/gates/rag.yaml"))
}

@Suite(.serialized) struct IndexTestTests {
    func run(_ job: IndexTestJob, store: Store?, port: Int) async throws -> IndexTestResult {
        try await withClient(EndpointConfig(name: "sim", baseURL: "http://sim.test", model: "sim-embed"), port: port) { client in
            try await IndexTestRunner(embedders: ["sim": Embedder(client: client, batchSize: 256, store: store)]).run(job)
        }
    }

    @Test func runFilesReproduceTheReportedMetricsAndCachingAvoidsReEmbedding() async throws {
        let job = try ragJob()
        let store = try Store.open(path: NSTemporaryDirectory() + "evalengine-it-\(UUID().uuidString).sqlite")
        try await withSimulator { sim, port in
            let first = try await run(job, store: store, port: port)
            #expect(first.gate.verdict == .pass)
            // The run files, read back as any trec_eval would read them, give the reported numbers.
            for side in [first.baseline, first.candidate] {
                let path = NSTemporaryDirectory() + "evalengine-run-\(UUID().uuidString).run"
                try TrecFiles.runText(side.run, tag: "t").write(toFile: path, atomically: true, encoding: .utf8)
                let reread = RetrievalMetrics.evaluate(qrels: job.qrels, run: try TrecFiles.readRun(path: path), measures: job.measures)
                #expect(reread.means == side.evaluation.means)
            }
            let textsAfterFirst = sim.currentStats.embeddedTexts
            let requestsAfterFirst = sim.currentStats.embeddings
            // Same inputs again: no embedding calls at all.
            let second = try await run(job, store: store, port: port)
            #expect(sim.currentStats.embeddings == requestsAfterFirst)
            #expect(second.comparisons == first.comparisons)
            // Only the candidate's chunk size changes: only chunks never seen before are embedded.
            var changed = job.candidate
            changed.chunker.size = 300
            let known = Set(job.corpus.flatMap { d in job.baseline.chunker.chunks(d.text) + job.candidate.chunker.chunks(d.text) })
            let fresh = Set(job.corpus.flatMap { changed.chunker.chunks($0.text) }).subtracting(known)
            var third = job
            third.candidate = changed
            _ = try await run(third, store: store, port: port)
            #expect(sim.currentStats.embeddedTexts - textsAfterFirst == fresh.count)
            #expect(fresh.count > 0)
        }
    }

    @Test func aBadCandidateFailsWithTheDropShownAndAnIdenticalOnePassesWithZeroDelta() async throws {
        let bad = try RAGInputs.loadConfig(path: ragDir + "/bad-candidate.yaml")
        try await withSimulator { _, port in
            let failing = try await run(try ragJob(candidate: bad), store: nil, port: port)
            #expect(failing.gate.verdict == .fail)
            let ndcg = try #require(failing.comparisons.first { $0.measure == "ndcg_cut_10" })
            #expect(ndcg.delta < -0.02 && ndcg.high < 0)
            #expect(failing.gate.reasons.contains { $0.contains("ndcg_cut_10 dropped by") && $0.contains("95% CI") })
            let same = try await run(try ragJob(candidate: try RAGInputs.loadConfig(path: ragDir + "/baseline.yaml")), store: nil, port: port)
            #expect(same.gate.verdict == .pass)
            #expect(same.comparisons.allSatisfy { $0.delta == 0 && $0.low == 0 && $0.high == 0 && $0.losses == 0 })
        }
    }

    @Test func badInputIsNamedAndNothingIsWritten() async throws {
        let dir = scratchDir([
            "corpus.jsonl": "{\"id\": \"a\", \"text\": \"alpha\"}\n{\"id\": \"b\", \"text\": \"beta\"}\n",
            "dup.jsonl": "{\"id\": \"a\", \"text\": \"alpha\"}\n{\"id\": \"a\", \"text\": \"again\"}\n",
            "queries.jsonl": "{\"id\": \"q1\", \"text\": \"alpha\"}\n{\"id\": \"q2\", \"text\": \"  \"}\n",
            "ok-queries.jsonl": "{\"id\": \"q1\", \"text\": \"alpha\"}\n",
            "qrels.txt": "q1 0 a 1\nq1 0 zzz 1\n",
            "ok-qrels.txt": "q1 0 a 1\n",
            "endpoints.yaml": "endpoints:\n  - {name: sim, model: sim-embed, simulated: {profile: PROFILE}}\n",
            "bad-dims.yaml": "faults: {rate_bad_dimensions: 1}\n",
        ])
        let endpoints = try String(contentsOfFile: dir + "/endpoints.yaml", encoding: .utf8).replacingOccurrences(of: "PROFILE", with: dir + "/bad-dims.yaml")
        try endpoints.write(toFile: dir + "/endpoints.yaml", atomically: true, encoding: .utf8)
        func cli(_ corpus: String, _ queries: String, _ qrels: String) async throws -> CLIResult {
            try await runCLI(["index-test", "--corpus", dir + "/" + corpus, "--queries", dir + "/" + queries, "--qrels", dir + "/" + qrels,
                              "--baseline", ragDir + "/baseline.yaml", "--candidate", ragDir + "/candidate.yaml", "--config", dir + "/endpoints.yaml",
                              "--report", dir + "/out/report.json", "--runs-dir", dir + "/out/runs", "--no-cache"])
        }
        let missing = try await cli("corpus.jsonl", "ok-queries.jsonl", "qrels.txt")
        #expect(missing.status == 65 && missing.stderr.contains("qrels.txt:2: field 'docid': document 'zzz' is not in the corpus"))
        let duplicate = try await cli("dup.jsonl", "ok-queries.jsonl", "ok-qrels.txt")
        #expect(duplicate.status == 65 && duplicate.stderr.contains("dup.jsonl:2: field 'id': duplicate document id 'a' (first at line 1)"))
        let empty = try await cli("corpus.jsonl", "queries.jsonl", "ok-qrels.txt")
        #expect(empty.status == 65 && empty.stderr.contains("queries.jsonl:2: field 'text': empty query text"))
        let dims = try await cli("corpus.jsonl", "ok-queries.jsonl", "ok-qrels.txt")
        #expect(dims.status == 2 && dims.stderr.contains("bad_dimensions"), "\(dims.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))  // nothing half-written
    }
}
