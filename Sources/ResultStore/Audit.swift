import CSQLite
import EvalCore
import Foundation

/// One line of the audit trail: who asked for a job (a token's name, never the token), for which
/// artifact and revision, on which inputs (their digests), and what came of it. A job asked for by
/// several callers or for several artifacts (the same work, re-attached) has one line per asker.
public struct AuditEntry: Sendable, Hashable {
    public var jobID: String
    public var kind: String
    public var caller: String
    /// `metadata.artifact` of the request ("" when not given).
    public var artifact: String
    public var artifactType: String
    public var revision: String
    public var requestDigest: String
    /// Request field → `sha256` of the file it named.
    public var inputs: [String: String]
    public var purpose: String
    public var submittedAt: Double
    public var state: String
    public var verdict: String?
    /// `sha256:` of the report file the job wrote.
    public var reportDigest: String?
    public var startedAt: Double?
    public var finishedAt: Double?

    public init(jobID: String, kind: String, caller: String, artifact: String, artifactType: String, revision: String, requestDigest: String,
                inputs: [String: String], purpose: String, submittedAt: Double, state: String) {
        self.jobID = jobID
        self.kind = kind
        self.caller = caller
        self.artifact = artifact
        self.artifactType = artifactType
        self.revision = revision
        self.requestDigest = requestDigest
        self.inputs = inputs
        self.purpose = purpose
        self.submittedAt = submittedAt
        self.state = state
    }

    /// The JSON line `GET /v1/audit` and `evalengine audit export` give.
    public var json: JSONValue {
        func time(_ t: Double?) -> JSONValue { t.map { .string(AuditEntry.iso8601($0)) } ?? .null }
        return [
            "job_id": .string(jobID), "kind": .string(kind), "caller": .string(caller),
            "artifact": .string(artifact), "artifact_type": .string(artifactType), "revision": .string(revision),
            "request_digest": .string(requestDigest), "inputs": .object(inputs.mapValues { .string("sha256:" + $0) }),
            "purpose": .string(purpose), "state": .string(state), "verdict": verdict.map(JSONValue.string) ?? .null,
            "report_digest": reportDigest.map(JSONValue.string) ?? .null,
            "submitted_at": time(submittedAt), "started_at": time(startedAt), "finished_at": time(finishedAt),
        ]
    }

    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
    static func iso8601(_ t: Double) -> String { formatter.string(from: Date(timeIntervalSince1970: t)) }
}

extension Store {
    static let auditColumns = "job_id, kind, caller, artifact, artifact_type, revision, request_digest, inputs, purpose, submitted_at, state, verdict, report_digest, started_at, finished_at"

    static func auditEntry(_ s: Statement) -> AuditEntry {
        let inputs = (try? JSONValue.parse(s.text(7)))?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        var e = AuditEntry(jobID: s.text(0), kind: s.text(1), caller: s.text(2), artifact: s.text(3), artifactType: s.text(4), revision: s.text(5),
                           requestDigest: s.text(6), inputs: inputs, purpose: s.text(8), submittedAt: s.double(9), state: s.text(10))
        e.verdict = s.isNull(11) ? nil : s.text(11)
        e.reportDigest = s.isNull(12) ? nil : s.text(12)
        e.startedAt = s.isNull(13) ? nil : s.double(13)
        e.finishedAt = s.isNull(14) ? nil : s.double(14)
        return e
    }

    /// Records who asked for a job. Asking again (an Argo retry re-attaching) adds nothing; another
    /// caller, artifact or revision asking for the same work adds its own line, with the job's
    /// current state.
    public func recordAudit(_ entry: AuditEntry) throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("""
                    INSERT OR IGNORE INTO audit(job_id, kind, caller, artifact, artifact_type, revision, request_digest, inputs, purpose,
                        submitted_at, state, verdict, report_digest, started_at, finished_at)
                    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, COALESCE(j.state, ?11), j.verdict,
                        (SELECT report_digest FROM audit WHERE job_id = ?1 AND report_digest IS NOT NULL LIMIT 1), j.started_at, j.finished_at
                    FROM (SELECT 1) LEFT JOIN jobs j ON j.id = ?1
                    """) { s throws(SQLiteError) in
                    s.bind(1, entry.jobID)
                    s.bind(2, entry.kind)
                    s.bind(3, entry.caller)
                    s.bind(4, entry.artifact)
                    s.bind(5, entry.artifactType)
                    s.bind(6, entry.revision)
                    s.bind(7, entry.requestDigest)
                    s.bind(8, JSONValue.object(entry.inputs.mapValues(JSONValue.string)).serialized(sortedKeys: true))
                    s.bind(9, entry.purpose)
                    s.bind(10, entry.submittedAt)
                    s.bind(11, entry.state)
                    try s.run()
                }
            }
        }
    }

    /// Copies a job's state, verdict, times and report digest onto its audit lines.
    public func updateAudit(jobID: String, reportDigest: String?) throws(SQLiteError) {
        try connection.withLock { c throws(SQLiteError) in
            try Store.retryingBusy { () throws(SQLiteError) in
                try c.withStatement("""
                    UPDATE audit SET state = j.state, verdict = j.verdict, started_at = j.started_at, finished_at = j.finished_at,
                        report_digest = COALESCE(?2, audit.report_digest)
                    FROM (SELECT state, verdict, started_at, finished_at FROM jobs WHERE id = ?1) AS j
                    WHERE audit.job_id = ?1
                    """) { s throws(SQLiteError) in
                    s.bind(1, jobID)
                    if let reportDigest { s.bind(2, reportDigest) } else { s.bindNull(2) }
                    try s.run()
                }
            }
        }
    }

    /// Audit lines submitted at or after `since` (seconds since 1970), for one artifact when given,
    /// oldest first, after the line numbered `after` (a cursor: pass the last `id` seen).
    public func audit(artifact: String?, since: Double, after: Int64 = 0, limit: Int) throws(SQLiteError) -> [(id: Int64, entry: AuditEntry)] {
        try reader.withLock { c throws(SQLiteError) in
            let filter = artifact == nil ? "" : " AND artifact = ?4"
            return try c.withStatement("SELECT \(Store.auditColumns), id FROM audit WHERE submitted_at >= ?1 AND id > ?2\(filter) ORDER BY id LIMIT ?3") { s throws(SQLiteError) in
                s.bind(1, since)
                s.bind(2, after)
                s.bind(3, Int64(limit))
                if let artifact { s.bind(4, artifact) }
                var out: [(Int64, AuditEntry)] = []
                while try s.step() { out.append((s.int(15), Store.auditEntry(s))) }
                return out
            }
        }
    }
}
