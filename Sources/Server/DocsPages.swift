import Engine
import EvalCore
import Foundation
import Hummingbird
import Ink

/// `GET /docs`: the README and docs/*.md rendered (Ink), a configuration reference drawn from the
/// live config (`/docs/config`, secrets never shown), and the API from the OpenAPI document
/// (`/docs/api`). Read from `docs_dir` (the checkout or the image's copy) on each request.
enum DocsPages {
    /// The Markdown pages: README.md and docs/NAME.md, by name (README is `readme`).
    static func pages(_ config: ServiceConfig) -> [(name: String, path: String)] {
        let root = config.docsDir
        var out: [(String, String)] = []
        if FileManager.default.fileExists(atPath: root + "/README.md") { out.append(("readme", root + "/README.md")) }
        let docs = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/docs")) ?? []).filter { $0.hasSuffix(".md") }.sorted()
        for file in docs { out.append((String(file.dropLast(3)).lowercased(), root + "/docs/" + file)) }
        return out
    }

    static func index(_ config: ServiceConfig) -> Response {
        var b = "<h1>Documentation</h1><ul>"
        for p in pages(config) {
            b += "<li><a href=\"/docs/\(HTMLPage.segment(p.name))\">\(HTMLPage.escape(p.name == "readme" ? "README" : p.name.uppercased()))</a></li>"
        }
        b += "<li><a href=\"/docs/config\">Configuration reference (this service's live configuration)</a></li>"
        b += "<li><a href=\"/docs/api\">HTTP API (from the OpenAPI document)</a></li></ul>"
        return WebUI.html(HTMLPage.document(title: "evalengine docs", body: b, nav: true))
    }

    static func page(_ name: String, _ config: ServiceConfig) -> Response {
        guard let p = pages(config).first(where: { $0.name == name.lowercased() }), let text = try? String(contentsOfFile: p.path, encoding: .utf8) else {
            return WebUI.html(HTMLPage.document(title: "no such page", body: "<h1>No page \(HTMLPage.escape(name))</h1>", nav: true), status: 404)
        }
        var html = MarkdownParser().html(from: text)
        // Links between the docs go to their rendered pages.
        html = html.replacingOccurrences(of: "href=\"docs/", with: "href=\"/docs/").replacingOccurrences(of: ".md\"", with: "\"")
        return WebUI.html(HTMLPage.document(title: p.name, body: "<article>" + html + "</article>", nav: true))
    }

    /// The live configuration: every setting with its value; tokens and keys only by name.
    static func configuration(_ config: ServiceConfig) -> Response {
        func row(_ field: String, _ value: String, _ meaning: String) -> [String] {
            ["<code>\(HTMLPage.escape(field))</code>", HTMLPage.escape(value), HTMLPage.escape(meaning)]
        }
        var b = "<h1>Configuration reference</h1><p class=\"muted\">The settings this service runs with, as loaded; secrets appear by name only.</p>"
        b += "<h2>Service</h2>" + HTMLPage.table(["field", "value", "meaning"], [
            row("listen.host / listen.port", "\(config.host):\(config.port)", "where the service listens"),
            row("endpoints", config.endpointsPath, "the endpoints file requests name endpoints from"),
            row("data_dir", config.dataDir, "root of every {\"ref\": ...} in a request"),
            row("store", config.storePath, "SQLite store: caches, runs, case results, jobs, audit"),
            row("reports_dir", config.reportsDir, "per-job reports"),
            row("docs_dir", config.docsDir, "where README.md and docs/ are read for /docs"),
            row("limits.max_body_bytes", String(config.maxBodyBytes), "larger bodies get 413"),
            row("limits.max_concurrent_jobs", String(config.maxConcurrentJobs), "jobs running at once"),
            row("limits.max_queued_jobs", String(config.maxQueuedJobs), "jobs waiting before 429"),
            row("limits.max_cases_per_job", String(config.maxCasesPerJob), "cases in progress per job"),
            row("limits.max_wait_seconds", String(config.maxWaitSeconds), "longest ?wait= honoured"),
            row("limits.idle_timeout_seconds", String(config.idleTimeoutSeconds), "idle connections are closed"),
            row("limits.body_timeout_seconds", String(config.bodyTimeoutSeconds), "a body slower than this gets 408"),
            row("limits.validate_timeout_seconds", String(config.validateTimeoutSeconds), "POST /v1/validate's budget for the endpoints"),
            row("drain_grace_seconds", String(config.drainGraceSeconds), "on SIGTERM, how long running jobs may finish"),
            row("auth", config.tokens.isEmpty ? "off" : "\(config.tokens.count) tokens: \(config.tokenNames.joined(separator: ", "))", "bearer tokens (by name; never shown)"),
            row("auth.protect_metrics", String(config.protectMetrics), "whether /metrics needs a token"),
            row("scorers.allow_scripts", String(config.allowScriptScorers), "whether golden sets may run script scorers"),
            row("retention", config.retention.map { "jobs \(Int($0.jobs)) s, cache \(Int($0.cache)) s, audit \(Int($0.audit)) s, every \(Int(config.retentionSweepSeconds)) s" } ?? "off",
                "what is removed after how long"),
        ])
        b += "<h2>Endpoints</h2>" + HTMLPage.table(["name", "model", "base URL", "key from", "limits", "pricing"], config.endpoints.map { e in
            let key = e.apiKeyEnv.map { "env \($0)" } ?? e.apiKeyFile.map { "file \($0)" } ?? "none"
            let limits = [e.requestsPerMinute.map { "\(Int($0)) req/min" }, e.tokensPerMinute.map { "\(Int($0)) tok/min" }, "\(e.maxInFlight) in flight"]
                .compactMap { $0 }.joined(separator: ", ")
            let pricing = e.pricing.map { "$\($0.inputPerMillion) in / $\($0.outputPerMillion) out per 1M" + ($0.asOf.map { " (as of \($0))" } ?? "") } ?? "none"
            return [HTMLPage.escape(e.name), HTMLPage.escape(e.model), HTMLPage.escape(e.simulatedProfile != nil || e.baseURL == nil ? "(built-in simulator)" : redactedURL(e.baseURL!)),
                    HTMLPage.escape(key), HTMLPage.escape(limits), HTMLPage.escape(pricing)]
        })
        if !config.webhooks.isEmpty {
            b += "<h2>Webhook scorers</h2>" + HTMLPage.table(["name", "URL"], config.webhooks.map { [HTMLPage.escape($0.name), HTMLPage.escape(redactedURL($0.url))] })
        }
        if !config.testSuites.isEmpty {
            b += "<h2>Test suites</h2>" + HTMLPage.table(["suite", "repeats", "requests"], config.testSuites.values.sorted { $0.name < $1.name }.map { s in
                [HTMLPage.escape(s.name), String(s.repeats), HTMLPage.escape(s.requests.map { "\($0.name) (\($0.stage.rawValue))" }.joined(separator: ", "))]
            })
        }
        return WebUI.html(HTMLPage.document(title: "configuration", body: b, nav: true))
    }

    /// A URL without what may be a secret in it: user and password, the query, the fragment.
    static func redactedURL(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.host != nil else { return "(not a URL)" }
        let hadQuery = c.query != nil
        c.user = nil
        c.password = nil
        c.query = nil
        c.fragment = nil
        return (c.string ?? "(not a URL)") + (hadQuery ? "?…" : "")
    }

    /// The API from the OpenAPI document: every operation with its parameters and answers.
    static func api() -> Response {
        let doc = OpenAPI.document
        var b = "<h1>HTTP API</h1><p class=\"muted\">From <a href=\"/openapi.json\">/openapi.json</a>.</p>"
        var rows: [[String]] = []
        for (path, item) in (doc["paths"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            for (method, op) in (item.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                let params = (op["parameters"]?.arrayValue ?? []).map { p in "\(p["name"]?.stringValue ?? "") (\(p["in"]?.stringValue ?? ""))" }.joined(separator: ", ")
                let answers = (op["responses"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value["description"]?.stringValue ?? "")" }
                rows.append(["<b>\(HTMLPage.escape(method.uppercased()))</b>", "<code>\(HTMLPage.escape(path))</code>", HTMLPage.escape(op["summary"]?.stringValue ?? ""),
                             HTMLPage.escape(params), answers.map { "<div>\(HTMLPage.escape($0))</div>" }.joined()])
            }
        }
        b += HTMLPage.table(["method", "path", "what", "parameters", "answers"], rows)
        return WebUI.html(HTMLPage.document(title: "HTTP API", body: b, nav: true))
    }
}
