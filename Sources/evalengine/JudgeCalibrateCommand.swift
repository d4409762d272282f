import ArgumentParser
import EndpointSessions
import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient

struct JudgeCalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge-calibrate",
        abstract: "Measure a judge's agreement with people on a labelled set: accuracy, Cohen's kappa (bootstrap 95% CI), confusion matrix, per-rubric breakdown, disagreements.",
        discussion: """
            Labels: JSONL of {id, type (llm-rubric | model-graded-closedqa | factuality; default llm-rubric), rubric, rubric_id?, \
            input, output, expected (factuality), human: true|false}. The judge is asked exactly as an eval asks it (same prompts, \
            its limiter, the cache). Exit codes: 0 the judge agrees (kappa >= --min-kappa), 1 it does not, 2 too many items \
            without a verdict, 64 usage, 65 bad labels, 66 missing file, 78 bad configuration.
            """)

    @Option(name: .long, help: "The labelled set (JSONL).")
    var labels: String

    @Option(name: .long, help: "The judge endpoint.")
    var judgeEndpoint: String

    @Option(name: .long, help: "Endpoints config.")
    var config: String = "configs/endpoints.yaml"

    @Option(name: .long, help: "Refuse the judge (exit 1) when Cohen's kappa is below this.")
    var minKappa: Double?

    @Option(name: .long, help: "Write the JSON report here.")
    var report: String?

    @Option(name: .long, help: "Seed of the bootstrap interval.")
    var seed: UInt64 = 0x5EED

    @Option(name: .long, help: "Most judge calls in progress at once.")
    var concurrency: Int = 32

    @OptionGroup var memory: RunMemoryOptions

    func validate() throws {
        if let minKappa, !(minKappa >= -1 && minKappa <= 1) { throw ValidationError("--min-kappa must be a number from -1 to 1") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws { throw ExitCode(await execute()) }

    func execute() async -> Int32 {
        let judge: EndpointConfig
        do {
            let endpoints = try ConfigFiles.loadEndpoints(path: config)
            guard let e = endpoints.first(where: { $0.name == judgeEndpoint }) else {
                printError("\(config): field 'endpoints': no endpoint named '\(judgeEndpoint)' for --judge-endpoint (defined: \(endpoints.map(\.name).joined(separator: ", ")))")
                return ExitCodes.config
            }
            judge = e
        } catch {
            printError(error.description)
            return ExitCodes.config
        }
        let items: [LabelledJudgement]
        do {
            items = try JudgeCalibration.readLabels(path: labels)
        } catch {
            printError(error.description)
            return error.location.line == 0 && !FileManager.default.fileExists(atPath: labels) ? ExitCodes.noInput : ExitCodes.dataError
        }
        let key: String?
        do { key = try EndpointClient.resolveAPIKey(judge) } catch {
            printError("\(config): \(error)")
            return ExitCodes.config
        }
        guard let store = memory.openStore(command: "judge-calibrate") else { return ExitCodes.config }
        let runMemory = memory.runMemory(store: store)
        let (minKappa, seed, concurrency) = (self.minKappa, self.seed, self.concurrency)
        let task = Task { () throws -> JudgeCalibration.Result in
            try await EndpointSession.with(judge, registry: LimiterRegistry(), apiKey: key) { client in
                try await JudgeCalibration.run(items, judge: client, memory: runMemory, concurrency: concurrency, seed: seed, minKappa: minKappa)
            }
        }
        let result: JudgeCalibration.Result
        switch await StageRun.value(of: task, command: "judge-calibrate", progress: ProgressPrinter(enabled: false, total: 0)) {
        case .success(let r): result = r
        case .failure(let exit): return exit.code
        }
        if let report {
            var bytes: [UInt8] = []
            JudgeCalibration.reportJSON(result, labels: labels, judge: judge.name, model: judge.model).write(to: &bytes, sortedKeys: true)
            do { try writeAtomically(report, String(decoding: bytes, as: UTF8.self) + "\n") } catch {
                printError("evalengine judge-calibrate: \(error)")
                return ExitCodes.software
            }
        }
        print(summary(result, items: items.count))
        if let report { print("report: \(report)") }
        return StageRun.exitCode(result.gate.verdict, cancelled: false)
    }

    func summary(_ r: JudgeCalibration.Result, items: Int) -> String {
        var lines = ["judge-calibrate: \(items) labelled items, judge '\(judgeEndpoint)': \(items - r.unscored.count) verdicts, \(r.unscored.count) without one"]
        if let a = r.agreement {
            lines.append(String(format: "  accuracy %.3f (95%% CI %.3f–%.3f); Cohen's kappa %.3f (95%% CI %.3f–%.3f)", a.accuracy, a.accuracyCI.low, a.accuracyCI.high,
                                a.kappa, a.kappaCI.low, a.kappaCI.high))
            lines.append("  confusion (people × judge): pass/pass \(a.truePass), pass/fail \(a.missedPass), fail/pass \(a.falsePass), fail/fail \(a.trueFail)")
        }
        for g in r.byGroup.prefix(20) {
            lines.append(String(format: "  rubric %@: n=%d, accuracy %.3f, kappa %.3f", String(g.group.prefix(60)), g.agreement.items, g.agreement.accuracy, g.agreement.kappa))
        }
        for d in r.disagreements.prefix(5) { lines.append("  disagrees: \(d.id) (line \(d.line)): people \(d.human ? "pass" : "fail"), judge \(d.judge ? "pass" : "fail"): \(d.reason.prefix(80))") }
        lines.append("  judge calls \(r.usage.calls), from the cache \(r.usage.cacheHits)" + (r.usage.costUSD.map { String(format: ", cost $%.4f", $0) } ?? ""))
        lines.append("verdict: \(r.gate.verdict.rawValue.uppercased())")
        for reason in r.gate.reasons { lines.append("  - \(reason)") }
        return lines.joined(separator: "\n")
    }
}
