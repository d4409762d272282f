import EvalCore
import ModelClient
import Synchronization

/// Where the targets of a matrix meet for `select-best`: each unit of a case posts its output
/// (nil when its target failed) and waits until every target's output of the same case and
/// sample is in. Rows replayed from an interrupted run post theirs before any unit runs.
///
/// Units of one case and sample are scheduled next to each other, and the run keeps at least as
/// many units in flight as there are targets, so a group always fills; a cancelled wait returns nil.
final class SelectBestBoard: Sendable {
    struct GroupKey: Hashable {
        let caseID: String
        let sample: Int
    }

    /// What a waiting unit gets: every target's output in target order, and whether this unit
    /// is the one that accounts for a cached judge answer (the first target that ran in this attempt).
    struct Row: Sendable {
        let outputs: [String?]
        let accountable: Bool
    }

    private struct Group {
        var outputs: [Int: String?] = [:]
        var live: Set<Int> = []
        var waiters: [Int: CheckedContinuation<Row?, Never>] = [:]
    }

    let targets: Int
    private let groups = Mutex<[GroupKey: Group]>([:])

    init(targets: Int) { self.targets = targets }

    /// A replayed row's output.
    func replayed(_ key: GroupKey, target: Int, output: String?) {
        _ = groups.withLock { g in post(&g, key, target: target, output: output, live: false) }
    }

    /// Posts this unit's output and waits for the rest of its group.
    func wait(_ key: GroupKey, target: Int, output: String?) async -> Row? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Row?, Never>) in
                // Checked under the lock: a cancel that lands after this finds the waiter registered.
                let ready: [(CheckedContinuation<Row?, Never>, Row)]? = groups.withLock { g in
                    if Task.isCancelled { return nil }
                    g[key, default: Group()].waiters[target] = c
                    return post(&g, key, target: target, output: output, live: true) ?? []
                }
                guard let ready else { return c.resume(returning: nil) }
                for (waiter, row) in ready { waiter.resume(returning: row) }
            }
        } onCancel: {
            let waiter = groups.withLock { g in g[key]?.waiters.removeValue(forKey: target) }
            waiter?.resume(returning: nil)
        }
    }

    /// Records an output; when the group is complete, removes it and returns its waiters with their rows.
    private func post(_ g: inout [GroupKey: Group], _ key: GroupKey, target: Int, output: String?, live: Bool)
        -> [(CheckedContinuation<Row?, Never>, Row)]?
    {
        var group = g[key, default: Group()]
        group.outputs[target] = output
        if live { group.live.insert(target) }
        guard group.outputs.count == targets else {
            g[key] = group
            return nil
        }
        g[key] = nil
        let outputs = (0..<targets).map { group.outputs[$0] ?? nil }
        let first = group.live.min()
        return group.waiters.map { (t, c) in (c, Row(outputs: outputs, accountable: t == first)) }
    }
}

/// `select-best` on one unit of a matrix: waits for every target's output of its case and
/// sample, asks the judge which is best (every unit of the group sends the same request, so the
/// response cache and in-flight sharing make it one call, accounted to one unit), and records
/// won / lost. Fewer than two outputs to compare is an error, not a loss.
struct SelectBestStep: CaseStep {
    let board: SelectBestBoard
    let target: Int
    let sample: Int
    let judge: JudgeStep

    func applies(to prepared: PreparedCase) -> Bool { prepared.hasJudged && prepared.judgeRequests.contains(where: \.comparesTargets) }

    func skipped(_ prepared: PreparedCase) async {
        guard applies(to: prepared) else { return }
        _ = await board.wait(.init(caseID: prepared.goldenCase.id, sample: sample), target: target, output: nil)
    }

    func run(_ prepared: PreparedCase, output: inout CaseOutput) async {
        guard let row = await board.wait(.init(caseID: prepared.goldenCase.id, sample: sample), target: target, output: output.text) else {
            for spec in prepared.judgeRequests where spec.comparesTargets {
                output.judgements[spec.assertionIndex] = .failed(kind: "cancelled", message: "the run was cancelled before every target answered")
            }
            return
        }
        let answered = row.outputs.enumerated().compactMap { i, o in o.map { (target: i, text: $0) } }
        for spec in prepared.judgeRequests where spec.comparesTargets {
            guard answered.count >= 2 else {
                output.judgements[spec.assertionIndex] = .failed(
                    kind: "judge_error", message: "select-best needs two or more outputs to compare; \(answered.count) of \(row.outputs.count) targets answered")
                continue
            }
            guard let name = spec.provider ?? judge.defaultJudge, let source = judge.sources[name]?.first else {
                output.judgements[spec.assertionIndex] = .failed(kind: "judge_error", message: "no judge endpoint" + (spec.provider.map { " named '\($0)'" } ?? " (give --judge-endpoint)"))
                continue
            }
            let shown = JudgePrompts.numberedOutputs(answered.map(\.text))
            let request = ModelRequest(messages: spec.messages(output: output.text, input: output.input, extra: ["outputs": shown]), params: spec.modelParams(judge.params))
            var usage = JudgeUsage()
            var how = JudgeStep.Answered.shared
            do throws(JudgeStep.Failure) {
                let (index, reason) = try await judge.ask(source, name, request, "best-output index", usage: &usage, answered: &how) {
                    JudgeVerdictParser.best($0, count: answered.count)
                }
                let won = answered[index].target == target
                output.judgements[spec.assertionIndex] = .verdict(
                    JudgeVerdict(pass: won, score: won ? 1 : 0, reason: (won ? "selected as the best of \(answered.count)" : "not selected; output \(index) of \(answered.count) was") + (reason.isEmpty ? "" : ": " + reason)))
            } catch {
                output.judgements[spec.assertionIndex] = .failed(kind: error.kind, message: error.message)
            }
            // One call for the group, counted once: by the unit that sent it, or, when the cache
            // answered every unit, by the accountable one; the others count a shared answer.
            if how == .called || (how == .cached && row.accountable) {
                output.judgeUsage.add(usage)
            } else {
                output.judgeUsage.cacheHits += 1
            }
        }
    }
}
