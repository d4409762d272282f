import CoreMetrics
import EvalCore
import Foundation
import GoldenSets
import Logging
import ResultStore

/// A named regression suite from the service config: stage requests, each run `repeats` times.
public struct TestSuiteConfig: Sendable {
    public struct Request: Sendable {
        public var name: String
        public var stage: StageKind
        /// The stage request body, as a POST would send it.
        public var body: JSONValue
    }

    public var name: String
    public var description = ""
    /// Runs of each request per suite run (a case whose result differs between them is flaky).
    public var repeats = 1
    public var requests: [Request] = []

    static let maxRepeats = 20
    static let maxRequests = 100

    /// `test_suites: {NAME: {description, repeats, requests: [{name, stage, body}]}}`.
    static func decode(_ json: JSONValue, fail: (String, String) -> InputError) throws(InputError) -> [String: TestSuiteConfig] {
        guard let suites = json.objectValue else { throw fail("test_suites", "a mapping of suite names to {repeats, requests}") }
        var out: [String: TestSuiteConfig] = [:]
        for (name, value) in suites.sorted(by: { $0.key < $1.key }) {
            let at = "test_suites.\(name)"
            guard name.count <= 64, !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw fail(at, "a suite name is 1 to 64 letters, digits, - and _ (it is a URL path segment)")
            }
            guard let o = value.objectValue else { throw fail(at, "must be a mapping of description, repeats, requests") }
            for key in o.keys.sorted() where !["description", "repeats", "requests"].contains(key) {
                throw fail("\(at).\(key)", "unknown field (expected description, repeats, requests)")
            }
            var suite = TestSuiteConfig(name: name)
            suite.description = o["description"]?.stringValue ?? ""
            if let r = o["repeats"] {
                guard let n = r.wholeNumber(in: 1...maxRepeats) else { throw fail("\(at).repeats", "must be a whole number from 1 to \(maxRepeats)") }
                suite.repeats = n
            }
            guard let list = o["requests"]?.arrayValue, !list.isEmpty, list.count <= maxRequests else {
                throw fail("\(at).requests", "must be a list of 1 to \(maxRequests) {name, stage, body}")
            }
            var names = Set<String>()
            for (i, item) in list.enumerated() {
                let field = "\(at).requests[\(i)]"
                guard let r = item.objectValue, let rname = r["name"]?.stringValue, !rname.isEmpty, rname.count <= 128 else {
                    throw fail(field + ".name", "every request has a name (1 to 128 characters)")
                }
                guard names.insert(rname).inserted else { throw fail(field + ".name", "'\(rname)' is named twice") }
                guard let stageText = r["stage"]?.stringValue, let stage = StageKind(rawValue: stageText) else {
                    throw fail(field + ".stage", "must be eval, shadow-compare or index-test")
                }
                guard let body = r["body"], body.objectValue != nil else { throw fail(field + ".body", "the stage request body, a mapping") }
                suite.requests.append(Request(name: rname, stage: stage, body: body))
            }
            out[name] = suite
        }
        return out
    }
}

/// Runs test suites: a run submits every request (times `repeats`) as jobs through the job
/// manager, with keys derived from the run, so that submitting again — after a restart, or an
/// Argo retry with the same Idempotency-Key — attaches instead of running twice. A run ends when
/// its last job does; it is then summarised (verdicts, pass rate, duration, each eval item's case
/// outcomes) and kept after its jobs are gone, for the history and its flaky cases.
final class SuiteRunner: Sendable {
    let config: ServiceConfig
    let store: Store
    let manager: JobManager
    let logger: Logger

    init(config: ServiceConfig, store: Store, manager: JobManager, logger: Logger) {
        self.config = config
        self.store = store
        self.manager = manager
        self.logger = logger
    }

    enum StartError: Error {
        case unknownSuite(String)
        case request(RequestError)
        case submit(SubmitError)
        case store(String)
    }

    /// Decodes a suite's requests against the service config. Evals and shadow comparisons ask the
    /// endpoint again unless the body says otherwise (`options.cache: refresh`): a regression suite
    /// that read the cache would never see the endpoint change.
    func requests(of suite: TestSuiteConfig) throws(RequestError) -> [StageRequest] {
        try suite.requests.map { (r: TestSuiteConfig.Request) throws(RequestError) -> StageRequest in
            var body = r.body
            if r.stage != .indexTest, case .object(var o) = body {
                var options = o["options"]?.objectValue ?? [:]
                if options["cache"] == nil { options["cache"] = "refresh" }
                o["options"] = .object(options)
                if o["purpose"] == nil { o["purpose"] = "benchmark" }
                body = .object(o)
            }
            do throws(RequestError) {
                return try StageRequest.decode(kind: r.stage, body: body.canonicalBytes, config: config)
            } catch {
                throw RequestError(status: 422, code: "invalid_suite_request",
                                   message: "test suite '\(suite.name)', request '\(r.name)': \(error.message)", field: error.field.map { "requests.\(r.name).\($0)" })
            }
        }
    }

    /// Starts (or attaches to) the run of `suite` with `key`, and makes sure every item's job exists.
    func start(suiteName: String, key: String, caller: String) async throws(StartError) -> StoredSuiteRun {
        guard let suite = config.testSuites[suiteName] else { throw .unknownSuite(suiteName) }
        let stageRequests: [StageRequest]
        do { stageRequests = try await Task.detached { [self] () throws(RequestError) -> [StageRequest] in try requests(of: suite) }.value } catch let e as RequestError {
            throw .request(e)
        } catch {
            throw .store("\(error)")
        }
        let expected = stageRequests.count * suite.repeats
        let run: StoredSuiteRun
        do {
            (run, _) = try await store.writing { store throws(SQLiteError) in
                try store.attachOrCreateSuiteRun(suite: suite.name, key: key, caller: caller, expectedItems: expected, newID: "suite_" + String(JobManager.newID().dropFirst(4)))
            }
        } catch {
            throw .store("\(error)")
        }
        if run.items.count < run.expectedItems { try await submitItems(run, suite: suite, requests: stageRequests, caller: caller) }
        return (try? store.suiteRun(id: run.id)) ?? run
    }

    private func submitItems(_ run: StoredSuiteRun, suite: TestSuiteConfig, requests: [StageRequest], caller: String) async throws(StartError) {
        for (position, request) in requests.enumerated() {
            for r in 0..<suite.repeats where !run.items.contains(where: { $0.position == position && $0.repeatIndex == r }) {
                let job: StoredJob
                do {
                    (job, _) = try await manager.submit(request, key: "\(run.id):\(position):\(r)", caller: caller)
                } catch {
                    throw .submit(error)
                }
                let item = StoredSuiteRun.Item(position: position, repeatIndex: r, name: suite.requests[position].name, stage: request.kind.rawValue,
                                               jobID: job.id, requestDigest: request.digest)
                do {
                    try await store.writing { store throws(SQLiteError) in try store.recordSuiteItem(runID: run.id, item) }
                } catch {
                    throw .store("\(error)")
                }
            }
        }
    }

    /// After a restart: runs whose items were not all submitted are completed, and runs whose jobs
    /// all ended while nobody was summarising are summarised.
    func resume() async {
        for run in (try? store.suiteRuns(suite: nil, limit: 1000, unfinishedOnly: true)) ?? [] {
            if run.items.count < run.expectedItems {
                _ = try? await start(suiteName: run.suite, key: run.idempotencyKey, caller: run.caller)
            } else if let jobID = run.items.first?.jobID {
                await jobEnded(jobID)
            }
        }
        for name in config.testSuites.keys {
            if let last = try? store.suiteRuns(suite: name, limit: 20).first(where: { $0.summary != nil }), let summary = last.summary.flatMap({ try? JSONValue.parse($0) }) {
                recordMetrics(name, summary)
            }
        }
    }

    /// Called when any job ends: summarises its suite run once every item's job has.
    func jobEnded(_ jobID: String) async {
        guard let run = try? store.suiteRun(ofJob: jobID), run.summary == nil, run.items.count == run.expectedItems else { return }
        var jobs: [String: StoredJob] = [:]
        for item in run.items {
            guard let job = try? manager.job(id: item.jobID), job.state.terminal else { return }
            jobs[item.jobID] = job
        }
        let finished = run.items.compactMap { jobs[$0.jobID]?.finishedAt }.max() ?? Date().timeIntervalSince1970
        let ended = jobs, runItems = run.items
        let items = await Task.detached { SuiteRunner.itemsWithOutcomes(runItems, ended) }.value
        var done = run
        done.items = items
        done.finishedAt = finished
        let summary = SuiteRunner.summary(done, jobs: jobs)
        do {
            try await store.writing { store throws(SQLiteError) in
                try store.finishSuiteRun(id: run.id, summary: summary.serialized(sortedKeys: true), items: items, finishedAt: finished)
            }
        } catch {
            logger.error("cannot record the end of a suite run", metadata: ["run_id": .string(run.id), "error": .string("\(error)")])
            return
        }
        recordMetrics(run.suite, summary)
        logger.info("test suite run ended", metadata: ["suite": .string(run.suite), "run_id": .string(run.id), "verdict": .string(summary["verdict"]?.stringValue ?? "")])
    }

    private func recordMetrics(_ suite: String, _ summary: JSONValue) {
        if let rate = summary["pass_rate"]?.numberValue {
            CoreMetrics.Gauge(label: "evalengine_test_pass_rate", dimensions: [("suite", suite)]).record(rate)
        }
        if let seconds = summary["duration_seconds"]?.numberValue {
            CoreMetrics.Gauge(label: "evalengine_test_duration_seconds", dimensions: [("suite", suite)]).record(seconds)
        }
        if let flaky = summary["flaky_across_repeats"]?.arrayValue {
            CoreMetrics.Gauge(label: "evalengine_test_flaky_cases", dimensions: [("suite", suite)]).record(flaky.count)
        }
    }

    /// Each item's verdict, and for evals the outcome of every case (from the job's report).
    static func itemsWithOutcomes(_ items: [StoredSuiteRun.Item], _ jobs: [String: StoredJob]) -> [StoredSuiteRun.Item] {
        items.map { item in
            var item = item
            guard let job = jobs[item.jobID] else { return item }
            item.verdict = job.state == .completed ? (job.verdict ?? "error") : (job.state == .cancelled ? "cancelled" : "error")
            if item.stage == StageKind.eval.rawValue, job.state == .completed, let path = job.reportPath,
                let data = FileManager.default.contents(atPath: path), let report = try? JSONValue.parse(bytes: Array(data)),
                let cases = report["cases"]?.arrayValue {
                var outcomes: [String: JSONValue] = [:]
                for c in cases {
                    guard let id = c["id"]?.stringValue else { continue }
                    let status = c["status"]?.stringValue ?? "errored"
                    // With options.repeat a case appears once per sample: any non-pass is its outcome.
                    if let seen = outcomes[id]?.stringValue, seen != "passed" { continue }
                    outcomes[id] = .string(status)
                }
                item.outcomes = JSONValue.object(outcomes).serialized(sortedKeys: true)
            }
            return item
        }
    }

    /// Cases whose outcome differs between the repeats of one request in one run.
    static func flakyAcrossRepeats(_ items: [StoredSuiteRun.Item]) -> [JSONValue] {
        var out: [JSONValue] = []
        for (name, group) in Dictionary(grouping: items, by: \.name).sorted(by: { $0.key < $1.key }) where group.count > 1 {
            let maps = group.sorted { $0.repeatIndex < $1.repeatIndex }.map { outcomes($0) }
            let ids = Set(maps.flatMap(\.keys)).sorted()
            for id in ids {
                let seen = maps.map { $0[id] ?? "missing" }
                if Set(seen).count > 1 { out.append(["request": .string(name), "case_id": .string(id), "outcomes": .array(seen.map(JSONValue.string))]) }
            }
        }
        return out
    }

    static func outcomes(_ item: StoredSuiteRun.Item) -> [String: String] {
        (item.outcomes.flatMap { try? JSONValue.parse($0) }?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    /// The summary of a run whose jobs have all ended.
    static func summary(_ run: StoredSuiteRun, jobs: [String: StoredJob]) -> JSONValue {
        let verdicts = run.items.map { $0.verdict ?? "error" }
        let passed = verdicts.filter { $0 == "pass" }.count
        let verdict: String
        if passed == verdicts.count {
            verdict = "pass"
        } else if verdicts.contains("fail") {
            verdict = "fail"
        } else {
            verdict = "inconclusive"
        }
        let flaky = flakyAcrossRepeats(run.items)
        let duration = ((run.finishedAt ?? run.createdAt) - run.createdAt)
        return [
            "verdict": .string(verdict), "pass_rate": .number(verdicts.isEmpty ? 0 : Double(passed) / Double(verdicts.count)),
            "requests": .number(Double(verdicts.count)), "passed": .number(Double(passed)),
            "duration_seconds": .number((duration * 1000).rounded() / 1000), "flaky_across_repeats": .array(flaky),
        ]
    }

    /// The run as the API shows it: its items with their jobs' current state, and the summary once it has one.
    func envelope(_ run: StoredSuiteRun) -> JSONValue {
        let summary = run.summary.flatMap { try? JSONValue.parse($0) }
        let items: [JSONValue] = run.items.map { item in
            let job = try? manager.job(id: item.jobID)
            return [
                "name": .string(item.name), "repeat": .number(Double(item.repeatIndex)), "stage": .string(item.stage), "job_id": .string(item.jobID),
                "state": .string(job?.state.rawValue ?? "removed"), "verdict": (item.verdict ?? (job?.state == .completed ? job?.verdict : nil)).map(JSONValue.string) ?? .null,
                "request_digest": .string(item.requestDigest),
                "links": ["job": .string("/v1/jobs/\(item.jobID)"), "report": .string("/v1/jobs/\(item.jobID)/report")],
            ]
        }
        return [
            "api_version": "v1", "suite": .string(run.suite), "run_id": .string(run.id), "idempotency_key": .string(run.idempotencyKey),
            "caller": .string(run.caller), "state": .string(summary == nil ? "running" : "completed"), "terminal": .bool(summary != nil),
            "verdict": summary?["verdict"] ?? .null, "pass_rate": summary?["pass_rate"] ?? .null, "duration_seconds": summary?["duration_seconds"] ?? .null,
            "flaky_across_repeats": summary?["flaky_across_repeats"] ?? [], "items": .array(items),
            "created_at": .string(EvalService.iso8601(Date(timeIntervalSince1970: run.createdAt))),
            "finished_at": run.finishedAt.map { .string(EvalService.iso8601(Date(timeIntervalSince1970: $0))) } ?? .null,
            "links": ["self": .string("/v1/test-suites/\(run.suite)/runs/\(run.id)")],
        ]
    }

    /// The suite's history, newest first, with the cases whose outcome changed between runs of
    /// the same request with identical inputs (the same request digest).
    func history(_ suite: String, limit: Int) -> JSONValue {
        let runs = (try? store.suiteRuns(suite: suite, limit: limit)) ?? []
        var series: [String: [(run: String, at: Double, outcomes: [String: String])]] = [:]
        for run in runs.reversed() where run.summary != nil {
            // One point per run and request: a case's outcome in the run, "mixed" when its repeats disagree.
            for (key, items) in Dictionary(grouping: run.items.filter { $0.outcomes != nil }, by: { $0.name + "\u{1}" + $0.requestDigest }) {
                var merged: [String: String] = [:]
                for map in items.map(SuiteRunner.outcomes) {
                    for (id, outcome) in map { merged[id] = merged[id].map { $0 == outcome ? $0 : "mixed" } ?? outcome }
                }
                series[key, default: []].append((run.id, run.createdAt, merged))
            }
        }
        var flaky: [JSONValue] = []
        for (key, points) in series.sorted(by: { $0.key < $1.key }) where points.count > 1 {
            let name = String(key.split(separator: "\u{1}").first ?? "")
            let ids = Set(points.flatMap { $0.outcomes.keys }).sorted()
            for id in ids {
                let seen = points.map { $0.outcomes[id] ?? "missing" }
                guard Set(seen).count > 1 else { continue }
                flaky.append(["request": .string(name), "case_id": .string(id), "runs": .array(points.map { .string($0.run) }),
                              "outcomes": .array(seen.map(JSONValue.string))])
            }
        }
        let summaries: [JSONValue] = runs.map { run in
            let s = run.summary.flatMap { try? JSONValue.parse($0) }
            return [
                "run_id": .string(run.id), "state": .string(s == nil ? "running" : "completed"), "verdict": s?["verdict"] ?? .null,
                "pass_rate": s?["pass_rate"] ?? .null, "duration_seconds": s?["duration_seconds"] ?? .null,
                "flaky_across_repeats": .number(Double(s?["flaky_across_repeats"]?.arrayValue?.count ?? 0)),
                "created_at": .string(EvalService.iso8601(Date(timeIntervalSince1970: run.createdAt))),
                "links": ["self": .string("/v1/test-suites/\(run.suite)/runs/\(run.id)")],
            ]
        }
        return ["api_version": "v1", "suite": .string(suite), "runs": .array(summaries), "flaky_across_runs": .array(flaky)]
    }
}
