import CSQLite
import Foundation

/// A test-suite run as stored: its requests' jobs (one item per request and repeat) and, once every
/// job has ended, its summary and each eval item's case outcomes (kept after the jobs themselves
/// are removed by retention, so the history and its flaky cases outlive them).
public struct StoredSuiteRun: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var position: Int
        public var repeatIndex: Int
        public var name: String
        public var stage: String
        public var jobID: String
        public var requestDigest: String
        /// Set when the run is summarised: the job's verdict, or `error` / `cancelled`.
        public var verdict: String?
        /// Case id -> passed / failed / errored (eval items), JSON.
        public var outcomes: String?

        public init(position: Int, repeatIndex: Int, name: String, stage: String, jobID: String, requestDigest: String) {
            self.position = position
            self.repeatIndex = repeatIndex
            self.name = name
            self.stage = stage
            self.jobID = jobID
            self.requestDigest = requestDigest
        }
    }

    public var id: String
    public var suite: String
    public var idempotencyKey: String
    public var caller: String
    public var expectedItems: Int
    public var createdAt: Double
    public var finishedAt: Double?
    /// The summary JSON, once every item's job has ended.
    public var summary: String?
    public var items: [Item] = []
}

extension Store {
    /// The run of `suite` with `key`, creating it when there is none (in one transaction).
    public func attachOrCreateSuiteRun(suite: String, key: String, caller: String, expectedItems: Int, newID: String) throws(SQLiteError) -> (StoredSuiteRun, created: Bool) {
        try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) -> (StoredSuiteRun, Bool) in
                if let existing = try Store.suiteRun(c, where: "suite = ?1 AND idempotency_key = ?2", suite, key) { return (existing, false) }
                let run = StoredSuiteRun(id: newID, suite: suite, idempotencyKey: key, caller: caller, expectedItems: expectedItems, createdAt: Date().timeIntervalSince1970)
                try c.withStatement("INSERT INTO suite_runs(id, suite, idempotency_key, caller, expected_items, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)") { s throws(SQLiteError) in
                    s.bind(1, run.id)
                    s.bind(2, suite)
                    s.bind(3, key)
                    s.bind(4, caller)
                    s.bind(5, Int64(expectedItems))
                    s.bind(6, run.createdAt)
                    try s.run()
                }
                return (run, true)
            }
        }
    }

    /// Records an item's job (again: a resumed submission finds the same job and changes nothing).
    public func recordSuiteItem(runID: String, _ item: StoredSuiteRun.Item) throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("""
                    INSERT OR IGNORE INTO suite_run_items(run_id, position, repeat, name, stage, job_id, request_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                    """) { s throws(SQLiteError) in
                    s.bind(1, runID)
                    s.bind(2, Int64(item.position))
                    s.bind(3, Int64(item.repeatIndex))
                    s.bind(4, item.name)
                    s.bind(5, item.stage)
                    s.bind(6, item.jobID)
                    s.bind(7, item.requestDigest)
                    try s.run()
                }
            }
        }
    }

    /// Stores a finished run's summary and its items' verdicts and case outcomes.
    public func finishSuiteRun(id: String, summary: String, items: [StoredSuiteRun.Item], finishedAt: Double) throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) in
                for item in items {
                    try c.withStatement("UPDATE suite_run_items SET verdict = ?4, outcomes = ?5 WHERE run_id = ?1 AND position = ?2 AND repeat = ?3") { s throws(SQLiteError) in
                        s.bind(1, id)
                        s.bind(2, Int64(item.position))
                        s.bind(3, Int64(item.repeatIndex))
                        if let v = item.verdict { s.bind(4, v) } else { s.bindNull(4) }
                        if let o = item.outcomes { s.bind(5, o) } else { s.bindNull(5) }
                        try s.run()
                    }
                }
                try c.withStatement("UPDATE suite_runs SET summary = ?2, finished_at = ?3 WHERE id = ?1 AND summary IS NULL") { s throws(SQLiteError) in
                    s.bind(1, id)
                    s.bind(2, summary)
                    s.bind(3, finishedAt)
                    try s.run()
                }
            }
        }
    }

    public func suiteRun(id: String) throws(SQLiteError) -> StoredSuiteRun? {
        try reader.withLock { c throws(SQLiteError) in try Store.suiteRun(c, where: "id = ?1", id, nil) }
    }

    /// The suite run one of whose items is job `jobID`.
    public func suiteRun(ofJob jobID: String) throws(SQLiteError) -> StoredSuiteRun? {
        try reader.withLock { c throws(SQLiteError) in
            try Store.suiteRun(c, where: "id = (SELECT run_id FROM suite_run_items WHERE job_id = ?1 LIMIT 1)", jobID, nil)
        }
    }

    /// Runs of `suite`, newest first (all suites when nil); `unfinishedOnly` for the ones to resume.
    public func suiteRuns(suite: String?, limit: Int, unfinishedOnly: Bool = false) throws(SQLiteError) -> [StoredSuiteRun] {
        try reader.withLock { c throws(SQLiteError) in
            var conditions: [String] = []
            if suite != nil { conditions.append("suite = ?1") }
            if unfinishedOnly { conditions.append("summary IS NULL") }
            let sql = "SELECT id FROM suite_runs" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")) + " ORDER BY created_at DESC, rowid DESC LIMIT \(max(1, limit))"
            let ids = try c.withStatement(sql) { s throws(SQLiteError) -> [String] in
                if let suite { s.bind(1, suite) }
                var out: [String] = []
                while try s.step() { out.append(s.text(0)) }
                return out
            }
            var runs: [StoredSuiteRun] = []
            for id in ids {
                if let run = try Store.suiteRun(c, where: "id = ?1", id, nil) { runs.append(run) }
            }
            return runs
        }
    }

    static func suiteRun(_ c: SQLiteConnection, where condition: String, _ a: String, _ b: String?) throws(SQLiteError) -> StoredSuiteRun? {
        let sql = "SELECT id, suite, idempotency_key, caller, expected_items, created_at, finished_at, summary FROM suite_runs WHERE \(condition)"
        let found = try c.withStatement(sql) { s throws(SQLiteError) -> StoredSuiteRun? in
            s.bind(1, a)
            if let b { s.bind(2, b) }
            guard try s.step() else { return nil }
            return StoredSuiteRun(id: s.text(0), suite: s.text(1), idempotencyKey: s.text(2), caller: s.text(3), expectedItems: Int(s.int(4)), createdAt: s.double(5),
                                  finishedAt: s.isNull(6) ? nil : s.double(6), summary: s.isNull(7) ? nil : s.text(7))
        }
        guard var run = found else { return nil }
        run.items = try c.withStatement("SELECT position, repeat, name, stage, job_id, request_digest, verdict, outcomes FROM suite_run_items WHERE run_id = ?1 ORDER BY position, repeat") { s throws(SQLiteError) in
            s.bind(1, run.id)
            var out: [StoredSuiteRun.Item] = []
            while try s.step() {
                var item = StoredSuiteRun.Item(position: Int(s.int(0)), repeatIndex: Int(s.int(1)), name: s.text(2), stage: s.text(3), jobID: s.text(4), requestDigest: s.text(5))
                item.verdict = s.isNull(6) ? nil : s.text(6)
                item.outcomes = s.isNull(7) ? nil : s.text(7)
                out.append(item)
            }
            return out
        }
        return run
    }
}
