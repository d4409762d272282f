import CSQLite
import Foundation

/// An SQLite failure with SQLite's own message, the statement and the file.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var path: String

    /// The file is not a database or is damaged.
    public var isCorruption: Bool { code & 0xFF == SQLITE_CORRUPT || code & 0xFF == SQLITE_NOTADB }
    public var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }

    public var description: String { "\(path): SQLite error \(code): \(message)" }
}

/// One SQLite connection (not shared between threads without a lock; `Store` holds the lock).
final class SQLiteConnection {
    let path: String
    private(set) var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]

    init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw SQLiteError(code: rc, message: message, path: path)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), path: path)
    }

    /// Runs SQL that returns no rows (may hold several statements).
    func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text, path: path)
        }
    }

    /// A prepared statement, compiled once per connection and reused (see `withStatement`).
    private func statement(_ sql: String) throws(SQLiteError) -> Statement {
        if let s = statements[sql] {
            s.reset()
            return s
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc) }
        let s = Statement(stmt, connection: self)
        statements[sql] = s
        return s
    }

    /// Runs `body` with the cached statement for `sql` and resets it afterwards: a statement left
    /// mid-result would hold its read snapshot open (stale reads, BUSY_SNAPSHOT on the next write,
    /// no checkpoints), so every use goes through here.
    func withStatement<T>(_ sql: String, _ body: (Statement) throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        let s = try statement(sql)
        defer { s.reset() }
        return try body(s)
    }

    /// Reads one integer (e.g. a PRAGMA).
    func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        try withStatement(sql) { s throws(SQLiteError) in try s.step() ? s.int(0) : nil }
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
}

/// A reusable prepared statement. Bind parameters are 1-based, columns 0-based, as in SQLite.
final class Statement {
    let stmt: OpaquePointer
    unowned let connection: SQLiteConnection

    init(_ stmt: OpaquePointer, connection: SQLiteConnection) {
        self.stmt = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(stmt, i, v) }
    func bind(_ i: Int32, _ v: Double) { sqlite3_bind_double(stmt, i, v) }
    func bind(_ i: Int32, _ v: String) { sqlite3_bind_text(stmt, i, v, -1, csqlite_transient()) }
    func bindNull(_ i: Int32) { sqlite3_bind_null(stmt, i) }
    func bind(_ i: Int32, _ v: [UInt8]) {
        _ = v.withUnsafeBytes { sqlite3_bind_blob(stmt, i, $0.baseAddress, Int32($0.count), csqlite_transient()) }
    }

    /// Advances; true while a row is available.
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc)
        }
    }

    /// Runs to completion (for INSERT/UPDATE/DELETE).
    func run() throws(SQLiteError) {
        while try step() {}
    }

    func int(_ col: Int32) -> Int64 { sqlite3_column_int64(stmt, col) }
    func double(_ col: Int32) -> Double { sqlite3_column_double(stmt, col) }
    func isNull(_ col: Int32) -> Bool { sqlite3_column_type(stmt, col) == SQLITE_NULL }
    func text(_ col: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, col) else { return "" }
        return String(cString: p)
    }
    func blob(_ col: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, col))
        guard n > 0, let p = sqlite3_column_blob(stmt, col) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: p, count: n))
    }
}
