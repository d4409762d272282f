import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import VectorSearch

/// Everything one shadow-compare run needs besides the two endpoint clients.
public struct ShadowJob: Sendable {
    /// Where the cases come from.
    public enum Cases: Sendable {
        /// Golden cases with expectations; each side renders them with its own prompt config.
        case goldenSet(path: String, baselinePrompt: PromptConfig, candidatePrompt: PromptConfig)
        /// A copy of logged production requests, sampled. A side's params, when given, override
        /// the logged ones field by field (a model-config change is usually just that).
        case traffic(path: String, sampler: TrafficSampler, baselineParams: ModelParams?, candidateParams: ModelParams?)
    }

    public var cases: Cases
    public var gate: ShadowGate
    /// Most cases in progress at once (each sends one request to each side).
    public var concurrency: Int
    /// Seed of every bootstrap interval.
    public var seed: UInt64 = 0x5EED
    /// Cache, persisted pairs and resume.
    public var memory = RunMemory()
    /// Embeds outputs: agreement on traffic, `similar` assertions, output drift. Traffic needs one.
    public var embedder: Embedder?
    /// Rows of the worst-regressions and most-divergent tables.
    public var worstCount = 10
    public var warn: @Sendable (String) -> Void = { _ in }

    public init(cases: Cases, gate: ShadowGate = ShadowGate(), concurrency: Int = 256) {
        self.cases = cases
        self.gate = gate
        self.concurrency = max(1, concurrency)
    }

    var metric: ShadowQualityMetric {
        if case .traffic = cases { return .agreement }
        return .passRate
    }
}

/// The outcome of a shadow run: the pairs, their comparison and the output drift.
public struct ShadowResult: Sendable {
    public var runID: String
    public var inputDigest: String
    /// Pairs taken from an interrupted earlier attempt of this run.
    public var resumedCases: Int
    public var startedAt: Date
    public var durationSeconds: Double
    public var cancelled: Bool
    /// Cases in the input (after sampling).
    public var total: Int
    public var pairs: [ShadowPair]
    public var comparison: ShadowComparison
    /// Fréchet distance between the two sides' output embeddings (nil without an embedder).
    public var drift: Double?
    /// Cases whose outputs agree least (cosine of their embeddings), most divergent first.
    public var divergent: [(pair: ShadowPair, cosine: Double)]
    /// Pairs whose score dropped most, worst first.
    public var worstRegressions: [ShadowPair]
    public var warnings: [String]
    public var cacheHits: Int

    public var gate: GateResult { comparison.gate }
}

/// One case ready to send: the request each side gets and how to score the answers.
struct ShadowCase: Sendable {
    var id: String
    var line: Int
    var tags: [String]
    var baseline: ModelRequest
    var candidate: ModelRequest
    /// Golden cases: the assertions.
    var prepared: PreparedCase?
    /// Traffic: the logged production answer.
    var production: String?
}

/// Sends every case to a baseline and a candidate endpoint at once (each under its own limiter,
/// through the response cache), pairs the answers by case, persists each pair as it completes
/// (an interrupted run resumes without re-sending), scores them (assertions for golden cases,
/// embedding agreement for traffic) and compares the two sides with paired statistics.
public struct ShadowRunner: Sendable {
    public let baseline: EndpointClient
    public let candidate: EndpointClient

    public init(baseline: EndpointClient, candidate: EndpointClient) {
        self.baseline = baseline
        self.candidate = candidate
    }

    /// Reads and checks every case without calling anything. Golden sets: fields, assertions and
    /// both prompts' vars; traffic: every line, then the sample. Errors name file, line and field.
    static func load(_ cases: ShadowJob.Cases, scorer: Scorer) throws(InputError) -> [ShadowCase] {
        switch cases {
        case .goldenSet(let path, let basePrompt, let candPrompt):
            let reader = try GoldenSetReader(path: path)
            var out: [ShadowCase] = []
            while let c = try reader.next() {
                let (prepared, b) = try EvalRunner.prepare(c, prompt: basePrompt, scorer: scorer)
                let (_, k) = try EvalRunner.prepare(c, prompt: candPrompt, scorer: scorer)
                out.append(ShadowCase(id: c.id, line: c.location.line, tags: c.tags, baseline: b, candidate: k, prepared: prepared))
            }
            if out.isEmpty { throw InputError(location: SourceLocation(file: path, line: 0), message: "the golden set has no cases") }
            return out
        case .traffic(let path, let sampler, let baseParams, let candParams):
            let sampled: [TrafficCase]
            do { sampled = try sampler.sample(path: path) } catch let e as InputError { throw e } catch {
                throw InputError(location: SourceLocation(file: path, line: 0), message: "\(error)")
            }
            if sampled.isEmpty {
                throw InputError(location: SourceLocation(file: path, line: 0), message: "no traffic case left to compare (empty file, or a sample rate that keeps none)")
            }
            var seen = Set<String>()
            return try sampled.map { (t: TrafficCase) throws(InputError) -> ShadowCase in
                guard seen.insert(t.id).inserted else {
                    throw InputError(location: SourceLocation(file: path, line: t.line), caseID: t.id, field: "id", message: "duplicate case id")
                }
                return ShadowCase(id: t.id, line: t.line, tags: t.tags,
                                  baseline: ModelRequest(messages: t.messages, params: t.params.overridden(by: baseParams)),
                                  candidate: ModelRequest(messages: t.messages, params: t.params.overridden(by: candParams)),
                                  production: t.productionOutput)
            }
        }
    }

    /// Checks a job's inputs; returns the number of cases it will compare.
    public static func validate(_ cases: ShadowJob.Cases) throws(InputError) -> Int {
        try load(cases, scorer: Scorer()).count
    }

    /// Runs the job.
    /// `progress` counts the candidate's side (passed/failed/errored) after every pair.
    public func run(_ job: ShadowJob, progress: (ProgressEvent) -> Void = { _ in }) async throws -> ShadowResult {
        let started = Date()
        let clock = ContinuousClock()
        let t0 = clock.now
        let scorer = Scorer()
        let cases = try ShadowRunner.load(job.cases, scorer: scorer)
        if case .traffic = job.cases, job.embedder == nil {
            throw RunError(.needsEmbeddings, "traffic has no expectations: its quality is agreement by embedding similarity, which needs an embedding endpoint")
        }
        var warnings: [String] = []
        if sameTarget(job) {
            let w = "warning: baseline '\(baseline.endpoint.name)' and candidate '\(candidate.endpoint.name)' are the same endpoint, model and prompt: the comparison can only show noise"
            warnings.append(w)
            job.warn(w)
        }
        let digest = inputDigest(job)
        let memory = job.memory
        var sources: (baseline: ResponseSource, candidate: ResponseSource)?
        var pairs: [ShadowPair] = []
        var event = ProgressEvent(done: 0, total: cases.count, passed: 0, failed: 0, errored: 0, retries: 0, rateLimited: 0, elapsedSeconds: 0)
        var remaining = cases.makeIterator()
        let core = RunCore(memory: memory, concurrency: job.concurrency, warn: job.warn)
        let outcome = try await core.run(
            digest: digest, total: cases.count, next: { remaining.next() }, key: \.id,
            makeWork: { context in
                let base = context.responseSource(for: baseline)
                let cand = context.responseSource(for: candidate)
                sources = (base, cand)
                let baseEval = EvalRunner(client: baseline, scorer: scorer)
                let candEval = EvalRunner(client: candidate, scorer: scorer)
                let steps = SimilarityStep.steps(job.embedder)
                return { c in
                    if let prepared = c.prepared {
                        async let b = baseEval.runCase(prepared, c.baseline, source: base, steps: steps)
                        async let k = candEval.runCase(prepared, c.candidate, source: cand, steps: steps)
                        return ShadowPair(id: c.id, line: c.line, tags: c.tags, baseline: ShadowRunner.answer(await b), candidate: ShadowRunner.answer(await k))
                    }
                    async let b = ShadowRunner.call(c.baseline, base)
                    async let k = ShadowRunner.call(c.candidate, cand)
                    return ShadowPair(id: c.id, line: c.line, tags: c.tags, baseline: await b, candidate: await k, reference: c.production)
                }
            },
            consume: { (p: ShadowPair, replayed: Bool) in
                pairs.append(p)
                event.done = pairs.count
                // Progress counts the candidate's side of the pairs this attempt ran.
                if !replayed {
                    if p.candidate.errorKind != nil { event.errored += 1 } else if p.candidate.pass { event.passed += 1 } else { event.failed += 1 }
                    event.elapsedSeconds = (clock.now - t0).seconds
                    progress(event)
                }
            })
        let resumed = outcome.resumed
        let cancelled = outcome.cancelled
        let runID = outcome.runID
        // Input order, whatever order the answers came back (and were resumed) in.
        let order = Dictionary(uniqueKeysWithValues: cases.enumerated().map { ($1.id, $0) })
        pairs.sort { (order[$0.id] ?? .max, $0.id) < (order[$1.id] ?? .max, $1.id) }

        // Embeddings of every answered pair's outputs, in batches: traffic agreement and drift.
        var drift: Double?
        var divergent: [(pair: ShadowPair, cosine: Double)] = []
        if let embedder = job.embedder, !cancelled {
            let answered = pairs.indices.filter { pairs[$0].baseline.output != nil && pairs[$0].candidate.output != nil }
            do {
                let b = try await embedder.embed(answered.map { pairs[$0].baseline.output! })
                let k = try await embedder.embed(answered.map { pairs[$0].candidate.output! })
                if !answered.isEmpty {
                    let dims = b[0].count
                    let bm = Matrix(rows: answered.count, cols: dims, storage: b.flatMap { $0 })
                    let km = Matrix(rows: answered.count, cols: dims, storage: k.flatMap { $0 })
                    let cosines = try Similarity.cosinePairs(bm, km).map(Double.init)
                    if job.metric == .agreement {
                        try await scoreAgreement(&pairs, answered: answered, baseToCandidate: cosines, baseline: bm, candidate: km, embedder: embedder, threshold: job.gate.agreementThreshold)
                    }
                    if answered.count >= 2 { drift = try? FrechetDistance.between(bm, km) }
                    // Equal outputs are not divergent, whatever float noise their cosine carries.
                    divergent = zip(answered, cosines).filter { pairs[$0.0].baseline.output != pairs[$0.0].candidate.output }.sorted { ($0.1, pairs[$0.0].id) < ($1.1, pairs[$1.0].id) }
                        .prefix(job.worstCount).map { (pair: pairs[$0.0], cosine: $0.1) }
                }
            } catch {
                let w = "warning: embedding the outputs failed (\(error)); no output drift" + (job.metric == .agreement ? ", and no agreement to judge quality by" : "")
                warnings.append(w)
                job.warn(w)
                if job.metric == .agreement {
                    for i in answered {
                        pairs[i].candidate.errorKind = "embedding_failed"
                        pairs[i].candidate.errorMessage = "\(error)"
                    }
                }
            }
        }
        let comparison = ShadowComparison.compare(pairs, gate: job.gate, metric: job.metric, seed: job.seed)
        let hits = (sources?.baseline.hits ?? 0) + (sources?.candidate.hits ?? 0)
        var gate = comparison.gate
        if cancelled {
            gate.verdict = .inconclusive
            gate.reasons.insert("the run was cancelled after \(pairs.count) of \(cases.count) cases", at: 0)
        }
        var result = ShadowResult(
            runID: runID, inputDigest: digest, resumedCases: resumed, startedAt: started, durationSeconds: 0, cancelled: cancelled, total: cases.count,
            pairs: pairs, comparison: comparison, drift: drift, divergent: divergent,
            worstRegressions: ShadowRunner.worstRegressions(pairs, count: job.worstCount), warnings: warnings, cacheHits: hits)
        result.comparison.gate = gate
        try await core.finish(outcome, summary: "{\"stage\":\"shadow-compare\",\"verdict\":\"\(gate.verdict.rawValue)\",\"total\":\(pairs.count)}",
                        cacheHits: hits, cacheMisses: (sources?.baseline.misses ?? 0) + (sources?.candidate.misses ?? 0))
        result.durationSeconds = (clock.now - t0).seconds
        return result
    }

    /// Traffic quality: each side's output against the reference (the logged production answer
    /// when there is one, else the baseline's own output, which then agrees with itself).
    func scoreAgreement(_ pairs: inout [ShadowPair], answered: [Int], baseToCandidate: [Double], baseline: Matrix, candidate: Matrix,
                        embedder: Embedder, threshold: Double) async throws {
        let withProduction = answered.indices.filter { pairs[answered[$0]].reference != nil }
        var toProduction: [Int: (Double, Double)] = [:]
        if !withProduction.isEmpty {
            let refs = try await embedder.embed(withProduction.map { pairs[answered[$0]].reference! })
            let rm = Matrix(rows: refs.count, cols: baseline.cols, storage: refs.flatMap { $0 })
            let pick = { (m: Matrix) in Matrix(rows: withProduction.count, cols: m.cols, storage: withProduction.flatMap { Array(m.row($0)) }) }
            let b = try Similarity.cosinePairs(pick(baseline), rm)
            let k = try Similarity.cosinePairs(pick(candidate), rm)
            for (j, i) in withProduction.enumerated() { toProduction[i] = (Double(b[j]), Double(k[j])) }
        }
        for (j, i) in answered.enumerated() {
            // Float cosines of equal vectors can land a hair above 1: equal outputs must tie exactly.
            var (b, k) = toProduction[j] ?? (1.0, min(1, baseToCandidate[j]))
            if pairs[i].baseline.output == pairs[i].candidate.output { k = b }
            pairs[i].baseline.score = b
            pairs[i].baseline.pass = b >= threshold
            pairs[i].candidate.score = k
            pairs[i].candidate.pass = k >= threshold
        }
    }

    /// Pairs whose score dropped, the biggest drops first (a pass turned fail before a mere score dip).
    static func worstRegressions(_ pairs: [ShadowPair], count: Int) -> [ShadowPair] {
        let drops = pairs.filter { $0.answered && ($0.candidate.score < $0.baseline.score - 1e-12 || ($0.baseline.pass && !$0.candidate.pass)) }
        return Array(drops.sorted {
            let a = ($0.baseline.pass && !$0.candidate.pass ? 1 : 0, $0.baseline.score - $0.candidate.score)
            let b = ($1.baseline.pass && !$1.candidate.pass ? 1 : 0, $1.baseline.score - $1.candidate.score)
            return a != b ? a > b : $0.id < $1.id
        }.prefix(count))
    }

    static func answer(_ r: CaseRecord) -> ShadowAnswer {
        ShadowAnswer(output: r.output, pass: r.status == .passed, score: r.score, latencyMs: r.latencyMs, costUSD: r.costUSD,
                     promptTokens: r.promptTokens, completionTokens: r.completionTokens, cached: r.cached, errorKind: r.errorKind, errorMessage: r.errorMessage)
    }

    /// One side's answer to a traffic case, scored later against the reference.
    static func call(_ request: ModelRequest, _ source: ResponseSource) async -> ShadowAnswer {
        do {
            let (r, cached) = try await source.response(for: request)
            let cost = source.client.endpoint.pricing?.cost(promptTokens: r.promptTokens, completionTokens: r.completionTokens)
            return ShadowAnswer(output: r.text, pass: false, score: 0, latencyMs: r.latencyMs, costUSD: cost, promptTokens: r.promptTokens,
                                completionTokens: r.completionTokens, cached: cached)
        } catch {
            return .failure(kind: error.kind, message: error.message)
        }
    }

    /// Both sides would send the same requests to the same model behind the same endpoint.
    func sameTarget(_ job: ShadowJob) -> Bool {
        guard baseline.cacheIdentity == candidate.cacheIdentity, baseline.endpoint.model == candidate.endpoint.model,
              baseline.endpoint.api == candidate.endpoint.api else { return false }
        switch job.cases {
        case .goldenSet(_, let b, let c): return b.canonicalJSON == c.canonicalJSON
        case .traffic(_, _, let b, let c): return b == c
        }
    }

    /// Digest of what determines a run's pairs: the cases, how they are sampled, both prompts and
    /// both endpoints.
    func inputDigest(_ job: ShadowJob) -> String {
        var identity: [String: JSONValue] = [
            "stage": "shadow-compare",
            "baseline": ["endpoint": .string(baseline.cacheIdentity), "model": .string(baseline.endpoint.model), "api": .string(baseline.endpoint.api.rawValue)],
            "candidate": ["endpoint": .string(candidate.cacheIdentity), "model": .string(candidate.endpoint.model), "api": .string(candidate.endpoint.api.rawValue)],
        ]
        switch job.cases {
        case .goldenSet(let path, let b, let c):
            identity["golden_set"] = .string(SHA256Stream.fileHex(path) ?? path)
            identity["prompts"] = [b.canonicalJSON, c.canonicalJSON]
        case .traffic(let path, let s, let b, let c):
            identity["traffic"] = .string(SHA256Stream.fileHex(path) ?? path)
            identity["sample"] = ["rate": .number(s.rate), "max_cases": s.maxCases.map { .number(Double($0)) } ?? .null,
                                  "stratify": .bool(s.stratifyByTag), "seed": .string(String(s.seed))]
            identity["params"] = [(b ?? ModelParams()).canonicalJSON, (c ?? ModelParams()).canonicalJSON]
        }
        return SHA256Digest.hex(JSONValue.object(identity).canonicalBytes)
    }
}

extension ModelParams {
    /// These params with every field `other` sets taking its value.
    func overridden(by other: ModelParams?) -> ModelParams {
        guard let other else { return self }
        var p = self
        if let v = other.temperature { p.temperature = v }
        if let v = other.topP { p.topP = v }
        if let v = other.maxTokens { p.maxTokens = v }
        if let v = other.seed { p.seed = v }
        if let v = other.stop { p.stop = v }
        if let v = other.responseFormat { p.responseFormat = v }
        for (k, v) in other.extraBody { p.extraBody[k] = v }
        return p
    }
}

extension ShadowPair: RunRow {
    public var unitKey: String { id }
    public var isCancellation: Bool {
        let cancelled = ModelCallError.Code.cancelled.shortDescription
        return baseline.errorKind == cancelled || candidate.errorKind == cancelled
    }

    public func persistedBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        json.write(to: &bytes, sortedKeys: true)
        return bytes
    }

    public init?(persistedBytes bytes: [UInt8]) {
        guard let json = try? JSONValue.parse(bytes: bytes) else { return nil }
        self.init(json: json)
    }
}
