import EvalCore
import Foundation

/// Joins the reports of a sharded eval (`--shard i/N`, one per Argo pod) into the report one run
/// of the whole golden set gives: counts, means, intervals and exact percentiles recomputed from
/// the per-case rows (the summary is independent of case order), the gate re-applied, the same
/// verdict. Refuses reports from different golden sets, prompts, endpoints, gates or seeds,
/// duplicate or missing shards, and shards that did not finish.
public enum ReportMerge {
    public struct MergeError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    struct ShardReport {
        var path: String
        var json: JSONValue
        var shard: Shard
    }

    /// Merges the reports at `paths`, writes the merged report to `targets`, returns its result.
    public static func merge(paths: [String], targets: ReportTargets) throws -> (EvalResult, RunInfo) {
        guard !paths.isEmpty else { throw MergeError(message: "no reports to merge") }
        var reports: [ShardReport] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { throw MergeError(message: "\(path): cannot read the report") }
            let json: JSONValue
            do { json = try JSONValue.parse(bytes: Array(data)) } catch { throw MergeError(message: "\(path): not JSON: \(error.message)") }
            guard json["schema"]?.stringValue == "evalengine.eval-report/v1" else {
                throw MergeError(message: "\(path): not an eval report (schema \(json["schema"]?.stringValue ?? "missing"))")
            }
            guard let i = json["run"]?["shard"]?["index"]?.wholeNumber(in: 1...1_000_000), let n = json["run"]?["shard"]?["count"]?.wholeNumber(in: 1...1_000_000),
                  let shard = Shard(index: i, count: n) else {
                throw MergeError(message: "\(path): not a shard report (run with --shard i/N)")
            }
            if let problem = ReportIntegrity.problem(report: json, path: path, key: ReportIntegrity.key()) { throw MergeError(message: problem) }
            reports.append(ShardReport(path: path, json: json, shard: shard))
        }
        let first = reports[0]
        func field(_ r: ShardReport, _ key: String) -> JSONValue { r.json["run"]?[key] ?? .null }
        for r in reports.dropFirst() {
            if field(r, "set_digest") != field(first, "set_digest") {
                throw MergeError(message: "\(r.path) and \(first.path) come from different golden sets, prompts or endpoints (set digests differ)")
            }
            if r.json["gate"] != first.json["gate"] { throw MergeError(message: "\(r.path) and \(first.path) were gated with different thresholds") }
            if field(r, "seed") != field(first, "seed") { throw MergeError(message: "\(r.path) and \(first.path) used different seeds") }
            if r.shard.count != first.shard.count {
                throw MergeError(message: "\(r.path) is shard \(r.shard) but \(first.path) is shard \(first.shard): one run has one shard count")
            }
        }
        var byIndex: [Int: ShardReport] = [:]
        for r in reports {
            if let other = byIndex[r.shard.index] { throw MergeError(message: "\(r.path) and \(other.path) are both shard \(r.shard)") }
            byIndex[r.shard.index] = r
        }
        let missing = (1...first.shard.count).filter { byIndex[$0] == nil }
        if !missing.isEmpty {
            throw MergeError(message: "shards \(missing.map { "\($0)/\(first.shard.count)" }.joined(separator: ", ")) are missing: a merge of part of a run is not the run")
        }
        guard let gateJSON = first.json["gate"], let gate = try? GateConfig.decode(gateJSON) else {
            throw MergeError(message: "\(first.path): the report does not record its gate")
        }
        let seed = UInt64(field(first, "seed").stringValue ?? "") ?? 0x5EED

        var accumulator = SummaryAccumulator()
        accumulator.seed = seed
        var sink = try ReportSink(targets: targets)
        var seen = Set<String>()
        var duration = 0.0
        var started = Date.distantFuture
        let iso = ISO8601DateFormatter()
        for index in 1...first.shard.count {
            let r = byIndex[index]!
            if field(r, "cancelled").boolValue == true { throw MergeError(message: "\(r.path): shard \(r.shard) was cancelled before it finished") }
            let rows = r.json["cases"]?.arrayValue ?? []
            let expected = field(r, "cases").wholeNumber(in: 0...Int(Int32.max)) ?? -1
            guard rows.count == expected else {
                throw MergeError(message: "\(r.path): shard \(r.shard) has \(rows.count) case rows of its \(expected) cases")
            }
            for row in rows {
                guard let record = CaseRecord(json: row) else { throw MergeError(message: "\(r.path): a case row is not readable") }
                if let contradiction = record.statusContradiction { throw MergeError(message: "\(r.path): \(contradiction)") }
                guard Shard.of(record.id, count: r.shard.count) == r.shard.index else {
                    throw MergeError(message: "\(r.path): case '\(record.id)' does not belong to shard \(r.shard)")
                }
                guard seen.insert(record.id).inserted else { throw MergeError(message: "\(r.path): case '\(record.id)' appears in two shards") }
                accumulator.add(record.outcome)
                try sink.write(record)
            }
            duration = max(duration, r.json["summary"]?["duration_seconds"]?.numberValue ?? 0)
            if let s = field(r, "started_at").stringValue, let d = iso.date(from: s) { started = min(started, d) }
        }
        let summary = accumulator.finish(durationSeconds: duration)
        let setDigest = field(first, "set_digest").stringValue ?? ""
        let result = EvalResult(
            runID: "merged-" + setDigest.prefix(16), inputDigest: setDigest, setDigest: setDigest, shard: nil, gateConfig: gate, seed: seed,
            resumedCases: 0, startedAt: started == .distantFuture ? Date() : started, summary: summary, gate: gate.evaluate(summary), cancelled: false)
        let info = RunInfo(goldenSet: field(first, "golden_set").stringValue ?? "", endpoint: field(first, "endpoint").stringValue ?? "",
                           model: field(first, "model").stringValue ?? "", concurrency: field(first, "concurrency").wholeNumber(in: 0...1_000_000) ?? 0, totalCases: seen.count)
        try sink.finish(result, info: info)
        return (result, info)
    }
}
