import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import VectorSearch

/// The process entry: Swift Concurrency's global executor becomes NIO's event loops before the
/// first task exists, so a case's task resumes on the loop that read its answer (no hop to
/// another pool and back, no eventfd wake-up per request). EVALENGINE_NIO_EXECUTOR=0 keeps the
/// runtime's own pool (for comparison and as an escape hatch).
@main
enum EvalEngineMain {
    static func main() {
        BLAS.stopIdleThreads()
        if ProcessInfo.processInfo.environment["EVALENGINE_NIO_EXECUTOR"] != "0" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        Task {
            await EvalEngineCLI.main(nil)
            exit(0)
        }
        dispatchMain()
    }
}

struct EvalEngineCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evalengine",
        abstract: "Evaluation engine for GenAI delivery pipelines.",
        subcommands: [EvalCommand.self, ValidateCommand.self, LintCommand.self, SimulateCommand.self, CacheCommand.self, TrecEvalCommand.self, VectorBenchCommand.self, IndexTestCommand.self, ShadowCompareCommand.self, ServeCommand.self, MergeCommand.self, SubmitCommand.self, CapacityCommand.self, FuzzCommand.self, JudgeCalibrateCommand.self, AuditCommand.self, DocsInventoryCommand.self])
}
