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
            if (field(r, "filter") == .null) != (field(first, "filter") == .null) {
                let (filtered, whole) = field(r, "filter") == .null ? (first.path, r.path) : (r.path, first.path)
                throw MergeError(message: "\(filtered) ran a filtered part of the golden set (--filter-*) and \(whole) did not: a merge of them is neither run")
            }
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

        let k = field(first, "repeats") == .null ? 1 : field(first, "repeats").wholeNumber(in: 1...GateConfig.maxRepeats) ?? 0
        guard k >= 1 else { throw MergeError(message: "\(first.path): run.repeats is not a sample count") }
        // The targets of a matrix, as its first shard names them (every shard's set digest is the same).
        var metas: [TargetResult] = []
        for t in first.json["targets"]?.arrayValue ?? [] {
            guard let label = t["label"]?.stringValue else { throw MergeError(message: "\(first.path): a target has no label") }
            metas.append(TargetResult(label: label, endpoint: t["endpoint"]?.stringValue ?? "", model: t["model"]?.stringValue ?? "", prompt: t["prompt"]?.stringValue ?? "",
                                      summary: RunSummary(), gate: GateResult(verdict: .inconclusive, checks: [], reasons: [])))
        }
        if metas.isEmpty {
            metas = [TargetResult(label: field(first, "endpoint").stringValue ?? "", endpoint: field(first, "endpoint").stringValue ?? "",
                                  model: field(first, "model").stringValue ?? "", prompt: "", summary: RunSummary(), gate: GateResult(verdict: .inconclusive, checks: [], reasons: []))]
        }
        let targetIndex = Dictionary(metas.enumerated().map { ($1.label, $0) }) { a, _ in a }
        var aggregates = metas.map { _ in TargetAggregate(k: k, seed: seed) }
        var overall = SummaryAccumulator()
        overall.seed = seed
        overall.samplesPerCase = k
        var sink = try ReportSink(targets: targets)
        var seen = Set<String>()
        var cases = Set<String>()
        var duration = 0.0
        var started = Date.distantFuture
        let iso = ISO8601DateFormatter()
        for index in 1...first.shard.count {
            let r = byIndex[index]!
            if field(r, "cancelled").boolValue == true { throw MergeError(message: "\(r.path): shard \(r.shard) was cancelled before it finished") }
            let rows = r.json["cases"]?.arrayValue ?? []
            let expected = (field(r, "cases").wholeNumber(in: 0...Int(Int32.max)) ?? -1) * metas.count
            guard rows.count == expected else {
                throw MergeError(message: "\(r.path): shard \(r.shard) has \(rows.count) case rows of its \(expected)")
            }
            for row in rows {
                guard let record = CaseRecord(json: row) else { throw MergeError(message: "\(r.path): a case row is not readable") }
                if let contradiction = record.statusContradiction { throw MergeError(message: "\(r.path): \(contradiction)") }
                guard Shard.of(record.id, count: r.shard.count) == r.shard.index else {
                    throw MergeError(message: "\(r.path): case '\(record.id)' does not belong to shard \(r.shard)")
                }
                guard let t = metas.count == 1 && record.target == nil ? 0 : record.target.flatMap({ targetIndex[$0] }) else {
                    throw MergeError(message: "\(r.path): case '\(record.id)' names a target the run does not have")
                }
                guard (record.samples?.k ?? 1) == k else { throw MergeError(message: "\(r.path): case '\(record.id)' has other repeats than its run") }
                guard seen.insert("\(record.id)\u{1F}\(t)").inserted else { throw MergeError(message: "\(r.path): case '\(record.id)' appears in two shards") }
                cases.insert(record.id)
                for sample in record.samples?.records ?? [record] { overall.add(sample.outcome) }
                aggregates[t].add(row: record)
                try sink.write(record)
            }
            duration = max(duration, r.json["summary"]?["duration_seconds"]?.numberValue ?? 0)
            if let s = field(r, "started_at").stringValue, let d = iso.date(from: s) { started = min(started, d) }
        }
        let (summary, verdict, results) = EvalRunner.conclude(metas, aggregates, overall: overall, gate: gate, durationSeconds: duration, cancelledOf: nil)
        let setDigest = field(first, "set_digest").stringValue ?? ""
        var result = EvalResult(
            runID: "merged-" + setDigest.prefix(16), inputDigest: setDigest, setDigest: setDigest, shard: nil, gateConfig: gate, seed: seed,
            resumedCases: 0, startedAt: started == .distantFuture ? Date() : started, summary: summary, gate: verdict, cancelled: false)
        result.targets = results
        result.repeats = k
        if let f = first.json["run"]?["filter"], f != .null { result.filter = CaseFilter(json: f) }
        let info = RunInfo(goldenSet: field(first, "golden_set").stringValue ?? "", endpoint: field(first, "endpoint").stringValue ?? "",
                           model: field(first, "model").stringValue ?? "", concurrency: field(first, "concurrency").wholeNumber(in: 0...1_000_000) ?? 0, totalCases: cases.count)
        try sink.finish(result, info: info)
        return (result, info)
    }
}
