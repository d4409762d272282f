import ArgumentParser
import EndpointSessions
import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore

struct IndexTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-test",
        abstract: "Compare two RAG configs on real retrieval metrics and gate the candidate.",
        discussion: "Exit codes: 0 pass, 1 fail, 2 inconclusive (embedding trouble), 65 bad input, 66 missing file, 78 bad configuration.")

    @Option(name: .long, help: "Corpus JSONL: {id, text, metadata?} per line.") var corpus: String
    @Option(name: .long, help: "Queries JSONL: {id, text} per line.") var queries: String
    @Option(name: .long, help: "Qrels: TREC (qid iter docid grade) or JSONL {query_id, doc_id, relevance}.") var qrels: String
    @Option(name: .long, help: "Baseline RAG config (YAML).") var baseline: String
    @Option(name: .long, help: "Candidate RAG config (YAML).") var candidate: String
    @Option(name: .long, help: "Gate: max_drop and min per metric (YAML).") var gate: String?
    @Option(name: .long, help: "Write the JSON report here.") var report: String?
    @Option(name: .long, help: "Write baseline.run and candidate.run (TREC) here.") var runsDir: String?
    @Option(name: .long, help: "Endpoints config.") var config: String = "configs/endpoints.yaml"
    @Option(name: .long, help: "Cache (embeddings are cached per chunk text).") var cachePath: String = ".evalengine/cache.sqlite"
    @Flag(name: .long, help: "Do not use the embedding cache.") var noCache = false
    @Option(name: .long, help: "Texts per embeddings request.") var embeddingBatch: Int = 256
    @Flag(name: .long, help: "Check the inputs and both RAG configs, embed nothing, exit 0 if they are valid.") var checkOnly = false

    func run() async throws {
        throw ExitCode(await execute())
    }

    func execute() async -> Int32 {
        func inputError(_ e: InputError) -> Int32 {
            printError(e.description)
            return e.location.line == 0 && !FileManager.default.fileExists(atPath: e.location.file) ? ExitCodes.noInput : ExitCodes.dataError
        }
        let job: IndexTestJob
        let endpoints: [EndpointConfig]
        do {
            let all = try ConfigFiles.loadEndpoints(path: config)
            let base = try RAGInputs.loadConfig(path: baseline)
            var cand = try RAGInputs.loadConfig(path: candidate)
            if cand.name == base.name { cand.name += " (candidate)" }
            let g = try gate.map { path throws(InputError) in try RAGInputs.loadGate(path: path) } ?? IndexTestGate()
            var needed: [EndpointConfig] = []
            for (file, c) in [(baseline, base), (candidate, cand)] {
                guard let e = all.first(where: { $0.name == c.embeddingEndpoint }) else {
                    printError("\(file): field 'embedding.endpoint': no endpoint named '\(c.embeddingEndpoint)' in \(config)")
                    return ExitCodes.config
                }
                if !needed.contains(where: { $0.name == e.name }) { needed.append(e) }
            }
            endpoints = needed
            let docs = try RAGInputs.readRecords(path: corpus, what: "document")
            let qs = try RAGInputs.readRecords(path: queries, what: "query", allowEmptyText: false)
            let judgments = try RAGInputs.readQrels(path: qrels, corpusIDs: Set(docs.map(\.id)))
            job = IndexTestJob(corpus: docs, queries: qs, qrels: judgments, baseline: base, candidate: cand, gate: g)
        } catch {
            return inputError(error)
        }
        if checkOnly {
            print("index-test inputs are valid: \(job.corpus.count) documents, \(job.queries.count) queries, configs '\(job.baseline.name)' and '\(job.candidate.name)'")
            return ExitCodes.pass
        }
        var keys: [String: String] = [:]
        do {
            for e in endpoints { keys[e.name] = try EndpointClient.resolveAPIKey(e) }
        } catch {
            printError("\(config): \(error)")
            return ExitCodes.config
        }
        let store: Store?
        do { store = noCache ? nil : try Store.open(path: cachePath) { printError($0) } } catch {
            printError("evalengine index-test: cannot open the cache: \(error)")
            return ExitCodes.config
        }
        let batch = max(1, embeddingBatch)
        let result: IndexTestResult
        do {
            result = try await EndpointSession.withClients(endpoints, registry: LimiterRegistry(), apiKeys: keys) { clients in
                let embedders = clients.mapValues { Embedder(client: $0, batchSize: batch, store: store) }
                return try await IndexTestRunner(embedders: embedders).run(job)
            }
        } catch let e as RunError {
            printError("evalengine index-test: \(e)")
            printError("verdict: INCONCLUSIVE (nothing was written)")
            return ExitCodes.inconclusive
        } catch {
            printError("evalengine index-test: \(error)")
            return ExitCodes.inconclusive
        }
        // Outputs last, each written whole (temp file + rename), so a failure leaves nothing half-written.
        do {
            if let runsDir {
                try writeAtomically(runsDir + "/baseline.run", TrecFiles.runText(result.baseline.run, tag: "baseline"))
                try writeAtomically(runsDir + "/candidate.run", TrecFiles.runText(result.candidate.run, tag: "candidate"))
            }
            if let report {
                var bytes: [UInt8] = []
                result.reportJSON(job).write(to: &bytes, sortedKeys: true)
                try writeAtomically(report, String(decoding: bytes, as: UTF8.self) + "\n")
            }
        } catch {
            printError("evalengine index-test: \(error)")
            return ExitCodes.software
        }
        print(summary(result, job))
        return StageRun.exitCode(result.gate.verdict, cancelled: false)
    }

    func summary(_ r: IndexTestResult, _ job: IndexTestJob) -> String {
        var lines = ["index-test: \(job.corpus.count) documents, \(job.queries.count) queries, \(r.baseline.evaluation.queries.count) judged, in \(String(format: "%.2f", r.durationSeconds)) s"]
        lines.append("  baseline \(r.baseline.config.name): \(r.baseline.chunks) chunks   candidate \(r.candidate.config.name): \(r.candidate.chunks) chunks")
        lines.append("  " + "metric".padding(toLength: 14, withPad: " ", startingAt: 0) + "  baseline  candidate     delta   95% CI               W/L/T")
        for c in r.comparisons {
            lines.append("  " + c.measure.padding(toLength: 14, withPad: " ", startingAt: 0)
                + String(format: "  %8.4f  %9.4f  %+8.4f   [%+.4f, %+.4f]   %d/%d/%d", c.baseline, c.candidate, c.delta, c.low, c.high, c.wins, c.losses, c.ties))
        }
        for w in r.worstRegressions.prefix(3) {
            lines.append(String(format: "  worst: %@ %.3f -> %.3f  \"%@\"", w.id, w.baseline, w.candidate, String(w.text.prefix(70))))
        }
        for c in r.gate.checks {
            lines.append("  [\(c.pass ? "ok" : "FAILED")] \(c.name) \(c.actual.map(format) ?? "n/a") \(c.comparison) \(format(c.threshold))")
        }
        lines.append("verdict: \(r.gate.verdict.rawValue.uppercased())")
        for reason in r.gate.reasons { lines.append("  - \(reason)") }
        return lines.joined(separator: "\n")
    }
}

func writeAtomically(_ path: String, _ text: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let tmp = path + ".tmp-\(getpid())"
    try text.write(toFile: tmp, atomically: false, encoding: .utf8)
    if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    try FileManager.default.moveItem(atPath: tmp, toPath: path)
}
