import CoreMetrics
import EvalCore
import Foundation
import GoldenSets
import NIOPosix
import ModelClient
import ResultStore
import VectorSearch

/// A prompt config and the name reports give it.
public struct NamedPrompt: Sendable {
    public var name: String
    public var config: PromptConfig

    public init(name: String, config: PromptConfig) {
        self.name = name
        self.config = config
    }
}

/// Everything one eval run needs besides the endpoint clients.
public struct EvalJob: Sendable {
    public var goldenSetPath: String
    /// One prompt, or several: a matrix runs every case on every prompt × endpoint.
    public var prompts: [NamedPrompt]
    public var gate: GateConfig
    /// Most cases in progress at once (waiting for admission included); the endpoint's
    /// `max_in_flight` caps what is actually on the wire.
    public var concurrency: Int
    /// Seed of the bootstrap intervals.
    public var seed: UInt64 = 0x5EED
    /// Cache, persisted results and resume.
    public var memory = RunMemory()
    /// Where script scorers' relative paths are resolved and run, when not the golden set's own
    /// directory (the service runs from a snapshot of the golden set, the scorers stay put).
    public var scorerDirectory: String?
    /// Samples per case (`--repeat K`); each repeat has a cache namespace of its own.
    public var repeats = 1
    /// Run only the cases this admits.
    public var filter: CaseFilter?
    /// Embeds outputs and expected values for `similar` assertions.
    public var embedder: Embedder?
    /// Told about damaged caches and the like.
    public var warn: @Sendable (String) -> Void = { _ in }
    /// Run only this part of the golden set (`--shard i/N`); `evalengine merge` joins the parts.
    public var shard: Shard?
    /// The cases the validation pass read (`SetNeeds.kept`), run instead of reading the file again.
    public var validatedCases: [GoldenCase]?

    public init(goldenSetPath: String, prompt: PromptConfig, gate: GateConfig = .default, concurrency: Int = 256) {
        self.goldenSetPath = goldenSetPath
        self.prompts = [NamedPrompt(name: "prompt", config: prompt)]
        self.gate = gate
        self.concurrency = max(1, concurrency)
    }

    /// The first prompt (the only one outside a matrix); setting it makes it the only one.
    public var prompt: PromptConfig {
        get { prompts[0].config }
        set { prompts = [NamedPrompt(name: prompts.first?.name ?? "prompt", config: newValue)] }
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

/// One target's share of a run: its summary and its own gate.
public struct TargetResult: Sendable {
    /// What reports call it: the endpoint's name, the prompt's, or `prompt@endpoint` in a full matrix.
    public var label: String
    public var endpoint: String
    public var model: String
    public var prompt: String
    public var summary: RunSummary
    public var gate: GateResult
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
    /// Over every target's samples; the single target's own in a run with one.
    public var summary: RunSummary
    /// The run's verdict: every target's gate passes (fail when one fails, else inconclusive).
    public var gate: GateResult
    public var cancelled: Bool
    /// One per target, in matrix order (prompts, then endpoints).
    public var targets: [TargetResult] = []
    /// Samples per case.
    public var repeats = 1
    public var filter: CaseFilter?

    /// More than one target: the report shows a summary per target and a side-by-side table.
    public var isMatrix: Bool { targets.count > 1 }
}

/// Receives every case result as it finishes (reports stream to disk through this).
public protocol CaseSink {
    mutating func write(_ record: CaseRecord) throws
}

/// One prompt on one endpoint.
public struct EvalTarget: Sendable {
    public let label: String
    public let promptIndex: Int
    public let client: EndpointClient
}

/// One sample of one case on one target: the unit the run core schedules.
struct EvalUnit: Sendable {
    let prepared: PreparedCase
    let request: ModelRequest
    let target: Int
    let sample: Int
    let key: String
}

/// A unit's result as the store keeps it: the case row, plus the sample's index with repeats.
struct EvalRow: RunRow {
    var record: CaseRecord
    var sample: Int
    let unitKey: String

    var isCancellation: Bool { record.errorKind == ModelCallError.Code.cancelled.shortDescription }

    func persistedBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512 + (record.output?.utf8.count ?? 0))
        CaseRecordRowWriter.write(record, sample: sample, to: &bytes)
        return bytes
    }

    init(record: CaseRecord, sample: Int, unitKey: String) {
        self.record = record
        self.sample = sample
        self.unitKey = unitKey
    }

    init?(persistedBytes bytes: [UInt8]) {
        guard let json = try? JSONValue.parse(bytes: bytes), let record = CaseRecord(json: json) else { return nil }
        let sample = json["sample"] == nil ? 0 : json["sample"]?.wholeNumber(in: 0...GateConfig.maxRepeats)
        guard let sample else { return nil }
        self.init(record: record, sample: sample, unitKey: "")
    }
}

/// Streams a golden set's units: every case admitted by the shard and the filter, on every
/// target, `repeats` times. Cases are read (and their requests rendered) one at a time.
struct EvalUnits {
    let reader: GoldenSetReader?
    let job: EvalJob
    let targets: [EvalTarget]
    let scorer: Scorer
    private var pending: [EvalUnit] = []
    /// Where the next of `job.validatedCases` is, when the run has them.
    private var keptIndex = 0

    /// `reader` is nil when the job brings its validated cases.
    init(reader: GoldenSetReader?, job: EvalJob, targets: [EvalTarget], scorer: Scorer) {
        self.reader = reader
        self.job = job
        self.targets = targets
        self.scorer = scorer
    }

    /// A unit's key in the store: the case id alone in a single-target, single-sample run (as
    /// before matrices and repeats existed), else the id with the target and sample.
    static func key(_ id: String, target: Int, sample: Int, simple: Bool) -> String {
        simple ? id : "\(id)\u{1F}\(target)\u{1F}\(sample)"
    }

    mutating func next() throws -> EvalUnit? {
        if let unit = pending.popLast() { return unit }
        let simple = targets.count == 1 && job.repeats == 1
        while let c = try nextCase() {
            guard job.shard?.contains(c.id) ?? true, job.filter?.contains(c) ?? true else { continue }
            if simple {
                let (prepared, request) = try EvalRunner.prepare(c, prompt: job.prompts[0].config, scorer: scorer)
                return EvalUnit(prepared: prepared, request: request, target: 0, sample: 0, key: c.id)
            }
            let rendered = try job.prompts.map { (p: NamedPrompt) throws(InputError) in try EvalRunner.prepare(c, prompt: p.config, scorer: scorer) }
            // select-best waits for every target's output of a sample: those units are scheduled
            // next to each other (sample outer); otherwise a case's samples are (target outer).
            let samplesOuter = rendered[0].0.judgeRequests.contains(where: \.comparesTargets)
            var units: [EvalUnit] = []
            for (t, target) in targets.enumerated() {
                let (prepared, request) = rendered[target.promptIndex]
                for r in 0..<job.repeats {
                    units.append(EvalUnit(prepared: prepared, request: request, target: t, sample: r,
                                          key: EvalUnits.key(c.id, target: t, sample: r, simple: false)))
                }
            }
            if samplesOuter { units.sort { ($0.sample, $0.target) < ($1.sample, $1.target) } }
            pending = units.reversed()
            return pending.popLast()
        }
        return nil
    }

    private mutating func nextCase() throws(InputError) -> GoldenCase? {
        guard let kept = job.validatedCases else { return try reader?.next() }
        guard keptIndex < kept.count else { return nil }
        keptIndex += 1
        return kept[keptIndex - 1]
    }
}

/// One target's aggregates while the run goes: its summary, and with repeats the samples of
/// cases still waiting for the rest of theirs.
struct TargetAggregate {
    let k: Int
    var accumulator = SummaryAccumulator()
    var repeats: RepeatAccumulator
    private var waiting: [String: [CaseRecord?]] = [:]

    init(k: Int, seed: UInt64) {
        self.k = k
        accumulator.seed = seed
        accumulator.samplesPerCase = k
        repeats = RepeatAccumulator(k: k)
    }

    /// Takes one sample; returns the case's row once every sample of it is in (at once without repeats).
    mutating func add(_ record: CaseRecord, sample: Int) -> CaseRecord? {
        accumulator.add(record.outcome)
        guard k > 1 else { return record }
        var slots = waiting.removeValue(forKey: record.id) ?? Array(repeating: nil, count: k)
        slots[sample] = record
        let arrived = slots.compactMap { $0 }
        guard arrived.count == k else {
            waiting[record.id] = slots
            return nil
        }
        return combined(arrived)
    }

    /// Takes a finished row (from a report being merged): its samples, or the row itself.
    mutating func add(row: CaseRecord) {
        guard let samples = row.samples else {
            accumulator.add(row.outcome)
            return
        }
        for r in samples.records { accumulator.add(r.outcome) }
        repeats.add(id: row.id, passed: samples.passed, failed: samples.failed, errored: samples.errored)
    }

    /// Rows for cases a cancelled run left with only some of their samples, by id.
    mutating func drainIncomplete() -> [CaseRecord] {
        let rows = waiting.sorted { $0.key < $1.key }.map { combined($0.value.compactMap { $0 }) }
        waiting.removeAll()
        return rows
    }

    private mutating func combined(_ samples: [CaseRecord]) -> CaseRecord {
        let row = CaseRecord.combining(samples, k: k)
        let s = row.samples!
        repeats.add(id: row.id, passed: s.passed, failed: s.failed, errored: s.errored)
        return row
    }

    func finish(durationSeconds: Double) -> RunSummary {
        var summary = accumulator.finish(durationSeconds: durationSeconds)
        if k > 1 { summary.repeats = repeats.finish() }
        return summary
    }
}

/// Runs an eval: validates the whole golden set first (so a bad line sends nothing), then streams
/// the cases through the run core; every sample of every case on every target waits for its
/// endpoint's limiter, is called, scored and handed to the sink, and only aggregates stay in memory.
public struct EvalRunner: Sendable {
    /// The endpoints of the run: one, or several for a matrix.
    public let clients: [EndpointClient]
    public let scorer: Scorer
    /// Judge endpoints of model-graded assertions, and the run's default among them.
    public var judges: [EndpointClient] = []
    public var defaultJudge: String?
    /// Webhook scorers (`webhooks:` of the endpoints config) that webhook assertions may name.
    public var webhooks: [WebhookConfig] = []
    /// Worker processes per script scorer command.
    public var scorerWorkers = min(max(2, ProcessInfo.processInfo.activeProcessorCount), 8)

    public var client: EndpointClient { clients[0] }

    public init(client: EndpointClient, scorer: Scorer = Scorer()) {
        self.init(clients: [client], scorer: scorer)
    }

    public init(clients: [EndpointClient], scorer: Scorer = Scorer()) {
        precondition(!clients.isEmpty, "an eval needs an endpoint")
        self.clients = clients
        self.scorer = scorer
    }

    /// Every prompt × every endpoint, prompts outer.
    public func targets(for job: EvalJob) -> [EvalTarget] {
        var out: [EvalTarget] = []
        for (p, prompt) in job.prompts.enumerated() {
            for c in clients {
                let label = job.prompts.count == 1 ? c.endpoint.name : clients.count == 1 ? prompt.name : "\(prompt.name)@\(c.endpoint.name)"
                out.append(EvalTarget(label: label, promptIndex: p, client: c))
            }
        }
        return out
    }

    /// Reads and checks every case (fields, assertions, template vars) without calling anything.
    /// Returns the number of cases.
    /// With `shard`, every case is still checked but only the shard's are counted.
    public static func validate(goldenSetPath: String, prompt: PromptConfig, scorer: Scorer = Scorer(), shard: Shard? = nil) throws(InputError) -> Int {
        try check(goldenSetPath: goldenSetPath, prompts: [prompt], scorer: scorer, shard: shard).cases
    }

    /// What `validate` finds, and whether any case needs embeddings (a `similar` assertion).
    public static func check(goldenSetPath: String, prompt: PromptConfig, scorer: Scorer = Scorer(), shard: Shard? = nil) throws(InputError)
        -> (cases: Int, needsEmbeddings: Bool)
    {
        try check(goldenSetPath: goldenSetPath, prompts: [prompt], scorer: scorer, shard: shard)
    }

    /// As `check` for every prompt of a matrix; only cases in the shard and admitted by `filter` count.
    public static func check(goldenSetPath: String, prompts: [PromptConfig], scorer: Scorer = Scorer(), shard: Shard? = nil,
                             filter: CaseFilter? = nil) throws(InputError) -> (cases: Int, needsEmbeddings: Bool)
    {
        let found = try inspect(goldenSetPath: goldenSetPath, prompts: prompts, scorer: scorer, shard: shard, filter: filter)
        return (found.cases, found.needsEmbeddings)
    }

    /// What a golden set asks of a run, found without calling anything.
    public struct SetNeeds: Sendable {
        public var cases = 0
        public var needsEmbeddings = false
        /// A model-graded assertion without `provider:` (needs the run's judge).
        public var needsDefaultJudge = false
        /// Judge endpoints named by `provider:`, with the first place each is named.
        public var judgeProviders: [String: SourceLocation] = [:]
        /// The first case with a `select-best` assertion (it needs a matrix: two or more targets).
        public var selectBest: SourceLocation?
        /// Webhooks named by webhook assertions, with the first place each is named.
        public var webhooks: [String: SourceLocation] = [:]
        /// The first case with a script scorer (a process on this host).
        public var script: SourceLocation?
        /// The cases in the shard and admitted by the filter, in file order, when asked to keep
        /// them and the file is small enough (`EvalJob.validatedCases`).
        public var kept: [GoldenCase]?

        public init() {}
    }

    /// Reads and checks every case for every prompt; counts and needs are over the cases in the
    /// shard and admitted by `filter`.
    /// With `keepingFilesUpTo` bytes, a golden set no larger than that is kept in `kept`: the run
    /// then reads, parses and decodes it once instead of twice (a larger one streams, in bounded memory).
    public static func inspect(goldenSetPath: String, prompts: [PromptConfig], scorer: Scorer = Scorer(), shard: Shard? = nil,
                               filter: CaseFilter? = nil, scorerDirectory: String? = nil, keepingFilesUpTo: Int = 0) throws(InputError) -> SetNeeds
    {
        let reader = try GoldenSetReader(path: goldenSetPath)
        var needs = SetNeeds()
        var kept: [GoldenCase]?
        if keepingFilesUpTo > 0, let size = (try? FileManager.default.attributesOfItem(atPath: goldenSetPath))?[.size] as? Int, size <= keepingFilesUpTo {
            kept = []
        }
        var checkedCommands: Set<[String]> = []
        while let c = try reader.next() {
            var prepared: PreparedCase?
            for p in prompts { prepared = try prepare(c, prompt: p, scorer: scorer).0 }
            // A scorer that cannot be started is found here, before anything is sent.
            for s in prepared?.scorerRequests ?? [] {
                switch s.target {
                case .command(let command, let ownDirectory):
                    let directory = scorerDirectory ?? ownDirectory
                    if needs.script == nil { needs.script = c.location }
                    guard checkedCommands.insert(command + [directory]).inserted else { continue }
                    if let problem = UserScorers.problem(command, in: directory) {
                        throw InputError(location: c.location, caseID: c.id, field: "assert[\(s.assertionIndex)].command", message: problem)
                    }
                case .webhook(let name):
                    if needs.webhooks[name] == nil { needs.webhooks[name] = c.location }
                }
            }
            if shard?.contains(c.id) ?? true, filter?.contains(c) ?? true, let prepared {
                needs.cases += 1
                kept?.append(c)
                needs.needsEmbeddings = needs.needsEmbeddings || !prepared.similarityTexts.isEmpty
                for j in prepared.judgeRequests {
                    if j.kind == .answerRelevance { needs.needsEmbeddings = true }
                    if j.comparesTargets, needs.selectBest == nil { needs.selectBest = c.location }
                    if let p = j.provider {
                        if needs.judgeProviders[p] == nil { needs.judgeProviders[p] = c.location }
                    } else {
                        needs.needsDefaultJudge = true
                    }
                }
            }
        }
        if reader.count == 0 {
            throw InputError(location: SourceLocation(file: goldenSetPath, line: 0), message: "the golden set has no cases")
        }
        needs.kept = kept
        return needs
    }

    /// A case's prepared assertions and its rendered request (what `validate` measures).
    public static func prepareRequest(_ c: GoldenCase, prompt: PromptConfig, scorer: Scorer) throws(InputError) -> (PreparedCase, ModelRequest) {
        try prepare(c, prompt: prompt, scorer: scorer)
    }

    static func prepare(_ c: GoldenCase, prompt: PromptConfig, scorer: Scorer) throws(InputError) -> (PreparedCase, ModelRequest) {
        let prepared: PreparedCase
        do {
            prepared = try scorer.prepare(c, tools: prompt.tools)
        } catch {
            throw InputError(location: c.location, caseID: c.id, field: error.field, message: error.message)
        }
        do {
            let messages = try prompt.renderMessages(c.vars)
            let completion = try prompt.completionPrompt?.render(c.vars)
            var request = ModelRequest(messages: messages, prompt: completion, params: prompt.params)
            request.toolFields = prompt.toolFields
            return (prepared, request)
        } catch {
            throw InputError(location: c.location, caseID: c.id, field: "vars.\(error.name)",
                message: "the prompt reads var '\(error.name)', which the case does not define")
        }
    }

    /// Runs every case of `job`; `total` is the case count from `validate` (cases, not samples).
    public func run<Sink: CaseSink>(
        _ job: EvalJob, total: Int, sink: inout Sink, progress: (ProgressEvent) -> Void = { _ in }
    ) async throws -> EvalResult {
        let started = Date()
        let targets = self.targets(for: job)
        let k = max(1, job.repeats)
        let labels = Dictionary(uniqueKeysWithValues: targets.enumerated().map { ($1.label, $0) })
        var aggregates = targets.map { _ in TargetAggregate(k: k, seed: job.seed) }
        var overall = SummaryAccumulator()
        overall.seed = job.seed
        overall.samplesPerCase = k
        let clock = ContinuousClock()
        let t0 = clock.now
        var event = ProgressEvent(done: 0, total: total * targets.count * k, passed: 0, failed: 0, errored: 0, retries: 0, rateLimited: 0, elapsedSeconds: 0)
        let goldenSetHex = SHA256Stream.fileHex(job.goldenSetPath)
        let digest = inputDigest(job, goldenSetHex: goldenSetHex)
        var unsharded = job
        unsharded.shard = nil
        let setDigest = inputDigest(unsharded, goldenSetHex: goldenSetHex)
        // Sized from the validation pass's count (the whole set when sharded or filtered: every case is read).
        let reader = job.validatedCases != nil ? nil : try GoldenSetReader(path: job.goldenSetPath, expectedCases: job.shard == nil && job.filter == nil ? total : 0)
        var units = EvalUnits(reader: reader, job: job, targets: targets, scorer: scorer)
        var sources: [[ResponseSource]] = []
        var userScorers: UserScorers?
        // select-best: a sample's units wait for each other, so at least a group's worth run at once.
        let board = targets.count > 1 && !judges.isEmpty ? SelectBestBoard(targets: targets.count) : nil
        let core = RunCore(memory: job.memory, concurrency: board == nil ? job.concurrency : max(job.concurrency, targets.count), warn: job.warn)
        let memory = job.memory

        let outcome = try await core.run(
            digest: digest, total: total, next: { try units.next() }, key: \.key,
            makeWork: { context in
                // One response source per target and sample: each repeat is a real sample in a
                // cache namespace of its own (the first shares the namespace of unrepeated runs).
                let targetSources = targets.map { t in (0..<k).map { r in context.responseSource(for: t.client, namespace: r == 0 ? "" : "repeat-\(r)") } }
                sources = targetSources
                var steps = SimilarityStep.steps(job.embedder)
                var judgeStep: JudgeStep?
                if !judges.isEmpty {
                    // Each judge endpoint answers through its own limiter and the run's cache, apart from the targets'.
                    let judgeSources = Dictionary(judges.map { ($0.endpoint.name, JudgeStep.sources(for: $0, context)) }) { a, _ in a }
                    sources.append(Array(judgeSources.values.joined()))
                    judgeStep = JudgeStep(sources: judgeSources, defaultJudge: defaultJudge, params: JudgeStep.defaultParams, embedder: job.embedder)
                    steps.append(judgeStep!)
                }
                let scorers = UserScorers(
                    webhooks: Dictionary(webhooks.map { ($0.name, WebhookClient($0, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)) }) { a, _ in a },
                    store: context.memory.store, writer: context.writer, workers: scorerWorkers, directory: job.scorerDirectory)
                userScorers = scorers
                steps.append(ScorerStep(scorers: scorers))
                let lookup = targetSources
                let allSteps = steps
                let labelled = targets.count > 1
                let judge = judgeStep
                return { unit in
                    var unitSteps = allSteps
                    if let board, let judge { unitSteps.append(SelectBestStep(board: board, target: unit.target, sample: unit.sample, judge: judge)) }
                    var record = await self.runCase(unit.prepared, unit.request, source: lookup[unit.target][unit.sample], steps: unitSteps)
                    if labelled { record.target = targets[unit.target].label }
                    return EvalRow(record: record, sample: unit.sample, unitKey: unit.key)
                }
            },
            consume: { (row: EvalRow, replayed: Bool) throws in
                let record = row.record
                // A row of another target set or sample count is not this run's (the digest makes that unlikely).
                let t: Int? = record.target.flatMap { labels[$0] } ?? (record.target == nil && targets.count == 1 ? 0 : nil)
                guard let t, row.sample < k else { return }
                if replayed, let board {
                    // The units of this row's group that run again compare with its output.
                    if record.assertions.contains(where: { $0.type == AssertionType.selectBest.rawValue }) {
                        board.replayed(.init(caseID: record.id, sample: row.sample), target: t, output: record.output)
                    } else if record.assertions.isEmpty {
                        board.replayed(.init(caseID: record.id, sample: row.sample), target: t, output: nil)
                    }
                }
                overall.add(record.outcome)
                if let finished = aggregates[t].add(record, sample: row.sample) { try sink.write(finished) }
                event.done += 1
                switch record.status {
                case .passed: event.passed += 1
                case .failed: event.failed += 1
                case .errored: event.errored += 1
                }
                event.retries += max(0, record.attempts - 1)
                event.rateLimited += record.rateLimited
                event.elapsedSeconds = (clock.now - t0).seconds
                progress(event)
            })
        await userScorers?.shutdown()
        for t in aggregates.indices { for row in aggregates[t].drainIncomplete() { try sink.write(row) } }

        let seconds = (clock.now - t0).seconds
        let metas = targets.map { t in
            TargetResult(label: t.label, endpoint: t.client.endpoint.name, model: t.client.endpoint.model, prompt: job.prompts[t.promptIndex].name,
                         summary: RunSummary(), gate: GateResult(verdict: .inconclusive, checks: [], reasons: []))
        }
        let (summary, gate, results) = EvalRunner.conclude(metas, aggregates, overall: overall, gate: job.gate, durationSeconds: seconds,
                                                           cancelledOf: outcome.cancelled ? total * k : nil)
        let hits = sources.joined().reduce(0) { $0 + $1.hits }
        let misses = sources.joined().reduce(0) { $0 + $1.misses }
        if memory.store != nil { await job.embedder?.recordLookups() }
        try await core.finish(outcome, summary: "{\"verdict\":\"\(gate.verdict.rawValue)\",\"total\":\(summary.total)}", cacheHits: hits, cacheMisses: misses)
        var result = EvalResult(runID: outcome.runID, inputDigest: digest, setDigest: setDigest, shard: job.shard, gateConfig: job.gate, seed: job.seed,
                                resumedCases: outcome.resumed, startedAt: started, summary: summary, gate: gate, cancelled: outcome.cancelled)
        result.targets = results
        result.repeats = k
        result.filter = job.filter
        return result
    }

    /// Every target's summary and gate, and the run's: the one target's, or over all of a matrix's
    /// samples with the combined verdict. `cancelledOf` (the samples a target was to run) makes
    /// every verdict inconclusive. `metas` name the targets; their summaries and gates are filled in.
    static func conclude(_ metas: [TargetResult], _ aggregates: [TargetAggregate], overall: SummaryAccumulator, gate config: GateConfig,
                         durationSeconds seconds: Double, cancelledOf planned: Int?) -> (RunSummary, GateResult, [TargetResult]) {
        var results = metas
        for t in results.indices {
            let summary = aggregates[t].finish(durationSeconds: seconds)
            var gate = config.evaluate(summary)
            if let planned {
                gate.verdict = .inconclusive
                gate.reasons.insert("the run was cancelled after \(summary.total) of \(planned) \(aggregates[t].k > 1 ? "samples" : "cases")", at: 0)
            }
            results[t].summary = summary
            results[t].gate = gate
        }
        if results.count == 1 { return (results[0].summary, results[0].gate, results) }
        var summary = overall.finish(durationSeconds: seconds)
        if let k = results.first?.summary.repeats?.k {
            var all = RepeatSummary(k: k)
            for r in results.compactMap(\.summary.repeats) {
                all.cases += r.cases
                all.complete += r.complete
                all.passAll += r.passAll
                all.passAny += r.passAny
                all.flaky += r.flaky
            }
            summary.repeats = all
        }
        return (summary, combinedGate(results), results)
    }

    /// A matrix's verdict: fail when any target fails, else inconclusive when any is, else pass.
    /// Checks and reasons carry their target's label.
    static func combinedGate(_ targets: [TargetResult]) -> GateResult {
        let verdicts = targets.map(\.gate.verdict)
        let verdict: Verdict = verdicts.contains(.fail) ? .fail : verdicts.contains(.inconclusive) ? .inconclusive : .pass
        var checks: [GateCheck] = []
        var reasons: [String] = []
        var notes: [String] = []
        for t in targets {
            for var c in t.gate.checks {
                c.name = "\(t.label)/\(c.name)"
                checks.append(c)
            }
            reasons += t.gate.reasons.map { "\(t.label): \($0)" }
            notes += t.gate.notes.map { "\(t.label): \($0)" }
        }
        let passing = targets.filter { $0.gate.verdict == .pass }.map(\.label)
        notes.insert("targets passing: \(passing.isEmpty ? "none" : passing.joined(separator: ", ")) (\(passing.count) of \(targets.count))", at: 0)
        return GateResult(verdict: verdict, checks: checks, reasons: reasons, notes: notes)
    }

    /// Digest of what determines a run's results: golden-set bytes, prompt, endpoint identity and
    /// model (one target), or every target (a matrix); repeats, the filter and the shard when set.
    /// `goldenSetHex`: the golden set's SHA-256 when already taken (the file is read once for it).
    func inputDigest(_ job: EvalJob, goldenSetHex: String? = nil) -> String {
        var identity: [String: JSONValue] = ["golden_set": .string(goldenSetHex ?? SHA256Stream.fileHex(job.goldenSetPath) ?? job.goldenSetPath)]
        let targets = self.targets(for: job)
        func endpoint(_ c: EndpointClient) -> [String: JSONValue] {
            ["endpoint": .string(c.cacheIdentity), "model": .string(c.endpoint.model), "api": .string(c.endpoint.api.rawValue)]
        }
        if targets.count == 1 {
            // The one-target identity is what it always was, so its resumable runs stay resumable.
            identity["prompt"] = job.prompt.canonicalJSON
            identity.merge(endpoint(client)) { $1 }
        } else {
            identity["targets"] = .array(targets.map { t in .object(endpoint(t.client).merging(["prompt": job.prompts[t.promptIndex].config.canonicalJSON]) { $1 }) })
        }
        if job.repeats > 1 { identity["repeats"] = .number(Double(job.repeats)) }
        if let filter = job.filter, !filter.isEmpty { identity["filter"] = filter.json }
        if let shard = job.shard { identity["shard"] = shard.json }
        return SHA256Digest.hex(JSONValue.object(identity).canonicalBytes)
    }

    /// Calls the endpoint for one case and scores the answer; never throws: failures become an
    /// errored record, so one bad call cannot stop the run.
    func runCase(_ prepared: PreparedCase, _ request: ModelRequest, source: ResponseSource, steps: [any CaseStep]) async -> CaseRecord {
        let client = source.client
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
            var response: ModelResponse
            var cached: Bool
            var turnOutputs: [CaseOutput] = []
            var lastUser: String?
            if c.turns.isEmpty {
                (response, cached) = try await source.response(for: request)
            } else {
                // A conversation: the record's figures are its calls' totals, its output the last answer.
                let talk = try await Conversation(turns: c.turns, vars: c.vars).run(request, source: source)
                response = talk.turns.last!.response
                response.promptTokens = talk.promptTokens
                response.completionTokens = talk.completionTokens
                response.latencyMs = talk.latencyMs
                response.attempts = talk.attempts
                response.rateLimited = talk.rateLimited
                cached = talk.cached
                lastUser = talk.lastUser
                record.turns = talk.turns.map { t in TurnRecord(output: t.response.text, toolCalls: t.response.toolCalls, latencyMs: t.response.latencyMs, cached: t.cached) }
                turnOutputs = talk.turns.map { t in
                    var o = CaseOutput(text: t.response.text, latencyMs: t.response.latencyMs, finishReason: t.response.finishReason)
                    o.toolCalls = t.response.toolCalls
                    return o
                }
            }
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
            record.toolCalls = response.toolCalls
            record.stream = response.stream
            var output = CaseOutput(text: response.text, latencyMs: response.latencyMs, costUSD: cost, finishReason: response.finishReason)
            output.toolCalls = response.toolCalls
            output.turnOutputs = turnOutputs
            output.ttftMs = response.stream?.ttftMs
            if !steps.isEmpty {
                output.input = lastUser ?? request.prompt ?? request.messages.last { $0.role == "user" }?.content ?? ""
                for step in steps where step.applies(to: prepared) { await step.run(prepared, output: &output) }
                record.judgeUsage = output.judgeUsage
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
            for step in steps { await step.skipped(prepared) }
        }
        return record
    }
}
