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

    @Option(name: .long, help: "Golden set: .jsonl, .csv, .yaml or .json (with --prompt).")
    var golden: String?

    @Option(name: .long, help: "Prompt config.")
    var prompt: String?

    @Flag(name: .long, help: "Ask the endpoints too: model listed, context window, pricing.")
    var checkEndpoints = false

    @Option(name: .long, help: "Endpoint the prompt runs on (repeat for several); with --check-endpoints.")
    var endpoint: [String] = []

    @Flag(name: .long, help: "With --check-endpoints: every endpoint of --config (a model-config change).")
    var allEndpoints = false

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

    func validate() throws {
        guard (golden == nil) == (prompt == nil) else { throw ValidationError("--golden and --prompt go together") }
        guard golden != nil || checkEndpoints else { throw ValidationError("give --golden and --prompt, or --check-endpoints") }
        guard ["fail", "warn"].contains(stalePricing) else { throw ValidationError("--stale-pricing must be fail or warn") }
        guard (0...100_000).contains(maxPricingAgeDays) else { throw ValidationError("--max-pricing-age-days must be from 0 to 100000") }
    }

    func run() async throws {
        var p: PromptConfig?
        var n = 0
        if let golden, let prompt {
            do {
                let loaded = try ConfigFiles.loadPrompt(path: prompt)
                n = try EvalRunner.validate(goldenSetPath: golden, prompt: loaded)
                p = loaded
            } catch {
                printError(error.description)
                throw ExitCode(ExitCodes.dataError)
            }
        }
        guard checkEndpoints else {
            print("\(golden ?? ""): \(n) cases, valid")
            return
        }
        guard !endpoint.isEmpty || !ragConfig.isEmpty || allEndpoints else {
            printError("evalengine validate: --check-endpoints needs --endpoint NAME, --all-endpoints or --rag-config FILE")
            throw ExitCode(ExitCodes.usage)
        }
        var rags: [EndpointValidation.RAGCheck] = []
        for path in ragConfig {
            do {
                let c = try RAGInputs.loadConfig(path: path)
                rags.append(.init(path: path, config: c, line: try ConfigFiles.document(path).line(of: "embedding.dimensions")))
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
        var names = allEndpoints ? all.map(\.name) : endpoint
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
        var check = EndpointValidation(endpoints: chosen, targets: Set(endpoint), configPath: config,
                                       line: EndpointValidation.lineFinder(endpoints: all, document: doc))
        check.goldenSet = golden
        check.prompt = p
        check.ragConfigs = rags
        check.maxPricingAgeDays = maxPricingAgeDays
        check.failStalePricing = stalePricing == "fail"
        let validation = check
        let findings = try await EndpointSession.withClients(chosen, registry: LimiterRegistry(), apiKeys: keys) { clients in
            await validation.run(clients: clients)
        }
        for f in findings {
            switch f.level {
            case .error: printError(f.message)
            case .warning: print("warning: " + f.message)
            case .ok: print(f.message)
            }
        }
        let errors = findings.filter { $0.level == .error }
        if !errors.isEmpty {
            throw ExitCode(errors.contains { $0.kind == .input } ? ExitCodes.dataError : ExitCodes.config)
        }
        print("\(golden.map { "\($0): \(n) cases, valid against " } ?? "valid: ")\(names.joined(separator: ", "))")
    }
}
