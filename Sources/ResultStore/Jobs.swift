import CSQLite
import Foundation

/// A service job as persisted: one row per attempt of an idempotency key.
public struct StoredJob: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        case queued, running, completed, errored, cancelled
        public var terminal: Bool { self == .completed || self == .errored || self == .cancelled }
    }

    public var id: String
    public var kind: String
    public var idempotencyKey: String
    public var requestDigest: String
    /// The canonical request body.
    public var request: [UInt8]
    public var purpose: String
    public var attempt: Int
    public var state: State
    public var verdict: String?
    /// The stage's result for the envelope (summary, checks, reasons), JSON.
    public var result: [UInt8]?
    /// `{code, message, retryable}` JSON when errored.
    public var error: String?
    public var reportPath: String?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
}

/// What `attachOrCreateJob` did.
public enum JobAdmission: Sendable {
    /// A live or completed job with this key and body: attach to it.
    case attached(StoredJob)
    /// A new job (first attempt, or a retry after an errored or cancelled attempt).
    case created(StoredJob)
    /// The key is taken by a job with another body.
    case keyMismatch(StoredJob)
}

extension Store {
    static let jobColumns = "id, kind, idempotency_key, request_digest, request, purpose, attempt, state, verdict, result, error, report_path, created_at, started_at, finished_at"

    static func job(_ s: Statement) -> StoredJob {
        StoredJob(
            id: s.text(0), kind: s.text(1), idempotencyKey: s.text(2), requestDigest: s.text(3), request: s.blob(4), purpose: s.text(5),
            attempt: Int(s.int(6)), state: StoredJob.State(rawValue: s.text(7)) ?? .errored, verdict: s.isNull(8) ? nil : s.text(8),
            result: s.isNull(9) ? nil : s.blob(9), error: s.isNull(10) ? nil : s.text(10), reportPath: s.isNull(11) ? nil : s.text(11),
            createdAt: s.double(12), startedAt: s.isNull(13) ? nil : s.double(13), finishedAt: s.isNull(14) ? nil : s.double(14))
    }

    /// In one write transaction (so concurrent submissions, from this process or another, agree):
    /// the newest attempt for `key` is attached to when it has the same digest and is queued,
    /// running or completed; a new attempt is created when it errored or was cancelled, or when
    /// there is none; a different digest is a mismatch.
    public func attachOrCreateJob(kind: String, key: String, digest: String, request: [UInt8], purpose: String,
                                  newID: String) throws(SQLiteError) -> JobAdmission {
        try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) -> JobAdmission in
                let newest = try c.withStatement("SELECT \(Store.jobColumns) FROM jobs WHERE idempotency_key = ?1 ORDER BY attempt DESC LIMIT 1") { s throws(SQLiteError) in
                    s.bind(1, key)
                    return try s.step() ? Store.job(s) : nil
                }
                if let newest {
                    if newest.requestDigest != digest || newest.kind != kind { return .keyMismatch(newest) }
                    if newest.state != .errored && newest.state != .cancelled { return .attached(newest) }
                }
                let job = StoredJob(id: newID, kind: kind, idempotencyKey: key, requestDigest: digest, request: request, purpose: purpose,
                                    attempt: (newest?.attempt ?? 0) + 1, state: .queued, createdAt: Date().timeIntervalSince1970)
                try c.withStatement("INSERT INTO jobs(id, kind, idempotency_key, request_digest, request, purpose, attempt, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)") { s throws(SQLiteError) in
                    s.bind(1, job.id)
                    s.bind(2, kind)
                    s.bind(3, key)
                    s.bind(4, digest)
                    s.bind(5, request)
                    s.bind(6, purpose)
                    s.bind(7, Int64(job.attempt))
                    s.bind(8, job.createdAt)
                    try s.run()
                }
                return .created(job)
            }
        }
    }

    /// The job with `id`, if any.
    public func job(id: String) throws(SQLiteError) -> StoredJob? {
        try reader.withLock { c throws(SQLiteError) in
            try c.withStatement("SELECT \(Store.jobColumns) FROM jobs WHERE id = ?1") { s throws(SQLiteError) in
                s.bind(1, id)
                return try s.step() ? Store.job(s) : nil
            }
        }
    }

    /// Jobs in any of `states`, oldest first.
    public func jobs(in states: [StoredJob.State]) throws(SQLiteError) -> [StoredJob] {
        try reader.withLock { c throws(SQLiteError) in
            let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
            return try c.withStatement("SELECT \(Store.jobColumns) FROM jobs WHERE state IN (\(list)) ORDER BY created_at, rowid") { s throws(SQLiteError) in
                var out: [StoredJob] = []
                while try s.step() { out.append(Store.job(s)) }
                return out
            }
        }
    }

    /// Job counts by state.
    public func jobCounts() throws(SQLiteError) -> [StoredJob.State: Int] {
        try reader.withLock { c throws(SQLiteError) in
            try c.withStatement("SELECT state, COUNT(*) FROM jobs GROUP BY state") { s throws(SQLiteError) in
                var out: [StoredJob.State: Int] = [:]
                while try s.step() { if let st = StoredJob.State(rawValue: s.text(0)) { out[st] = Int(s.int(1)) } }
                return out
            }
        }
    }

    /// What the store holds of finished work: grows whenever any run persists a case result, an
    /// embedding or a response. A job started twice with no growth in between made no progress.
    func progressMark(_ c: SQLiteConnection) throws(SQLiteError) -> Int64 {
        let parts = try ["case_results", "embeddings", "responses"].map { (t: String) throws(SQLiteError) -> Int64 in try c.scalarInt("SELECT COALESCE(MAX(id), 0) FROM \(t)") ?? 0 }
        return parts.reduce(0, &+)
    }

    /// Records that the process is (re)starting job `id` and returns how many starts in a row made no
    /// progress before this one (0 on a first start, or when work was persisted since the last).
    public func recordJobStart(id: String) throws(SQLiteError) -> Int {
        try connection.withLock { c throws(SQLiteError) -> Int in
            try Store.transaction(c) { () throws(SQLiteError) -> Int in
                let mark = try progressMark(c)
                let (previousMark, idle) = try c.withStatement("SELECT progress_mark, idle_starts FROM jobs WHERE id = ?1") { s throws(SQLiteError) -> (Int64, Int) in
                    s.bind(1, id)
                    return try s.step() ? (s.int(0), Int(s.int(1))) : (-1, 0)
                }
                let newIdle = previousMark == mark ? idle + 1 : 0
                try c.withStatement("UPDATE jobs SET progress_mark = ?2, idle_starts = ?3 WHERE id = ?1") { s throws(SQLiteError) in
                    s.bind(1, id)
                    s.bind(2, mark)
                    s.bind(3, Int64(newIdle))
                    try s.run()
                }
                return newIdle
            }
        }
    }

    /// Forgets a job's starts: it was stopped on purpose (a drain), not by a crash.
    public func resetJobStarts(id: String) throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in
            try c.withStatement("UPDATE jobs SET progress_mark = -1, idle_starts = 0 WHERE id = ?1") { s throws(SQLiteError) in
                s.bind(1, id)
                try s.run()
            }
        }
    }

    /// Marks a job running (keeping its first start time across restarts).
    public func markJobRunning(id: String) throws(SQLiteError) {
        let now = Date().timeIntervalSince1970
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?2) WHERE id = ?1") { s throws(SQLiteError) in
                    s.bind(1, id)
                    s.bind(2, now)
                    try s.run()
                }
            }
        }
    }

    /// Records a job's terminal state and what it produced.
    public func finishJob(id: String, state: StoredJob.State, verdict: String?, result: [UInt8]?, error: String?, reportPath: String?) throws(SQLiteError) {
        let now = Date().timeIntervalSince1970
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("UPDATE jobs SET state = ?2, verdict = ?3, result = ?4, error = ?5, report_path = ?6, finished_at = ?7 WHERE id = ?1") { s throws(SQLiteError) in
                    s.bind(1, id)
                    s.bind(2, state.rawValue)
                    if let verdict { s.bind(3, verdict) } else { s.bindNull(3) }
                    if let result { s.bind(4, result) } else { s.bindNull(4) }
                    if let error { s.bind(5, error) } else { s.bindNull(5) }
                    if let reportPath { s.bind(6, reportPath) } else { s.bindNull(6) }
                    s.bind(7, now)
                    try s.run()
                }
            }
        }
    }
}

extension Store {
    /// The newest jobs, newest first (for the web view).
    public func recentJobs(limit: Int) throws(SQLiteError) -> [StoredJob] {
        try reader.withLock { c throws(SQLiteError) in
            try c.withStatement("SELECT \(Store.jobColumns) FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1") { s throws(SQLiteError) in
                s.bind(1, Int64(max(1, limit)))
                var out: [StoredJob] = []
                while try s.step() { out.append(Store.job(s)) }
                return out
            }
        }
    }
}
