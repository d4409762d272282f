import Engine
import EvalCore
import Foundation
import ModelClient
import ResultStore

/// Runs one stage request with the service's shared clients (so jobs hitting the same endpoint
/// share its limiter), writes the full report under `reportsDir`, and returns what the job
/// envelope shows.
struct StageExecutor {
    let config: ServiceConfig
    let store: Store
    let clients: [String: EndpointClient]

    enum Outcome: Sendable {
        /// `result`: the envelope's `summary`, `checks` and `reasons` as JSON.
        case completed(Verdict, result: [UInt8], report: String)
        case cancelled
        case errored(code: String, message: String, retryable: Bool)
    }

    func run(_ request: StageRequest, jobID: String) async -> Outcome {
        let reportPath = config.reportsDir + "/" + jobID + ".json"
        do {
            try FileManager.default.createDirectory(atPath: config.reportsDir, withIntermediateDirectories: true)
            switch request.plan {
            case .eval(let golden, let prompt, let gate, let endpoint, let concurrency, let seed, let total, let repeats, let judgeNames, let defaultJudge, let scorerDirectory):
                guard let client = clients[endpoint] else { return .errored(code: "unknown_endpoint", message: "endpoint '\(endpoint)' is not open", retryable: false) }
                var job = EvalJob(goldenSetPath: golden, prompt: prompt, gate: gate, concurrency: concurrency)
                job.seed = seed
                job.repeats = repeats
                job.memory.store = store
                job.memory.cacheMode = request.cacheMode
                job.scorerDirectory = scorerDirectory
                job.embedder = Embedder(client: client, store: store)
                var sink = try ReportSink(targets: ReportTargets(jsonPath: reportPath))
                var runner = EvalRunner(client: client)
                runner.judges = judgeNames.compactMap { clients[$0] }
                runner.defaultJudge = defaultJudge
                runner.webhooks = config.webhooks
                let result = try await runner.run(job, total: total, sink: &sink)
                if result.cancelled { return .cancelled }
                try sink.finish(result, info: RunInfo(goldenSet: golden, endpoint: endpoint, model: client.endpoint.model, concurrency: concurrency, totalCases: total))
                return .completed(result.gate.verdict, result: envelopeResult(gate: result.gate, summary: evalSummary(result)), report: reportPath)

            case .shadow(let cases, let input, let gate, let baseline, let candidate, let embedding, let concurrency, let seed):
                guard let b = clients[baseline], let c = clients[candidate], let e = clients[embedding] else {
                    return .errored(code: "unknown_endpoint", message: "an endpoint of the request is not open", retryable: false)
                }
                var job = ShadowJob(cases: cases, gate: gate, concurrency: concurrency)
                job.seed = seed
                job.memory.store = store
                job.memory.cacheMode = request.cacheMode
                job.embedder = Embedder(client: e, store: store)
                let result = try await ShadowRunner(baseline: b, candidate: c).run(job)
                if result.cancelled { return .cancelled }
                var metric = ShadowQualityMetric.passRate
                if case .traffic = cases { metric = .agreement }
                let info = ShadowReportInfo(input: input, mode: metric, baselineEndpoint: baseline, baselineModel: b.endpoint.model,
                                            candidateEndpoint: candidate, candidateModel: c.endpoint.model, gate: gate, seed: seed)
                try write(result.reportJSON(info), to: reportPath)
                try Data(ShadowHTML.render(result, info).utf8).write(to: URL(fileURLWithPath: config.reportsDir + "/" + jobID + ".html"), options: .atomic)
                return .completed(result.gate.verdict, result: envelopeResult(gate: result.gate, summary: shadowSummary(result)), report: reportPath)

            case .indexTest(let job, let endpoints):
                var embedders: [String: Embedder] = [:]
                for name in endpoints {
                    guard let client = clients[name] else { return .errored(code: "unknown_endpoint", message: "endpoint '\(name)' is not open", retryable: false) }
                    embedders[name] = Embedder(client: client, store: store)
                }
                let result = try await IndexTestRunner(embedders: embedders).run(job)
                if Task.isCancelled { return .cancelled }
                try write(result.reportJSON(job), to: reportPath)
                return .completed(result.gate.verdict, result: envelopeResult(gate: result.gate, summary: indexSummary(result)), report: reportPath)
            }
        } catch is CancellationError {
            return .cancelled
        } catch let e as RunError {
            // Embedding trouble in index-test and the like is the endpoint's (retryable); the rest is the request's.
            return Task.isCancelled ? .cancelled : .errored(code: "run_failed", message: e.message, retryable: e.code.retryable)
        } catch {
            return Task.isCancelled ? .cancelled : .errored(code: "engine_error", message: "\(error)", retryable: true)
        }
    }

    func write(_ json: JSONValue, to path: String) throws {
        var bytes: [UInt8] = []
        json.write(to: &bytes, sortedKeys: true)
        bytes.append(0x0A)
        let tmp = path + ".tmp"
        try Data(bytes).write(to: URL(fileURLWithPath: tmp))
        // rename(2) replaces atomically: a reader sees the old report or the new one, never half.
        guard rename(tmp, path) == 0 else { throw RunError(.writeFailed, "cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// The part of the envelope a stage fills: small, whatever the job's size (Argo stores it).
    func envelopeResult(gate: GateResult, summary: JSONValue) -> [UInt8] {
        var checks = gate.checks.prefix(40).map { c -> JSONValue in
            ["name": .string(c.name), "actual": c.actual.map(JSONValue.number) ?? .null, "threshold": .number(c.threshold), "op": .string(c.comparison),
             "passed": .bool(c.pass), "result": .string(c.result.rawValue)]
        }
        if gate.checks.count > 40 { checks.append(["name": .string("… \(gate.checks.count - 40) more in the report")]) }
        let reasons = gate.reasons.prefix(20).map { JSONValue.string(String($0.prefix(500))) }
        let notes = gate.notes.prefix(10).map { JSONValue.string(String($0.prefix(500))) }
        return JSONValue.object(["summary": summary, "checks": .array(checks), "reasons": .array(reasons), "notes": .array(notes)]).canonicalBytes
    }

    func evalSummary(_ r: EvalResult) -> JSONValue {
        let s = r.summary
        var o: [String: JSONValue] = [
            "cases": .number(Double(s.total)), "passed": .number(Double(s.passed)), "failed": .number(Double(s.failed)), "errored": .number(Double(s.errored)),
            "resumed_cases": .number(Double(r.resumedCases)), "cache_hits": .number(Double(s.cacheHits)),
        ]
        if let p = s.passRate { o["pass_rate"] = .number(p) }
        if let m = s.meanScore { o["quality_score"] = .number(m) }
        if !s.errorsByKind.isEmpty {
            // The kinds and the first message of each (redacted at the source): what the operator acts on.
            o["errors_by_kind"] = .object(s.errorsByKind.sorted { $0.value > $1.value }.prefix(10).reduce(into: [:]) { $0[$1.key] = .number(Double($1.value)) })
            o["first_error_messages"] = .object(s.firstErrorMessages.sorted { $0.key < $1.key }.prefix(10).reduce(into: [:]) { $0[$1.key] = .string(String($1.value.prefix(300))) })
        }
        if let l = s.latency { o["p95_latency_seconds"] = .number(l.p95 / 1000) }
        if let c = s.costUSD { o["cost_usd"] = .number(c) }
        if !s.judge.isEmpty {
            o["judge"] = ["calls": .number(Double(s.judge.calls)), "cache_hits": .number(Double(s.judge.cacheHits)), "cost_usd": s.judge.costUSD.map(JSONValue.number) ?? .null]
        }
        if let rep = s.repeats {
            o["repeats"] = ["k": .number(Double(rep.k)), "flaky": .number(Double(rep.flaky)), "pass_all_rate": rep.passAllRate.map(JSONValue.number) ?? .null,
                            "pass_any_rate": rep.passAnyRate.map(JSONValue.number) ?? .null]
        }
        return .object(o)
    }

    func shadowSummary(_ r: ShadowResult) -> JSONValue {
        let c = r.comparison
        func side(_ rate: Double?, _ l: LatencySummary?, _ cost: Double?) -> JSONValue {
            ["quality": rate.map(JSONValue.number) ?? .null, "p50_latency_seconds": l.map { .number($0.p50 / 1000) } ?? .null,
             "p95_latency_seconds": l.map { .number($0.p95 / 1000) } ?? .null, "cost_usd": cost.map(JSONValue.number) ?? .null]
        }
        return [
            "cases": .number(Double(c.cases)), "paired": .number(Double(c.paired)), "metric": .string(c.metric.rawValue),
            "baseline": side(c.baselinePassRate, c.latency.baseline, c.cost.baseline),
            "candidate": side(c.candidatePassRate, c.latency.candidate, c.cost.candidate),
            "delta": [
                "quality": c.passRateDifference.json, "mcnemar_p": .number(c.mcnemarP),
                "p95_latency_ratio": c.latencyRatios["p95"]?.json ?? .null, "cost_ratio": c.costRatio.map(JSONValue.number) ?? .null,
            ],
            "cases_needed": c.casesNeeded.map { .number(Double($0)) } ?? .null,
        ]
    }

    func indexSummary(_ r: IndexTestResult) -> JSONValue {
        var o: [String: JSONValue] = [:]
        for c in r.comparisons {
            o[c.measure] = ["baseline": .number(c.baseline), "candidate": .number(c.candidate), "delta": .number(c.delta), "ci95": [.number(c.low), .number(c.high)]]
        }
        return ["queries": .number(Double(r.baseline.evaluation.queries.count)), "measures": .object(o)]
    }
}
