import EvalCore
import Foundation
import GoldenSets
import ModelClient

/// One thing `validate --check-endpoints` (and `POST /v1/validate`) found.
public struct ValidationFinding: Sendable, Hashable {
    public enum Level: String, Sendable { case error, warning, ok }
    /// Whose the problem is: the cases' (exit 65) or an endpoint's or config's (exit 78).
    public enum Kind: String, Sendable { case input, endpoint }

    public var level: Level
    public var kind: Kind
    /// `file:line: ...`, naming what to fix.
    public var message: String

    public init(_ level: Level, _ kind: Kind, _ message: String) {
        self.level = level
        self.kind = kind
        self.message = message
    }
}

/// Checks configs against the providers they name: every endpoint must list its model in
/// `GET /v1/models`; the longest case of a prompt must fit the target endpoints' context window;
/// pricing must be present and no older than allowed; each RAG config's embedding endpoint is
/// probed once and must answer vectors of the configured dimension.
///
/// Token counts are estimated as UTF-8 bytes / 4 + 4 per message + max_tokens (within about ±25%
/// for English text); a case the estimate puts at 75% of the window or more is counted exactly with
/// the server's `/tokenize` where it has one (vLLM, llama.cpp).
public struct EndpointValidation: Sendable {
    public struct RAGCheck: Sendable {
        public var path: String
        public var config: RAGConfig
        /// Line of `embedding.dimensions` in the file (0 when absent).
        public var line: Int

        public init(path: String, config: RAGConfig, line: Int) {
            self.path = path
            self.config = config
            self.line = line
        }
    }

    /// Endpoints to ask, in order.
    public var endpoints: [EndpointConfig]
    /// Those a prompt runs on (their context window is checked against the cases).
    public var targets: Set<String>
    public var goldenSet: String?
    public var prompt: PromptConfig?
    public var ragConfigs: [RAGCheck] = []
    public var maxPricingAgeDays = 90
    /// Stale or missing pricing is an error (else a warning).
    public var failStalePricing = true
    /// The endpoints file, for messages.
    public var configPath: String
    /// Line of an endpoint's field in the endpoints file ("" for the entry itself).
    public var line: @Sendable (EndpointConfig, String) -> Int

    public init(endpoints: [EndpointConfig], targets: Set<String>, configPath: String, line: @escaping @Sendable (EndpointConfig, String) -> Int) {
        self.endpoints = endpoints
        self.targets = targets
        self.configPath = configPath
        self.line = line
    }

    /// Runs every check with the given open clients (one per endpoint name).
    public func run(clients: [String: EndpointClient], now: Date = Date()) async -> [ValidationFinding] {
        var out: [ValidationFinding] = []
        let config = configPath
        for e in endpoints {
            guard let client = clients[e.name] else {
                out.append(.init(.error, .endpoint, "\(config):\(line(e, "")): endpoint '\(e.name)' is not open"))
                continue
            }
            var window = e.contextWindow
            switch await client.listModels() {
            case .failure(let err):
                out.append(.init(.error, .endpoint, "\(config):\(line(e, "")): endpoint '\(e.name)': \(err.message)"))
            case .success(let listed):
                if let entry = listed[e.model] {
                    for key in ["max_model_len", "context_length", "context_window"] where window == nil {
                        window = entry[key]?.wholeNumber(in: 1...100_000_000)
                    }
                    out.append(.init(.ok, .endpoint, "endpoint '\(e.name)': model '\(e.model)' listed"))
                } else {
                    out.append(.init(.error, .endpoint, "\(config):\(line(e, "model")): endpoint '\(e.name)': model '\(e.model)' is not listed by GET /v1/models (listed: \(listed.keys.sorted().prefix(20).joined(separator: ", ")))"))
                }
            }
            out += pricingFindings(e, now: now)
            guard targets.contains(e.name), let golden = goldenSet, let prompt else { continue }
            guard let window else {
                out.append(.init(.warning, .endpoint, "endpoint '\(e.name)': no context window known (set context_window), the cases' length is not checked"))
                continue
            }
            do {
                let (longest, estimate, location, id) = try EndpointValidation.longestCase(golden: golden, prompt: prompt)
                guard let longest else { continue }
                var needed = estimate
                var how = "estimated"
                // Near or over the window, the server's own count decides where it has one.
                if Double(estimate) >= 0.75 * Double(window), let exact = await client.tokenize(longest) {
                    needed = exact + (longest.params.maxTokens ?? 256)
                    how = "counted by /tokenize"
                }
                if needed > window {
                    out.append(.init(.error, .input, "\(location.file):\(location.line): case '\(id)': needs \(needed) tokens (\(how), max_tokens \(longest.params.maxTokens ?? 256) included), more than endpoint '\(e.name)''s context window of \(window)"))
                } else {
                    out.append(.init(.ok, .input, "endpoint '\(e.name)': longest case '\(id)' needs \(needed) of \(window) tokens (\(how))"))
                }
            } catch let error as InputError {
                out.append(.init(.error, .input, error.description))
            } catch {
                out.append(.init(.error, .input, "\(error)"))
            }
        }
        // Each RAG config's embedding endpoint, probed once: the dimension must be the config's.
        for r in ragConfigs {
            guard let client = clients[r.config.embeddingEndpoint] else { continue }
            do throws(ModelCallError) {
                let (vectors, _) = try await client.embed(["evalengine dimension probe"], model: r.config.embeddingModel)
                let got = vectors.first?.count ?? 0
                if let want = r.config.embeddingDimensions {
                    if got != want {
                        out.append(.init(.error, .endpoint, "\(r.path):\(r.line): RAG config '\(r.config.name)': embedding.dimensions is \(want), but endpoint '\(r.config.embeddingEndpoint)' answers \(got)-dimensional vectors"))
                    } else {
                        out.append(.init(.ok, .endpoint, "RAG config '\(r.config.name)': endpoint '\(r.config.embeddingEndpoint)' answers \(got)-dimensional vectors, as configured"))
                    }
                } else {
                    out.append(.init(.warning, .endpoint, "RAG config '\(r.config.name)' sets no embedding.dimensions; endpoint '\(r.config.embeddingEndpoint)' answers \(got)"))
                }
            } catch {
                out.append(.init(.error, .endpoint, "\(r.path): RAG config '\(r.config.name)': the embedding probe of '\(r.config.embeddingEndpoint)' failed: \(error.kind): \(error.message)"))
            }
        }
        return out
    }

    /// Pricing present, and its `as_of` no older than the allowed age.
    func pricingFindings(_ e: EndpointConfig, now: Date) -> [ValidationFinding] {
        let level: ValidationFinding.Level = failStalePricing ? .error : .warning
        guard let pricing = e.pricing else {
            return [.init(level, .endpoint, "\(configPath):\(line(e, "")): endpoint '\(e.name)': no pricing (cost is not measured, and max_cost_usd cannot gate)")]
        }
        guard let asOf = pricing.asOf, let day = EndpointConfig.dayNumber(asOf) else {
            return [.init(level, .endpoint, "\(configPath):\(line(e, "pricing")): endpoint '\(e.name)': pricing has no as_of date, so its age is unknown")]
        }
        let today = Int(now.timeIntervalSince1970 / 86_400)
        if today - day > maxPricingAgeDays {
            return [.init(level, .endpoint, "\(configPath):\(line(e, "pricing.as_of")): endpoint '\(e.name)': pricing as of \(asOf) is \(today - day) days old (more than \(maxPricingAgeDays))")]
        }
        return []
    }

    /// The case whose rendered request is estimated longest (bytes / 4, 4 per message, plus max_tokens).
    public static func longestCase(golden: String, prompt: PromptConfig) throws -> (ModelRequest?, Int, SourceLocation, String) {
        let reader = try GoldenSetReader(path: golden)
        var best: (ModelRequest?, Int, SourceLocation, String) = (nil, 0, SourceLocation(file: golden, line: 0), "")
        let scorer = Scorer()
        while let c = try reader.next() {
            let (_, request) = try EvalRunner.prepareRequest(c, prompt: prompt, scorer: scorer)
            var chars = request.prompt?.utf8.count ?? 0
            for m in request.messages { chars += m.content.utf8.count }
            for t in c.turns { chars += t.user.source.utf8.count }
            let estimate = chars / 4 + 4 * (request.messages.count + c.turns.count) + (request.params.maxTokens ?? 256)
            if estimate > best.1 { best = (request, estimate, c.location, c.id) }
        }
        return best
    }

    /// Where each endpoint's fields are in an endpoints file, for messages a person can act on.
    public static func lineFinder(endpoints all: [EndpointConfig], document doc: DocNode) -> @Sendable (EndpointConfig, String) -> Int {
        let names = all.map(\.name)
        let root = doc["endpoints"] ?? doc
        var lines: [String: Int] = [:]
        for (i, _) in names.enumerated() {
            for field in ["", "model", "pricing", "pricing.as_of"] {
                lines["\(i)|\(field)"] = root.line(of: "[\(i)]" + (field.isEmpty ? "" : "." + field))
            }
        }
        let table = lines
        return { e, field in
            let i = names.firstIndex(of: e.name) ?? 0
            return table["\(i)|\(field)"] ?? table["\(i)|"] ?? 0
        }
    }
}
