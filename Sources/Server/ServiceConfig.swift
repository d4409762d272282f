import EvalCore
import Foundation
import GoldenSets
import ResultStore

/// The service's configuration file (`evalengine serve --config F`): where it listens, which model
/// endpoints requests may name, where its data and store live, its limits and its tokens.
public struct ServiceConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Endpoints file; requests name endpoints from it and nothing else.
    public var endpointsPath = "configs/endpoints.yaml"
    public var endpoints: [EndpointConfig] = []
    /// Root of every `ref` in a request; nothing outside it is readable.
    public var dataDir = "."
    /// SQLite store: caches, runs, case results and jobs.
    public var storePath = ".evalengine/service.sqlite"
    /// Where `GET /docs` reads README.md and docs/*.md.
    public var docsDir = "."
    /// Where full per-case reports are written (one JSON file per job).
    public var reportsDir = ".evalengine/reports"
    public var maxBodyBytes = 1 << 20
    public var maxConcurrentJobs = 4
    /// Jobs waiting for a slot beyond which submissions get 429.
    public var maxQueuedJobs = 256
    /// Cases in progress per job (a request's `options.concurrency` is capped by it).
    public var maxCasesPerJob = 256
    /// Longest `?wait=` honoured, in seconds.
    public var maxWaitSeconds = 3300.0
    /// A connection that sends nothing for this long, or never finishes its request head, is closed
    /// (slow clients such as slowloris hold nothing for longer).
    public var idleTimeoutSeconds = 30.0
    /// A request body must arrive within this long once the head has (slow uploads get 408).
    public var bodyTimeoutSeconds = 30.0
    /// On SIGTERM: how long running jobs may finish before they are checkpointed and stopped.
    public var drainGraceSeconds = 20.0
    /// Bearer tokens; empty = no auth.
    public var tokens: [String] = []
    /// The name of each token (same order), which the audit trail records instead of the token.
    public var tokenNames: [String] = []
    /// How long jobs, caches and audit lines are kept (nil: forever).
    public var retention: RetentionPolicy? = ServiceConfig.defaultRetention
    /// Longest a `POST /v1/validate` waits for the endpoints it asks.
    public var validateTimeoutSeconds = 20.0
    /// How often retention runs, in seconds.
    public var retentionSweepSeconds = 600.0
    /// Whether `/metrics` needs a token too (Prometheus scrapers usually have none).
    public var protectMetrics = false
    /// Golden sets may run `script` scorers (processes on this host): off unless the operator says so.
    public var allowScriptScorers = false
    /// Named regression suites (`POST /v1/test-suites/{name}/runs`).
    public var testSuites: [String: TestSuiteConfig] = [:]
    /// Webhook scorers, from the endpoints file's `webhooks:`.
    public var webhooks: [WebhookConfig] = []

    public init() {}

    static let knownFields: Set<String> = ["listen", "endpoints", "data_dir", "store", "reports_dir", "limits", "drain_grace_seconds", "auth", "description", "scorers", "retention", "test_suites", "docs_dir"]

    /// The fields of the config's mappings: a key not listed is refused (a typo must not pass as a default).
    public static let nestedFields: [String: Set<String>] = [
        "listen": ["host", "port"],
        "limits": ["max_body_bytes", "max_concurrent_jobs", "max_queued_jobs", "max_cases_per_job", "max_wait_seconds", "idle_timeout_seconds",
                   "body_timeout_seconds", "validate_timeout_seconds"],
        "auth": ["tokens_file", "tokens_env", "protect_metrics", "tokens"],
        "scorers": ["allow_scripts"],
        "retention": ["jobs", "cache", "audit", "sweep_every", "off"],
    ]

    /// Every field path of the service config (for the docs check): `limits.max_body_bytes`, ...
    public static var fieldPaths: [String] {
        knownFields.sorted().flatMap { top in [top] + (nestedFields[top] ?? []).filter { $0 != "tokens" }.sorted().map { top + "." + $0 } }
    }

    /// 30 days of jobs and caches, 400 days of audit lines.
    public static let defaultRetention = RetentionPolicy(jobs: 30 * 86400, cache: 30 * 86400, audit: 400 * 86400)

    /// Reads the config file; relative paths in it are relative to the working directory.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) -> ServiceConfig {
        let doc = try ConfigFiles.document(path)
        var c = ServiceConfig()
        func fail(_ field: String, _ message: String) -> InputError {
            InputError(location: SourceLocation(file: path, line: doc.line(of: field)), field: field, message: message)
        }
        let json = doc.json
        guard let o = json.objectValue else { throw fail("", "the service config must be a mapping") }
        for key in o.keys.sorted() where !knownFields.contains(key) {
            throw fail(key, "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        for (section, fields) in nestedFields.sorted(by: { $0.key < $1.key }) {
            guard let inner = json[section]?.objectValue else { continue }
            for key in inner.keys.sorted() where !fields.contains(key) {
                throw fail("\(section).\(key)", "unknown field (expected one of \(fields.filter { $0 != "tokens" }.sorted().joined(separator: ", ")))")
            }
        }
        if let l = json["listen"] {
            if let h = l["host"]?.stringValue { c.host = h }
            if let p = l["port"] {
                guard let n = p.numberValue, n >= 0, n < 65536, n == n.rounded() else { throw fail("listen.port", "must be a port number (0 picks a free one)") }
                c.port = Int(n)
            }
        }
        if let e = json["endpoints"] {
            guard let s = e.stringValue else { throw fail("endpoints", "the path of an endpoints file") }
            c.endpointsPath = s
        }
        if let s = json["data_dir"]?.stringValue { c.dataDir = s }
        if let s = json["store"]?.stringValue { c.storePath = s }
        if let s = json["reports_dir"]?.stringValue { c.reportsDir = s }
        if let s = json["docs_dir"]?.stringValue { c.docsDir = s }
        if let l = json["limits"] {
            func positive(_ k: String) throws(InputError) -> Double? {
                guard let v = l[k] else { return nil }
                guard let n = v.numberValue, n > 0, n < 1e12 else { throw fail("limits.\(k)", "must be a number in (0, 10^12)") }
                return n
            }
            if let n = try positive("max_body_bytes") { c.maxBodyBytes = Int(n) }
            if let n = try positive("max_concurrent_jobs") { c.maxConcurrentJobs = Int(n) }
            if let n = try positive("max_queued_jobs") { c.maxQueuedJobs = Int(n) }
            if let n = try positive("max_cases_per_job") { c.maxCasesPerJob = Int(n) }
            if let n = try positive("max_wait_seconds") { c.maxWaitSeconds = n }
            if let n = try positive("idle_timeout_seconds") { c.idleTimeoutSeconds = n }
            if let n = try positive("body_timeout_seconds") { c.bodyTimeoutSeconds = n }
            if let n = try positive("validate_timeout_seconds") { c.validateTimeoutSeconds = min(n, 3600) }
        }
        if let g = json["drain_grace_seconds"] {
            guard let n = g.numberValue, n >= 0 else { throw fail("drain_grace_seconds", "must be a number >= 0") }
            c.drainGraceSeconds = n
        }
        if let a = json["auth"] {
            if let f = a["tokens_file"]?.stringValue {
                guard let text = try? String(contentsOfFile: f, encoding: .utf8) else { throw fail("auth.tokens_file", "cannot read \(f)") }
                let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                for (i, line) in lines.enumerated() where !line.isEmpty && !line.hasPrefix("#") {
                    let (name, token) = ServiceConfig.namedToken(line, fallback: "tokens_file:\(i + 1)")
                    c.tokens.append(token)
                    c.tokenNames.append(name)
                }
            }
            if let v = a["tokens_env"]?.stringValue {
                guard let value = environment[v], !value.isEmpty else { throw fail("auth.tokens_env", "environment variable \(v) is not set") }
                let items = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                for (i, item) in items.enumerated() {
                    let (name, token) = ServiceConfig.namedToken(item, fallback: "\(v):\(i + 1)")
                    c.tokens.append(token)
                    c.tokenNames.append(name)
                }
            }
            if a["tokens"] != nil { throw fail("auth.tokens", "tokens are secrets: give tokens_file or tokens_env, never the tokens themselves") }
            c.protectMetrics = a["protect_metrics"]?.boolValue ?? false
        }
        if let sc = json["scorers"] {
            guard let allow = sc["allow_scripts"]?.boolValue else { throw fail("scorers.allow_scripts", "must be true or false") }
            c.allowScriptScorers = allow
        }
        if let r = json["retention"] {
            guard let o = r.objectValue else { throw fail("retention", "a mapping of jobs, cache, audit (durations such as 30d) and sweep_every, or off: true") }
            for key in o.keys.sorted() where !["jobs", "cache", "audit", "sweep_every", "off"].contains(key) {
                throw fail("retention.\(key)", "unknown field (expected jobs, cache, audit, sweep_every, off)")
            }
            func duration(_ k: String, _ fallback: Double) throws(InputError) -> Double {
                guard let v = o[k] else { return fallback }
                let text = v.stringValue ?? v.numberValue.map { "\($0)" } ?? ""
                // At least a second, at most ~100 years: the cutoff must stay a sane time.
                guard let d = parseDuration(text), d >= 1, d <= 3.2e9 else { throw fail("retention.\(k)", "must be a duration from 1s to 100 years, such as 14d, 12h or 30m") }
                return d
            }
            let base = ServiceConfig.defaultRetention
            let policy = RetentionPolicy(jobs: try duration("jobs", base.jobs), cache: try duration("cache", base.cache), audit: try duration("audit", base.audit))
            guard policy.audit >= policy.jobs else { throw fail("retention.audit", "audit lines must be kept at least as long as the jobs they describe (retention.jobs)") }
            c.retentionSweepSeconds = try duration("sweep_every", c.retentionSweepSeconds)
            c.retention = o["off"]?.boolValue == true ? nil : policy
        }
        if let t = json["test_suites"] {
            c.testSuites = try TestSuiteConfig.decode(t, fail: fail)
        }
        c.endpoints = try ConfigFiles.loadEndpoints(path: c.endpointsPath)
        c.webhooks = try ConfigFiles.loadWebhooks(path: c.endpointsPath)
        return c
    }
}

extension ServiceConfig {
    /// `NAME:TOKEN` or `NAME TOKEN` names a token; a bare token is named after where it was given
    /// (`tokens_file:3`), never after anything derived from the token.
    static func namedToken(_ item: String, fallback: String) -> (name: String, token: String) {
        let separators: Set<Character> = [":", " ", "\t"]
        if let i = item.firstIndex(where: { separators.contains($0) }) {
            let name = String(item[..<i])
            let token = item[item.index(after: i)...].trimmingCharacters(in: .whitespaces)
            if !name.isEmpty, name.count <= 64, !token.isEmpty,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) {
                return (name, token)
            }
        }
        return (fallback, item)
    }
}
