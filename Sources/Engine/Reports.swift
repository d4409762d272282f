import EvalCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Buffered append-only file writer (case rows are spooled through it, so a 100,000-case run
/// never holds its rows in memory).
final class SpoolFile {
    let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8] = []

    init(path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        guard let f = fopen(path, "w") else { throw ReportError(message: "cannot write \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        file = f
        buffer.reserveCapacity(1 << 16)
    }

    func append(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func append(_ s: String) throws { try append(Array(s.utf8)) }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        let written = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == buffer.count else { throw ReportError(message: "write to \(path) failed: \(String(cString: strerror(errno)))") }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Copies this spool's content into `other`.
    func copy(into other: SpoolFile) throws {
        try flush()
        fflush(file)
        guard let r = fopen(path, "r") else { throw ReportError(message: "cannot reread \(path)") }
        defer { fclose(r) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, r) }
            if n == 0 { break }
            try other.append(Array(chunk[0..<n]))
        }
    }

    func close() throws {
        try flush()
        fclose(file)
    }

    deinit {}
}

public struct ReportError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Where a run's reports go, and the metadata they carry.
public struct ReportTargets: Sendable {
    public var jsonPath: String?
    public var junitPath: String?
    public var includeOutputs = true
    /// Signs the JSON report (HMAC-SHA256) when set; `ReportIntegrity.key()` reads it from the environment.
    public var signingKey: [UInt8]? = ReportIntegrity.key()

    public init(jsonPath: String? = nil, junitPath: String? = nil) {
        self.jsonPath = jsonPath
        self.junitPath = junitPath
    }
}

/// Describes the run in the report header.
public struct RunInfo: Sendable {
    public var goldenSet: String
    public var endpoint: String
    public var model: String
    public var concurrency: Int
    public var totalCases: Int

    public init(goldenSet: String, endpoint: String, model: String, concurrency: Int, totalCases: Int) {
        self.goldenSet = goldenSet
        self.endpoint = endpoint
        self.model = model
        self.concurrency = concurrency
        self.totalCases = totalCases
    }
}

/// Streams case records into the JSON report (`evalengine.eval-report/v1`, docs/REPORT.md) and
/// JUnit XML, and writes both files whole when the run ends.
public struct ReportSink: CaseSink {
    let targets: ReportTargets
    private let jsonSpool: SpoolFile?
    private let junitSpool: SpoolFile?
    private var firstRow = true
    /// Rows written (testcases: one per case and target, whatever the repeats), failed and errored ones.
    private var rows = (tests: 0, failures: 0, errors: 0)
    /// Over the rows exactly as written (keys sorted), for the report's integrity digest.
    private let rowsDigest = SHA256Stream()

    public init(targets: ReportTargets) throws {
        self.targets = targets
        jsonSpool = try targets.jsonPath.map { try SpoolFile(path: $0 + ".cases.tmp") }
        junitSpool = try targets.junitPath.map { try SpoolFile(path: $0 + ".cases.tmp") }
    }

    public mutating func write(_ r: CaseRecord) throws {
        if let jsonSpool {
            var bytes: [UInt8] = firstRow ? [] : Array(",\n".utf8)
            let start = bytes.count
            r.json(includeOutput: targets.includeOutputs).write(to: &bytes, sortedKeys: true)
            bytes.withUnsafeBytes { rowsDigest.update(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            try jsonSpool.append(bytes)
        }
        if let junitSpool { try junitSpool.append(ReportSink.junitCase(r)) }
        firstRow = false
        rows.tests += 1
        if r.status == .failed { rows.failures += 1 }
        if r.status == .errored { rows.errors += 1 }
    }

    /// Writes the final files (summary first, then the spooled cases) and removes the spools.
    public func finish(_ result: EvalResult, info: RunInfo) throws {
        if let jsonSpool, let path = targets.jsonPath {
            let out = try SpoolFile(path: path)
            let header = ReportSink.headerJSON(result, info: info)
            var head = header.serialized(sortedKeys: true)
            head.removeLast()  // reopen the object to append "cases"
            try out.append(head + ",\"cases\":[\n")
            try jsonSpool.copy(into: out)
            let integrity = ReportIntegrity.seal(header: header, rowsSHA256: rowsDigest.finalHex(), key: targets.signingKey)
            try out.append("\n],\"integrity\":" + integrity.serialized(sortedKeys: true) + "}\n")
            try out.close()
            try jsonSpool.close()
            unlink(jsonSpool.path)
        }
        if let junitSpool, let path = targets.junitPath {
            let out = try SpoolFile(path: path)
            let s = result.summary
            let counts = "tests=\"\(rows.tests)\" failures=\"\(rows.failures)\" errors=\"\(rows.errors)\" time=\"\(String(format: "%.3f", s.durationSeconds))\""
            try out.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            try out.append("<testsuites name=\"evalengine\" \(counts)>\n")
            try out.append("<testsuite name=\"\(xmlEscape(info.goldenSet))\" \(counts)>\n")
            try out.append("<properties><property name=\"verdict\" value=\"\(result.gate.verdict.rawValue)\"/><property name=\"endpoint\" value=\"\(xmlEscape(info.endpoint))\"/><property name=\"model\" value=\"\(xmlEscape(info.model))\"/></properties>\n")
            try junitSpool.copy(into: out)
            try out.append("</testsuite>\n</testsuites>\n")
            try out.close()
            try junitSpool.close()
            unlink(junitSpool.path)
        }
    }

    /// The report without its cases: run, verdict, checks and summary; with a matrix, a summary
    /// per target and the side-by-side table.
    public static func headerJSON(_ result: EvalResult, info: RunInfo) -> JSONValue {
        let iso = ISO8601DateFormatter()
        var summary = summaryJSON(result.summary)
        summary["resumed_cases"] = .number(Double(result.resumedCases))
        var run: [String: JSONValue] = [
            "id": .string(result.runID), "started_at": .string(iso.string(from: result.startedAt)),
            "input_digest": .string(result.inputDigest),
            "golden_set": .string(info.goldenSet), "endpoint": .string(info.endpoint), "model": .string(info.model),
            "concurrency": .number(Double(info.concurrency)), "cases": .number(Double(info.totalCases)), "cancelled": .bool(result.cancelled),
            "set_digest": .string(result.setDigest), "shard": result.shard?.json ?? .null, "seed": .string(String(result.seed)),
        ]
        if result.repeats > 1 { run["repeats"] = .number(Double(result.repeats)) }
        if let f = result.filter, !f.isEmpty { run["filter"] = f.json }
        var header: [String: JSONValue] = [
            "schema": "evalengine.eval-report/v1",
            "run": .object(run),
            "gate": result.gateConfig.json,
            "verdict": .string(result.gate.verdict.rawValue),
            "reasons": .array(result.gate.reasons.map(JSONValue.string)),
            "notes": .array(result.gate.notes.map(JSONValue.string)),
            "checks": .array(result.gate.checks.map(\.json)),
            "summary": .object(summary),
        ]
        if result.isMatrix {
            header["targets"] = .array(result.targets.map { t in
                [
                    "label": .string(t.label), "endpoint": .string(t.endpoint), "model": .string(t.model), "prompt": .string(t.prompt),
                    "verdict": .string(t.gate.verdict.rawValue), "reasons": .array(t.gate.reasons.map(JSONValue.string)),
                    "notes": .array(t.gate.notes.map(JSONValue.string)), "checks": .array(t.gate.checks.map(\.json)),
                    "summary": .object(summaryJSON(t.summary)),
                ]
            })
            header["matrix"] = matrixTable(result)
        }
        return .object(header)
    }

    /// The side-by-side table: one row per target, the figures people compare.
    static func matrixTable(_ result: EvalResult) -> JSONValue {
        let columns = ["target", "verdict", "pass_rate", "pass_rate_ci95_low", "pass_rate_ci95_high", "mean_score", "errored", "p95_latency_ms", "cost_usd"]
            + (result.repeats > 1 ? ["pass_all_rate", "flaky"] : [])
        let rows: [JSONValue] = result.targets.map { t in
            let s = t.summary
            var row: [JSONValue] = [
                .string(t.label), .string(t.gate.verdict.rawValue), s.passRate.map(JSONValue.number) ?? .null,
                s.passRateInterval.map { .number($0.low) } ?? .null, s.passRateInterval.map { .number($0.high) } ?? .null,
                s.meanScore.map(JSONValue.number) ?? .null, .number(Double(s.errored)), s.latency.map { .number(round3($0.p95)) } ?? .null,
                s.costUSD.map(JSONValue.number) ?? .null,
            ]
            if result.repeats > 1 { row += [s.repeats?.passAllRate.map(JSONValue.number) ?? .null, .number(Double(s.repeats?.flaky ?? 0))] }
            return .array(row)
        }
        return ["columns": .array(columns.map(JSONValue.string)), "rows": .array(rows)]
    }

    /// A summary's figures as the report shows them.
    static func summaryJSON(_ s: RunSummary) -> [String: JSONValue] {
        var summary: [String: JSONValue] = [
            "total": .number(Double(s.total)), "passed": .number(Double(s.passed)), "failed": .number(Double(s.failed)),
            "errored": .number(Double(s.errored)), "scored": .number(Double(s.scored)),
            "retries": .number(Double(s.retries)), "rate_limited": .number(Double(s.rateLimited)),
            "cache_hits": .number(Double(s.cacheHits)),
            "tokens": ["prompt": .number(Double(s.promptTokens)), "completion": .number(Double(s.completionTokens))],
            "duration_seconds": .number(round3(s.durationSeconds)),
            "cases_per_second": .number(s.durationSeconds > 0 ? round3(Double(s.total) / s.durationSeconds) : 0),
        ]
        if let p = s.passRate { summary["pass_rate"] = .number(p) }
        if let ci = s.passRateInterval { summary["pass_rate_ci95"] = [.number(ci.low), .number(ci.high)] }
        if let m = s.meanScore { summary["mean_score"] = .number(m) }
        if let c = s.costUSD { summary["cost_usd"] = .number(c) }
        if !s.metrics.isEmpty {
            summary["metrics"] = .object(s.metrics.mapValues { m in
                ["mean": .number(m.mean), "ci95": [.number(m.low), .number(m.high)], "count": .number(Double(m.count))]
            })
        }
        if let l = s.latency {
            summary["latency_ms"] = ["p50": .number(round3(l.p50)), "p95": .number(round3(l.p95)), "p99": .number(round3(l.p99)),
                                     "mean": .number(round3(l.mean)), "max": .number(round3(l.max)), "count": .number(Double(l.count))]
        }
        if let st = s.stream {
            let t = st.ttft
            var o: [String: JSONValue] = [
                "ttft_ms": ["p50": .number(round3(t.p50)), "p95": .number(round3(t.p95)), "p99": .number(round3(t.p99)), "mean": .number(round3(t.mean)),
                            "max": .number(round3(t.max)), "count": .number(Double(t.count))],
            ]
            if let v = st.interTokenP50Ms { o["inter_token_p50_ms"] = .number(round3(v)) }
            if let v = st.interTokenP95Ms { o["inter_token_p95_ms"] = .number(round3(v)) }
            if let v = st.tokensPerSecond { o["tokens_per_second"] = .number(round3(v)) }
            summary["stream"] = .object(o)
        }
        if !s.errorsByKind.isEmpty { summary["errors_by_kind"] = .object(s.errorsByKind.mapValues { .number(Double($0)) }) }
        if !s.firstErrorMessages.isEmpty { summary["first_error_messages"] = .object(s.firstErrorMessages.mapValues(JSONValue.string)) }
        if !s.judge.isEmpty { summary["judge"] = s.judge.json }
        if let r = s.repeats {
            // pass@1 is the pass rate above (over samples); its interval is taken at the case count.
            var o = r.json.objectValue ?? [:]
            if let p = s.passRate { o["pass_at_1"] = .number(p) }
            summary["repeats"] = .object(o)
        }
        return summary
    }

    static func junitCase(_ r: CaseRecord) -> String {
        var title = r.description.map { "\(r.id): \($0)" } ?? r.id
        // A repeated case is one testcase; a flaky one says so in its name, with its pass count.
        if let s = r.samples, s.flaky { title += " [flaky: \(s.passed) of \(s.records.count) passed]" }
        let name = xmlEscape(title)
        let latency = r.samples.map { $0.records.compactMap(\.latencyMs).max() ?? 0 } ?? (r.latencyMs ?? 0)
        let time = String(format: "%.3f", latency / 1000)
        let classname = r.target.map { "evalengine.eval." + xmlEscape($0) } ?? "evalengine.eval"
        var s = "<testcase classname=\"\(classname)\" name=\"\(name)\" time=\"\(time)\">"
        switch r.status {
        case .passed: break
        case .failed:
            var failing = r.assertions
            if let samples = r.samples { failing = samples.records.first { $0.status == .failed }?.assertions ?? [] }
            var failed = failing.filter { !$0.pass }.map { "\($0.type): \($0.reason)" }.joined(separator: "\n")
            if let samples = r.samples { failed = "passed \(samples.passed) of \(samples.records.count) samples\n" + failed }
            s += "<failure message=\"\(xmlEscape(failed.split(separator: "\n").first.map(String.init) ?? "score below threshold"))\">\(xmlEscape(failed))</failure>"
        case .errored:
            s += "<error type=\"\(xmlEscape(r.errorKind ?? "error"))\" message=\"\(xmlEscape(r.errorMessage ?? ""))\"/>"
        }
        // What the model called, where a CI test view shows it.
        if !r.toolCalls.isEmpty {
            s += "<system-out>\(xmlEscape(r.toolCalls.map { "tool call: \($0.name)(\($0.rawArguments.prefix(2000)))" }.joined(separator: "\n")))</system-out>"
        }
        return s + "</testcase>\n"
    }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default:
            if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) { continue }
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
