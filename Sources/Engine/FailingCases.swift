import EvalCore
import Foundation
import GoldenSets

/// The cases an earlier eval report says failed or errored (`--filter-failing REPORT`), checked to
/// come from the golden set about to run: a report of another set would quietly select nothing,
/// or the wrong cases.
public enum FailingCases {
    public struct Problem: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reports larger than this are refused before they are read whole.
    static let maxReportBytes = 1 << 30

    public static func read(report path: String, goldenSet: String) -> Result<Set<String>, Problem> {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? NSNumber else {
            return .failure(Problem(message: "cannot read the report"))
        }
        guard size.int64Value <= maxReportBytes else { return .failure(Problem(message: "the report is larger than 1 GiB")) }
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSONValue.parse(bytes: Array(data)) else {
            return .failure(Problem(message: "not a JSON report"))
        }
        guard json["schema"]?.stringValue == "evalengine.eval-report/v1", let rows = json["cases"]?.arrayValue else {
            return .failure(Problem(message: "not an eval report (schema \(json["schema"]?.stringValue ?? "missing"))"))
        }
        var all = Set<String>()
        var failing = Set<String>()
        for row in rows {
            guard let id = row["id"]?.stringValue, let status = row["status"]?.stringValue else { continue }
            all.insert(id)
            if status == "failed" || status == "errored" { failing.insert(id) }
        }
        guard !all.isEmpty else { return .failure(Problem(message: "the report has no case rows")) }
        // Every case the report names must be one of this golden set's.
        var known = Set<String>()
        if let reader = try? GoldenSetReader(path: goldenSet) {
            while let c = try? reader.next() { known.insert(c.id) }
        }
        if !known.isEmpty, let stranger = all.sorted().first(where: { !known.contains($0) }) {
            return .failure(Problem(message: "the report is of another golden set (its case '\(stranger)' is not in \(goldenSet))"))
        }
        guard !failing.isEmpty else { return .failure(Problem(message: "no case failed or errored in that report: there is nothing to re-run")) }
        return .success(failing)
    }
}
