import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient

/// `POST /v1/validate`: the configs a pipeline is about to run, checked against the files and
/// against the providers of the service's own endpoints (model listed, context window, pricing
/// age, embedding dimension). Synchronous: it makes one `GET /v1/models` per endpoint and at most
/// one `/tokenize` and one embedding probe each, under `validate_timeout_seconds`.
struct ValidateRequest: Sendable {
    var validation: EndpointValidation
    /// Findings made while reading the request's files (a bad golden-set line): a validation
    /// result, not a malformed request.
    var inputFindings: [ValidationFinding]

    static let fields: Set<String> = ["golden_set", "prompt", "endpoint", "endpoints", "all_endpoints", "judge_endpoint", "rag_configs",
                                      "max_pricing_age_days", "stale_pricing", "metadata", "client"]

    static func decode(body: [UInt8], config: ServiceConfig) throws(RequestError) -> ValidateRequest {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes: body) } catch {
            throw RequestError(status: 400, code: "malformed_json", message: "malformed JSON: \(error.message) (byte \(error.offset + 1))", field: nil)
        }
        guard let o = json.objectValue else { throw RequestError.schema("", "the body must be a JSON object") }
        for key in o.keys.sorted() where !fields.contains(key) {
            throw RequestError.schema(key, "unknown field (expected one of \(fields.sorted().joined(separator: ", ")))")
        }
        _ = try StageRequest.RequestMetadata(json["metadata"])
        let resolver = RefResolver(dataDir: config.dataDir)
        var targets: [String] = []
        if json["endpoint"] != nil { targets.append(try StageRequest.endpointName(json, "endpoint", config)) }
        if let list = json["endpoints"], list != .null {
            guard let items = list.arrayValue, items.count <= 64 else { throw RequestError.schema("endpoints", "must be a list of at most 64 endpoint names") }
            for (i, item) in items.enumerated() {
                targets.append(try StageRequest.endpointName(["e": item], "e", config, prefix: "endpoints[\(i)]."))
            }
        }
        var names = targets
        if json["all_endpoints"]?.boolValue == true { names += config.endpoints.map(\.name) }
        if json["judge_endpoint"] != nil { names.append(try StageRequest.endpointName(json, "judge_endpoint", config)) }

        var findings: [ValidationFinding] = []
        var golden: String?
        var prompt: PromptConfig?
        if json["golden_set"] != nil || json["prompt"] != nil {
            let g = try resolver.path(json, "golden_set")
            let p = try resolver.path(json, "prompt")
            do {
                let loaded = try ConfigFiles.loadPrompt(path: p)
                _ = try EvalRunner.validate(goldenSetPath: g, prompt: loaded)
                golden = g
                prompt = loaded
            } catch {
                findings.append(.init(.error, .input, relative(error.description, config)))
            }
        }
        var rags: [EndpointValidation.RAGCheck] = []
        if let list = json["rag_configs"], list != .null {
            guard let items = list.arrayValue, items.count <= 16 else { throw RequestError.schema("rag_configs", "must be a list of at most 16 {\"ref\": ...}") }
            for i in items.indices {
                let path = try resolver.path(["c": items[i]], "c", prefix: "rag_configs[\(i)].")
                do {
                    let c = try RAGInputs.loadConfig(path: path)
                    guard config.endpoints.contains(where: { $0.name == c.embeddingEndpoint }) else {
                        throw RequestError.semantic("unknown_endpoint", "rag_configs[\(i)]", "its embedding endpoint '\(c.embeddingEndpoint)' is not configured")
                    }
                    rags.append(.init(path: path, config: c, line: (try? ConfigFiles.document(path).line(of: "embedding.dimensions")) ?? 0))
                    names.append(c.embeddingEndpoint)
                } catch let e as InputError {
                    findings.append(.init(.error, .input, relative(e.description, config)))
                } catch let e as RequestError {
                    throw e
                } catch {
                    findings.append(.init(.error, .input, "\(error)"))
                }
            }
        }
        guard !names.isEmpty || golden != nil || !findings.isEmpty else {
            throw RequestError.schema("endpoint", "name what to check: endpoint, endpoints, all_endpoints, judge_endpoint, rag_configs or golden_set with prompt")
        }
        var maxAge = 90
        if let v = json["max_pricing_age_days"], v != .null {
            guard let n = v.wholeNumber(in: 0...100_000) else { throw RequestError.schema("max_pricing_age_days", "must be a whole number from 0 to 100000") }
            maxAge = n
        }
        let stale = try StageRequest.string(json, "stale_pricing") ?? "fail"
        guard ["fail", "warn"].contains(stale) else { throw RequestError.schema("stale_pricing", "must be fail or warn") }

        var seen = Set<String>()
        let chosen = names.filter { seen.insert($0).inserted }.compactMap { n in config.endpoints.first { $0.name == n } }
        let doc = try? ConfigFiles.document(config.endpointsPath)
        let none: @Sendable (EndpointConfig, String) -> Int = { _, _ in 0 }
        let finder = doc.map { EndpointValidation.lineFinder(endpoints: config.endpoints, document: $0) } ?? none
        var v = EndpointValidation(endpoints: chosen, targets: Set(targets), configPath: config.endpointsPath, line: finder)
        v.goldenSet = golden
        v.prompt = prompt
        v.ragConfigs = rags
        v.maxPricingAgeDays = maxAge
        v.failStalePricing = stale == "fail"
        return ValidateRequest(validation: v, inputFindings: findings)
    }

    /// Paths in messages relative to the data directory: the caller knows its refs, not our disk.
    static func relative(_ message: String, _ config: ServiceConfig) -> String {
        let root = URL(fileURLWithPath: config.dataDir).standardizedFileURL.resolvingSymlinksInPath().path + "/"
        return message.replacingOccurrences(of: root, with: "")
    }

    /// The answer: `valid` and a verdict Argo gates on, every finding, counts.
    static func answer(_ findings: [ValidationFinding], config: ServiceConfig) -> JSONValue {
        let errors = findings.filter { $0.level == .error }.count
        let warnings = findings.filter { $0.level == .warning }.count
        return [
            "api_version": "v1", "valid": .bool(errors == 0), "verdict": .string(errors == 0 ? "pass" : "fail"),
            "errors": .number(Double(errors)), "warnings": .number(Double(warnings)),
            "findings": .array(findings.map { ["level": .string($0.level.rawValue), "kind": .string($0.kind.rawValue), "message": .string(relative($0.message, config))] }),
        ]
    }
}
