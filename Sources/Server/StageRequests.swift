import Engine
import EvalCore
import Foundation
import GoldenSets
import ResultStore

/// The three stages the service runs.
public enum StageKind: String, Sendable, CaseIterable {
    case eval
    case shadowCompare = "shadow-compare"
    case indexTest = "index-test"
}

/// A request the service refuses: 400 for malformed JSON or a schema violation, 422 for a
/// well-formed request that cannot be run (unknown endpoint, bad threshold, unreadable ref).
/// The message names the field.
public struct RequestError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var field: String?

    static func schema(_ field: String, _ message: String) -> RequestError {
        RequestError(status: 400, code: "invalid_request", message: "field '\(field)': \(message)", field: field)
    }

    static func semantic(_ code: String, _ field: String?, _ message: String) -> RequestError {
        RequestError(status: 422, code: code, message: field.map { "field '\($0)': \(message)" } ?? message, field: field)
    }

    public var description: String { message }
}

/// A validated stage request: what to run, and the digest that identifies it.
public struct StageRequest: Sendable {
    public enum Plan: Sendable {
        case eval(goldenSet: String, prompt: PromptConfig, gate: GateConfig, endpoint: String, concurrency: Int, seed: UInt64, total: Int, repeats: Int,
                  judges: [String], defaultJudge: String?, scorerDirectory: String)
        case shadow(cases: ShadowJob.Cases, input: String, gate: ShadowGate, baseline: String, candidate: String, embedding: String, concurrency: Int, seed: UInt64)
        case indexTest(IndexTestJob, endpoints: [String])
    }

    public var kind: StageKind
    public var purpose: String
    /// `sha256:` of the canonical body without `client`, and of every file it refers to, so
    /// equal digests mean equal work.
    public var digest: String
    /// The canonical body (persisted with the job; a restart decodes it again).
    public var canonicalBody: [UInt8]
    /// Every file the request refers to: the request field, the file's path, its SHA-256.
    public var files: [(field: String, path: String, sha256: String)]
    public var plan: Plan
    /// `metadata` of the request (for the audit trail; outside the digest).
    public var metadata = RequestMetadata()
    /// `options.cache`: how the job uses the response cache (part of the digest: a refresh is other work).
    public var cacheMode = CacheMode.readWrite

    static let purposes: Set<String> = ["gate", "benchmark", "capacity"]

    /// Parses and checks a request body against the service config. Reads (and validates) every
    /// referenced file, so a bad golden-set line is refused before a job exists.
    /// `snapshots` (field → file) replaces the files the refs name with the copies taken when the
    /// job was admitted, so a queued or resumed job runs exactly what its digest names.
    public static func decode(kind: StageKind, body: [UInt8], config: ServiceConfig, snapshots: [String: String] = [:]) throws(RequestError) -> StageRequest {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes: body) } catch {
            throw RequestError(status: 400, code: "malformed_json", message: "malformed JSON: \(error.message) (byte \(error.offset + 1))", field: nil)
        }
        guard var o = json.objectValue else { throw RequestError.schema("", "the body must be a JSON object") }
        let fields: Set<String>
        switch kind {
        case .eval: fields = ["golden_set", "prompt", "endpoint", "judge_endpoint", "thresholds", "options", "purpose", "client", "metadata"]
        case .shadowCompare: fields = ["cases", "mode", "baseline", "candidate", "thresholds", "sampling", "embedding_endpoint", "options", "purpose", "client", "metadata"]
        case .indexTest: fields = ["corpus", "queries", "qrels", "baseline_config", "candidate_config", "thresholds", "purpose", "client", "metadata"]
        }
        for key in o.keys.sorted() where !fields.contains(key) {
            throw RequestError.schema(key, "unknown field (expected one of \(fields.sorted().joined(separator: ", ")))")
        }
        let purpose = try string(json, "purpose") ?? "gate"
        guard purposes.contains(purpose) else { throw RequestError.schema("purpose", "must be one of gate, benchmark, capacity") }
        // Who asks and for which artifact is the audit trail's, not the work's: the same work asked
        // for by another revision with identical inputs is the same job.
        let metadata = try RequestMetadata(json["metadata"])
        o.removeValue(forKey: "client")
        o.removeValue(forKey: "metadata")
        let resolver = RefResolver(dataDir: config.dataDir, snapshots: snapshots)
        let options = try Options(json["options"], maxConcurrency: config.maxCasesPerJob)

        let plan: Plan
        switch kind {
        case .eval:
            let golden = try resolver.path(json, "golden_set")
            let promptPath = try resolver.path(json, "prompt")
            let endpoint = try endpointName(json, "endpoint", config)
            let gate = try thresholds(json) { v throws(FieldError) in try GateConfig.decode(v) } ?? .default
            if let e = config.endpoints.first(where: { $0.name == endpoint }), let problem = gate.unmeasurableCheck(endpoint: e) {
                throw RequestError.semantic("unmeasurable_check", problem.hasPrefix("max_p95_ttft_ms") ? "thresholds.max_p95_ttft_ms" : "thresholds.max_cost_usd", problem)
            }
            let prompt = try loadInput { () throws(InputError) in try ConfigFiles.loadPrompt(path: promptPath) }
            // Script scorers live beside the golden set the request names (a job runs from its snapshot).
            let scorerDirectory = resolver.originalDirectory(json, "golden_set")
            let needs = try loadInput { () throws(InputError) in try EvalRunner.inspect(goldenSetPath: golden, prompts: [prompt], scorerDirectory: scorerDirectory) }
            let total = needs.cases
            // Judges are configured endpoints too: named by the request or by the cases' provider:.
            let defaultJudge = try json["judge_endpoint"] == nil ? nil : endpointName(json, "judge_endpoint", config)
            for (name, location) in needs.judgeProviders.sorted(by: { $0.value.line < $1.value.line }) where !config.endpoints.contains(where: { $0.name == name }) {
                throw RequestError.semantic("unknown_endpoint", "golden_set", "\(location.file):\(location.line): field 'provider': no judge endpoint named '\(name)'")
            }
            if let location = needs.script, !config.allowScriptScorers {
                throw RequestError.semantic("scripts_not_allowed", "golden_set", "\(location.file):\(location.line): script scorers run processes on the service's host; the service config does not allow them (scorers: {allow_scripts: true})")
            }
            for (name, location) in needs.webhooks.sorted(by: { $0.value.line < $1.value.line }) where !config.webhooks.contains(where: { $0.name == name }) {
                throw RequestError.semantic("unknown_webhook", "golden_set", "\(location.file):\(location.line): field 'webhook': no webhook named '\(name)'")
            }
            if let location = needs.selectBest {
                throw RequestError.semantic("needs_matrix", "golden_set", "\(location.file):\(location.line): select-best compares the targets of a matrix, and a service eval has one endpoint and one prompt")
            }
            if needs.needsDefaultJudge && defaultJudge == nil {
                throw RequestError.semantic("needs_judge", "judge_endpoint", "the golden set has model-graded assertions without provider:: name their judge")
            }
            let judges = Array(Set(needs.judgeProviders.keys).union(defaultJudge.map { [$0] } ?? [])).sorted()
            let repeats = options.repeats ?? gate.repeats ?? 1
            if let problem = gate.repeatProblem(repeats: repeats) { throw RequestError.semantic("needs_repeats", "options.repeat", problem) }
            plan = .eval(goldenSet: golden, prompt: prompt, gate: gate, endpoint: endpoint, concurrency: options.concurrency, seed: options.seed, total: total,
                         repeats: repeats, judges: judges, defaultJudge: defaultJudge, scorerDirectory: scorerDirectory)
        case .shadowCompare:
            let casesPath = try resolver.path(json, "cases")
            let baseline = try endpointName(json["baseline"] ?? .null, "endpoint", config, prefix: "baseline.")
            let candidate = try endpointName(json["candidate"] ?? .null, "endpoint", config, prefix: "candidate.")
            let embedding = try json["embedding_endpoint"] == nil ? baseline : endpointName(json, "embedding_endpoint", config)
            let gate = try thresholds(json) { v throws(FieldError) in try ShadowGate.decode(v) } ?? ShadowGate()
            if let b = config.endpoints.first(where: { $0.name == baseline }), let c = config.endpoints.first(where: { $0.name == candidate }),
                let problem = gate.unmeasurableCheck(baseline: b, candidate: c) {
                throw RequestError.semantic("unmeasurable_check", "thresholds.max_cost_ratio", problem)
            }
            let basePrompt = try json["baseline"]?["prompt"] == nil ? nil : loadPrompt(resolver, json["baseline"]!, "baseline.")
            let candPrompt = try json["candidate"]?["prompt"] == nil ? nil : loadPrompt(resolver, json["candidate"]!, "candidate.")
            let mode = try string(json, "mode") ?? "auto"
            guard ["auto", "golden", "traffic"].contains(mode) else { throw RequestError.schema("mode", "must be auto, golden or traffic") }
            let traffic = mode == "traffic" || (mode == "auto" && TrafficFile.looksLikeTraffic(path: casesPath))
            let cases: ShadowJob.Cases
            if traffic {
                let s = json["sampling"]
                let rate = try number(s, "rate", prefix: "sampling.") ?? 1
                guard rate > 0, rate <= 1 else { throw RequestError.schema("sampling.rate", "must be in (0, 1]") }
                let maxCases = try number(s, "max_cases", prefix: "sampling.")
                if let m = maxCases, m < 1 || m > 1e9 || m != m.rounded() { throw RequestError.schema("sampling.max_cases", "must be a whole number from 1 to 10^9") }
                let max = maxCases.map { Int($0) }
                let sampler = TrafficSampler(rate: rate, maxCases: max, stratifyByTag: s?["stratify_by_tag"]?.boolValue ?? false, seed: options.seed)
                cases = .traffic(path: casesPath, sampler: sampler, baselineParams: basePrompt?.params, candidateParams: candPrompt?.params)
            } else {
                guard json["sampling"] == nil else { throw RequestError.schema("sampling", "sampling applies to traffic copies; this is a golden set") }
                guard let prompt = basePrompt ?? candPrompt else {
                    throw RequestError.semantic("missing_prompt", "baseline.prompt", "golden cases need a prompt config ref")
                }
                cases = .goldenSet(path: casesPath, baselinePrompt: prompt, candidatePrompt: candPrompt ?? prompt)
            }
            _ = try loadInput { () throws(InputError) in try ShadowRunner.validate(cases) }
            plan = .shadow(cases: cases, input: casesPath, gate: gate, baseline: baseline, candidate: candidate, embedding: embedding,
                           concurrency: options.concurrency, seed: options.seed)
        case .indexTest:
            let paths = try ["corpus", "queries", "qrels", "baseline_config", "candidate_config"].map { (k: String) throws(RequestError) -> String in try resolver.path(json, k) }
            let gate = try thresholds(json) { v throws(FieldError) in try IndexTestGate.decode(v) } ?? IndexTestGate()
            let job = try loadInput { () throws(InputError) -> IndexTestJob in
                let base = try RAGInputs.loadConfig(path: paths[3])
                var cand = try RAGInputs.loadConfig(path: paths[4])
                if cand.name == base.name { cand.name += " (candidate)" }
                let docs = try RAGInputs.readRecords(path: paths[0], what: "document")
                let qs = try RAGInputs.readRecords(path: paths[1], what: "query", allowEmptyText: false)
                let qrels = try RAGInputs.readQrels(path: paths[2], corpusIDs: Set(docs.map(\.id)))
                return IndexTestJob(corpus: docs, queries: qs, qrels: qrels, baseline: base, candidate: cand, gate: gate)
            }
            for (field, c) in [("baseline_config", job.baseline), ("candidate_config", job.candidate)] where !config.endpoints.contains(where: { $0.name == c.embeddingEndpoint }) {
                throw RequestError.semantic("unknown_endpoint", field, "its embedding endpoint '\(c.embeddingEndpoint)' is not configured (configured: \(config.endpoints.map(\.name).joined(separator: ", ")))")
            }
            plan = .indexTest(job, endpoints: [job.baseline.embeddingEndpoint, job.candidate.embeddingEndpoint])
        }

        // The digest covers the body and the bytes of every file it names.
        var identity = o
        identity["stage"] = .string(kind.rawValue)
        let files = resolver.resolved.map { (field: $0, path: $1, sha256: SHA256Stream.fileHex($1) ?? "") }
        identity["files"] = .object(Dictionary(uniqueKeysWithValues: files.map { ($0.field, .string($0.sha256)) }))
        let canonical = JSONValue.object(o).canonicalBytes
        return StageRequest(kind: kind, purpose: purpose, digest: "sha256:" + SHA256Digest.hex(JSONValue.object(identity).canonicalBytes),
                            canonicalBody: canonical, files: files, plan: plan, metadata: metadata, cacheMode: options.cache)
    }

    // MARK: Field helpers

    /// `metadata: {artifact, artifact_type, revision}`: which artifact (a prompt, a model config, a
    /// RAG config) at which git revision the job gates. Strings of at most 256 printable characters.
    public struct RequestMetadata: Sendable, Hashable {
        public var artifact = ""
        public var artifactType = ""
        public var revision = ""

        public init() {}

        init(_ json: JSONValue?) throws(RequestError) {
            guard let json, json != .null else { return }
            guard let o = json.objectValue else { throw RequestError.schema("metadata", "must be an object of artifact, artifact_type, revision") }
            for key in o.keys.sorted() where !["artifact", "artifact_type", "revision"].contains(key) {
                throw RequestError.schema("metadata.\(key)", "unknown field (expected artifact, artifact_type, revision)")
            }
            func text(_ k: String) throws(RequestError) -> String {
                guard let v = o[k], v != .null else { return "" }
                guard let s = v.stringValue, s.utf8.count <= 256, !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw RequestError.schema("metadata.\(k)", "must be a string of at most 256 bytes without control characters")
                }
                return s
            }
            artifact = try text("artifact")
            artifactType = try text("artifact_type")
            revision = try text("revision")
        }
    }

    struct Options {
        var concurrency: Int
        var seed: UInt64
        /// Samples per case (eval); nil: the gate's `repeat`, else one.
        var repeats: Int?
        var cache = CacheMode.readWrite

        init(_ json: JSONValue?, maxConcurrency: Int) throws(RequestError) {
            concurrency = maxConcurrency
            seed = 0x5EED
            guard let json, json != .null else { return }
            guard let o = json.objectValue else { throw RequestError.schema("options", "must be an object") }
            for key in o.keys.sorted() where !["concurrency", "seed", "repeat", "cache"].contains(key) {
                throw RequestError.schema("options.\(key)", "unknown option (expected concurrency, seed, repeat, cache)")
            }
            if let v = o["cache"], v != .null {
                // A regression run must ask the endpoint again: `refresh` calls it and overwrites the cache.
                guard let text = v.stringValue, let mode = CacheMode(rawValue: text), mode != .off else {
                    throw RequestError.schema("options.cache", "must be read-write, read-only or refresh")
                }
                cache = mode
            }
            if let v = o["repeat"], v != .null {
                guard let k = v.wholeNumber(in: 1...GateConfig.maxRepeats) else {
                    throw RequestError.schema("options.repeat", "must be a whole number from 1 to \(GateConfig.maxRepeats)")
                }
                repeats = k
            }
            if let c = try StageRequest.number(json, "concurrency", prefix: "options.") {
                guard c >= 1, c == c.rounded() else { throw RequestError.schema("options.concurrency", "must be a whole number >= 1") }
                // Capped before converting: a huge number must not trap.
                concurrency = Int(min(c, Double(maxConcurrency)))
            }
            if let s = try StageRequest.number(json, "seed", prefix: "options.") {
                guard s >= 0, s == s.rounded(), s < 9.0e15 else { throw RequestError.schema("options.seed", "must be a whole number >= 0") }
                seed = UInt64(s)
            }
        }
    }

    static func string(_ json: JSONValue?, _ key: String, prefix: String = "") throws(RequestError) -> String? {
        guard let v = json?[key], v != .null else { return nil }
        guard let s = v.stringValue else { throw RequestError.schema(prefix + key, "must be a string") }
        return s
    }

    static func number(_ json: JSONValue?, _ key: String, prefix: String = "") throws(RequestError) -> Double? {
        guard let v = json?[key], v != .null else { return nil }
        guard let n = v.numberValue, n.isFinite else { throw RequestError.schema(prefix + key, "must be a number") }
        return n
    }

    static func endpointName(_ json: JSONValue, _ key: String, _ config: ServiceConfig, prefix: String = "") throws(RequestError) -> String {
        guard let name = try string(json, key, prefix: prefix) else { throw RequestError.schema(prefix + key, "required: the name of a configured endpoint") }
        guard config.endpoints.contains(where: { $0.name == name }) else {
            if name.contains("://") {
                throw RequestError.semantic("endpoint_not_allowed", prefix + key, "requests name configured endpoints; URLs are not accepted")
            }
            throw RequestError.semantic("unknown_endpoint", prefix + key, "no endpoint named '\(name)' (configured: \(config.endpoints.map(\.name).joined(separator: ", ")))")
        }
        return name
    }

    static func thresholds<T>(_ json: JSONValue, _ decode: (JSONValue) throws(FieldError) -> T) throws(RequestError) -> T? {
        guard let v = json["thresholds"], v != .null else { return nil }
        guard v.objectValue != nil else { throw RequestError.schema("thresholds", "must be an object") }
        do { return try decode(v) } catch {
            throw RequestError.semantic("invalid_threshold", error.field.isEmpty ? "thresholds" : "thresholds.\(error.field)", error.message)
        }
    }

    static func loadPrompt(_ resolver: RefResolver, _ side: JSONValue, _ prefix: String) throws(RequestError) -> PromptConfig {
        let path = try resolver.path(side, "prompt", prefix: prefix)
        return try loadInput { () throws(InputError) in try ConfigFiles.loadPrompt(path: path) }
    }

    /// Input files are the caller's data: their errors are 422 and name file, line and field.
    static func loadInput<T>(_ body: () throws(InputError) -> T) throws(RequestError) -> T {
        do { return try body() } catch {
            throw RequestError(status: 422, code: "invalid_input", message: error.description, field: error.field)
        }
    }
}

/// Resolves `{"ref": "..."}` fields to files inside the data directory, refusing anything that
/// would leave it (absolute paths, `..`, symlinks pointing out).
final class RefResolver {
    let root: String
    let snapshots: [String: String]
    private(set) var resolved: [(String, String)] = []

    init(dataDir: String, snapshots: [String: String] = [:]) {
        root = URL(fileURLWithPath: dataDir).standardizedFileURL.resolvingSymlinksInPath().path
        self.snapshots = snapshots
    }

    func path(_ json: JSONValue, _ key: String, prefix: String = "") throws(RequestError) -> String {
        let field = prefix + key
        guard let v = json[key], v != .null else { throw RequestError.schema(field, "required: {\"ref\": \"path inside the data directory\"}") }
        guard let o = v.objectValue, let ref = o["ref"]?.stringValue, o.count == 1 else {
            throw RequestError.schema(field, "must be {\"ref\": \"path inside the data directory\"}")
        }
        guard !ref.isEmpty, !ref.hasPrefix("/"), !ref.split(separator: "/").contains("..") else {
            throw RequestError.semantic("ref_not_allowed", field + ".ref", "'\(ref)' is not a relative path inside the data directory")
        }
        if let copy = snapshots[field] {
            // The job's own copy, taken at admission (the original may have been edited since).
            guard FileManager.default.fileExists(atPath: copy) else {
                throw RequestError.semantic("snapshot_missing", field + ".ref", "the copy of '\(ref)' taken when the job was admitted is gone (\(copy))")
            }
            resolved.append((field, copy))
            return copy
        }
        let full = URL(fileURLWithPath: root).appendingPathComponent(ref).standardizedFileURL.resolvingSymlinksInPath().path
        guard full == root || full.hasPrefix(root + "/") else {
            throw RequestError.semantic("ref_not_allowed", field + ".ref", "'\(ref)' leads outside the data directory")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue else {
            throw RequestError.semantic("unknown_ref", field + ".ref", "no file '\(ref)' in the data directory")
        }
        resolved.append((field, full))
        return full
    }

    /// The data-directory folder of a ref (checked by `path` first): where files beside it are.
    func originalDirectory(_ json: JSONValue, _ key: String) -> String {
        let ref = json[key]?["ref"]?.stringValue ?? ""
        let dir = ref.contains("/") ? String(ref[..<ref.lastIndex(of: "/")!]) : ""
        return dir.isEmpty ? root : root + "/" + dir
    }
}
