import ArgumentParser
import AsyncHTTPClient
import EvalCore
import ModelClient
import Foundation
import NIOCore
import NIOHTTP1

/// The container-step client (Argo's "container poller" pattern): submits a stage request to the
/// service, long-polls in slices a proxy will not cut, prints the envelope and exits with the
/// verdict. Transport trouble and 429/5xx are retried with backoff; a retry re-attaches to the
/// same job (same body, same Idempotency-Key), so nothing runs twice.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a stage request to an evalengine service, optionally wait for the verdict.",
        discussion: """
            Exit codes: 0 pass (or accepted, without --wait), 1 fail, 2 inconclusive, 3 the job errored or was cancelled, \
            4 the request was refused (4xx; the message names the field), 20 the service could not be reached after retries \
            (Argo: retryStrategy.expression "asInt(lastRetry.exitCode) >= 20"), 64 usage, 66 missing request file.
            """)

    @Argument(help: "eval, shadow-compare or index-test.")
    var stage: String

    @Option(name: .long, help: "Service base URL, e.g. http://evalengine.evalengine.svc:8080")
    var server: String

    @Option(name: .long, help: "Request body (JSON) file.")
    var request: String

    @Option(name: .long, help: "Idempotency-Key (Argo: {{workflow.uid}}-<stage>). Default: the service keys by the body's digest.")
    var idempotencyKey: String?

    @Flag(name: .long, help: "Wait for the job to end and exit with its verdict.")
    var wait = false

    @Option(name: .long, help: "Give up waiting after this many seconds (exit 20).")
    var timeout: Double = 6 * 3600

    @Option(name: .long, help: "Longest single long-poll, in seconds (keep under proxies' idle cut-off).")
    var pollSeconds: Double = 50

    @Option(name: .long, help: "Retries of transport errors, 429 and 5xx before giving up.")
    var retries: Int = 8

    @Option(name: .long, help: "Environment variable holding a bearer token (unset: no token).")
    var tokenEnv: String?

    @Option(name: .long, help: "With --wait: write the job's full report here (an Argo output artifact).")
    var reportOut: String?

    @Option(name: .long, help: "Write the verdict (pass|fail|inconclusive|error) here (an Argo output parameter).")
    var verdictOut: String?

    static let exitErrored: Int32 = 3
    static let exitRefused: Int32 = 4
    static let exitUnreachable: Int32 = 20

    func validate() throws {
        guard ["eval", "shadow-compare", "index-test"].contains(stage) else { throw ValidationError("the stage must be eval, shadow-compare or index-test") }
        guard URL(string: server)?.scheme?.hasPrefix("http") == true else { throw ValidationError("--server must be an http(s) URL") }
        guard pollSeconds > 0, pollSeconds <= 3600, timeout > 0, timeout <= 7 * 86_400, retries >= 0, retries <= 100 else {
            throw ValidationError("--poll-seconds (at most 3600), --timeout (at most 7 days) and --retries (at most 100) must be positive")
        }
    }

    func run() async throws {
        throw ExitCode(await execute())
    }

    struct Reply {
        var status: Int
        var body: [UInt8]
        var retryAfter: Double?
        var json: JSONValue? { try? JSONValue.parse(bytes: body) }
    }

    func execute() async -> Int32 {
        guard let body = FileManager.default.contents(atPath: request) else {
            printError("\(request): no such file (--request)")
            return ExitCodes.noInput
        }
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Accept", "application/json")])
        if let idempotencyKey { headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        // An unset variable means no auth (the templates mount the token Secret as optional).
        if let tokenEnv, let token = ProcessInfo.processInfo.environment[tokenEnv], !token.isEmpty {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let deadline = ContinuousClock.now + .clampedSeconds(timeout)
        func slice() -> Double { wait ? max(0, min(pollSeconds, Double((deadline - ContinuousClock.now).components.seconds))) : 0 }

        // Submit (or re-attach): the same body and key always name the same job.
        guard var reply = await send(.POST, "\(base)/v1/\(stage)?wait=\(Int(slice()))", body: Array(body), headers: headers) else { return Self.exitUnreachable }
        guard reply.status == 200 || reply.status == 202, var envelope = reply.json else { return refused(reply) }
        guard let jobID = envelope["job_id"]?.stringValue else { return refused(reply) }
        printError("job \(jobID): \(envelope["state"]?.stringValue ?? "?")\(envelope["reused"]?.boolValue == true ? " (re-attached)" : "")")

        while wait && envelope["terminal"]?.boolValue != true {
            if ContinuousClock.now >= deadline {
                printError("job \(jobID) did not end within --timeout \(Int(timeout)) s")
                print(envelope.serialized(sortedKeys: true))
                return Self.exitUnreachable
            }
            guard let r = await send(.GET, "\(base)/v1/jobs/\(jobID)?wait=\(Int(slice()))", body: nil, headers: headers) else { return Self.exitUnreachable }
            reply = r
            guard reply.status == 200, let e = reply.json else { return refused(reply) }
            envelope = e
        }
        print(envelope.serialized(sortedKeys: true))
        let state = envelope["state"]?.stringValue ?? ""
        let verdict = envelope["verdict"]?.stringValue
        if let reportOut, state == "completed" {
            if let r = await send(.GET, "\(base)/v1/jobs/\(jobID)/report", body: nil, headers: headers), r.status == 200 {
                FileManager.default.createFile(atPath: reportOut, contents: Data(r.body))
            } else {
                printError("could not fetch the report of job \(jobID)")
            }
        }
        let word = state == "completed" ? (verdict ?? "error") : (envelope["terminal"]?.boolValue == true ? "error" : "pending")
        if let verdictOut { FileManager.default.createFile(atPath: verdictOut, contents: Data(word.utf8)) }
        switch (state, verdict) {
        case ("completed", "pass"): return ExitCodes.pass
        case ("completed", "fail"): return ExitCodes.fail
        case ("completed", _): return ExitCodes.inconclusive
        case ("errored", _), ("cancelled", _):
            printError("job \(jobID) \(state): \(envelope["error"]?["message"]?.stringValue ?? "")")
            return Self.exitErrored
        default: return ExitCodes.pass  // accepted, not waited for
        }
    }

    func refused(_ reply: Reply) -> Int32 {
        let message = reply.json?["error"]?["message"]?.stringValue ?? String(decoding: reply.body.prefix(500), as: UTF8.self)
        printError("refused (HTTP \(reply.status)): \(message)")
        print(String(decoding: reply.body, as: UTF8.self))
        return Self.exitRefused
    }

    /// One request, retried on transport errors, 429 and 5xx with jittered exponential backoff
    /// (or the server's Retry-After). Nil when the retries ran out.
    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]?, headers: HTTPHeaders) async -> Reply? {
        var attempt = 0
        while true {
            var req = HTTPClientRequest(url: url)
            req.method = method
            req.headers = headers
            if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
            var reply: Reply?
            var problem = ""
            do {
                let response = try await HTTPClient.shared.execute(req, timeout: .clampedSeconds(Double(pollSeconds) + 30))
                let bytes = try await response.body.collect(upTo: 256 << 20)
                reply = Reply(status: Int(response.status.code), body: Array(buffer: bytes), retryAfter: OutsideNumber.seconds(response.headers.first(name: "Retry-After").flatMap(Double.init), limit: 300))
                if let r = reply, r.status == 429 || r.status >= 500 { problem = "HTTP \(r.status)" }
            } catch {
                problem = "\(error)"
            }
            if problem.isEmpty, let reply { return reply }
            attempt += 1
            if attempt > retries {
                printError("\(method) \(url): \(problem); giving up after \(retries) retries")
                return nil
            }
            let delay = reply?.retryAfter ?? min(30, 0.5 * pow(2, Double(attempt - 1))) * Double.random(in: 0.5...1)
            printError("\(method) \(url): \(problem); retry \(attempt)/\(retries) in \(String(format: "%.1f", delay)) s")
            try? await Task.sleep(for: .clampedSeconds(delay))
        }
    }
}
