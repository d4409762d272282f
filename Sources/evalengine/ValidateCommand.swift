import ArgumentParser
import Engine
import EndpointSessions
import EvalCore
import Foundation
import GoldenSets
import ModelClient

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a golden set against a prompt (fields, assertions, template vars); with --check-endpoints, against the endpoints too.",
        discussion: """
            --check-endpoints asks each endpoint GET /v1/models (the configured model must be listed), checks \
            the longest case against the model's context window (the endpoint's context_window, else what \
            /v1/models says), and the endpoint's pricing (present, and as_of no older than --max-pricing-age-days). \
            Token counts are estimated as UTF-8 bytes / 4 + 4 per message + max_tokens (within about ±25% for \
            English; a case the estimate puts within 25% of the window, or over it, is counted exactly with \
            the server's /tokenize where it offers one, as vLLM and llama.cpp do). Exit 65 for a case that does \
            not fit, 78 for an endpoint problem.
            """)

    @Option(name: .long, help: "Golden set: .jsonl, .csv, .yaml or .json.")
    var golden: String

    @Option(name: .long, help: "Prompt config.")
    var prompt: String

    @Flag(name: .long, help: "Ask the endpoints too: model listed, context window, pricing.")
    var checkEndpoints = false

    @Option(name: .long, help: "Endpoint the prompt runs on (repeat for several); with --check-endpoints.")
    var endpoint: [String] = []

    @Option(name: .long, help: "Judge endpoint of model-graded assertions; checked like the others.")
    var judgeEndpoint: String?

    @Option(name: .long, help: "Endpoints config.")
    var config: String = "configs/endpoints.yaml"

    @Option(name: .long, help: "RAG config (repeatable): with --check-endpoints its embedding endpoint is probed once and must answer embedding.dimensions-dimensional vectors.")
    var ragConfig: [String] = []

    @Option(name: .long, help: "Pricing older than this many days (its as_of) is stale.")
    var maxPricingAgeDays: Int = 90

    @Option(name: .long, help: "What stale or missing pricing is: fail (exit 78) or warn.")
    var stalePricing: String = "fail"

    func run() async throws {
        let p: PromptConfig
        let n: Int
        do {
            p = try ConfigFiles.loadPrompt(path: prompt)
            n = try EvalRunner.validate(goldenSetPath: golden, prompt: p)
        } catch {
            printError(error.description)
            throw ExitCode(ExitCodes.dataError)
        }
        guard checkEndpoints else {
            print("\(golden): \(n) cases, valid")
            return
        }
        guard ["fail", "warn"].contains(stalePricing) else {
            printError("evalengine validate: --stale-pricing must be fail or warn")
            throw ExitCode(ExitCodes.usage)
        }
        guard !endpoint.isEmpty || !ragConfig.isEmpty else {
            printError("evalengine validate: --check-endpoints needs --endpoint NAME (or --rag-config FILE)")
            throw ExitCode(ExitCodes.usage)
        }
        var rags: [(path: String, config: RAGConfig, line: Int)] = []
        for path in ragConfig {
            do {
                let c = try RAGInputs.loadConfig(path: path)
                rags.append((path, c, try ConfigFiles.document(path).line(of: "embedding.dimensions")))
            } catch {
                printError(error.description)
                throw ExitCode(ExitCodes.dataError)
            }
        }
        let all: [EndpointConfig]
        let doc: DocNode
        do {
            all = try ConfigFiles.loadEndpoints(path: config)
            doc = try ConfigFiles.document(config)
        } catch {
            printError(error.description)
            throw ExitCode(ExitCodes.config)
        }
        var names = endpoint
        if let j = judgeEndpoint, !names.contains(j) { names.append(j) }
        for r in rags where !names.contains(r.config.embeddingEndpoint) { names.append(r.config.embeddingEndpoint) }
        var chosen: [EndpointConfig] = []
        var keys: [String: String] = [:]
        for name in names {
            guard let e = all.first(where: { $0.name == name }) else {
                printError("\(config): no endpoint named '\(name)' (defined: \(all.map(\.name).joined(separator: ", ")))")
                throw ExitCode(ExitCodes.config)
            }
            chosen.append(e)
            do { keys[e.name] = try EndpointClient.resolveAPIKey(e) } catch {
                printError("\(config): \(error)")
                throw ExitCode(ExitCodes.config)
            }
        }
        // Where each endpoint's fields are written, for messages a person can act on.
        @Sendable func line(_ e: EndpointConfig, _ field: String) -> Int {
            let index = all.firstIndex { $0.name == e.name } ?? 0
            let root = doc["endpoints"] ?? doc
            return root.line(of: "[\(index)]" + (field.isEmpty ? "" : "." + field))
        }
        let targets = Set(endpoint)
        let opened = chosen
        let ragChecks = rags
        let golden = self.golden, config = self.config, maxAge = maxPricingAgeDays, failStale = stalePricing == "fail"
        let outcome = try await EndpointSession.withClients(opened, registry: LimiterRegistry(), apiKeys: keys) { clients -> (problems: [String], exit: Int32) in
            var problems: [String] = []
            var exit: Int32 = 0
            func problem(_ text: String, _ code: Int32) {
                problems.append(text)
                if exit == 0 || code == ExitCodes.dataError { exit = code }
            }
            for e in opened {
                let client = clients[e.name]!
                var window = e.contextWindow
                switch await client.listModels() {
                case .failure(let err):
                    problem("\(config):\(line(e, "")): endpoint '\(e.name)': \(err.message)", ExitCodes.config)
                case .success(let listed):
                    if let entry = listed[e.model] {
                        for key in ["max_model_len", "context_length", "context_window"] where window == nil {
                            window = entry[key]?.wholeNumber(in: 1...100_000_000)
                        }
                    } else {
                        problem("\(config):\(line(e, "model")): endpoint '\(e.name)': model '\(e.model)' is not listed by GET /v1/models (listed: \(listed.keys.sorted().prefix(20).joined(separator: ", ")))", ExitCodes.config)
                    }
                }
                // Pricing: present, and not older than the allowed age.
                if let pricing = e.pricing {
                    if let asOf = pricing.asOf, let day = EndpointConfig.dayNumber(asOf) {
                        let today = Int(Date().timeIntervalSince1970 / 86_400)
                        if today - day > maxAge {
                            let text = "\(config):\(line(e, "pricing.as_of")): endpoint '\(e.name)': pricing as of \(asOf) is \(today - day) days old (more than \(maxAge))"
                            if failStale { problem(text, ExitCodes.config) } else { print("warning: " + text) }
                        }
                    } else {
                        let text = "\(config):\(line(e, "pricing")): endpoint '\(e.name)': pricing has no as_of date, so its age is unknown"
                        if failStale { problem(text, ExitCodes.config) } else { print("warning: " + text) }
                    }
                } else {
                    let text = "\(config):\(line(e, "")): endpoint '\(e.name)': no pricing (cost is not measured, and max_cost_usd cannot gate)"
                    if failStale { problem(text, ExitCodes.config) } else { print("warning: " + text) }
                }
                // The longest case of the prompt against the window (target endpoints only).
                guard targets.contains(e.name) else { continue }
                guard let window else {
                    print("warning: endpoint '\(e.name)': no context window known (set context_window), the cases' length is not checked")
                    continue
                }
                do {
                    let (longest, estimate, location, id) = try ValidateCommand.longestCase(golden: golden, prompt: p)
                    guard let longest else { continue }
                    var needed = estimate
                    var how = "estimated"
                    // Near or over the window, the server's own count decides where it has one.
                    if Double(estimate) >= 0.75 * Double(window), let exact = await client.tokenize(longest) {
                        needed = exact + (longest.params.maxTokens ?? 256)
                        how = "counted by /tokenize"
                    }
                    if needed > window {
                        problem("\(location.file):\(location.line): case '\(id)': needs \(needed) tokens (\(how), max_tokens \(longest.params.maxTokens ?? 256) included), more than endpoint '\(e.name)''s context window of \(window)", ExitCodes.dataError)
                    } else {
                        print("endpoint '\(e.name)': model '\(e.model)' listed; longest case '\(id)' needs \(needed) of \(window) tokens (\(how))")
                    }
                } catch {
                    problem("\(error)", ExitCodes.dataError)
                }
            }
            // Each RAG config's embedding endpoint, probed once: the dimension must be the config's.
            for r in ragChecks {
                guard let client = clients[r.config.embeddingEndpoint] else { continue }
                do throws(ModelCallError) {
                    let (vectors, _) = try await client.embed(["evalengine dimension probe"], model: r.config.embeddingModel)
                    let got = vectors.first?.count ?? 0
                    if let want = r.config.embeddingDimensions {
                        if got != want {
                            problem("\(r.path):\(r.line): RAG config '\(r.config.name)': embedding.dimensions is \(want), but endpoint '\(r.config.embeddingEndpoint)' answers \(got)-dimensional vectors", ExitCodes.config)
                        } else {
                            print("RAG config '\(r.config.name)': endpoint '\(r.config.embeddingEndpoint)' answers \(got)-dimensional vectors, as configured")
                        }
                    } else {
                        print("warning: RAG config '\(r.config.name)' sets no embedding.dimensions; endpoint '\(r.config.embeddingEndpoint)' answers \(got)")
                    }
                } catch {
                    problem("\(r.path): RAG config '\(r.config.name)': the embedding probe of '\(r.config.embeddingEndpoint)' failed: \(error.kind): \(error.message)", ExitCodes.config)
                }
            }
            return (problems, exit)
        }
        for p in outcome.problems { printError(p) }
        guard outcome.exit == 0 else { throw ExitCode(outcome.exit) }
        print("\(golden): \(n) cases, valid against \(names.joined(separator: ", "))")
    }

    /// The case whose rendered request is estimated longest (bytes / 4, 4 per message, plus max_tokens).
    static func longestCase(golden: String, prompt: PromptConfig) throws -> (ModelRequest?, Int, SourceLocation, String) {
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
}
