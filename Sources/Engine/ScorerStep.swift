import EvalCore
import Foundation
import ModelClient
import ResultStore
import Synchronization

/// The user's scorers of a run: one worker pool per script command (started when first
/// needed, stopped when the run ends) and the configured webhooks; answers optionally cached
/// by the content of the request and of the scorer's files.
final class UserScorers: Sendable {
    private let pools = Mutex<[String: ScriptWorkerPool]>([:])
    let webhooks: [String: WebhookClient]
    let store: Store?
    let writer: StoreWriter?
    let workers: Int
    /// Overrides the golden set's directory for commands (see `EvalJob.scorerDirectory`).
    let directory: String?

    init(webhooks: [String: WebhookClient], store: Store?, writer: StoreWriter?, workers: Int, directory: String? = nil) {
        self.webhooks = webhooks
        self.store = store
        self.writer = writer
        self.workers = workers
        self.directory = directory
    }

    /// The scorer's answer to one request.
    func answer(_ given: ScorerRequestSpec, request: JSONValue) async -> ScorerOutcome {
        var spec = given
        if let directory, case .command(let command, _) = spec.target { spec.target = .command(command, directory: directory) }
        let key = spec.cache ? cacheKey(spec, request) : nil
        if let key, let store, let bytes = try? store.response(key, maxAge: nil), let json = try? JSONValue.parse(bytes: bytes), let cached = ScorerOutcome.read(json) {
            return cached
        }
        let answer: JSONValue
        switch spec.target {
        case .command(let command, let directory):
            let pool = pools.withLock { p in
                let id = command.joined(separator: "\u{0}") + "\u{1}" + directory
                if let existing = p[id] { return existing }
                let made = ScriptWorkerPool(command: UserScorers.resolved(command, in: directory) ?? command, directory: directory, size: workers)
                p[id] = made
                return made
            }
            var line: [UInt8] = []
            request.write(to: &line)
            switch await pool.call(line, timeout: spec.timeoutSeconds) {
            case .failure(let e): return .failed(message: e.message)
            case .success(let bytes):
                guard let json = try? JSONValue.parse(bytes: bytes) else {
                    return .failed(message: "the scorer answered a line that is not JSON: \(String(decoding: bytes.prefix(200), as: UTF8.self).debugDescription)")
                }
                answer = json
            }
        case .webhook(let name):
            guard let hook = webhooks[name] else { return .failed(message: "no webhook named '\(name)' is configured") }
            switch await hook.post(request, timeoutSeconds: spec.timeoutSeconds) {
            case .failure(let e): return .failed(message: e.message)
            case .success(let json): answer = json
            }
        }
        guard let outcome = ScorerOutcome.read(answer) else {
            return .failed(message: "the scorer's answer has no pass or score: \(String(answer.serialized().prefix(200)))")
        }
        if let key, let writer {
            var bytes: [UInt8] = []
            answer.write(to: &bytes, sortedKeys: true)
            writer.enqueue(.response(key: key, value: bytes))
        }
        return outcome
    }

    /// Covers the scorer (its command and the contents of the files it names) and the request:
    /// an edited scorer is a new key.
    func cacheKey(_ spec: ScorerRequestSpec, _ request: JSONValue) -> [UInt8] {
        var identity: [String: JSONValue] = ["request": request]
        switch spec.target {
        case .command(let command, let directory):
            identity["command"] = .array(command.map(JSONValue.string))
            identity["files"] = .array(command.map { part in
                let path = part.hasPrefix("/") ? part : directory + "/" + part
                return SHA256Stream.fileHex(path).map(JSONValue.string) ?? .null
            })
        case .webhook(let name): identity["webhook"] = .string(name)
        }
        return Array(("scorer:" + SHA256Digest.hex(JSONValue.object(identity).canonicalBytes)).utf8)
    }

    func shutdown() async {
        for pool in pools.withLock({ Array($0.values) }) { await pool.shutdown() }
        for hook in webhooks.values { await hook.shutdown() }
    }

    /// The executable a command names: a path (relative to the golden set), or a name on PATH.
    static func resolved(_ command: [String], in directory: String) -> [String]? {
        guard let first = command.first else { return nil }
        let fm = FileManager.default
        if first.contains("/") {
            let path = first.hasPrefix("/") ? first : directory + "/" + first
            return fm.isExecutableFile(atPath: path) ? [path] + command.dropFirst() : nil
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = String(dir) + "/" + first
            if fm.isExecutableFile(atPath: path) { return [path] + command.dropFirst() }
        }
        return nil
    }

    /// What is wrong with a command before anything runs: an executable that does not exist, or a
    /// script file it names (an argument ending in .py, .js, .rb, .sh, .pl) that does not.
    static func problem(_ command: [String], in directory: String) -> String? {
        guard resolved(command, in: directory) != nil else {
            return "'\(command[0])' is not an executable file\(command[0].contains("/") ? "" : " on PATH")"
        }
        for part in command.dropFirst() where [".py", ".js", ".rb", ".sh", ".pl", ".mjs"].contains(where: { part.hasSuffix($0) }) {
            let path = part.hasPrefix("/") ? part : directory + "/" + part
            if !FileManager.default.fileExists(atPath: path) { return "the scorer file '\(part)' does not exist (relative to \(directory))" }
        }
        return nil
    }
}

/// Asks the user's scorers of a case's script and webhook assertions; what they answer (or why
/// not) goes to the scorer, which errors the assertion `scorer_error` when there is no answer.
struct ScorerStep: CaseStep {
    let scorers: UserScorers

    func applies(to prepared: PreparedCase) -> Bool { prepared.hasScorers }

    func run(_ prepared: PreparedCase, output: inout CaseOutput) async {
        for spec in prepared.scorerRequests {
            // A turn's assertion is asked about that turn's answer.
            let subject = spec.turn.map { $0 <= output.turnOutputs.count ? output.turnOutputs[$0 - 1] : CaseOutput(text: "") } ?? output
            output.scorerResults[spec.assertionIndex] = await scorers.answer(spec, request: spec.request(prepared.goldenCase, output: subject))
        }
    }
}
