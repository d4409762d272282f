import EvalCore
import Foundation
import ModelClient
import ResultStore
import Synchronization

/// A run's durable memory: where responses are cached and results persisted, and how an
/// interrupted run is found again. The CLI flags (`RunMemoryOptions`), the service's
/// `StageExecutor` and tests all fill this one value.
public struct RunMemory: Sendable {
    /// Nil runs without memory: nothing cached, nothing resumable.
    public var store: Store?
    public var cacheMode: CacheMode = .readWrite
    /// Cached responses older than this many seconds are not used.
    public var cacheTTL: Double?
    /// Resume this run (its inputs must be the same).
    public var resumeRunID: String?
    /// Resume the newest interrupted run with the same inputs, if there is one.
    public var autoResume = true

    public init(store: Store? = nil) { self.store = store }

    /// The run to write into: the one asked for, an interrupted one with the same inputs, or a new one.
    func chooseRun(digest: String, total: Int) async throws -> String {
        guard let store else { return UUID().uuidString.lowercased() }
        if let id = resumeRunID {
            guard let run = try store.run(id: id) else { throw RunError(.unknownRun, "no run '\(id)' in \(store.path)") }
            guard run.inputDigest == digest else {
                throw RunError(.inputsChanged, "run '\(id)' was made from other inputs (cases, prompts or endpoints changed); start a new run instead")
            }
            return id
        }
        if autoResume, let run = try store.unfinishedRun(inputDigest: digest) { return run.id }
        let id = UUID().uuidString.lowercased()
        try await store.writing { store throws(SQLiteError) in try store.createRun(id: id, inputDigest: digest, total: total) }
        return id
    }
}

/// One durable result of a run: persisted as it completes, replayed when the run resumes.
public protocol RunRow: Sendable {
    /// Unique within the run (the store's `case_id`); a unit whose key was replayed is not run again.
    var unitKey: String { get }
    /// Stopped by cancelling the run: not a result and not an error, so it is neither kept nor persisted.
    var isCancellation: Bool { get }
    /// The bytes the store keeps.
    func persistedBytes() -> [UInt8]
    /// Reads `persistedBytes()` back; nil for a row this version cannot read (it is then re-run).
    init?(persistedBytes: [UInt8])
}

/// What every stage's run shares, once: choosing (or resuming) the run, the background group
/// commit, replay of persisted rows, one bounded structured fan-out over a streamed unit source,
/// the cancel rule, and finishing the run in the store. Stages say what a unit is, how to run
/// one, and what to do with each row; aggregation, gating and reports stay theirs.
struct RunCore {
    /// Whether a run's units use every event loop (EVALENGINE_RUN_LOOPS=all) or one loop per run,
    /// the default: measured on the 20,000-case anchor run, one loop costs the same CPU per case or
    /// less, with 0.25 context switches a case against 0.6, and the warm re-run is 10% faster;
    /// concurrent runs (the service's jobs) take the loops in turn.
    static let spreadOverLoops = ProcessInfo.processInfo.environment["EVALENGINE_RUN_LOOPS"] == "all"
    /// The loop the next run starts on.
    private static let nextLoop = Atomic<Int>(0)
    let memory: RunMemory
    /// Most units in progress at once.
    let concurrency: Int
    /// Told about damaged caches and the like.
    var warn: @Sendable (String) -> Void = { _ in }

    /// Handed to the stage before any unit runs: what its response sources need.
    struct Context {
        let runID: String
        /// Nil without a store.
        let writer: StoreWriter?
        let memory: RunMemory
        let warn: @Sendable (String) -> Void

        /// Answers for requests to `client` through the run's cache (written with the run's
        /// group commit). Targets, repeats (`namespace`) and steps that call endpoints each get one.
        func responseSource(for client: EndpointClient, namespace: String = "") -> ResponseSource {
            ResponseSource(client: client, store: memory.store, mode: memory.cacheMode, ttl: memory.cacheTTL, writer: writer, namespace: namespace, warn: warn)
        }
    }

    struct Outcome {
        let runID: String
        /// Rows taken from an interrupted earlier attempt of this run.
        let resumed: Int
        let cancelled: Bool
        let durationSeconds: Double
    }

    /// Runs every unit `next` yields whose key was not replayed. `makeWork` builds the per-unit
    /// work once the writer exists; `consume` sees every row, replayed ones first (`replayed`),
    /// in the order they complete. Throws what `next` or `consume` throws, and a failed persist.
    func run<Unit: Sendable, Row: RunRow>(
        digest: String, total: Int,
        next: () throws -> Unit?,
        key: (Unit) -> String,
        makeWork: (Context) throws -> @Sendable (Unit) async -> Row,
        consume: (Row, _ replayed: Bool) throws -> Void
    ) async throws -> Outcome {
        let clock = ContinuousClock()
        let t0 = clock.now
        let store = memory.store
        let runID = try await memory.chooseRun(digest: digest, total: total)
        let writer = store.map(StoreWriter.init)
        let work = try makeWork(Context(runID: runID, writer: writer, memory: memory, warn: warn))
        var sequence = 0
        var done = Set<String>()

        if let store {
            try store.forEachCaseResult(runID: runID) { unitKey, bytes in
                guard let row = Row(persistedBytes: bytes), done.insert(unitKey).inserted else { return }
                sequence += 1
                try consume(row, true)
            }
        }
        let resumed = done.count

        func take(_ row: Row) throws {
            // A unit stopped by cancelling the run did not run: it is neither a result nor an error.
            if row.isCancellation && Task.isCancelled { return }
            if let writer {
                sequence += 1
                writer.enqueue(.caseResult(runID: runID, caseID: row.unitKey, sequence: sequence, record: row.persistedBytes()))
            }
            try consume(row, false)
        }

        var cancelled = false
        // Units go round the event loops, each pinned to its loop (see LoopTaskExecutor); the
        // loop a unit runs on is the loop its requests' connections live on.
        let executors = LoopTaskExecutor.shared
        let spread = RunCore.spreadOverLoops ? executors.count : 1
        var placed = RunCore.nextLoop.add(1, ordering: .relaxed).oldValue % executors.count
        try await withThrowingTaskGroup(of: Void.self) { background in
            if let writer { background.addTask { await writer.run() } }
            defer { writer?.finish() }
            try await withThrowingTaskGroup(of: Row.self) { group in
                var inFlight = 0
                while !Task.isCancelled, let unit = try next() {
                    if done.contains(key(unit)) { continue }
                    if inFlight >= concurrency, let row = try await group.next() {
                        inFlight -= 1
                        try take(row)
                    }
                    group.addTask(executorPreference: executors[placed % executors.count]) { await work(unit) }
                    if spread > 1 { placed &+= 1 }
                    inFlight += 1
                }
                while let row = try await group.next() { try take(row) }
                cancelled = Task.isCancelled
            }
        }
        await writer?.flush()  // what finished after a cancel, too
        if let error = writer?.error {
            throw ReportError(message: "cannot persist results to \(store?.path ?? ""): \(error)")
        }
        return Outcome(runID: runID, resumed: resumed, cancelled: cancelled, durationSeconds: (clock.now - t0).seconds)
    }

    /// Marks the run completed with its summary, and adds the run's cache counters to the store's.
    /// A cancelled run stays 'running', so the next run with the same inputs resumes it.
    func finish(_ outcome: Outcome, summary: String, cacheHits: Int, cacheMisses: Int) async throws {
        guard let store = memory.store else { return }
        try await store.writing { store throws(SQLiteError) in
            try? store.addCounters(hits: cacheHits, misses: cacheMisses)
            if !outcome.cancelled { try store.finishRun(id: outcome.runID, state: "completed", summary: summary) }
        }
    }
}
