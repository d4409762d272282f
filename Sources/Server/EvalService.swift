import CHeapStats
import CoreMetrics
import EndpointSessions
import Engine
import EvalCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ModelClient
import NIOCore
import Prometheus
import ResultStore
import ServiceLifecycle
import UnixSignals

/// The HTTP service Argo calls (ARCHITECTURE §4): three stage POSTs creating or re-attaching to
/// persisted jobs, job long-polls, reports, cancel, health, readiness, metrics and the API spec.
public struct EvalService: Sendable {
    public let config: ServiceConfig
    public let registry: PrometheusCollectorRegistry?
    public let logger: Logger

    public init(config: ServiceConfig, registry: PrometheusCollectorRegistry?, logger: Logger) {
        self.config = config
        self.registry = registry
        self.logger = logger
    }

    /// Serves until SIGTERM/SIGINT (then drains: `/readyz` 503, no new jobs, running jobs get
    /// `drain_grace_seconds` to finish, then stop and resume on the next start).
    public func run(onReady: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // One service per store: another would resume and run this one's jobs.
        let lock = try StoreLock.acquire(storePath: config.storePath)
        defer { withExtendedLifetime(lock) {} }
        let store = try Store.open(path: config.storePath, tuning: .service) { [logger] in logger.warning("\($0)") }
        var keys: [String: String] = [:]
        for e in config.endpoints {
            if let k = try? EndpointClient.resolveAPIKey(e) { keys[e.name] = k }
        }
        let config = self.config
        let logger = self.logger
        let registry = self.registry
        try await EndpointSession.withClients(config.endpoints, registry: LimiterRegistry(), apiKeys: keys) { clients in
            let manager = JobManager(config: config, store: store, clients: clients, logger: logger)
            let suites = SuiteRunner(config: config, store: store, manager: manager, logger: logger)
            await manager.setSuiteRunner(suites)
            let router = EvalService.router(config: config, manager: manager, store: store, registry: registry, logger: logger, suites: suites)
            let app = Application(
                router: router,
                server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(config.idleTimeoutSeconds * 1000)))),
                configuration: .init(address: .hostname(config.host, port: config.port), serverName: "evalengine", backlog: 1024),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? config.port
                    logger.info("listening", metadata: ["host": .string(config.host), "port": .stringConvertible(port)])
                    await onReady(port)
                },
                logger: logger
            )
            // Shut down in reverse order: the manager drains first while the server still answers.
            var services: [any Service] = [app, manager]
            if let policy = config.retention {
                services.append(RetentionSweeper(config: config, policy: policy, store: store, logger: logger))
            }
            let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
            try await group.run()
        }
    }

    static func router(config: ServiceConfig, manager: JobManager, store: Store, registry: PrometheusCollectorRegistry?, logger: Logger,
                       suites: SuiteRunner) -> Router<EvalRequestContext> {
        let router = Router(context: EvalRequestContext.self)
        router.add(middleware: ObservingMiddleware(logger: logger))
        router.add(middleware: BearerAuthMiddleware(tokens: config.tokens, names: config.tokenNames, protectMetrics: config.protectMetrics))

        for kind in StageKind.allCases {
            router.post("/v1/\(kind.rawValue)") { request, context in
                try await submit(kind, request, caller: context.callerName, config: config, manager: manager, store: store)
            }
        }
        router.get("/v1/jobs/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            let wait: Double
            do { wait = try waitSeconds(request, config) } catch let e as RequestError { return errorResponse(e) }
            guard var job = try manager.job(id: id) else { return errorResponse(404, "unknown_job", "no job '\(id)'") }
            if wait > 0 && !job.state.terminal {
                await manager.waitForTerminal(id, seconds: wait)
                job = try manager.job(id: id) ?? job
            }
            return envelopeResponse(job, reused: true, status: 200)
        }
        router.get("/v1/jobs/:id/report") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let job = try manager.job(id: id) else { return errorResponse(404, "unknown_job", "no job '\(id)'") }
            guard job.state == .completed, let path = job.reportPath, let data = FileManager.default.contents(atPath: path) else {
                return errorResponse(409, "not_completed", "job '\(id)' is \(job.state.rawValue); its report exists once it has completed")
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.post("/v1/jobs/:id/cancel") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard var job = await manager.cancel(id) else { return errorResponse(404, "unknown_job", "no job '\(id)'") }
            // A running job stops at its next case boundary: give it a moment (?wait=S, default
            // 10 s) so the answer usually says `cancelled` rather than `running`.
            let wait = (try? waitSeconds(request, config)).flatMap { request.uri.queryParameters["wait"] == nil ? nil : $0 } ?? min(10, config.maxWaitSeconds)
            if !job.state.terminal {
                await manager.waitForTerminal(id, seconds: wait)
                job = try manager.job(id: id) ?? job
            }
            return envelopeResponse(job, reused: true, status: 200)
        }
        router.post("/v1/validate") { request, _ in
            try await validate(request, config: config, clients: manager.clients)
        }
        router.get("/v1/test-suites") { _, _ in
            jsonResponse(200, ["api_version": "v1", "suites": .array(config.testSuites.values.sorted { $0.name < $1.name }.map { s in
                ["name": .string(s.name), "description": .string(s.description), "repeats": .number(Double(s.repeats)),
                 "requests": .array(s.requests.map { ["name": .string($0.name), "stage": .string($0.stage.rawValue)] }),
                 "links": ["runs": .string("/v1/test-suites/\(s.name)/runs")]]
            })])
        }
        router.post("/v1/test-suites/:name/runs") { request, context in
            try await startSuiteRun(request, name: context.parameters.get("name") ?? "", caller: context.callerName, config: config, manager: manager, suites: suites)
        }
        router.get("/v1/test-suites/:name/runs") { request, context in
            let name = context.parameters.get("name") ?? ""
            guard config.testSuites[name] != nil else { return errorResponse(404, "unknown_suite", "no test suite '\(name)' (configured: \(config.testSuites.keys.sorted().joined(separator: ", ")))") }
            let limit = request.uri.queryParameters["limit"].flatMap { Int(String($0)) } ?? 50
            guard (1...500).contains(limit) else { return errorResponse(400, "invalid_request", "limit must be from 1 to 500", field: "limit") }
            return jsonResponse(200, suites.history(name, limit: limit))
        }
        router.get("/v1/test-suites/:name/runs/:id") { request, context in
            let name = context.parameters.get("name") ?? "", id = context.parameters.get("id") ?? ""
            guard let run = try store.suiteRun(id: id), run.suite == name else { return errorResponse(404, "unknown_run", "no run '\(id)' of test suite '\(name)'") }
            let wait: Double
            do { wait = try waitSeconds(request, config) } catch let e as RequestError { return errorResponse(e) }
            return await suiteRunResponse(run, wait: wait, manager: manager, suites: suites, store: store)
        }
        router.get("/ui") { _, _ in WebUI.index(store: store, manager: manager, config: config, suites: suites) }
        router.get("/ui/jobs/:id") { _, context in WebUI.job(context.parameters.get("id") ?? "", store: store, manager: manager, config: config) }
        router.get("/ui/test-suites") { _, _ in
            WebUI.html(HTMLPage.document(title: "test suites", body: WebUI.suiteList(store: store, config: config).replacingOccurrences(of: "<h2>", with: "<h1>").replacingOccurrences(of: "</h2>", with: "</h1>"), nav: true))
        }
        router.get("/ui/test-suites/:name") { _, context in WebUI.suite(context.parameters.get("name") ?? "", suites: suites, config: config) }
        router.get("/docs") { _, _ in DocsPages.index(config) }
        router.get("/docs/config") { _, _ in DocsPages.configuration(config) }
        router.get("/docs/api") { _, _ in DocsPages.api() }
        router.get("/docs/:name") { _, context in DocsPages.page(context.parameters.get("name") ?? "", config) }
        router.get("/v1/audit") { request, _ in
            try await audit(request, store: store)
        }
        router.get("/healthz") { _, _ in jsonResponse(200, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            if await manager.isDraining {
                var r = jsonResponse(503, ["status": "draining"])
                r.headers[.retryAfter] = "5"
                return r
            }
            if let problem = store.fileProblem() {
                logger.error("not ready", metadata: ["reason": .string(problem)])
                return jsonResponse(503, ["status": "store_unavailable", "reason": .string(problem)])
            }
            return jsonResponse(200, ["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            CoreMetrics.Gauge(label: "evalengine_sqlite_memory_bytes").record(Store.sqliteMemoryUsed())
            CoreMetrics.Gauge(label: "evalengine_heap_in_use_bytes").record(Int64(evalengine_heap_in_use_bytes()))
            let bytes = registry?.emitToBuffer() ?? []
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAPI.document.serialized(sortedKeys: true).utf8)))
        }
        return router
    }

    static func submit(_ kind: StageKind, _ request: Request, caller: String, config: ServiceConfig, manager: JobManager, store: Store) async throws -> Response {
        if await manager.isDraining {
            var r = errorResponse(503, "draining", "the service is shutting down; retry against another replica or after restart", retryable: true)
            r.headers[.retryAfter] = "5"
            return r
        }
        // A job recorded in a deleted or replaced store would be lost at the next start.
        if let problem = store.fileProblem() {
            var r = errorResponse(503, "store_unavailable", problem + "; restart the service", retryable: true)
            r.headers[.retryAfter] = "10"
            return r
        }
        let wait: Double
        do { wait = try waitSeconds(request, config) } catch let e as RequestError { return errorResponse(e) }
        let body: ByteBuffer
        do {
            // A client that drips its upload holds a task for no longer than body_timeout_seconds.
            let limit = config.maxBodyBytes
            guard let b = try await withDeadline(seconds: config.bodyTimeoutSeconds, { try await request.body.collect(upTo: limit) }) else {
                var r = errorResponse(408, "request_timeout", "the request body did not arrive within \(config.bodyTimeoutSeconds) s")
                r.headers[.connection] = "close"
                return r
            }
            body = b
        } catch {
            return errorResponse(413, "body_too_large", "the request body exceeds \(config.maxBodyBytes) bytes")
        }
        let keyHeader = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let k = keyHeader, k.isEmpty || k.utf8.count > 255 {
            return errorResponse(400, "invalid_request", "header 'Idempotency-Key' must be 1 to 255 characters", field: "Idempotency-Key")
        }
        let stage: StageRequest
        do {
            stage = try StageRequest.decode(kind: kind, body: Array(buffer: body), config: config)
        } catch {
            return errorResponse(error)
        }
        let job: StoredJob
        let reused: Bool
        do {
            (job, reused) = try await manager.submit(stage, key: keyHeader, caller: caller)
        } catch {
            switch error {
            case .keyMismatch(let existing):
                return errorResponse(422, "idempotency_key_mismatch",
                                     "Idempotency-Key '\(existing.idempotencyKey)' belongs to job \(existing.id), made from another request body (digest \(existing.requestDigest))")
            case .queueFull:
                var r = errorResponse(429, "queue_full", "\(config.maxQueuedJobs) jobs are waiting already", retryable: true)
                r.headers[.retryAfter] = "10"
                return r
            case .draining:
                var r = errorResponse(503, "draining", "the service is shutting down", retryable: true)
                r.headers[.retryAfter] = "5"
                return r
            case .store(let message):
                return errorResponse(500, "store_error", message, retryable: true)
            }
        }
        if wait > 0 { await manager.waitForTerminal(job.id, seconds: wait) }
        let current = (try? manager.job(id: job.id)) ?? job
        return envelopeResponse(current, reused: reused, status: current.state.terminal ? 200 : 202)
    }

    /// `POST /v1/validate`: 200 with `valid` and the findings (a config that fails validation is
    /// an answer, not an error); 400/422 for a request that cannot be checked.
    static func validate(_ request: Request, config: ServiceConfig, clients: [String: EndpointClient]) async throws -> Response {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: config.maxBodyBytes) } catch {
            return errorResponse(413, "body_too_large", "the request body exceeds \(config.maxBodyBytes) bytes")
        }
        let bytes = Array(buffer: body)
        let decoded = await Task.detached { () -> Result<ValidateRequest, RequestError> in
            Result { () throws(RequestError) in try ValidateRequest.decode(body: bytes, config: config) }
        }.value
        let parsed: ValidateRequest
        switch decoded {
        case .success(let v): parsed = v
        case .failure(let e): return errorResponse(e)
        }
        let validation = parsed.validation
        // An endpoint too slow to answer is a finding about the endpoint, not an error of ours.
        let findings = try await withDeadline(seconds: config.validateTimeoutSeconds, { await validation.run(clients: clients) })
            ?? [ValidationFinding(.error, .endpoint, "the endpoints did not all answer within \(config.validateTimeoutSeconds) s (limits.validate_timeout_seconds): "
                                  + validation.endpoints.map(\.name).joined(separator: ", "))]
        let all = parsed.inputFindings + findings
        var r = jsonResponse(200, ValidateRequest.answer(all, config: config))
        r.headers[HTTPField.Name("X-Eval-Verdict")!] = all.contains { $0.level == .error } ? "fail" : "pass"
        return r
    }

    /// `POST /v1/test-suites/{name}/runs?wait=S`: a new run (or, with an Idempotency-Key seen
    /// before, that run); 200 once it has ended, else 202 with a Location to poll.
    static func startSuiteRun(_ request: Request, name: String, caller: String, config: ServiceConfig, manager: JobManager, suites: SuiteRunner) async throws -> Response {
        if await manager.isDraining {
            var r = errorResponse(503, "draining", "the service is shutting down; retry against another replica or after restart", retryable: true)
            r.headers[.retryAfter] = "5"
            return r
        }
        let wait: Double
        do { wait = try waitSeconds(request, config) } catch let e as RequestError { return errorResponse(e) }
        let keyHeader = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let k = keyHeader, k.isEmpty || k.utf8.count > 255 {
            return errorResponse(400, "invalid_request", "header 'Idempotency-Key' must be 1 to 255 characters", field: "Idempotency-Key")
        }
        let run: StoredSuiteRun
        do {
            run = try await suites.start(suiteName: name, key: keyHeader ?? UUID().uuidString.lowercased(), caller: caller)
        } catch {
            switch error {
            case .unknownSuite(let n): return errorResponse(404, "unknown_suite", "no test suite '\(n)' (configured: \(config.testSuites.keys.sorted().joined(separator: ", ")))")
            case .request(let e): return errorResponse(e)
            case .submit(.queueFull):
                var r = errorResponse(429, "queue_full", "\(config.maxQueuedJobs) jobs are waiting already", retryable: true)
                r.headers[.retryAfter] = "10"
                return r
            case .submit(let e): return errorResponse(503, "not_admitted", "\(e)", retryable: true)
            case .store(let m): return errorResponse(500, "store_error", m, retryable: true)
            }
        }
        return await suiteRunResponse(run, wait: wait, manager: manager, suites: suites, store: suites.store)
    }

    static func suiteRunResponse(_ run: StoredSuiteRun, wait: Double, manager: JobManager, suites: SuiteRunner, store: Store) async -> Response {
        var run = run
        if run.summary == nil {
            let deadline = Date().addingTimeInterval(wait)
            for item in run.items {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { break }
                await manager.waitForTerminal(item.jobID, seconds: left)
            }
            // Summarise now if every job has ended (the end-of-job hook may not have run yet).
            if let first = run.items.first { await suites.jobEnded(first.jobID) }
            run = (try? store.suiteRun(id: run.id)) ?? run
        }
        var r = jsonResponse(run.summary == nil ? 202 : 200, suites.envelope(run))
        let summary = run.summary.flatMap { try? JSONValue.parse($0) }
        r.headers[HTTPField.Name("X-Eval-Verdict")!] = summary?["verdict"]?.stringValue ?? "pending"
        if run.summary == nil {
            r.headers[.location] = "/v1/test-suites/\(run.suite)/runs/\(run.id)"
            r.headers[.retryAfter] = "5"
        }
        return r
    }

    /// `GET /v1/audit?artifact=&since=&after=&limit=`: audit lines, oldest first, a page at a time.
    static func audit(_ request: Request, store: Store) async throws -> Response {
        let q = request.uri.queryParameters
        let parsed = Result { () throws(RequestError) -> AuditQuery in
            try AuditQuery(artifact: q["artifact"].map(String.init), since: q["since"].map(String.init), after: q["after"].map(String.init),
                           limit: q["limit"].map(String.init))
        }
        guard case .success(let query) = parsed else {
            if case .failure(let e) = parsed { return errorResponse(e) }
            return errorResponse(400, "invalid_request", "bad query")
        }
        let rows = try store.audit(artifact: query.artifact, since: query.since, after: query.after, limit: query.limit)
        let next: JSONValue = rows.count == query.limit ? .number(Double(rows.last!.id)) : .null
        return jsonResponse(200, ["api_version": "v1", "entries": .array(rows.map(\.entry.json)), "next_after": next])
    }

    static func waitSeconds(_ request: Request, _ config: ServiceConfig) throws -> Double {
        guard let raw = request.uri.queryParameters["wait"] else { return 0 }
        guard let w = Double(String(raw)), w >= 0, w.isFinite else { throw RequestError.schema("wait", "must be a number of seconds >= 0") }
        return min(w, config.maxWaitSeconds)
    }

    // MARK: Envelopes

    /// The job envelope (ARCHITECTURE §4), with `X-Eval-State` / `X-Eval-Verdict` mirrored.
    static func envelope(_ job: StoredJob, reused: Bool) -> JSONValue {
        let result = job.result.flatMap { try? JSONValue.parse(bytes: $0) }
        func time(_ t: Double?) -> JSONValue { t.map { .string(EvalService.iso8601(Date(timeIntervalSince1970: $0))) } ?? .null }
        var duration: JSONValue = .null
        if let s = job.startedAt, let f = job.finishedAt { duration = .number(((f - s) * 1000).rounded() / 1000) }
        return [
            "api_version": "v1",
            "kind": .string(job.kind),
            "job_id": .string(job.id),
            "state": .string(job.state.rawValue),
            "terminal": .bool(job.state.terminal),
            "verdict": job.state == .completed ? (job.verdict.map(JSONValue.string) ?? .null) : .null,
            "reasons": result?["reasons"] ?? [],
            "notes": result?["notes"] ?? [],
            "summary": result?["summary"] ?? .null,
            "checks": result?["checks"] ?? [],
            "purpose": .string(job.purpose),
            "request_digest": .string(job.requestDigest),
            "idempotency_key": .string(job.idempotencyKey),
            "attempt": .number(Double(job.attempt)),
            "reused": .bool(reused),
            "error": job.error.flatMap { try? JSONValue.parse($0) } ?? .null,
            "links": ["self": .string("/v1/jobs/\(job.id)"), "report": .string("/v1/jobs/\(job.id)/report")],
            "timing": ["created_at": time(job.createdAt), "started_at": time(job.startedAt), "finished_at": time(job.finishedAt), "duration_seconds": duration],
        ]
    }

    /// Foundation's formatters are thread-safe but costly to create: one, shared.
    nonisolated(unsafe) private static let isoFormatter = ISO8601DateFormatter()
    static func iso8601(_ d: Date) -> String { isoFormatter.string(from: d) }

    static func envelopeResponse(_ job: StoredJob, reused: Bool, status: Int) -> Response {
        var r = jsonResponse(status, envelope(job, reused: reused))
        r.headers[HTTPField.Name("X-Eval-State")!] = job.state.rawValue
        let verdict: String
        switch job.state {
        case .completed: verdict = job.verdict ?? "pending"
        case .errored, .cancelled: verdict = "error"
        case .queued, .running: verdict = "pending"
        }
        r.headers[HTTPField.Name("X-Eval-Verdict")!] = verdict
        if !job.state.terminal {
            r.headers[.location] = "/v1/jobs/\(job.id)"
            r.headers[.retryAfter] = "2"
        }
        return r
    }

    static func jsonResponse(_ status: Int, _ value: JSONValue) -> Response {
        var bytes: [UInt8] = []
        value.write(to: &bytes, sortedKeys: true)
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func errorResponse(_ status: Int, _ code: String, _ message: String, field: String? = nil, retryable: Bool = false) -> Response {
        var error: [String: JSONValue] = ["code": .string(code), "message": .string(message), "retryable": .bool(retryable)]
        if let field { error["field"] = .string(field) }
        return jsonResponse(status, ["api_version": "v1", "error": .object(error)])
    }

    static func errorResponse(_ e: RequestError) -> Response {
        errorResponse(e.status, e.code, e.message, field: e.field)
    }
}

/// Request ids, one structured log line per request (never headers or bodies: they may carry
/// secrets), and the HTTP latency histogram by route, method and status; thrown HTTP errors
/// become JSON error bodies.
struct ObservingMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let given = request.headers[HTTPField.Name("X-Request-Id")!] ?? ""
        let requestID = given.count <= 64 && !given.isEmpty && given.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            ? given : UUID().uuidString.lowercased()
        var response: Response
        do {
            response = try await next(request, context)
        } catch let e as any HTTPResponseError {
            response = EvalService.errorResponse(Int(e.status.code), e.status.code == 404 ? "not_found" : "http_error", e.status.reasonPhrase)
        } catch {
            logger.error("handler failed", metadata: ["request_id": .string(requestID), "error": .string("\(error)")])
            response = EvalService.errorResponse(500, "internal_error", "internal error (request id \(requestID))", retryable: true)
        }
        response.headers[HTTPField.Name("X-Request-Id")!] = requestID
        let route = context.endpointPath ?? "unmatched"
        CoreMetrics.Timer(label: "evalengine_http_request_duration_seconds",
                          dimensions: [("route", route), ("method", request.method.rawValue), ("status", String(response.status.code))]).recordInterval(since: start)
        if route != "/metrics" && route != "/healthz" && route != "/readyz" {
            let d = ContinuousClock.now - start
            logger.info("request", metadata: [
                "request_id": .string(requestID), "method": .string(request.method.rawValue), "route": .string(route),
                "status": .stringConvertible(response.status.code), "ms": .stringConvertible(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000),
            ])
        }
        return response
    }
}

/// Optional bearer-token auth for `/v1/*` (and `/metrics` when asked); tokens compared in
/// constant time. Health and readiness stay open for the kubelet.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = EvalRequestContext
    let tokens: [[UInt8]]
    let names: [String]
    let protectMetrics: Bool

    init(tokens: [String], names: [String], protectMetrics: Bool) {
        self.tokens = tokens.map { Array($0.utf8) }
        self.names = names
        self.protectMetrics = protectMetrics
    }

    /// Paths that need a token when the service has tokens: the API, the web view and the docs
    /// (they show reports and configuration), and `/metrics` when asked.
    func isProtected(_ path: String) -> Bool {
        path.hasPrefix("/v1/") || path == "/ui" || path.hasPrefix("/ui/") || path == "/docs" || path.hasPrefix("/docs/")
            || (protectMetrics && path == "/metrics")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !tokens.isEmpty, isProtected(request.uri.path) else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), let index = BearerAuthMiddleware.match(Array(header.utf8.dropFirst(7)), tokens) else {
            var r = EvalService.errorResponse(401, "unauthorized", "a valid bearer token is required")
            r.headers[.wwwAuthenticate] = "Bearer"
            return r
        }
        var context = context
        context.caller = index < names.count ? names[index] : "token:\(index + 1)"
        return try await next(request, context)
    }

    /// The index of the matching token. Compares against every token, each byte by byte to the
    /// end, so the time taken says nothing about how much of a token matched, or which.
    static func match(_ given: [UInt8], _ tokens: [[UInt8]]) -> Int? {
        var found = -1
        for (index, t) in tokens.enumerated() {
            var diff = UInt8(truncatingIfNeeded: given.count ^ t.count)
            for i in 0..<t.count { diff |= t[i] ^ (i < given.count ? given[i] : 0) }
            let hit = diff == 0
            found = hit ? index : found
        }
        return found >= 0 ? found : nil
    }
}
