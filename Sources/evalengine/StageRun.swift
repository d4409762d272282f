import Engine
import EvalCore

/// What the stages that call models share at the CLI's edge: the run task under the interrupt
/// handler (SIGINT/SIGTERM cancel it and what finished is still reported), what it throws mapped
/// to exit codes, and the verdict's exit code.
enum StageRun {
    /// The task's result, or the exit code of why there is none (the reason printed).
    static func value<T: Sendable>(of task: Task<T, any Error>, command: String, progress: ProgressPrinter) async -> Result<T, ExitCodeValue> {
        let interrupt = InterruptHandler { task.cancel() }
        defer { interrupt.cancel() }
        do {
            return .success(try await task.value)
        } catch let error as EmbeddingProbeError {
            progress.finish()
            printError("evalengine \(command): \(error.message)")
            return .failure(ExitCodeValue(ExitCodes.config))
        } catch let error as RunError {
            progress.finish()
            printError("evalengine \(command): \(error)")
            return .failure(ExitCodeValue(ExitCodes.usage))
        } catch {
            progress.finish()
            printError("evalengine \(command): \(error)")
            return .failure(ExitCodeValue(ExitCodes.software))
        }
    }

    /// 0 pass, 1 fail, 2 inconclusive; 130 for a run stopped by an interrupt.
    static func exitCode(_ verdict: Verdict, cancelled: Bool) -> Int32 {
        if cancelled { return ExitCodes.interrupted }
        switch verdict {
        case .pass: return ExitCodes.pass
        case .fail: return ExitCodes.fail
        case .inconclusive: return ExitCodes.inconclusive
        }
    }
}

/// An exit code as an error value (for `Result`).
struct ExitCodeValue: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}
