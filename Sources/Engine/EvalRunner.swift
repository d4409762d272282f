import CoreMetrics
import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore
import VectorSearch

/// Everything one eval run needs besides the endpoint client.
public struct EvalJob: Sendable {
    public var goldenSetPath: String
    public var prompt: PromptConfig
    public var gate: GateConfig
    /// Most cases in progress at once (waiting for admission included); the endpoint's
    /// `max_in_flight` caps what is actually on the wire.
    public var concurrency: Int
    /// Seed of the bootstrap intervals.
    public var seed: UInt64 = 0x5EED
    /// Where responses are cached and case results persisted; nil runs without memory.
    public var store: Store?
    public var cacheMode: CacheMode = .readWrite
    /// Cached responses older than this many seconds are not used.
    public var cacheTTL: Double?
    /// Resume this run (its inputs must be the same).
    public var resumeRunID: String?
    /// Resume the newest interrupted run with the same inputs, if there is one.
    public var autoResume = true
    /// Embeds outputs and expected values for `similar` assertions.
    public var embedder: Embedder?
    /// Told about damaged caches and the like.
    public var warn: @Sendable (String) -> Void = { _ in }
    /// Run only this part of the golden set (`--shard i/N`); `evalengine merge` joins the parts.
    public var shard: Shard?

    public init(goldenSetPath: String, prompt: PromptConfig, gate: GateConfig = .default, concurrency: Int = 256) {
        self.goldenSetPath = goldenSetPath
        self.prompt = prompt
        self.gate = gate
        self.concurrency = max(1, concurrency)
    }
}

/// The full result of one case: what the report and the JUnit file show.
public struct CaseRecord: Sendable {
    public var id: String
    public var line: Int
    public var description: String?
    public var tags: [String]
    public var status: CaseOutcome.Status
    public var score: Double
    public var namedScores: [String: Double]
    public var output: String?
    public var finishReason: String?
    public var latencyMs: Double?
    public var promptTokens: Int
    public var completionTokens: Int
    public var costUSD: Double?
    public var attempts: Int
    public var rateLimited: Int
    public var assertions: [AssertionResult]
    public var errorKind: String?
    public var errorMessage: String?
    /// Answered from the response cache.
    public var cached = false
    /// The case's own score threshold, when it has one (`merge` re-derives the status from it).
    public var threshold: Double?

    var outcome: CaseOutcome {
        var o = CaseOutcome(
            status: status, score: score, namedScores: namedScores, latencyMs: latencyMs, promptTokens: promptTokens,
            completionTokens: completionTokens, costUSD: costUSD, retries: max(0, attempts - 1), rateLimited: rateLimited, errorKind: errorKind)
        o.errorMessage = errorMessage
        o.cached = cached
        return o
    }
}

/// Progress of a run, sent after every finished case.
public struct ProgressEvent: Sendable {
    public var done: Int
    public var total: Int
    public var passed: Int
    public var failed: Int
    public var errored: Int
    public var retries: Int
    public var rateLimited: Int
    public var elapsedSeconds: Double
}

/// The outcome of a run.
public struct EvalResult: Sendable {
    public var runID: String
    /// SHA-256 over the golden set's bytes, the prompt, the endpoint and the shard: same inputs, same digest.
    public var inputDigest: String
    /// The same without the shard: what every shard of one sharded run shares.
    public var setDigest: String
    public var shard: Shard?
    public var gateConfig: GateConfig
    public var seed: UInt64
    /// Case results taken from an interrupted earlier attempt of this run.
    public var resumedCases: Int
    public var startedAt: Date
    public var summary: RunSummary
    public var gate: GateResult
    public var cancelled: Bool
}

/// A run that cannot start or be resumed as asked.
public struct RunError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(message: String) { self.message = message }
}

/// Receives every case result as it finishes (reports stream to disk through this).
public protocol CaseSink {
    mutating func write(_ record: CaseRecord) throws
}

/// Runs an eval: validates the whole golden set first (so a bad line sends nothing), then streams
/// the cases through a bounded task group; every case waits for the endpoint's limiter, is called,
/// scored and handed to the sinks, and only aggregates stay in memory.
public struct EvalRunner: Sendable {
    public let client: EndpointClient
    public let scorer: Scorer

    public init(client: EndpointClient, scorer: Scorer = Scorer()) {
        self.client = client
        self.scorer = scorer
    }

    /// Reads and checks every case (fields, assertions, template vars) without calling anything.
    /// Returns the number of cases.
    /// With `shard`, every case is still checked but only the shard's are counted.
    public static func validate(goldenSetPath: String, prompt: PromptConfig, scorer: Scorer = Scorer(), shard: Shard? = nil) throws(InputError) -> Int {
        try check(goldenSetPath: goldenSetPath, prompt: prompt, scorer: scorer, shard: shard).cases
    }

    /// What `validate` finds, and whether any case needs embeddings (a `similar` assertion).
    public static func check(goldenSetPath: String, prompt: PromptConfig, scorer: Scorer = Scorer(), shard: Shard? = nil) throws(InputError)
        -> (cases: Int, needsEmbeddings: Bool)
    {
        let reader = try GoldenSetReader(path: goldenSetPath)
        var inShard = 0
        var needsEmbeddings = false
        while let c = try reader.next() {
            let (prepared, _) = try prepare(c, prompt: prompt, scorer: scorer)
            if shard?.contains(c.id) ?? true {
                inShard += 1
                needsEmbeddings = needsEmbeddings || !prepared.similarityTexts.isEmpty
            }
        }
        if reader.count == 0 {
            throw InputError(location: SourceLocation(file: goldenSetPath, line: 0), message: "the golden set has no cases")
        }
        return (inShard, needsEmbeddings)
    }

    static func prepare(_ c: GoldenCase, prompt: PromptConfig, scorer: Scorer) throws(InputError) -> (PreparedCase, ModelRequest) {
        let prepared: PreparedCase
        do {
            prepared = try scorer.prepare(c)
        } catch {
            throw InputError(location: c.location, caseID: c.id, field: error.field, message: error.message)
        }
        do {
            let messages = try prompt.renderMessages(c.vars)
            let completion = try prompt.completionPrompt?.render(c.vars)
            return (prepared, ModelRequest(messages: messages, prompt: completion, params: prompt.params))
        } catch {
            throw InputError(location: c.location, caseID: c.id, field: "vars.\(error.name)",
                message: "the prompt reads var '\(error.name)', which the case does not define")
        }
    }

    /// Runs every case of `job`; `total` is the case count from `validate`.
    public func run<Sink: CaseSink>(
        _ job: EvalJob, total: Int, sink: inout Sink, progress: (ProgressEvent) -> Void = { _ in }
    ) async throws -> EvalResult {
        let started = Date()
        let clock = ContinuousClock()
        let t0 = clock.now
        var accumulator = SummaryAccumulator()
        accumulator.seed = job.seed
        var event = ProgressEvent(done: 0, total: total, passed: 0, failed: 0, errored: 0, retries: 0, rateLimited: 0, elapsedSeconds: 0)
        let digest = EvalRunner.inputDigest(job, endpoint: client)
        var unsharded = job
        unsharded.shard = nil
        let setDigest = EvalRunner.inputDigest(unsharded, endpoint: client)
        let store = job.store
        let runID = try EvalRunner.chooseRun(job, digest: digest, total: total)
        let writer = store.map(StoreWriter.init)
        let source = ResponseSource(client: client, store: store, mode: job.cacheMode, ttl: job.cacheTTL, writer: writer, warn: job.warn)
        // Sized from the validation pass's count (the whole set when sharded: every case is read).
        let reader = try GoldenSetReader(path: job.goldenSetPath, expectedCases: job.shard == nil ? total : 0)
        let prompt = job.prompt
        var cancelled = false
        var sequence = 0
        var resumed = 0

        func consume(_ record: CaseRecord, persist: Bool) throws {
            // A case stopped by cancelling the run did not run: it is neither a result nor an error.
            if record.errorKind == "cancelled" && Task.isCancelled { return }
            if persist, let writer {
                sequence += 1
                var bytes: [UInt8] = []
                record.json().write(to: &bytes, sortedKeys: true)
                writer.enqueue(.caseResult(runID: runID, caseID: record.id, sequence: sequence, record: bytes))
            }
            accumulator.add(record.outcome)
            try sink.write(record)
            event.done += 1
            switch record.status {
            case .passed: event.passed += 1
            case .failed: event.failed += 1
            case .errored: event.errored += 1
            }
            event.retries += max(0, record.attempts - 1)
            event.rateLimited += record.rateLimited
            let e = clock.now - t0
            event.elapsedSeconds = Double(e.components.seconds) + Double(e.components.attoseconds) * 1e-18
            progress(event)
        }

        // Results an interrupted attempt of this run already persisted: reported, not re-sent.
        var done = Set<String>()
        if let store {
            try store.forEachCaseResult(runID: runID) { caseID, bytes in
                guard let json = try? JSONValue.parse(bytes: bytes), let record = CaseRecord(json: json) else { return }
                done.insert(caseID)
                sequence += 1
                resumed += 1
                try consume(record, persist: false)
            }
        }

        try await withThrowingTaskGroup(of: Void.self) { background in
            if let writer { background.addTask { await writer.run() } }
            defer { writer?.finish() }
            try await withThrowingTaskGroup(of: CaseRecord.self) { group in
                var inFlight = 0
                while !Task.isCancelled, let c = try reader.next() {
                    if done.contains(c.id) || !(job.shard?.contains(c.id) ?? true) { continue }
                    if inFlight >= job.concurrency, let r = try await group.next() {
                        inFlight -= 1
                        try consume(r, persist: true)
                    }
                    let (prepared, request) = try EvalRunner.prepare(c, prompt: prompt, scorer: scorer)
                    let embedder = job.embedder
                    group.addTask { await self.runCase(prepared, request, source: source, embedder: embedder) }
                    inFlight += 1
                }
                while let r = try await group.next() { try consume(r, persist: true) }
                cancelled = Task.isCancelled
            }
        }
        writer?.flush()  // what finished after a cancel, too
        if let error = writer?.error {
            throw ReportError(message: "cannot persist results to \(store?.path ?? ""): \(error)")
        }
        let e = clock.now - t0
        let seconds = Double(e.components.seconds) + Double(e.components.attoseconds) * 1e-18
        let summary = accumulator.finish(durationSeconds: seconds)
        var gate = job.gate.evaluate(summary)
        if cancelled {
            gate.verdict = .inconclusive
            gate.reasons.insert("the run was cancelled after \(summary.total) of \(total) cases", at: 0)
        }
        if let store {
            // A cancelled run stays 'running' so that the next run with the same inputs resumes it.
            try? store.addCounters(hits: source.hits, misses: source.misses)
            job.embedder?.recordLookups()
            if !cancelled {
                try store.finishRun(id: runID, state: "completed", summary: "{\"verdict\":\"\(gate.verdict.rawValue)\",\"total\":\(summary.total)}")
            }
        }
        return EvalResult(runID: runID, inputDigest: digest, setDigest: setDigest, shard: job.shard, gateConfig: job.gate, seed: job.seed,
                          resumedCases: resumed, startedAt: started, summary: summary, gate: gate, cancelled: cancelled)
    }

    /// Digest of what determines a run's results: golden-set bytes, prompt, endpoint identity and model.
    static func inputDigest(_ job: EvalJob, endpoint: EndpointClient) -> String {
        var identity: JSONValue = [
            "golden_set": .string(SHA256Stream.fileHex(job.goldenSetPath) ?? job.goldenSetPath),
            "prompt": job.prompt.canonicalJSON,
            "endpoint": .string(endpoint.cacheIdentity), "model": .string(endpoint.endpoint.model), "api": .string(endpoint.endpoint.api.rawValue),
        ]
        // Only when sharded, so unsharded digests (and their resumable runs) stay what they were.
        if let shard = job.shard, case .object(var o) = identity {
            o["shard"] = shard.json
            identity = .object(o)
        }
        return SHA256Digest.hex(identity.canonicalBytes)
    }

    /// The run to write into: the one asked for, an interrupted one with the same inputs, or a new one.
    static func chooseRun(_ job: EvalJob, digest: String, total: Int) throws -> String {
        try chooseRun(store: job.store, resumeRunID: job.resumeRunID, autoResume: job.autoResume, digest: digest, total: total)
    }

    static func chooseRun(store: Store?, resumeRunID: String?, autoResume: Bool, digest: String, total: Int) throws -> String {
        guard let store else { return UUID().uuidString.lowercased() }
        if let id = resumeRunID {
            guard let run = try store.run(id: id) else { throw RunError(message: "no run '\(id)' in \(store.path)") }
            guard run.inputDigest == digest else {
                throw RunError(message: "run '\(id)' was made from other inputs (cases, prompts or endpoints changed); start a new run instead")
            }
            return id
        }
        if autoResume, let run = try store.unfinishedRun(inputDigest: digest) { return run.id }
        let id = UUID().uuidString.lowercased()
        try store.createRun(id: id, inputDigest: digest, total: total)
        return id
    }

    /// Calls the endpoint for one case and scores the answer; never throws: failures become an
    /// errored record, so one bad call cannot stop the run.
    func runCase(_ prepared: PreparedCase, _ request: ModelRequest, source: ResponseSource, embedder: Embedder?) async -> CaseRecord {
        let start = ContinuousClock.now
        let inFlight = CoreMetrics.Meter(label: "evalengine_cases_in_flight")
        inFlight.increment()
        defer {
            inFlight.decrement()
            CoreMetrics.Timer(label: "evalengine_case_duration_seconds", dimensions: [("endpoint", client.endpoint.name)]).recordInterval(since: start)
        }
        let c = prepared.goldenCase
        var record = CaseRecord(
            id: c.id, line: c.location.line, description: c.description, tags: c.tags, status: .errored, score: 0, namedScores: [:],
            output: nil, finishReason: nil, latencyMs: nil, promptTokens: 0, completionTokens: 0, costUSD: nil, attempts: 0,
            rateLimited: 0, assertions: [], errorKind: nil, errorMessage: nil)
        record.threshold = c.threshold
        do {
            let (response, cached) = try await source.response(for: request)
            record.cached = cached
            let cost = client.endpoint.pricing?.cost(promptTokens: response.promptTokens, completionTokens: response.completionTokens)
            // What the target answered is kept whatever happens while scoring it: it was billed.
            record.output = response.text
            record.finishReason = response.finishReason
            record.latencyMs = response.latencyMs
            record.promptTokens = response.promptTokens
            record.completionTokens = response.completionTokens
            record.costUSD = cost
            record.attempts = response.attempts
            record.rateLimited = response.rateLimited
            var output = CaseOutput(text: response.text, latencyMs: response.latencyMs, costUSD: cost, finishReason: response.finishReason)
            let references = prepared.similarityTexts
            if !references.isEmpty, let embedder {
                // One embedding request for the output and every reference, one batched cosine.
                do {
                    let vectors = try await embedder.embed([response.text] + references)
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
            let score = await ScoringExecutor.shared.score(prepared, output: output, scorer: scorer)
            record.score = score.score
            record.namedScores = score.namedScores
            record.assertions = score.results
            if let undecided = score.error {
                // An assertion that could not be decided (budget, embedding) is an error, never a quality result.
                record.status = .errored
                record.errorKind = undecided.errorKind
                record.errorMessage = "\(undecided.type): \(undecided.reason)"
            } else {
                record.status = score.pass ? .passed : .failed
            }
        } catch {
            record.errorKind = error.kind
            record.errorMessage = error.message
            record.attempts = error.attempts
            record.rateLimited = error.rateLimited
        }
        return record
    }
}
