import ArgumentParser
import Engine
import Foundation
import GoldenSets

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a golden set against a prompt (fields, assertions, template vars) without calling any endpoint.")

    @Option(name: .long, help: "Golden set: .jsonl, .csv, .yaml or .json.")
    var golden: String

    @Option(name: .long, help: "Prompt config.")
    var prompt: String

    func run() async throws {
        do {
            let p = try ConfigFiles.loadPrompt(path: prompt)
            let n = try EvalRunner.validate(goldenSetPath: golden, prompt: p)
            print("\(golden): \(n) cases, valid")
        } catch {
            printError(error.description)
            throw ExitCode(ExitCodes.dataError)
        }
    }
}
