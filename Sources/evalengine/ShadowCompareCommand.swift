import ArgumentParser
import EndpointSessions
import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient
import ResultStore

struct ShadowCompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadow-compare",
        abstract: "Send the same cases to a baseline and a candidate endpoint, compare quality, latency and cost, and gate.",
        discussion: """
            Cases are a golden set (quality = the cases' assertions, each side renders them with its own prompt) or a copy \
            of logged production traffic: JSONL of OpenAI chat request bodies, or {id?, request, response?, tags?} lines \
            (quality = agreement by embedding similarity with the logged production answer, or else with the baseline's). \
            Exit codes: 0 pass, 1 fail, 2 inconclusive, 64 usage, 65 bad cases, 66 missing input file, 78 bad configuration, 130 interrupted.
            """)

    @Option(name: .long, help: "Golden set (.jsonl, .csv, .yaml, .json) or traffic copy (.jsonl of request bodies).")
    var cases: String

    @Option(name: .long, help: "golden, traffic, or auto (a .jsonl whose first line is a request body is traffic).")
    var mode: String = "auto"

    @Option(name: .long, help: "Baseline endpoint name (the production config).")
    var baseline: String

    @Option(name: .long, help: "Candidate endpoint name.")
    var candidate: String

    @Option(name: .long, help: "Baseline prompt config. Golden sets need one (it serves both sides unless --candidate-prompt is given); on traffic only its params apply.")
    var baselinePrompt: String?

    @Option(name: .long, help: "Candidate prompt config (default: the baseline's).")
    var candidatePrompt: String?

    @Option(name: .long, help: "Endpoints config.")
    var config: String = "configs/endpoints.yaml"

    @Option(name: .long, help: "Shadow gate (YAML/JSON): margin, max_p95_latency_ratio, max_cost_ratio, max_error_rate, agreement_threshold.")
    var gate: String?

    @Option(name: .long, help: "Write the JSON report here.")
    var report: String?

    @Option(name: .long, help: "Write the self-contained HTML report here.")
    var html: String?

    @Flag(name: .long, help: "Leave model outputs out of the reports.")
    var noOutputs = false

    @Option(name: .long, help: "Traffic: keep this fraction of cases (seeded, by case id).")
    var sampleRate: Double = 1

    @Option(name: .long, help: "Traffic: keep at most this many cases.")
    var maxCases: Int?

    @Flag(name: .long, help: "Traffic: split --max-cases across tags in proportion (a case's first tag is its stratum).")
    var stratifyByTag = false

    @Option(name: .long, help: "Seed of the bootstrap intervals and of traffic sampling.")
    var seed: UInt64 = 0x5EED

    @Option(name: .long, help: "Most cases in progress at once (each sends one request to each side).")
    var concurrency: Int = 256

    @Option(name: .long, help: "Endpoint whose /v1/embeddings embeds outputs (agreement, drift, 'similar'); default: --baseline.")
    var embeddingEndpoint: String?

    @Option(name: .long, help: "Texts per embeddings request.")
    var embeddingBatch: Int = 128

    @OptionGroup var memory: RunMemoryOptions

    @Option(name: .long, help: "auto (default), on or off. On: both sides are called live (the cache refreshed) so latency and its ratios rest on every pair; auto turns it on when the gate has max_p95_latency_ratio and --cache-mode is read-write. Cached answers carry an earlier run's latency, under other load, and never count for latency.")
    var liveLatency: String = "auto"

    @Flag(name: .long, help: "Print no progress.")
    var quiet = false

    func validate() throws {
        guard ["auto", "on", "off"].contains(liveLatency) else { throw ValidationError("--live-latency must be auto, on or off") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard ["auto", "golden", "traffic"].contains(mode) else { throw ValidationError("--mode must be golden, traffic or auto") }
        guard sampleRate > 0, sampleRate <= 1 else { throw ValidationError("--sample-rate must be in (0, 1]") }
        if let maxCases, maxCases < 1 { throw ValidationError("--max-cases must be at least 1") }
    }

    func run() async throws {
        throw ExitCode(await execute())
    }

    /// Traffic when asked, or when the file is JSONL whose first line is a chat request body.
    func isTraffic() -> Bool {
        mode == "auto" ? TrafficFile.looksLikeTraffic(path: cases) : mode == "traffic"
    }

    func execute() async -> Int32 {
        // 1. Configuration and inputs, all checked before anything is sent.
        let endpoints: [EndpointConfig]
        var gateConfig = ShadowGate()
        do {
            endpoints = try ConfigFiles.loadEndpoints(path: config)
            if let gate { gateConfig = try ConfigFiles.loadShadowGate(path: gate) }
        } catch {
            printError(error.description)
            return error.location.line == 0 && !FileManager.default.fileExists(atPath: error.location.file) ? ExitCodes.noInput : ExitCodes.config
        }
        func named(_ name: String, _ flag: String) -> EndpointConfig? {
            if let e = endpoints.first(where: { $0.name == name }) { return e }
            printError("\(config): field 'endpoints': no endpoint named '\(name)' for \(flag) (defined: \(endpoints.map(\.name).joined(separator: ", ")))")
            return nil
        }
        guard let baseConfig = named(baseline, "--baseline"), let candConfig = named(candidate, "--candidate"),
              let embedConfig = named(embeddingEndpoint ?? baseline, "--embedding-endpoint") else { return ExitCodes.config }
        if let problem = gateConfig.unmeasurableCheck(baseline: baseConfig, candidate: candConfig) {
            printError("\(gate ?? "gate"): \(problem)")
            return ExitCodes.config
        }
        guard FileManager.default.fileExists(atPath: cases) else {
            printError("\(cases): no such file (--cases)")
            return ExitCodes.noInput
        }
        let traffic = isTraffic()
        if !traffic && (sampleRate != 1 || maxCases != nil || stratifyByTag) {
            printError("\(cases): --sample-rate, --max-cases and --stratify-by-tag sample traffic copies; this is a golden set (every case is compared)")
            return ExitCodes.usage
        }
        let jobCases: ShadowJob.Cases
        let total: Int
        do throws(InputError) {
            var basePromptConfig: PromptConfig?
            var candPromptConfig: PromptConfig?
            if let baselinePrompt { basePromptConfig = try ConfigFiles.loadPrompt(path: baselinePrompt) }
            if let candidatePrompt { candPromptConfig = try ConfigFiles.loadPrompt(path: candidatePrompt) }
            if traffic {
                if (basePromptConfig.map { !$0.messages.isEmpty } ?? false) || (candPromptConfig.map { !$0.messages.isEmpty } ?? false) {
                    printError("note: \(cases) is traffic: the prompt configs' messages are not used, only their params")
                }
                jobCases = .traffic(path: cases, sampler: TrafficSampler(rate: sampleRate, maxCases: maxCases, stratifyByTag: stratifyByTag, seed: seed),
                                    baselineParams: basePromptConfig?.params, candidateParams: candPromptConfig?.params)
            } else {
                guard let prompt = basePromptConfig ?? candPromptConfig else {
                    printError("\(cases): golden cases need a prompt: give --baseline-prompt (and --candidate-prompt when the candidate's differs)")
                    return ExitCodes.usage
                }
                jobCases = .goldenSet(path: cases, baselinePrompt: prompt, candidatePrompt: candPromptConfig ?? prompt)
            }
            total = try ShadowRunner.validate(jobCases)
        } catch {
            printError(error.description)
            return error.location.line == 0 && !FileManager.default.fileExists(atPath: error.location.file) ? ExitCodes.noInput : ExitCodes.dataError
        }
        var apiKeys: [String: String] = [:]
        do {
            for e in [baseConfig, candConfig, embedConfig] { apiKeys[e.name] = try EndpointClient.resolveAPIKey(e) }
        } catch {
            printError("\(config): \(error)")
            return ExitCodes.config
        }
        guard let store = memory.openStore(command: "shadow-compare") else { return ExitCodes.config }

        // 2. The run.
        var job = ShadowJob(cases: jobCases, gate: gateConfig, concurrency: concurrency)
        job.seed = seed
        job.memory.store = store
        job.memory.cacheMode = memory.mode
        let wantsLive = liveLatency == "on" || (liveLatency == "auto" && gateConfig.maxP95LatencyRatio != nil)
        if wantsLive && (job.memory.cacheMode == .readWrite || job.memory.cacheMode == .readOnly) {
            // Latency is compared only across pairs measured live in this run: measure them all.
            job.memory.cacheMode = job.memory.cacheMode == .readWrite ? .refresh : .off
            if !quiet { printError("note: the gate compares p95 latency, so both sides are called live (--live-latency off to answer from the cache)") }
        }
        job.memory.cacheTTL = memory.ttl
        job.memory.resumeRunID = memory.resume
        job.memory.autoResume = !memory.noResume
        job.warn = { printError($0) }
        let runJob = job
        let progress = ProgressPrinter(enabled: !quiet, total: total)
        let batch = max(1, embeddingBatch)
        var unique: [EndpointConfig] = []
        for e in [baseConfig, candConfig, embedConfig] where !unique.contains(where: { $0.name == e.name }) { unique.append(e) }
        let keys = apiKeys
        let names = (baseConfig.name, candConfig.name, embedConfig.name)
        let runTask = Task { () throws -> ShadowResult in
            try await EndpointSession.withClients(unique, registry: LimiterRegistry(), apiKeys: keys) { clients in
                var job = runJob
                job.embedder = Embedder(client: clients[names.2]!, batchSize: batch, store: job.memory.store, mode: job.memory.cacheMode)
                let result = try await ShadowRunner(baseline: clients[names.0]!, candidate: clients[names.1]!).run(job) { progress.update($0) }
                progress.finish()
                return result
            }
        }
        let result: ShadowResult
        switch await StageRun.value(of: runTask, command: "shadow-compare", progress: progress) {
        case .success(let r): result = r
        case .failure(let exit): return exit.code
        }

        // 3. Reports, each written whole.
        var info = ShadowReportInfo(input: cases, mode: traffic ? .agreement : .passRate, baselineEndpoint: baseConfig.name, baselineModel: baseConfig.model,
                                    candidateEndpoint: candConfig.name, candidateModel: candConfig.model, gate: gateConfig, seed: seed)
        info.includeOutputs = !noOutputs
        do {
            if let report {
                var bytes: [UInt8] = []
                result.reportJSON(info).write(to: &bytes, sortedKeys: true)
                try writeAtomically(report, String(decoding: bytes, as: UTF8.self) + "\n")
            }
            if let html { try writeAtomically(html, ShadowHTML.render(result, info)) }
        } catch {
            printError("evalengine shadow-compare: \(error)")
            return ExitCodes.software
        }
        print(summary(result, info))
        if let report { print("report: \(report)") }
        if let html { print("html: \(html)") }
        return StageRun.exitCode(result.gate.verdict, cancelled: result.cancelled)
    }

    func summary(_ r: ShadowResult, _ info: ShadowReportInfo) -> String {
        let c = r.comparison
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a" }
        func ms(_ v: Double?) -> String { v.map { String(format: "%.1f ms", $0) } ?? "n/a" }
        var lines = ["shadow-compare: \(c.cases) cases (\(c.paired) answered by both\(r.resumedCases > 0 ? ", \(r.resumedCases) resumed" : "")) in \(String(format: "%.2f", r.durationSeconds)) s"]
        lines.append("  baseline  \(info.baselineEndpoint) (\(info.baselineModel))   candidate  \(info.candidateEndpoint) (\(info.candidateModel))")
        let name = c.metric == .agreement ? "agreement" : "pass rate"
        lines.append(String(format: "  %@: %@ -> %@, difference %+.1f pts (95%% CI %+.1f to %+.1f), margin %.1f pts: %@", name, pct(c.baselinePassRate), pct(c.candidatePassRate),
                            c.passRateDifference.value * 100, c.passRateDifference.low * 100, c.passRateDifference.high * 100, info.gate.margin * 100, c.qualityDecision.rawValue))
        lines.append(String(format: "  McNemar p = %.4g (%d pass->fail, %d fail->pass); mean score %+.4f (95%% CI %+.4f to %+.4f); W/T/L %d/%d/%d",
                            c.mcnemarP, c.flipsToFail, c.flipsToPass, c.score.delta, c.score.low, c.score.high, c.score.wins, c.score.ties, c.score.losses))
        for q in ["p50", "p95", "p99"] {
            let b = q == "p50" ? c.latency.baseline?.p50 : q == "p95" ? c.latency.baseline?.p95 : c.latency.baseline?.p99
            let k = q == "p50" ? c.latency.candidate?.p50 : q == "p95" ? c.latency.candidate?.p95 : c.latency.candidate?.p99
            let ratio = c.latencyRatios[q].map { String(format: "x%.3f (%.3f to %.3f)", $0.value, $0.low, $0.high) } ?? ""
            lines.append("  latency \(q): \(ms(b)) -> \(ms(k)) \(ratio)")
        }
        if let b = c.cost.baseline, let k = c.cost.candidate {
            lines.append(String(format: "  cost: $%.6f -> $%.6f (x%.3f); tokens per case %.1f -> %.1f", b, k, c.costRatio ?? .nan, c.tokensPerCase.baseline, c.tokensPerCase.candidate))
        }
        lines.append("  errors: baseline \(pct(c.errorRates.baseline)), candidate \(pct(c.errorRates.candidate))" + (r.drift.map { String(format: "; output drift (Fréchet) %.4f", $0) } ?? ""))
        for p in r.worstRegressions.prefix(3) {
            lines.append("  worst: \(p.id) \(String(format: "%.3f -> %.3f", p.baseline.score, p.candidate.score)) \"\(String((p.candidate.output ?? "").prefix(60)))\"")
        }
        for check in r.gate.checks {
            let tag = check.result == .pass ? "ok" : check.result == .fail ? "FAILED" : "undecided"
            lines.append("  [\(tag)] \(check.name) \(check.actual.map(format) ?? "n/a") \(check.comparison) \(format(check.threshold))")
        }
        lines.append("verdict: \(r.gate.verdict.rawValue.uppercased())")
        for reason in r.gate.reasons { lines.append("  - \(reason)") }
        return lines.joined(separator: "\n")
    }
}
