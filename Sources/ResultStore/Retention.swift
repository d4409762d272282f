import CSQLite
import Foundation

/// How long the service keeps what it stores, in seconds. Audit lines outlive the jobs they
/// describe: a job's row, run, case results and report go after `jobs`, its audit line after `audit`.
public struct RetentionPolicy: Sendable, Hashable {
    /// Finished jobs, their runs and case results, reports and input copies.
    public var jobs: Double
    /// Cached responses and embeddings (a miss afterwards asks the endpoint again).
    public var cache: Double
    /// Audit lines.
    public var audit: Double

    public init(jobs: Double, cache: Double, audit: Double) {
        self.jobs = jobs
        self.cache = cache
        self.audit = audit
    }
}

/// A finished job removed by retention: what the caller deletes beside the store (its report
/// files) and which input copies it referred to.
public struct RemovedJob: Sendable {
    public var id: String
    public var reportPath: String?
    public var request: [UInt8]
}

extension Store {
    /// Rows one retention batch deletes: small enough that job writes waiting behind it are not
    /// held for long, since each batch is its own transaction.
    public static let retentionBatch = 500

    /// Deletes up to `limit` terminal jobs finished before `cutoff` (seconds since 1970); returns them.
    public func removeFinishedJobs(before cutoff: Double, limit: Int = Store.retentionBatch) throws(SQLiteError) -> [RemovedJob] {
        try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) -> [RemovedJob] in
                let rows = try c.withStatement("""
                    SELECT id, report_path, request FROM jobs
                    WHERE finished_at IS NOT NULL AND finished_at < ?1 AND state IN ('completed', 'errored', 'cancelled') LIMIT ?2
                    """) { s throws(SQLiteError) in
                    s.bind(1, cutoff)
                    s.bind(2, Int64(limit))
                    var out: [RemovedJob] = []
                    while try s.step() { out.append(RemovedJob(id: s.text(0), reportPath: s.isNull(1) ? nil : s.text(1), request: s.blob(2))) }
                    return out
                }
                for job in rows {
                    try c.withStatement("DELETE FROM jobs WHERE id = ?1") { s throws(SQLiteError) in
                        s.bind(1, job.id)
                        try s.run()
                    }
                }
                return rows
            }
        }
    }

    /// Deletes up to `limit` rows of one kind older than `cutoff`; returns how many.
    public func removeExpired(_ what: RetainedRows, before cutoff: Double, limit: Int = Store.retentionBatch) throws(SQLiteError) -> Int {
        let sql: [String]
        switch what {
        case .runs:
            // A run's case results go with it; a run still in progress is never removed.
            sql = [
                "CREATE TEMP TABLE IF NOT EXISTS expired_runs(id TEXT PRIMARY KEY)",
                "DELETE FROM temp.expired_runs",
                "INSERT INTO temp.expired_runs SELECT id FROM runs WHERE state != 'running' AND updated_at < ?1 LIMIT ?2",
                "DELETE FROM case_results WHERE run_id IN (SELECT id FROM temp.expired_runs)",
                "DELETE FROM runs WHERE id IN (SELECT id FROM temp.expired_runs)",
            ]
        case .responses, .embeddings:
            return try removeExpiredCacheRows(what.rawValue, before: cutoff, limit: limit)
        case .audit: sql = ["DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE submitted_at < ?1 LIMIT ?2)"]
        case .suiteRuns:
            sql = [
                "CREATE TEMP TABLE IF NOT EXISTS expired_suite_runs(id TEXT PRIMARY KEY)",
                "DELETE FROM temp.expired_suite_runs",
                "INSERT INTO temp.expired_suite_runs SELECT id FROM suite_runs WHERE summary IS NOT NULL AND created_at < ?1 LIMIT ?2",
                "DELETE FROM suite_run_items WHERE run_id IN (SELECT id FROM temp.expired_suite_runs)",
                "DELETE FROM suite_runs WHERE id IN (SELECT id FROM temp.expired_suite_runs)",
            ]
        }
        return try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) -> Int in
                var deleted = 0
                for statement in sql {
                    try c.withStatement(statement) { s throws(SQLiteError) in
                        if statement.contains("?1") { s.bind(1, cutoff) }
                        if statement.contains("?2") { s.bind(2, Int64(limit)) }
                        try s.run()
                    }
                    // Count the rows of the kind itself (not its case results or the scratch table).
                    let counts = switch what {
                    case .runs: statement.hasPrefix("DELETE FROM runs")
                    case .suiteRuns: statement.hasPrefix("DELETE FROM suite_runs")
                    default: statement.hasPrefix("DELETE")
                    }
                    if counts { deleted = c.changes }
                }
                return deleted
            }
        }
    }

    /// Cache rows have no index on their age (an index would cost every insert, the hot path): the
    /// old ones are found by a scan on the reader connection, outside any write transaction, and
    /// deleted by primary key in a short one.
    private func removeExpiredCacheRows(_ table: String, before cutoff: Double, limit: Int) throws(SQLiteError) -> Int {
        let ids = try reader.withLock { c throws(SQLiteError) in
            try c.withStatement("SELECT id FROM \(table) WHERE created_at < ?1 LIMIT ?2") { s throws(SQLiteError) -> [Int64] in
                s.bind(1, cutoff)
                s.bind(2, Int64(limit))
                var out: [Int64] = []
                while try s.step() { out.append(s.int(0)) }
                return out
            }
        }
        guard !ids.isEmpty else { return 0 }
        return try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) -> Int in
                var deleted = 0
                try c.withStatement("DELETE FROM \(table) WHERE id = ?1 AND created_at < ?2") { s throws(SQLiteError) in
                    for id in ids {
                        s.reset()
                        s.bind(1, id)
                        s.bind(2, cutoff)
                        try s.run()
                        deleted += c.changes
                    }
                }
                return deleted
            }
        }
    }

    /// The stored request bodies of every job still kept (to find the input copies they use).
    public func jobRequests() throws(SQLiteError) -> [[UInt8]] {
        try reader.withLock { c throws(SQLiteError) in
            try c.withStatement("SELECT request FROM jobs") { s throws(SQLiteError) in
                var out: [[UInt8]] = []
                while try s.step() { out.append(s.blob(0)) }
                return out
            }
        }
    }

    /// Moves the write-ahead log into the database and truncates it, so that pages freed by
    /// retention are reused instead of the files growing.
    public func checkpoint() throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in try c.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// Bytes of the database file and its write-ahead log.
    public func fileBytes() -> Int64 {
        ["", "-wal"].reduce(0) { total, suffix in
            total + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }
}

/// The kinds of rows retention removes by age.
public enum RetainedRows: String, Sendable, CaseIterable {
    case runs, responses, embeddings, audit
    /// Test-suite runs with their summaries (kept as long as audit lines: they are the history).
    case suiteRuns = "suite_runs"
}

extension Store {
    /// Bytes SQLite holds in this process (page caches of every connection, statements): part of
    /// the heap, bounded by the connections' `cache_size`, and reported apart so that a heap that
    /// grows only because the page cache is filling is not mistaken for a leak.
    public static func sqliteMemoryUsed() -> Int64 { sqlite3_memory_used() }
}
