import Engine
import EvalCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ResultStore

/// `GET /ui`: the pages the people on call read instead of JSON — recent jobs, a job's report
/// (eval: summary, checks, latency plot, failed cases with outputs; shadow-compare: its report
/// page; index-test: its checks and summary), and each test suite's history with its pass-rate
/// trend and flaky cases. Server-rendered HTML with inline SVG and CSS: no scripts, no external
/// assets; protected like the API. Every value from data is escaped.
enum WebUI {
    // Apart from the badges' colours, so a screenshot tells the line from them.
    static let trendColor = "#9467bd"

    static func html(_ text: String, status: Int = 200) -> Response {
        var r = Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        // Nothing on these pages runs a script or loads from elsewhere; say so to the browser too.
        r.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        r.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return r
    }

    static func duration(_ job: StoredJob) -> String {
        guard let s = job.startedAt, let f = job.finishedAt else { return "–" }
        return String(format: "%.2f s", f - s)
    }

    static func time(_ t: Double?) -> String {
        t.map { EvalService.iso8601(Date(timeIntervalSince1970: $0)) } ?? "–"
    }

    /// The index: recent jobs and the test suites.
    static func index(store: Store, manager: JobManager, config: ServiceConfig, suites: SuiteRunner) -> Response {
        let jobs = ((try? store.recentJobs(limit: 100)) ?? []).map { (try? manager.job(id: $0.id)).flatMap { $0 } ?? $0 }
        var b = "<h1>Recent jobs</h1>"
        if jobs.isEmpty {
            b += "<p class=\"muted\">No jobs yet.</p>"
        } else {
            b += HTMLPage.table(["job", "stage", "purpose", "state", "verdict", "duration", "created"], jobs.map { j in
                ["<a href=\"/ui/jobs/\(HTMLPage.segment(j.id))\">\(HTMLPage.escape(j.id))</a>", HTMLPage.escape(j.kind), HTMLPage.escape(j.purpose),
                 HTMLPage.escape(j.state.rawValue), j.state == .completed ? HTMLPage.badge(j.verdict) : HTMLPage.badge(j.state == .errored ? "error" : j.state.rawValue),
                 "<span class=\"num\">\(duration(j))</span>", HTMLPage.escape(time(j.createdAt))]
            }, cssClass: "jobs")
        }
        b += suiteList(store: store, config: config)
        return html(HTMLPage.document(title: "evalengine: recent jobs", body: b, nav: true))
    }

    static func suiteList(store: Store, config: ServiceConfig) -> String {
        guard !config.testSuites.isEmpty else { return "" }
        var b = "<h2>Test suites</h2>"
        b += HTMLPage.table(["suite", "description", "last run", "verdict", "pass rate"], config.testSuites.values.sorted { $0.name < $1.name }.map { s in
            let last = (try? store.suiteRuns(suite: s.name, limit: 1))?.first
            let summary = last?.summary.flatMap { try? JSONValue.parse($0) }
            return ["<a href=\"/ui/test-suites/\(HTMLPage.segment(s.name))\">\(HTMLPage.escape(s.name))</a>", HTMLPage.escape(s.description),
                    HTMLPage.escape(time(last?.createdAt)), last == nil ? "–" : HTMLPage.badge(summary?["verdict"]?.stringValue ?? "running"),
                    HTMLPage.percent(summary?["pass_rate"]?.numberValue)]
        })
        return b
    }

    /// A job's page.
    static func job(_ id: String, store: Store, manager: JobManager, config: ServiceConfig) -> Response {
        guard let job = (try? manager.job(id: id)).flatMap({ $0 }) else {
            return html(HTMLPage.document(title: "no such job", body: "<h1>No job \(HTMLPage.escape(id))</h1>", nav: true), status: 404)
        }
        guard job.state == .completed, let path = job.reportPath else {
            var b = "<h1>\(HTMLPage.escape(job.kind)) job \(HTMLPage.escape(job.id)) \(HTMLPage.badge(job.state == .errored ? "error" : job.state.rawValue))</h1>"
            b += HTMLPage.table(["", ""], [["<b>state</b>", HTMLPage.escape(job.state.rawValue)], ["<b>created</b>", HTMLPage.escape(time(job.createdAt))],
                                           ["<b>started</b>", HTMLPage.escape(time(job.startedAt))], ["<b>attempt</b>", String(job.attempt)]])
            if let error = job.error.flatMap({ try? JSONValue.parse($0) }) {
                b += "<h2>Error</h2><p class=\"reason\"><b>\(HTMLPage.escape(HTMLPage.text(error["code"])))</b>: \(HTMLPage.escape(HTMLPage.text(error["message"])))</p>"
            }
            return html(HTMLPage.document(title: "job \(job.id)", body: b, nav: true))
        }
        if job.kind == StageKind.shadowCompare.rawValue, let page = FileManager.default.contents(atPath: config.reportsDir + "/" + job.id + ".html") {
            return html(String(decoding: page, as: UTF8.self))
        }
        guard let data = FileManager.default.contents(atPath: path), let report = try? JSONValue.parse(bytes: Array(data)) else {
            return html(HTMLPage.document(title: "job \(job.id)", body: "<h1>The report of \(HTMLPage.escape(job.id)) is gone</h1><p>Retention may have removed it.</p>", nav: true), status: 410)
        }
        if job.kind == StageKind.eval.rawValue {
            return html(EvalHTML.render(report: report, nav: true))
        }
        return html(EvalHTML.renderGeneric(report: report, title: "\(job.kind) — job \(job.id)", nav: true))
    }

    /// A suite's history: runs, the pass-rate trend, the flaky cases.
    static func suite(_ name: String, suites: SuiteRunner, config: ServiceConfig) -> Response {
        guard let suite = config.testSuites[name] else {
            return html(HTMLPage.document(title: "no such suite", body: "<h1>No test suite \(HTMLPage.escape(name))</h1>", nav: true), status: 404)
        }
        let history = suites.history(name, limit: 100)
        let runs = history["runs"]?.arrayValue ?? []
        var b = "<h1>Test suite \(HTMLPage.escape(name))</h1><p class=\"muted\">\(HTMLPage.escape(suite.description)) · \(suite.requests.count) requests × \(suite.repeats) repeats</p>"
        let finished = runs.reversed().filter { $0["pass_rate"]?.numberValue != nil }
        if !finished.isEmpty {
            var plot = SVGPlot(title: "Pass rate per run", xLabel: "run (oldest first)", yLabel: "pass rate")
            let points = finished.enumerated().map { (x: Double($0.offset + 1), y: $0.element["pass_rate"]?.numberValue ?? 0) }
            plot.series = [SVGPlot.Series(name: "pass rate", color: trendColor, points: points, style: .line)]
            plot.yRange = 0...1
            plot.xRange = 0.5...(Double(max(points.count, 2)) + 0.5)
            b += "<h2>Pass-rate trend</h2><div class=\"plots\">" + plot.render() + "</div>"
        }
        b += "<h2>Runs</h2>"
        b += runs.isEmpty ? "<p class=\"muted\">No runs yet: POST /v1/test-suites/\(HTMLPage.escape(name))/runs.</p>"
            : HTMLPage.table(["run", "created", "verdict", "pass rate", "duration", "flaky across repeats"], runs.map { r in
                [HTMLPage.escape(HTMLPage.text(r["run_id"])), HTMLPage.escape(HTMLPage.text(r["created_at"])), HTMLPage.badge(r["verdict"]?.stringValue ?? "running"),
                 HTMLPage.percent(r["pass_rate"]?.numberValue), HTMLPage.number(r["duration_seconds"]?.numberValue, 1) + " s", HTMLPage.text(r["flaky_across_repeats"])]
            }, cssClass: "runs")
        let acrossRuns = history["flaky_across_runs"]?.arrayValue ?? []
        b += "<h2>Flaky cases across runs (\(acrossRuns.count))</h2>"
        b += acrossRuns.isEmpty ? "<p class=\"muted\">No case changed its outcome between runs with identical inputs.</p>"
            : HTMLPage.table(["request", "case", "outcomes, oldest run first"], acrossRuns.prefix(500).map { f in
                [HTMLPage.escape(HTMLPage.text(f["request"])), HTMLPage.escape(HTMLPage.text(f["case_id"])),
                 (f["outcomes"]?.arrayValue ?? []).map { HTMLPage.badge(badgeWord($0.stringValue)) }.joined(separator: " ")]
            }, cssClass: "flaky")
        if let last = runs.first, let id = last["run_id"]?.stringValue, let run = try? suites.store.suiteRun(id: id),
            let summary = run.summary.flatMap({ try? JSONValue.parse($0) }), let repeats = summary["flaky_across_repeats"]?.arrayValue, !repeats.isEmpty {
            b += "<h2>Flaky across the repeats of the last run (\(repeats.count))</h2>"
            b += HTMLPage.table(["request", "case", "outcomes per repeat"], repeats.prefix(500).map { f in
                [HTMLPage.escape(HTMLPage.text(f["request"])), HTMLPage.escape(HTMLPage.text(f["case_id"])),
                 (f["outcomes"]?.arrayValue ?? []).map { HTMLPage.badge(badgeWord($0.stringValue)) }.joined(separator: " ")]
            })
        }
        return html(HTMLPage.document(title: "test suite \(name)", body: b, nav: true))
    }

    static func badgeWord(_ outcome: String?) -> String {
        switch outcome {
        case "passed": return "pass"
        case "failed": return "fail"
        case "errored": return "error"
        default: return outcome ?? "missing"
        }
    }
}
