import Dispatch
import EvalCore

/// Runs costly scoring (patterns, schemas, edit distance on large outputs) on threads of its own,
/// so that a golden set of hostile patterns cannot take the cooperative threads that the HTTP
/// server, `/healthz` and other jobs need. Each assertion is bounded by its step budget in
/// `Scorer`; this keeps even the bounded work off those threads. Cheap assertions (equals,
/// contains, ...) are scored in place: a hop costs more than they do.
public final class ScoringExecutor: TaskExecutor {
    public static let shared = ScoringExecutor()

    private let queue = DispatchQueue(label: "evalengine.scoring", qos: .utility, attributes: .concurrent)

    public init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    /// Scores `output`, off the cooperative pool when the case has costly assertions.
    public func score(_ prepared: PreparedCase, output: CaseOutput, scorer: Scorer) async -> CaseScore {
        guard prepared.hasCostlyAssertions else { return scorer.score(prepared, output: output) }
        return await withTaskExecutorPreference(self) { scorer.score(prepared, output: output) }
    }
}
