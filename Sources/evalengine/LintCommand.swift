import ArgumentParser
import Engine
import EvalCore
import Foundation
import GoldenSets

/// The offline half of validate, for a pipeline's lint step: each file is read as what it is
/// (syntax, required fields, schemas), with errors naming file, line and field; nothing is called.
struct LintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Check config and golden-set files offline (syntax, required fields, schemas); nothing is called.",
        discussion: """
            Each file is read by its kind: --golden (golden sets, with --prompt to check template vars \
            against it), --prompt, --endpoints, --gate, --rag-config. Every file is checked and every \
            problem printed; exit 65 when any file has one.
            """)

    @Option(name: .long, help: "Golden set (repeatable).") var golden: [String] = []
    @Option(name: .long, help: "Prompt config (repeatable); the first checks the golden sets' template vars.") var prompt: [String] = []
    @Option(name: .long, help: "Endpoints config (repeatable).") var endpoints: [String] = []
    @Option(name: .long, help: "Eval gate (repeatable).") var gate: [String] = []
    @Option(name: .long, help: "RAG config (repeatable).") var ragConfig: [String] = []

    func run() async throws {
        var problems = 0
        var checked = 0
        func check(_ path: String, _ what: String, _ body: () throws -> String) {
            checked += 1
            do {
                print("\(path): \(try body())")
            } catch {
                problems += 1
                printError("\(error)")
            }
        }
        var prompts: [PromptConfig] = []
        for p in prompt {
            check(p, "prompt") {
                let config = try ConfigFiles.loadPrompt(path: p)
                prompts.append(config)
                return "prompt, \(config.messages.count) messages\(config.tools.isEmpty ? "" : ", \(config.tools.count) tools"), valid"
            }
        }
        for g in golden {
            check(g, "golden set") {
                if let p = prompts.first {
                    return "\(try EvalRunner.validate(goldenSetPath: g, prompt: p)) cases, valid"
                }
                let reader = try GoldenSetReader(path: g)
                while try reader.next() != nil {}
                return "\(reader.count) cases, valid"
            }
        }
        for e in endpoints {
            check(e, "endpoints") {
                let list = try ConfigFiles.loadEndpoints(path: e)
                let hooks = try ConfigFiles.loadWebhooks(path: e)
                return "\(list.count) endpoints\(hooks.isEmpty ? "" : ", \(hooks.count) webhooks"), valid"
            }
        }
        for g in gate { check(g, "gate") { _ = try ConfigFiles.loadGate(path: g); return "gate, valid" } }
        for r in ragConfig { check(r, "RAG config") { "RAG config '\(try RAGInputs.loadConfig(path: r).name)', valid" } }
        guard checked > 0 else {
            printError("evalengine lint: name files to check (--golden, --prompt, --endpoints, --gate, --rag-config)")
            throw ExitCode(ExitCodes.usage)
        }
        if problems > 0 {
            printError("lint: \(problems) of \(checked) files have problems")
            throw ExitCode(ExitCodes.dataError)
        }
    }
}
