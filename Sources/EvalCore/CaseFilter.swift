/// Which cases of a golden set a run takes (`--filter-failing`, `--filter-tag`, `--filter-id`).
/// Every condition given must hold. The report records the filter, and `merge` refuses to mix
/// filtered and unfiltered runs.
public struct CaseFilter: Sendable, Hashable {
    /// Cases that failed or errored in an earlier report, and that report's path.
    public var failingIDs: Set<String>?
    public var failingReport: String?
    /// A case carrying any of these tags.
    public var tags: [String] = []
    /// A case whose id this pattern matches (anywhere; anchor it with ^...$).
    public var idPattern: LinearRegex?

    public init() {}

    /// Reads `json` back (a merged report carries its shards' filter).
    public init?(json: JSONValue) {
        guard let o = json.objectValue else { return nil }
        if let ids = o["failing_ids"]?.arrayValue {
            failingIDs = Set(ids.compactMap(\.stringValue))
            failingReport = o["failing_in"]?.stringValue
        }
        tags = o["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if let p = o["id_pattern"]?.stringValue { idPattern = try? LinearRegex(p) }
    }

    public var isEmpty: Bool { failingIDs == nil && tags.isEmpty && idPattern == nil }

    public func contains(_ c: GoldenCase) -> Bool {
        if let ids = failingIDs, !ids.contains(c.id) { return false }
        if !tags.isEmpty, !c.tags.contains(where: tags.contains) { return false }
        // Ids are short, the pattern's program bounded: the default step budget cannot be reached.
        if let p = idPattern, !p.matches(c.id) { return false }
        return true
    }

    /// As the report shows it, and as the run's input digest includes it (the ids sorted).
    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if let ids = failingIDs {
            o["failing_in"] = .string(failingReport ?? "")
            o["failing_ids"] = .array(ids.sorted().map(JSONValue.string))
        }
        if !tags.isEmpty { o["tags"] = .array(tags.map(JSONValue.string)) }
        if let p = idPattern { o["id_pattern"] = .string(p.pattern) }
        return .object(o)
    }
}
