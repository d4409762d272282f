import CSQLite
import EvalCore
import Foundation
import Synchronization

/// How a run uses the response and embedding caches.
public enum CacheMode: String, Sendable, CaseIterable {
    /// Read hits, write misses (default).
    case readWrite = "read-write"
    /// Read hits, write nothing (e.g. a shared, frozen cache artifact).
    case readOnly = "read-only"
    /// Ignore what is cached, call the endpoint, overwrite the cache.
    case refresh
    /// No cache at all.
    case off

    public var reads: Bool { self == .readWrite || self == .readOnly }
    public var writes: Bool { self == .readWrite || self == .refresh }
}

/// One write of a batch; a batch is one transaction.
public enum StoreWrite: Sendable {
    case response(key: [UInt8], value: [UInt8])
    case embedding(key: [UInt8], vector: [Float])
    case caseResult(runID: String, caseID: String, sequence: Int, record: [UInt8])
}

/// A run as the store remembers it.
public struct StoredRun: Sendable {
    public var id: String
    public var inputDigest: String
    public var state: String
    public var total: Int
    public var createdAt: Date
}

/// Sizes and counters for `evalengine cache stats`.
public struct StoreStats: Sendable {
    public var responses = 0
    public var embeddings = 0
    public var runs = 0
    public var caseResults = 0
    public var fileBytes: Int64 = 0
    public var hits: Int64 = 0
    public var misses: Int64 = 0
    /// Lifetime embedding-cache lookups (per text).
    public var embeddingHits: Int64 = 0
    public var embeddingMisses: Int64 = 0
}

/// The engine's memory in one SQLite file (default `.evalengine/cache.sqlite`): the response and
/// embedding caches, runs, and every case result as it completes. WAL, `synchronous=NORMAL`
/// (a committed batch survives a killed process), a busy timeout plus our own retry so that several
/// processes can share the file, and a checksum on every cached value so a damaged row is a miss,
/// never a wrong answer.
public final class Store: Sendable {
    public let path: String
    /// How it was opened: `.run` for one process's run (the CLI), `.service` for many jobs.
    public let tuning: Tuning
    /// Writes (and reads inside write transactions).
    let connection: Mutex<SQLiteConnection>
    /// Reads: a connection of their own, so that (WAL) a lookup never waits behind a write that
    /// waits for another process's lock.
    let reader: Mutex<SQLiteConnection>
    /// The thread `writing(_:)` runs on.
    private let executor: StoreExecutor
    /// Device and inode of the file opened, to notice it being deleted or replaced underneath.
    private let identity: (device: UInt64, inode: UInt64)?
    /// Cached rows whose checksum did not match (treated as misses).
    private let damaged = Atomic<Int>(0)

    static let schemaVersion: Int64 = 5
    /// How long a writer keeps retrying a busy database before giving up, in seconds.
    static let busyDeadline = 120.0

    /// Opens (creating if needed) the store. A file that is not a database or is damaged beyond
    /// reading is moved aside to `PATH.corrupt-TIMESTAMP` and a new store is created; `warn` says so.
    /// How a store uses memory. `.run` (the CLI): no memory-mapped I/O and a 16 MiB page cache, so
    /// a 1,000,000-case run stays under 150 MB RSS (a mapping counts every page read); the WAL is
    /// checkpointed every 4,000 pages (32 MiB) instead of 1,000: a run's rows land on index pages
    /// all over the file, and each checkpoint copies every page touched since the last (a
    /// 20,000-case run: 15 checkpoints and fsyncs instead of 40). `.service`:
    /// a 256 MiB mapping and a 32 MiB cache for a long-lived process serving many jobs, whose
    /// memory plateaus once they are warm (the soak checks it).
    public enum Tuning: Sendable {
        case run, service

        var pragmas: String {
            switch self {
            case .run: return "PRAGMA mmap_size = 0; PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 4000;"
            case .service: return "PRAGMA mmap_size = 268435456; PRAGMA cache_size = -32768;"
            }
        }
    }

    public static func open(path: String, tuning: Tuning = .run, warn: @Sendable (String) -> Void = { _ in }) throws(SQLiteError) -> Store {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        do throws(SQLiteError) {
            return try Store(path: path, tuning: tuning)
        } catch where error.isCorruption {
            let aside = path + ".corrupt-\(Int(Date().timeIntervalSince1970))"
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try? FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            warn("warning: \(path) is not a readable evalengine store (\(error.message)); moved it to \(aside) and started a new one")
            return try Store(path: path, tuning: tuning)
        }
    }

    private init(path: String, tuning: Tuning) throws(SQLiteError) {
        self.path = path
        self.tuning = tuning
        let c = try SQLiteConnection(path: path)
        // page_size only matters for a new file; 8 KiB keeps ~1 KiB values off overflow pages.
        try c.execute("PRAGMA busy_timeout = 10000; PRAGMA page_size = 8192;")
        try Store.retryingBusy { () throws(SQLiteError) in try c.execute("PRAGMA journal_mode = WAL;") }
        try c.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF; " + tuning.pragmas)
        try Store.migrate(c)
        connection = Mutex(c)
        let r = try SQLiteConnection(path: path)
        try r.execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF; " + tuning.pragmas)
        reader = Mutex(r)
        identity = Store.fileIdentity(path)
        executor = StoreExecutor(name: "evalengine-store")
    }

    /// Runs `body` (writes to this store) on the store's own thread: an async caller's thread is
    /// never the one that waits while another process holds the write lock.
    public func writing<T: Sendable>(_ body: @escaping @Sendable (Store) throws(SQLiteError) -> T) async throws(SQLiteError) -> T {
        try await executor.run { () throws(SQLiteError) in try body(self) }
    }

    static func fileIdentity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Nil while the file at `path` is the one this store opened; otherwise what happened to it.
    /// SQLite keeps writing to a deleted or replaced file's old inode without an error, so
    /// everything recorded after that is lost at the next start: readiness must say so.
    public func fileProblem() -> String? {
        guard let identity else { return nil }
        guard let now = Store.fileIdentity(path) else { return "the store \(path) was deleted while the service ran" }
        guard now == identity else { return "the store \(path) was replaced by another file while the service ran" }
        return nil
    }

    /// Runs `body`, retrying while another process holds the write lock past the busy timeout.
    static func retryingBusy<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        let start = Date()
        var delay = 0.005
        while true {
            do throws(SQLiteError) {
                return try body()
            } catch where error.isBusy && Date().timeIntervalSince(start) < busyDeadline {
                usleep(UInt32(delay * 1_000_000))
                delay = min(delay * 2, 0.5)
            }
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction (rolled back on error), retrying while
    /// another process holds the write lock.
    static func transaction<T>(_ c: SQLiteConnection, _ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        try retryingBusy { () throws(SQLiteError) in
            try c.execute("BEGIN IMMEDIATE")
            do throws(SQLiteError) {
                let result = try body()
                try c.execute("COMMIT")
                return result
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        }
    }

    private static func migrate(_ c: SQLiteConnection) throws(SQLiteError) {
        let version = try c.scalarInt("PRAGMA user_version") ?? 0
        if version > schemaVersion {
            throw SQLiteError(code: SQLITE_ERROR, message: "schema version \(version) was written by a newer evalengine (this one knows \(schemaVersion))", path: c.path)
        }
        if version == schemaVersion { return }
        try transaction(c) { () throws(SQLiteError) in
            // Another process may have migrated while we waited for the lock.
            if (try c.scalarInt("PRAGMA user_version") ?? 0) < 1 {
                try c.execute("""
                    CREATE TABLE IF NOT EXISTS responses(
                        id INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL,
                        checksum INTEGER NOT NULL, created_at INTEGER NOT NULL);
                    CREATE UNIQUE INDEX IF NOT EXISTS responses_key ON responses(key);
                    CREATE TABLE IF NOT EXISTS embeddings(
                        id INTEGER PRIMARY KEY, key BLOB NOT NULL, vector BLOB NOT NULL,
                        checksum INTEGER NOT NULL, created_at INTEGER NOT NULL);
                    CREATE UNIQUE INDEX IF NOT EXISTS embeddings_key ON embeddings(key);
                    CREATE TABLE IF NOT EXISTS runs(
                        id TEXT PRIMARY KEY, input_digest TEXT NOT NULL, state TEXT NOT NULL,
                        total INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, summary TEXT);
                    CREATE INDEX IF NOT EXISTS runs_digest ON runs(input_digest, state);
                    CREATE TABLE IF NOT EXISTS case_results(
                        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, case_id TEXT NOT NULL,
                        seq INTEGER NOT NULL, record BLOB NOT NULL);
                    CREATE UNIQUE INDEX IF NOT EXISTS case_results_key ON case_results(run_id, case_id);
                    CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                    PRAGMA user_version = 1;
                    """)
            }
            if (try c.scalarInt("PRAGMA user_version") ?? 0) < 2 {
                // v2: the service's jobs (one row per attempt; the idempotency key finds the newest).
                try c.execute("""
                    CREATE TABLE IF NOT EXISTS jobs(
                        id TEXT PRIMARY KEY, kind TEXT NOT NULL, idempotency_key TEXT NOT NULL, request_digest TEXT NOT NULL,
                        request BLOB NOT NULL, purpose TEXT NOT NULL, attempt INTEGER NOT NULL, state TEXT NOT NULL,
                        verdict TEXT, result BLOB, error TEXT, report_path TEXT,
                        created_at REAL NOT NULL, started_at REAL, finished_at REAL);
                    CREATE UNIQUE INDEX IF NOT EXISTS jobs_key ON jobs(idempotency_key, attempt);
                    CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
                    PRAGMA user_version = 2;
                    """)
            }
            if (try c.scalarInt("PRAGMA user_version") ?? 0) < 3 {
                // v3: starts of a job that made no progress, to stop resuming a job that crashes the process.
                try c.execute("""
                    ALTER TABLE jobs ADD COLUMN idle_starts INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE jobs ADD COLUMN progress_mark INTEGER NOT NULL DEFAULT -1;
                    PRAGMA user_version = 3;
                    """)
            }
            if (try c.scalarInt("PRAGMA user_version") ?? 0) < 4 {
                // v4: the audit trail (who asked for which job, for which artifact; kept longer than
                // the jobs), and the indexes retention deletes by — none on the caches, whose inserts
                // are the hot path: retention finds their old rows by scanning on the reader instead.
                try c.execute("""
                    CREATE TABLE IF NOT EXISTS audit(
                        id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, kind TEXT NOT NULL, caller TEXT NOT NULL,
                        artifact TEXT NOT NULL, artifact_type TEXT NOT NULL, revision TEXT NOT NULL,
                        request_digest TEXT NOT NULL, inputs TEXT NOT NULL, purpose TEXT NOT NULL,
                        submitted_at REAL NOT NULL, state TEXT NOT NULL, verdict TEXT, report_digest TEXT,
                        started_at REAL, finished_at REAL);
                    CREATE UNIQUE INDEX IF NOT EXISTS audit_key ON audit(job_id, caller, artifact, revision);
                    CREATE INDEX IF NOT EXISTS audit_artifact ON audit(artifact, submitted_at);
                    CREATE INDEX IF NOT EXISTS audit_time ON audit(submitted_at);
                    CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at);
                    CREATE INDEX IF NOT EXISTS runs_updated ON runs(updated_at);
                    PRAGMA user_version = 4;
                    """)
            }
            if (try c.scalarInt("PRAGMA user_version") ?? 0) < 5 {
                // v5: test-suite runs (one row per run, one item per request and repeat, each a job).
                try c.execute("""
                    CREATE TABLE IF NOT EXISTS suite_runs(
                        id TEXT PRIMARY KEY, suite TEXT NOT NULL, idempotency_key TEXT NOT NULL, caller TEXT NOT NULL,
                        expected_items INTEGER NOT NULL, created_at REAL NOT NULL, finished_at REAL, summary TEXT);
                    CREATE UNIQUE INDEX IF NOT EXISTS suite_runs_key ON suite_runs(suite, idempotency_key);
                    CREATE INDEX IF NOT EXISTS suite_runs_suite ON suite_runs(suite, created_at);
                    CREATE TABLE IF NOT EXISTS suite_run_items(
                        run_id TEXT NOT NULL, position INTEGER NOT NULL, repeat INTEGER NOT NULL, name TEXT NOT NULL, stage TEXT NOT NULL,
                        job_id TEXT NOT NULL, request_digest TEXT NOT NULL, verdict TEXT, outcomes TEXT,
                        PRIMARY KEY(run_id, position, repeat));
                    CREATE INDEX IF NOT EXISTS suite_run_items_job ON suite_run_items(job_id);
                    PRAGMA user_version = 5;
                    """)
            }
        }
    }

    // MARK: Caches

    /// The cached response value for `key`, or nil (absent, older than `maxAge`, or damaged).
    /// Whether the response cache holds any answer at all.
    public func hasResponses() throws(SQLiteError) -> Bool {
        try reader.withLock { c throws(SQLiteError) in
            try c.withStatement("SELECT 1 FROM responses LIMIT 1") { s throws(SQLiteError) in try s.step() }
        }
    }

    public func response(_ key: [UInt8], maxAge: Double? = nil) throws(SQLiteError) -> [UInt8]? {
        try lookup("SELECT value, checksum, created_at FROM responses WHERE key = ?1", key, maxAge: maxAge)
    }

    /// The cached embedding for `key`, or nil.
    public func embedding(_ key: [UInt8], maxAge: Double? = nil) throws(SQLiteError) -> [Float]? {
        guard let bytes = try lookup("SELECT vector, checksum, created_at FROM embeddings WHERE key = ?1", key, maxAge: maxAge) else { return nil }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    private func lookup(_ sql: String, _ key: [UInt8], maxAge: Double?) throws(SQLiteError) -> [UInt8]? {
        let row: ([UInt8], Int64, Int64)? = try reader.withLock { c throws(SQLiteError) in
            try c.withStatement(sql) { s throws(SQLiteError) in
                s.bind(1, key)
                guard try s.step() else { return nil }
                return (s.blob(0), s.int(1), s.int(2))
            }
        }
        guard let (value, checksum, created) = row else { return nil }
        if let maxAge, Double(created) < Date().timeIntervalSince1970 - maxAge { return nil }
        guard Int64(bitPattern: checksum64(value)) == checksum else {
            damaged.add(1, ordering: .relaxed)
            return nil
        }
        return value
    }

    /// Cached values found damaged since open.
    public var damagedRows: Int { damaged.load(ordering: .relaxed) }

    // MARK: Writes

    /// Writes a batch in one transaction (retried while another process holds the lock).
    public func write(_ batch: [StoreWrite]) throws(SQLiteError) {
        guard !batch.isEmpty else { return }
        let now = Int64(Date().timeIntervalSince1970)
        try connection.withLock { c throws(SQLiteError) in
            try Store.transaction(c) { () throws(SQLiteError) in
                for w in batch {
                    let sql: String
                    let bind: (Statement) -> Void
                    switch w {
                    case .response(let key, let value):
                        sql = "INSERT OR REPLACE INTO responses(key, value, checksum, created_at) VALUES (?1, ?2, ?3, ?4)"
                        bind = { s in
                            s.bind(1, key)
                            s.bind(2, value)
                            s.bind(3, Int64(bitPattern: checksum64(value)))
                            s.bind(4, now)
                        }
                    case .embedding(let key, let vector):
                        let bytes = vector.withUnsafeBytes { [UInt8]($0) }
                        sql = "INSERT OR REPLACE INTO embeddings(key, vector, checksum, created_at) VALUES (?1, ?2, ?3, ?4)"
                        bind = { s in
                            s.bind(1, key)
                            s.bind(2, bytes)
                            s.bind(3, Int64(bitPattern: checksum64(bytes)))
                            s.bind(4, now)
                        }
                    case .caseResult(let runID, let caseID, let sequence, let record):
                        sql = "INSERT OR REPLACE INTO case_results(run_id, case_id, seq, record) VALUES (?1, ?2, ?3, ?4)"
                        bind = { s in
                            s.bind(1, runID)
                            s.bind(2, caseID)
                            s.bind(3, Int64(sequence))
                            s.bind(4, record)
                        }
                    }
                    try c.withStatement(sql) { s throws(SQLiteError) in
                        bind(s)
                        try s.run()
                    }
                }
            }
        }
    }

    // MARK: Runs

    /// Records a new run.
    public func createRun(id: String, inputDigest: String, total: Int) throws(SQLiteError) {
        let now = Int64(Date().timeIntervalSince1970)
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("INSERT INTO runs(id, input_digest, state, total, created_at, updated_at) VALUES (?1, ?2, 'running', ?3, ?4, ?4)") { s throws(SQLiteError) in
                    s.bind(1, id)
                    s.bind(2, inputDigest)
                    s.bind(3, Int64(total))
                    s.bind(4, now)
                    try s.run()
                }
            }
        }
    }

    /// The run with `id`, if known.
    public func run(id: String) throws(SQLiteError) -> StoredRun? {
        try firstRun(where: "id = ?1", id)
    }

    /// The newest unfinished run with these inputs (an interrupted run to resume), if any.
    public func unfinishedRun(inputDigest: String) throws(SQLiteError) -> StoredRun? {
        try firstRun(where: "input_digest = ?1 AND state = 'running'", inputDigest)
    }

    private func firstRun(where condition: String, _ argument: String?) throws(SQLiteError) -> StoredRun? {
        try reader.withLock { c throws(SQLiteError) in
            let sql = "SELECT id, input_digest, state, total, created_at FROM runs WHERE \(condition) ORDER BY created_at DESC, rowid DESC LIMIT 1"
            return try c.withStatement(sql) { s throws(SQLiteError) in
                if let argument { s.bind(1, argument) }
                guard try s.step() else { return nil }
                return StoredRun(id: s.text(0), inputDigest: s.text(1), state: s.text(2), total: Int(s.int(3)), createdAt: Date(timeIntervalSince1970: Double(s.int(4))))
            }
        }
    }

    /// The newest unfinished run, whatever its inputs.
    public func unfinishedRunAny() throws(SQLiteError) -> StoredRun? {
        try firstRun(where: "state = 'running'", nil)
    }

    /// Calls `body` with each persisted case result of a run, in the order they were written.
    public func forEachCaseResult(runID: String, _ body: (String, [UInt8]) throws -> Void) throws {
        // Read in pages so a 100,000-case run is never one array in memory.
        var after: Int64 = -1
        while true {
            let page: [(Int64, String, [UInt8])] = try reader.withLock { c throws(SQLiteError) in
                try c.withStatement("SELECT seq, case_id, record FROM case_results WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1000") { s throws(SQLiteError) in
                    s.bind(1, runID)
                    s.bind(2, after)
                    var rows: [(Int64, String, [UInt8])] = []
                    while try s.step() { rows.append((s.int(0), s.text(1), s.blob(2))) }
                    return rows
                }
            }
            if page.isEmpty { return }
            for (seq, id, record) in page {
                after = seq
                try body(id, record)
            }
        }
    }

    /// Marks a run finished (`completed`, `cancelled`) with its summary JSON.
    public func finishRun(id: String, state: String, summary: String?) throws(SQLiteError) {
        let now = Int64(Date().timeIntervalSince1970)
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("UPDATE runs SET state = ?2, updated_at = ?3, summary = ?4 WHERE id = ?1") { s throws(SQLiteError) in
                    s.bind(1, id)
                    s.bind(2, state)
                    s.bind(3, now)
                    if let summary { s.bind(4, summary) } else { s.bindNull(4) }
                    try s.run()
                }
            }
        }
    }

    // MARK: Maintenance

    /// Adds to the lifetime hit/miss counters (responses, and embeddings per text).
    public func addCounters(hits: Int, misses: Int, embeddingHits: Int = 0, embeddingMisses: Int = 0) throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                for (name, n) in [("hits", hits), ("misses", misses), ("embedding_hits", embeddingHits), ("embedding_misses", embeddingMisses)] where n > 0 {
                    try c.withStatement("INSERT INTO counters(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + ?2") { s throws(SQLiteError) in
                        s.bind(1, name)
                        s.bind(2, Int64(n))
                        try s.run()
                    }
                }
            }
        }
    }

    public func stats() throws(SQLiteError) -> StoreStats {
        var st = try connection.withLock { c throws(SQLiteError) in
            var st = StoreStats()
            st.responses = Int(try c.scalarInt("SELECT count(*) FROM responses") ?? 0)
            st.embeddings = Int(try c.scalarInt("SELECT count(*) FROM embeddings") ?? 0)
            st.runs = Int(try c.scalarInt("SELECT count(*) FROM runs") ?? 0)
            st.caseResults = Int(try c.scalarInt("SELECT count(*) FROM case_results") ?? 0)
            st.hits = try c.scalarInt("SELECT value FROM counters WHERE name = 'hits'") ?? 0
            st.misses = try c.scalarInt("SELECT value FROM counters WHERE name = 'misses'") ?? 0
            st.embeddingHits = try c.scalarInt("SELECT value FROM counters WHERE name = 'embedding_hits'") ?? 0
            st.embeddingMisses = try c.scalarInt("SELECT value FROM counters WHERE name = 'embedding_misses'") ?? 0
            return st
        }
        for suffix in ["", "-wal"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? NSNumber)?.int64Value ?? 0
            st.fileBytes += size
        }
        return st
    }

    /// Deletes cache entries, and finished runs with their results, older than `seconds`.
    /// Returns the number of rows deleted.
    public func prune(olderThan seconds: Double) throws(SQLiteError) -> Int {
        let cutoff = Int64(Date().timeIntervalSince1970 - seconds)
        return try connection.withLock { c throws(SQLiteError) in
            let deleted = try Store.transaction(c) { () throws(SQLiteError) -> Int in
                var deleted = 0
                for sql in [
                    "DELETE FROM responses WHERE created_at < ?1", "DELETE FROM embeddings WHERE created_at < ?1",
                    "DELETE FROM case_results WHERE run_id IN (SELECT id FROM runs WHERE state != 'running' AND updated_at < ?1)",
                    "DELETE FROM runs WHERE state != 'running' AND updated_at < ?1",
                ] {
                    try c.withStatement(sql) { s throws(SQLiteError) in
                        s.bind(1, cutoff)
                        try s.run()
                    }
                    deleted += c.changes
                }
                return deleted
            }
            try c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return deleted
        }
    }

    /// Writes a compact copy of the caches (responses and embeddings) to `file`, e.g. for an Argo
    /// artifact that other pods import.
    public func exportCaches(to file: String) throws(SQLiteError) {
        if FileManager.default.fileExists(atPath: file) {
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "refusing to overwrite an existing file", path: file)
        }
        let out = try Store.open(path: file)
        try connection.withLock { c throws(SQLiteError) in
            try c.execute("ATTACH DATABASE '\(file.replacingOccurrences(of: "'", with: "''"))' AS dest")
            defer { try? c.execute("DETACH DATABASE dest") }
            try Store.transaction(c) { () throws(SQLiteError) in
                try c.execute("""
                    INSERT OR IGNORE INTO dest.responses(key, value, checksum, created_at) SELECT key, value, checksum, created_at FROM main.responses;
                    INSERT OR IGNORE INTO dest.embeddings(key, vector, checksum, created_at) SELECT key, vector, checksum, created_at FROM main.embeddings;
                    """)
            }
        }
        _ = out
    }

    /// Merges the caches of an exported file into this store (existing entries win).
    /// Returns the number of entries added.
    public func importCaches(from file: String) throws(SQLiteError) -> Int {
        guard FileManager.default.fileExists(atPath: file) else {
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "no such file", path: file)
        }
        // Opening validates the file (and migrates an older export).
        let source = try SQLiteConnection(path: file, readOnly: true)
        let version = try source.scalarInt("PRAGMA user_version") ?? 0
        guard version >= 1, version <= Store.schemaVersion else {
            throw SQLiteError(code: SQLITE_NOTADB, message: "not an evalengine cache export (schema version \(version))", path: file)
        }
        return try connection.withLock { c throws(SQLiteError) in
            try c.execute("ATTACH DATABASE '\(file.replacingOccurrences(of: "'", with: "''"))' AS src")
            defer { try? c.execute("DETACH DATABASE src") }
            return try Store.transaction(c) { () throws(SQLiteError) -> Int in
                try c.execute("INSERT OR IGNORE INTO main.responses(key, value, checksum, created_at) SELECT key, value, checksum, created_at FROM src.responses")
                let added = c.changes
                try c.execute("INSERT OR IGNORE INTO main.embeddings(key, vector, checksum, created_at) SELECT key, vector, checksum, created_at FROM src.embeddings")
                return added + c.changes
            }
        }
    }

    /// `PRAGMA integrity_check`: "ok" or the problems found.
    public func integrityCheck() throws(SQLiteError) -> String {
        try connection.withLock { c throws(SQLiteError) in
            try c.withStatement("PRAGMA integrity_check") { s throws(SQLiteError) in
                var lines: [String] = []
                while try s.step() { lines.append(s.text(0)) }
                return lines.joined(separator: "\n")
            }
        }
    }
}

/// 64-bit checksum of a cached value, checked on every read: eight bytes a step (FNV-1a over
/// words, then a final avalanche), so verifying a 1 KiB answer costs ~0.1 µs, not ~1 µs.
func checksum64(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBytes { raw -> UInt64 in
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(raw.count)
        let words = raw.count / 8
        for i in 0..<words {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01b3
            h ^= h >> 29
        }
        for i in (words * 8)..<raw.count {
            h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }
}
