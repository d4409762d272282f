import ArgumentParser
import Engine
import Foundation

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the reports of a sharded eval (--shard i/N) into the report one run of the whole golden set gives.",
        discussion: "Exit codes: 0 pass, 1 fail, 2 inconclusive (the merged verdict), 65 reports that do not make one run (different golden sets, prompts, endpoints, gates; missing or duplicate shards).")

    @Argument(help: "The shard reports (JSON), one per shard, in any order.")
    var reports: [String]

    @Option(name: .long, help: "Write the merged JSON report here.")
    var report: String

    @Option(name: .long, help: "Write merged JUnit XML here.")
    var junit: String?

    func run() throws {
        let merged: (EvalResult, RunInfo)
        do {
            merged = try ReportMerge.merge(paths: reports, targets: ReportTargets(jsonPath: report, junitPath: junit))
        } catch let e as ReportMerge.MergeError {
            printError("evalengine merge: \(e.message)")
            throw ExitCode(ExitCodes.dataError)
        }
        print(TerminalSummary.render(merged.0, info: merged.1, color: false))
        print("report: \(report)")
        throw ExitCode(StageRun.exitCode(merged.0.gate.verdict, cancelled: false))
    }
}
