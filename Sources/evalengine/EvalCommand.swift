import ArgumentParser
import EndpointSessions
import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore

/// Exit codes (documented in README): verdicts 0/1/2, then sysexits-style input errors.
enum ExitCodes {
    static let pass: Int32 = 0
    static let fail: Int32 = 1
    static let inconclusive: Int32 = 2
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let noInput: Int32 = 66
    static let software: Int32 = 70
    static let config: Int32 = 78
    static let interrupted: Int32 = 130
}

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run a golden set against a model endpoint, score, aggregate and gate.",
        discussion: """
            Exit codes: 0 pass, 1 fail, 2 inconclusive (too many infrastructure errors to judge), \
            64 usage, 65 bad golden set or prompt, 66 missing input file, 78 bad configuration, 130 interrupted.
            """)

    @Option(name: .long, help: "Golden set: .jsonl, .csv, .yaml or .json.")
    var golden: String

    @Option(name: .long, help: "Prompt config (YAML/JSON): messages or prompt, and params. Give several for a matrix.")
    var prompt: [String]

    @Option(name: .long, help: "Endpoint name from the endpoints config. Give several for a matrix: every case runs on every prompt × endpoint, each endpoint under its own limiter.")
    var endpoint: [String]

    @Option(name: .customLong("repeat"), help: "Sample every case K times (1 to 1000; default: the gate's repeat:, else 1). Each repeat is cached apart, so a re-run of the same K is answered from the cache; the report shows passes of K, flaky cases, pass@1, pass^K and pass@K.")
    var repeats: Int?

    @Option(name: .long, help: "Run only the cases that failed or errored in this eval report (of the same golden set).")
    var filterFailing: String?

    @Option(name: .long, help: "Run only cases with this tag (repeat the flag for any of several).")
    var filterTag: [String] = []

    @Option(name: .long, help: "Run only cases whose id matches this regular expression (anchor with ^...$).")
    var filterID: String?

    @Option(name: .long, help: "Endpoints config.")
    var config: String = "configs/endpoints.yaml"

    @Option(name: .long, help: "Gate thresholds (YAML/JSON). Default: every scored case must pass.")
    var gate: String?

    @Option(name: .long, help: "Most cases in progress at once (the endpoint's max_in_flight caps requests on the wire).")
    var concurrency: Int = 256

    @Option(name: .long, help: "Write the JSON report here.")
    var report: String?

    @Option(name: .long, help: "Write the report as one self-contained HTML page here (summary, checks, latency plot, failed cases with outputs); the service's /ui job page is the same.")
    var html: String?

    @Option(name: .long, help: "Write JUnit XML here.")
    var junit: String?

    @Flag(name: .long, help: "Leave model outputs out of the JSON report.")
    var noOutputs = false

    @Flag(name: .long, help: "Print no progress.")
    var quiet = false

    @Option(name: .long, help: "Seed of the bootstrap intervals.")
    var seed: UInt64 = 0x5EED

    @Option(name: .long, help: "Endpoint whose /v1/embeddings serves 'similar' assertions (default: --endpoint).")
    var embeddingEndpoint: String?

    @Option(name: .long, help: "Texts per embeddings request.")
    var embeddingBatch: Int = 128

    @Option(name: .long, help: "Endpoint that grades model-graded assertions (llm-rubric, model-graded-closedqa, factuality) without a provider: of their own. Its calls go through its own limiter and the cache; their tokens and cost are reported apart.")
    var judgeEndpoint: String?

    @OptionGroup var memory: RunMemoryOptions

    @Option(name: .long, help: "Run only shard i of N (1-based; a case's shard is a stable hash of its id). `evalengine merge` joins the shard reports.")
    var shard: String?

    @Option(name: .long, help: "With --shard i/N: 'shared' (default) gives this shard 1/N of the endpoint's requests_per_minute, tokens_per_minute and max_in_flight, so N shards running at once keep to the provider's limits; 'full' gives it all of them (shards that run one after another).")
    var shardBudget: String = "shared"

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard !prompt.isEmpty else { throw ValidationError("--prompt: give at least one prompt config") }
        guard !endpoint.isEmpty else { throw ValidationError("--endpoint: give at least one endpoint") }
        if let dup = firstDuplicate(endpoint) { throw ValidationError("--endpoint '\(dup)' is given twice: a matrix runs each endpoint once") }
        if let dup = firstDuplicate(prompt.map { URL(fileURLWithPath: $0).standardizedFileURL.path }) {
            throw ValidationError("--prompt '\(dup)' is given twice: a matrix runs each prompt once")
        }
        if let repeats, !(1...GateConfig.maxRepeats).contains(repeats) {
            throw ValidationError("--repeat must be a whole number from 1 to \(GateConfig.maxRepeats) (got \(repeats))")
        }
        if let filterID {
            do { _ = try LinearRegex(filterID) } catch { throw ValidationError("--filter-id: not a usable regular expression: \(error.message)") }
        }
        if filterTag.contains(where: { $0.isEmpty }) { throw ValidationError("--filter-tag: a tag cannot be empty") }
        if let shard, case .failure(let e) = Shard.parse(shard) { throw ValidationError("--shard: \(e.message)") }
        guard ["shared", "full"].contains(shardBudget) else { throw ValidationError("--shard-budget must be 'shared' or 'full'") }
    }

    func run() async throws {
        let code = await execute()
        throw ExitCode(code)
    }

    var shardValue: Shard? { shard.flatMap { try? Shard.parse($0).get() } }

    /// What each prompt is called in the report: its file name, or its path when two share one.
    var promptNames: [String] {
        let bases = prompt.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
        return Set(bases).count == bases.count ? bases : prompt
    }

    func execute() async -> Int32 {
        // 1. Configuration and inputs, all checked before anything is sent.
        var endpointConfigs: [EndpointConfig] = []
        var embeddingConfig: EndpointConfig?
        var allEndpoints: [EndpointConfig] = []
        var prompts: [NamedPrompt] = []
        var gateConfig = GateConfig.default
        let total: Int
        let needsEmbeddings: Bool
        var needs = EvalRunner.SetNeeds()
        do {
            let endpoints = try ConfigFiles.loadEndpoints(path: config)
            allEndpoints = endpoints
            if let name = judgeEndpoint, !endpoints.contains(where: { $0.name == name }) {
                printError("\(config): field 'endpoints': no endpoint named '\(name)' for --judge-endpoint (defined: \(endpoints.map(\.name).joined(separator: ", ")))")
                return ExitCodes.config
            }
            for name in endpoint {
                guard var e = endpoints.first(where: { $0.name == name }) else {
                    printError("\(config): field 'endpoints': no endpoint named '\(name)' (defined: \(endpoints.map(\.name).joined(separator: ", ")))")
                    return ExitCodes.config
                }
                if let s = shardValue, shardBudget == "shared", s.count > 1 {
                    let shared = e.sharedAmong(s.count)
                    if e.requestsPerMinute != nil || e.tokensPerMinute != nil {
                        printError("note: shard \(s): endpoint '\(e.name)' budgets divided by \(s.count) (requests_per_minute \(e.requestsPerMinute.map(format) ?? "-") -> \(shared.requestsPerMinute.map(format) ?? "-"), tokens_per_minute \(e.tokensPerMinute.map(format) ?? "-") -> \(shared.tokensPerMinute.map(format) ?? "-"), max_in_flight \(e.maxInFlight) -> \(shared.maxInFlight)); --shard-budget full to keep them")
                    }
                    e = shared
                }
                endpointConfigs.append(e)
            }
            if let name = embeddingEndpoint {
                guard let ee = endpoints.first(where: { $0.name == name }) else {
                    printError("\(config): field 'endpoints': no endpoint named '\(name)' for --embedding-endpoint (defined: \(endpoints.map(\.name).joined(separator: ", ")))")
                    return ExitCodes.config
                }
                embeddingConfig = ee
            }
            if let gate { gateConfig = try ConfigFiles.loadGate(path: gate) }
            for e in endpointConfigs {
                if let problem = gateConfig.unmeasurableCheck(endpoint: e) {
                    printError("\(gate ?? "gate"): \(problem)")
                    return ExitCodes.config
                }
            }
        } catch {
            printError(error.description)
            return error.location.line == 0 && !FileManager.default.fileExists(atPath: error.location.file) ? ExitCodes.noInput : ExitCodes.config
        }
        let k = repeats ?? gateConfig.repeats ?? 1
        if let problem = gateConfig.repeatProblem(repeats: k) {
            printError("\(gate ?? "gate"): \(problem)")
            return ExitCodes.usage
        }
        var filter = CaseFilter()
        filter.tags = filterTag
        filter.idPattern = filterID.flatMap { try? LinearRegex($0) }
        if let filterFailing {
            switch FailingCases.read(report: filterFailing, goldenSet: golden) {
            case .success(let ids):
                filter.failingIDs = ids
                filter.failingReport = filterFailing
            case .failure(let problem):
                printError("evalengine eval: --filter-failing \(filterFailing): \(problem.message)")
                return ExitCodes.usage
            }
        }
        do {
            for (path, name) in zip(prompt, promptNames) { prompts.append(NamedPrompt(name: name, config: try ConfigFiles.loadPrompt(path: path))) }
            // Sets up to 16 MiB are read once: the run takes the cases this pass decoded.
            needs = try EvalRunner.inspect(goldenSetPath: golden, prompts: prompts.map(\.config), shard: shardValue, filter: filter.isEmpty ? nil : filter,
                                           keepingFilesUpTo: 16 << 20)
            (total, needsEmbeddings) = (needs.cases, needs.needsEmbeddings)
        } catch {
            printError(error.description)
            return error.location.line == 0 && !FileManager.default.fileExists(atPath: error.location.file) ? ExitCodes.noInput : ExitCodes.dataError
        }
        // Judges: every one named must be configured, and assertions without provider: need --judge-endpoint.
        for (name, location) in needs.judgeProviders.sorted(by: { $0.value.line < $1.value.line }) where !allEndpoints.contains(where: { $0.name == name }) {
            printError("\(location.file):\(location.line): field 'provider': no judge endpoint named '\(name)' in \(config) (defined: \(allEndpoints.map(\.name).joined(separator: ", "))); nothing was sent")
            return ExitCodes.dataError
        }
        var webhooks: [WebhookConfig] = []
        if !needs.webhooks.isEmpty {
            do { webhooks = try ConfigFiles.loadWebhooks(path: config) } catch {
                printError(error.description)
                return ExitCodes.config
            }
            for (name, location) in needs.webhooks.sorted(by: { $0.value.line < $1.value.line }) where !webhooks.contains(where: { $0.name == name }) {
                printError("\(location.file):\(location.line): field 'webhook': no webhook named '\(name)' in \(config) (webhooks: \(webhooks.map(\.name).joined(separator: ", ")))); nothing was sent")
                return ExitCodes.dataError
            }
        }
        if let location = needs.selectBest, prompts.count * endpointConfigs.count < 2 {
            printError("\(location.file):\(location.line): field 'assert': select-best compares the targets of a matrix; give two or more --endpoint or --prompt; nothing was sent")
            return ExitCodes.usage
        }
        if needs.needsDefaultJudge && judgeEndpoint == nil {
            printError("evalengine eval: \(golden) has model-graded assertions without provider:: name their judge with --judge-endpoint NAME; nothing was sent")
            return ExitCodes.usage
        }
        let judgeConfigs = allEndpoints.filter { e in e.name == judgeEndpoint || needs.judgeProviders[e.name] != nil }
        if total == 0 && !filter.isEmpty {
            printError("evalengine eval: no case of \(golden) is left by the filter (\(filterSummary)); nothing was sent")
            return ExitCodes.usage
        }
        var apiKeys: [String: String] = [:]
        do {
            for e in endpointConfigs + [embeddingConfig].compactMap({ $0 }) + judgeConfigs { apiKeys[e.name] = try EndpointClient.resolveAPIKey(e) }
        } catch {
            printError("\(config): \(error)")
            return ExitCodes.config
        }

        guard let store = memory.openStore(command: "eval") else { return ExitCodes.config }

        // 2. The run.
        var job = EvalJob(goldenSetPath: golden, prompt: prompts[0].config, gate: gateConfig, concurrency: concurrency)
        job.prompts = prompts
        job.repeats = k
        job.filter = filter.isEmpty ? nil : filter
        job.seed = seed
        job.shard = shardValue
        job.memory = memory.runMemory(store: store)
        job.warn = { printError($0) }
        job.validatedCases = needs.kept
        // The HTML page is drawn from the JSON report: without --report, one is written aside.
        let jsonReport = report ?? html.map { ($0 as NSString).deletingPathExtension + ".report.json" }
        var targets = ReportTargets(jsonPath: jsonReport, junitPath: junit)
        targets.includeOutputs = !noOutputs
        let info = RunInfo(goldenSet: golden, endpoint: endpointConfigs.map(\.name).joined(separator: ", "),
                           model: endpointConfigs.map(\.model).joined(separator: ", "), concurrency: concurrency, totalCases: total)
        let progress = ProgressPrinter(enabled: !quiet, total: total * k * prompts.count * endpointConfigs.count)
        let quietRun = quiet
        let runJob = job
        let runTargets = targets
        let batch = max(1, embeddingBatch)
        // The embedding endpoint is its own session only when it is none of the run's.
        let embedConfig = embeddingConfig.flatMap { e in endpointConfigs.contains { $0.name == e.name } ? nil : e }
        let embedName = embeddingConfig?.name ?? endpointConfigs[0].name
        var sessions = endpointConfigs + [embedConfig].compactMap { $0 }
        for j in judgeConfigs where !sessions.contains(where: { $0.name == j.name }) { sessions.append(j) }
        let judgeNames = judgeConfigs.map { $0.name }
        let defaultJudge = judgeEndpoint
        let runWebhooks = webhooks
        let names = endpointConfigs.map(\.name)
        let keys = apiKeys
        let runTask = Task { () throws -> EvalResult in
            try await EndpointSession.withClients(sessions, registry: LimiterRegistry(), apiKeys: keys) { clients in
                var job = runJob
                let embedClient = clients[embedName]!
                job.embedder = Embedder(client: embedClient, batchSize: batch, store: job.memory.store, mode: job.memory.cacheMode)
                if needsEmbeddings {
                    // One probe before any case is sent: an endpoint without /v1/embeddings
                    // would otherwise error every `similar` case after its chat call was paid for.
                    do throws(ModelCallError) {
                        _ = try await job.embedder!.embed(["evalengine embedding probe"])
                    } catch {
                        // Down or failing is not "no embeddings": the run goes on and reports its errors.
                        if EmbeddingProbeError.meansUnsupported(error.code) {
                            throw EmbeddingProbeError(message: "the golden set has 'similar' or 'answer-relevance' assertions, and endpoint '\(embedClient.endpoint.name)' does not answer embeddings (\(error.kind): \(error.message)); nothing was sent. Name one that does with --embedding-endpoint")
                        }
                    }
                }
                var sink = try ReportSink(targets: runTargets)
                var runner = EvalRunner(clients: names.map { clients[$0]! })
                runner.judges = judgeNames.map { clients[$0]! }
                runner.defaultJudge = defaultJudge
                runner.webhooks = runWebhooks
                let result = try await runner.run(job, total: total, sink: &sink) { progress.update($0) }
                progress.finish()
                try sink.finish(result, info: info)
                return result
            }
        }
        let result: EvalResult
        switch await StageRun.value(of: runTask, command: "eval", progress: progress) {
        case .success(let r): result = r
        case .failure(let exit): return exit.code
        }
        print(TerminalSummary.render(result, info: info, color: !quietRun && isatty(1) != 0))
        if let report { print("report: \(report)") }
        if let junit { print("junit: \(junit)") }
        if let html, let jsonReport {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: jsonReport))
                let page = EvalHTML.render(report: try JSONValue.parse(bytes: Array(data)))
                try Data(page.utf8).write(to: URL(fileURLWithPath: html), options: .atomic)
                if report == nil { try? FileManager.default.removeItem(atPath: jsonReport) }
                print("html: \(html)")
            } catch {
                printError("evalengine eval: cannot write --html \(html): \(error)")
                return ExitCodes.software
            }
        }
        return StageRun.exitCode(result.gate.verdict, cancelled: result.cancelled)
    }

    var filterSummary: String {
        var parts: [String] = []
        if let filterFailing { parts.append("--filter-failing \(filterFailing)") }
        for t in filterTag { parts.append("--filter-tag \(t)") }
        if let filterID { parts.append("--filter-id \(filterID)") }
        return parts.joined(separator: ", ")
    }
}

/// The first value that occurs twice, if any.
func firstDuplicate(_ values: [String]) -> String? {
    var seen = Set<String>()
    return values.first { !seen.insert($0).inserted }
}

/// Cancels the run on SIGINT/SIGTERM so the report is still written.
final class InterruptHandler: @unchecked Sendable {
    // Immutable after init; DispatchSource is thread-safe but not marked Sendable.
    private let sources: [any DispatchSourceSignal]

    init(_ action: @escaping @Sendable () -> Void) {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                FileHandle.standardError.write("\ninterrupted: stopping the run, writing what finished\n".data(using: .utf8)!)
                action()
            }
            s.resume()
            sources.append(s)
        }
        self.sources = sources
    }

    func cancel() {
        for s in sources { s.cancel() }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// The embedding endpoint a run needs answered its probe saying it serves no embeddings: a
/// configuration error (exit 78). An endpoint that is down or failing (connection, timeout, 5xx,
/// 429) is not that: the run goes on, and its errors make the verdict inconclusive as usual.
struct EmbeddingProbeError: Error {
    var message: String

    static func meansUnsupported(_ code: ModelCallError.Code) -> Bool {
        [.malformedResponse, .badDimensions, .redirected].contains(code) || [400, 404, 405, 501].contains(code.httpStatus ?? 0)
    }
}
