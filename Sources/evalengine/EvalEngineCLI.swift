import ArgumentParser

@main
struct EvalEngineCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evalengine",
        abstract: "Evaluation engine for GenAI delivery pipelines.",
        subcommands: [EvalCommand.self, ValidateCommand.self, LintCommand.self, SimulateCommand.self, CacheCommand.self, TrecEvalCommand.self, VectorBenchCommand.self, IndexTestCommand.self, ShadowCompareCommand.self, ServeCommand.self, MergeCommand.self, SubmitCommand.self, CapacityCommand.self, FuzzCommand.self, JudgeCalibrateCommand.self, AuditCommand.self, DocsInventoryCommand.self])
}
