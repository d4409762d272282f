import CoreMetrics
import Synchronization
import DequeModule
import Engine
import EvalCore
import Foundation
import Logging
import ModelClient
import ResultStore
import ServiceLifecycle

/// Why a submission was not accepted (besides a bad request).
public enum SubmitError: Error, Sendable {
    /// The key names a job made from another body (422).
    case keyMismatch(existing: StoredJob)
    /// Too many jobs waiting (429).
    case queueFull
    /// Draining for shutdown (503).
    case draining
    case store(String)
}

/// Owns the service's jobs: admits submissions idempotently (in one store transaction, so 200
/// identical submissions make one job), runs at most `maxConcurrentJobs` at once as children of
/// its own task group, wakes long-pollers when a job ends, and on start resumes the jobs a
/// previous process left queued or running (their persisted case results are not re-sent).
public actor JobManager: Service {
    let config: ServiceConfig
    let store: Store
    let clients: [String: EndpointClient]
    let logger: Logger
    private var queue = Deque<String>()
    private var running: [String: Task<Void, Never>] = [:]
    private var userCancelled = Set<String>()
    private var waiters: [String: [UUID: CheckedContinuation<Void, Never>]] = [:]
    private var draining = false
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    /// Ends of jobs the store could not record (disk full, I/O error).
    private let unrecorded = UnrecordedJobEnds()
    /// Told of every job's end (a test-suite run ends with its last job).
    private var suiteRunner: SuiteRunner?

    func setSuiteRunner(_ runner: SuiteRunner) { suiteRunner = runner }

    public init(config: ServiceConfig, store: Store, clients: [String: EndpointClient], logger: Logger) {
        self.config = config
        self.store = store
        self.clients = clients
        self.logger = logger
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var isDraining: Bool { draining }

    // MARK: Submission

    /// Attaches to the job for `key` or creates it, and records in the audit trail that `caller`
    /// asked for it. Returns the job and whether it was reused.
    public func submit(_ request: StageRequest, key: String?, caller: String = "anonymous") async throws(SubmitError) -> (StoredJob, reused: Bool) {
        if draining { throw .draining }
        let key = key ?? request.digest
        // The job's own copies of its inputs, so that it runs what its digest names even if the
        // files change before it starts (or before a resume). Content-addressed: a re-attach copies nothing.
        let snapshots: [String: String]
        do {
            snapshots = try InputSnapshots.take(request, into: config.inputsDir)
        } catch {
            throw .store(error.message)
        }
        let admission: JobAdmission
        do {
            let body = InputSnapshots.storedBody(request, snapshots: snapshots)
            admission = try await store.writing { store throws(SQLiteError) in
                try store.attachOrCreateJob(kind: request.kind.rawValue, key: key, digest: request.digest, request: body,
                                            purpose: request.purpose, newID: JobManager.newID())
            }
        } catch {
            throw .store("\(error)")
        }
        if case .keyMismatch = admission {} else {
            let job: StoredJob
            switch admission {
            case .attached(let j), .created(let j), .keyMismatch(let j): job = j
            }
            let entry = AuditEntry(jobID: job.id, kind: request.kind.rawValue, caller: caller, artifact: request.metadata.artifact,
                                   artifactType: request.metadata.artifactType, revision: request.metadata.revision, requestDigest: request.digest,
                                   inputs: Dictionary(request.files.map { ($0.field, $0.sha256) }, uniquingKeysWith: { a, _ in a }),
                                   purpose: request.purpose, submittedAt: Date().timeIntervalSince1970, state: job.state.rawValue)
            do {
                try await store.writing { store throws(SQLiteError) in try store.recordAudit(entry) }
            } catch {
                // A job nobody can account for must not run: the audit line is part of admitting it.
                throw .store("cannot record the audit line: \(error)")
            }
        }
        switch admission {
        case .attached(let job):
            // A job queued by another process sharing the store, or by a previous life of this one.
            if job.state == .queued, running[job.id] == nil, !queue.contains(job.id) { enqueue(job.id) }
            return (job, true)
        case .keyMismatch(let existing):
            throw .keyMismatch(existing: existing)
        case .created(let job):
            if queue.count >= config.maxQueuedJobs {
                let error = JobManager.errorJSON(code: "queue_full", message: "the queue was full", retryable: true)
                _ = try? await store.writing { store throws(SQLiteError) in
                    try store.finishJob(id: job.id, state: .cancelled, verdict: nil, result: nil, error: error, reportPath: nil)
                    try store.updateAudit(jobID: job.id, reportDigest: nil)
                }
                throw .queueFull
            }
            enqueue(job.id)
            return (job, false)
        }
    }

    static func newID() -> String {
        "job_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }

    private func enqueue(_ id: String) {
        // Submissions await the store: two for one key may both find the job to queue.
        guard running[id] == nil, !queue.contains(id) else { return }
        queue.append(id)
        updateJobGauges()
        wake.yield()
    }

    /// Cancels a queued or running job; returns it (nil when unknown).
    public func cancel(_ id: String) async -> StoredJob? {
        guard let job = try? job(id: id) else { return nil }
        if job.state.terminal { return job }
        userCancelled.insert(id)
        if let i = queue.firstIndex(of: id) {
            queue.remove(at: i)
            await markCancelled(id)
        } else if let t = running[id] {
            t.cancel()
        } else {
            await markCancelled(id)
        }
        return try? self.job(id: id)
    }

    private func markCancelled(_ id: String) async {
        _ = try? await store.writing { store throws(SQLiteError) in
            try store.finishJob(id: id, state: .cancelled, verdict: nil, result: nil, error: nil, reportPath: nil)
            try store.updateAudit(jobID: id, reportDigest: nil)
        }
        updateJobGauges()
        notify(id)
    }

    // MARK: Waiting

    /// Returns when the job is terminal or after `seconds`, whichever is first.
    public func waitForTerminal(_ id: String, seconds: Double) async {
        guard seconds > 0, !draining else { return }
        if let job = try? job(id: id), job.state.terminal { return }
        let token = UUID()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            group.addTask { await self.suspend(id, token) }
            await group.next()
            group.cancelAll()
            self.resumeWaiter(id, token)
        }
    }

    private func suspend(_ id: String, _ token: UUID) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                if Task.isCancelled { c.resume() } else { waiters[id, default: [:]][token] = c }
            }
        } onCancel: {
            Task { await self.resumeWaiter(id, token) }
        }
    }

    private func resumeWaiter(_ id: String, _ token: UUID) {
        if let c = waiters[id]?.removeValue(forKey: token) { c.resume() }
        if waiters[id]?.isEmpty == true { waiters[id] = nil }
    }

    private func notify(_ id: String) {
        for (_, c) in waiters.removeValue(forKey: id) ?? [:] { c.resume() }
    }

    // MARK: Running

    /// Starts in a row that persisted nothing after which a job is errored `crash_loop` instead
    /// of resumed.
    public static let maxStartsWithoutProgress = 3

    /// Resumes what a previous process left, then runs jobs until graceful shutdown; on shutdown
    /// it stops admitting, lets running jobs finish for `drainGraceSeconds`, then stops them
    /// (they stay `running` in the store and resume on the next start).
    public func run() async throws {
        for job in (try? store.jobs(in: [.queued, .running])) ?? [] {
            logger.info("resuming job", metadata: ["job_id": .string(job.id), "state": .string(job.state.rawValue)])
            queue.append(job.id)
        }
        updateJobGauges()
        if let runner = suiteRunner { Task { await runner.resume() } }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                wake.yield()
                for await _ in wakes {
                    if draining && running.isEmpty { break }
                    while !draining, running.count < config.maxConcurrentJobs, let id = queue.popFirst() {
                        let task = Task { await self.execute(id) }
                        running[id] = task
                        group.addTask {
                            await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
                            await self.finished(id)
                        }
                    }
                    if draining && running.isEmpty { break }
                }
            }
        } onGracefulShutdown: {
            Task { await self.drain() }
        }
    }

    private func finished(_ id: String) {
        running[id] = nil
        userCancelled.remove(id)
        updateJobGauges()
        wake.yield()
    }

    /// Stops admitting; after the grace period, stops what still runs.
    func drain() async {
        draining = true
        wake.yield()
        // Long-polls answer now (202, job still running) instead of holding the shutdown for up to
        // max_wait_seconds.
        for id in Array(waiters.keys) { notify(id) }
        logger.info("draining", metadata: ["running": .stringConvertible(running.count), "grace_seconds": .stringConvertible(config.drainGraceSeconds)])
        let deadline = ContinuousClock.now + .milliseconds(Int64(config.drainGraceSeconds * 1000))
        while !running.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for (_, t) in running { t.cancel() }
        wake.yield()
    }

    /// Runs one job to its end and records the outcome.
    private func execute(_ id: String) async {
        guard let job = try? job(id: id), !job.state.terminal else { return }
        let request: StageRequest
        // Re-reading and re-hashing the inputs (whole golden sets) happens off the actor, which
        // answers submissions and long-polls meanwhile.
        let config = self.config
        let decoded = await Task.detached { () -> Result<StageRequest, RequestError> in
            let (body, snapshots) = InputSnapshots.split(job.request)
            return Result { () throws(RequestError) in
                try StageRequest.decode(kind: StageKind(rawValue: job.kind) ?? .eval, body: body, config: config, snapshots: snapshots)
            }
        }.value
        switch decoded {
        case .success(let r): request = r
        case .failure(let error):
            await finish(id, state: .errored, verdict: nil, result: nil, error: JobManager.errorJSON(code: error.code, message: error.message, retryable: false), report: nil)
            return
        }
        // What runs must be what was admitted (jobs stored before snapshots read the data directory).
        guard request.digest == job.requestDigest else {
            let message = "the job's inputs changed since it was admitted (digest \(job.requestDigest), now \(request.digest)); submit it again"
            await finish(id, state: .errored, verdict: nil, result: nil, error: JobManager.errorJSON(code: "input_changed", message: message, retryable: false), report: nil)
            return
        }
        // A job the process died in, several starts in a row without persisting anything, is what
        // crashes it: resuming it blindly would crash the service on every restart, forever.
        if let idle = try? await store.writing({ store throws(SQLiteError) in try store.recordJobStart(id: id) }), idle >= JobManager.maxStartsWithoutProgress {
            let message = "the service stopped during this job on its last \(idle) starts without persisting any progress (a crash?); not resumed again. Its cases so far are kept: submit it again to retry"
            await finish(id, state: .errored, verdict: nil, result: nil, error: JobManager.errorJSON(code: "crash_loop", message: message, retryable: false), report: nil)
            logger.error("job not resumed", metadata: ["job_id": .string(id), "reason": .string(message)])
            return
        }
        _ = try? await store.writing { store throws(SQLiteError) in
            try store.markJobRunning(id: id)
            try store.updateAudit(jobID: id, reportDigest: nil)
        }
        updateJobGauges()
        logger.info("job started", metadata: ["job_id": .string(id), "kind": .string(job.kind), "attempt": .stringConvertible(job.attempt)])
        let start = ContinuousClock.now
        let outcome = await StageExecutor(config: config, store: store, clients: clients).run(request, jobID: id)
        CoreMetrics.Timer(label: "evalengine_stage_duration_seconds", dimensions: [("stage", job.kind)]).recordInterval(since: start)
        switch outcome {
        case .completed(let verdict, let result, let report):
            CoreMetrics.Counter(label: "evalengine_gate_results_total", dimensions: [("stage", job.kind), ("purpose", job.purpose), ("result", verdict.rawValue)]).increment()
            // Hashing a large report is done off the actor, which keeps answering meanwhile.
            let digest = await Task.detached { SHA256Stream.fileHex(report).map { "sha256:" + $0 } }.value
            await finish(id, state: .completed, verdict: verdict.rawValue, result: result, error: nil, report: report, reportDigest: digest)
            logger.info("job completed", metadata: ["job_id": .string(id), "verdict": .string(verdict.rawValue)])
        case .cancelled:
            if userCancelled.contains(id) {
                await finish(id, state: .cancelled, verdict: nil, result: nil, error: nil, report: nil)
            } else {
                // Stopped by shutdown: stays `running` in the store and resumes on the next start.
                // A drain is not a crash: its start does not count against the job.
                _ = try? await store.writing { store throws(SQLiteError) in try store.resetJobStarts(id: id) }
                logger.info("job checkpointed for the next start", metadata: ["job_id": .string(id)])
            }
        case .errored(let code, let message, let retryable):
            await finish(id, state: .errored, verdict: nil, result: nil, error: JobManager.errorJSON(code: code, message: message, retryable: retryable), report: nil)
            logger.warning("job errored", metadata: ["job_id": .string(id), "code": .string(code), "message": .string(message)])
        }
    }

    private func finish(_ id: String, state: StoredJob.State, verdict: String?, result: [UInt8]?, error: String?, report: String?,
                        reportDigest: String? = nil) async {
        do {
            try await store.writing { store throws(SQLiteError) in
                try store.finishJob(id: id, state: state, verdict: verdict, result: result, error: error, reportPath: report)
                try store.updateAudit(jobID: id, reportDigest: reportDigest)
            }
        } catch let storeError {
            // The job must not look `running` forever to the pipeline that waits on it: keep its
            // end in memory (it is what every read answers) and record it once the store can.
            // A full disk errors the job with the reason, whatever the stage said.
            logger.error("cannot record the end of a job", metadata: ["job_id": .string(id), "error": .string("\(storeError)")])
            if var job = try? job(id: id) {
                job.state = state == .completed ? .errored : state
                job.verdict = nil
                job.result = nil
                job.finishedAt = Date().timeIntervalSince1970
                job.error = JobManager.errorJSON(code: "store_unavailable", message: "the service's store cannot record this job's end: \(storeError)"
                    + (error.map { " (the stage reported: \($0))" } ?? ""), retryable: true)
                unrecorded.keep(job)
            }
        }
        updateJobGauges()
        notify(id)
        if let runner = suiteRunner { Task { await runner.jobEnded(id) } }
    }

    /// A job as the service answers for it: the store's row, unless its end could not be recorded.
    /// Each read tries to record such ends again (on the store's thread, one attempt at a time), so
    /// they reach the store once it has room; until then the kept end is the answer.
    nonisolated func job(id: String) throws -> StoredJob? {
        if let pending = unrecorded.claimRetry(id) {
            let store = self.store
            let unrecorded = self.unrecorded
            Task {
                let recorded = (try? await store.writing { store throws(SQLiteError) -> Void in
                    try store.finishJob(id: pending.id, state: pending.state, verdict: pending.verdict, result: pending.result, error: pending.error,
                                        reportPath: pending.reportPath)
                    try store.updateAudit(jobID: pending.id, reportDigest: nil)
                }) != nil
                unrecorded.retried(pending.id, recorded: recorded)
            }
            return pending
        }
        return try unrecorded.kept(id) ?? store.job(id: id)
    }

    static func errorJSON(code: String, message: String, retryable: Bool) -> String {
        JSONValue.object(["code": .string(code), "message": .string(message), "retryable": .bool(retryable)]).serialized(sortedKeys: true)
    }

    private func updateJobGauges() {
        guard let counts = try? store.jobCounts() else { return }
        for state in StoredJob.State.allCases {
            CoreMetrics.Gauge(label: "evalengine_jobs", dimensions: [("state", state.rawValue)]).record(counts[state] ?? 0)
        }
    }
}

/// Job ends held in memory while the store cannot take them.
final class UnrecordedJobEnds: Sendable {
    private let jobs = Mutex<(ends: [String: StoredJob], retrying: Set<String>)>(([:], []))
    func keep(_ job: StoredJob) { jobs.withLock { $0.ends[job.id] = job } }
    /// The kept end of `id`, if any.
    func kept(_ id: String) -> StoredJob? { jobs.withLock { $0.ends.isEmpty ? nil : $0.ends[id] } }
    /// The kept end, when no attempt to record it is under way (the caller makes one).
    func claimRetry(_ id: String) -> StoredJob? {
        jobs.withLock { j in
            guard !j.ends.isEmpty, let job = j.ends[id], j.retrying.insert(id).inserted else { return nil }
            return job
        }
    }
    /// An attempt ended: recorded ends are forgotten, the others kept for the next read.
    func retried(_ id: String, recorded: Bool) {
        jobs.withLock { j in
            j.retrying.remove(id)
            if recorded { j.ends.removeValue(forKey: id) }
        }
    }
}
