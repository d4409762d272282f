import EvalCore
import Foundation

/// The filters of `GET /v1/audit` and `evalengine audit export`, range-checked.
public struct AuditQuery: Sendable {
    public static let maxLimit = 10_000
    public var artifact: String?
    /// Seconds since 1970.
    public var since: Double = 0
    /// The cursor: lines after this one.
    public var after: Int64 = 0
    public var limit = 1000

    /// `since`: an RFC 3339 time (`2026-12-01T00:00:00Z`), seconds since 1970, or a duration ago (`24h`, `7d`).
    public init(artifact: String?, since: String?, after: String? = nil, limit: String? = nil, now: Double = Date().timeIntervalSince1970) throws(RequestError) {
        if let a = artifact, !a.isEmpty {
            guard a.utf8.count <= 256 else { throw RequestError.schema("artifact", "at most 256 bytes") }
            self.artifact = a
        }
        if let s = since, !s.isEmpty {
            guard let t = AuditQuery.time(s, now: now) else {
                throw RequestError.schema("since", "must be an RFC 3339 time (2026-12-01T00:00:00Z), seconds since 1970, or a duration ago such as 24h")
            }
            self.since = t
        }
        if let a = after, !a.isEmpty {
            guard let n = Int64(a), n >= 0 else { throw RequestError.schema("after", "must be a line number >= 0 (the next_after of the previous page)") }
            self.after = n
        }
        if let l = limit, !l.isEmpty {
            guard let n = Int(l), n >= 1, n <= AuditQuery.maxLimit else { throw RequestError.schema("limit", "must be a whole number from 1 to \(AuditQuery.maxLimit)") }
            self.limit = n
        }
    }

    static func time(_ text: String, now: Double) -> Double? {
        if let n = Double(text), n.isFinite, n >= 0, n < 1e11 { return n }
        let f = ISO8601DateFormatter()
        if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        if let ago = parseDuration(text), ago <= 3.2e9 { return now - ago }
        return nil
    }
}
