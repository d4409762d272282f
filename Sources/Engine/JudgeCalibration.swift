import EvalCore
import Foundation
import GoldenSets
import ModelClient

/// One item of a labelled calibration set: what was judged and what a person decided.
public struct LabelledJudgement: Sendable {
    public var id: String
    public var line: Int
    public var type: AssertionType
    /// The rubric or criterion (llm-rubric, model-graded-closedqa).
    public var rubric: String?
    public var input: String
    public var output: String
    /// The reference (factuality).
    public var expected: String?
    /// The person's verdict.
    public var human: Bool
    /// Groups the per-rubric breakdown: the item's `rubric_id`, else its rubric text, else its type.
    public var group: String
    var prepared: PreparedCase
}

/// `evalengine judge-calibrate`: asks a judge about every item of a labelled set, exactly as a run
/// would (same prompts, the judge's limiter, the cache), and measures its agreement with people:
/// accuracy, Cohen's κ with a bootstrap interval, the confusion matrix, a breakdown per rubric,
/// and the disagreements. Judge answers that are errors or unreadable are not verdicts: they are
/// counted apart, never as disagreements.
public enum JudgeCalibration {
    /// Reads a labels file: JSONL of `{id, type?, rubric?, rubric_id?, input, output, expected?,
    /// human: true|false}` (`type` defaults to llm-rubric). Errors name the line and field.
    public static func readLabels(path: String, scorer: Scorer = Scorer()) throws(InputError) -> [LabelledJudgement] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(location: SourceLocation(file: path, line: 0), message: "cannot read the labels file")
        }
        var items: [LabelledJudgement] = []
        var seen = Set<String>()
        var lineNumber = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let here = SourceLocation(file: path, line: lineNumber)
            if raw.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let json: JSONValue
            do { json = try JSONValue.parse(bytes: Array(raw)) } catch { throw InputError(location: here, message: "malformed JSON: \(error.message)") }
            func text(_ key: String, required: Bool = true) throws(InputError) -> String? {
                guard let v = json[key], v != .null else {
                    if required { throw InputError(location: here, field: key, message: "required") }
                    return nil
                }
                guard let s = v.stringValue else { throw InputError(location: here, field: key, message: "must be a string") }
                return s
            }
            let id = try text("id", required: false) ?? "item-\(lineNumber)"
            guard seen.insert(id).inserted else { throw InputError(location: here, caseID: id, field: "id", message: "duplicate id") }
            let typeName = try text("type", required: false) ?? AssertionType.llmRubric.rawValue
            // The verdict types: a measured score (g-eval, context-*) is not a yes/no a person labels.
            guard let type = AssertionType(rawValue: typeName), [.llmRubric, .modelGradedClosedQA, .factuality].contains(type) else {
                throw InputError(location: here, caseID: id, field: "type", message: "must be llm-rubric, model-graded-closedqa or factuality")
            }
            guard let human = json["human"]?.boolValue ?? (json["human"].flatMap(JudgeVerdictParser.truth)) else {
                throw InputError(location: here, caseID: id, field: "human", message: "required: the person's verdict, true or false")
            }
            let rubric = try text("rubric", required: type != .factuality)
            let expected = try text("expected", required: type == .factuality)
            let input = try text("input")!
            let output = try text("output")!
            var spec = AssertionSpec(type: type, value: rubric.map(JSONValue.string) ?? expected.map(JSONValue.string))
            spec.rubricPrompt = try text("rubric_prompt", required: false)
            let c = GoldenCase(id: id, vars: ["input": .string(input)], expected: expected.map(JSONValue.string), assertions: [spec], location: here)
            let prepared: PreparedCase
            do { prepared = try scorer.prepare(c) } catch { throw InputError(location: here, caseID: id, field: error.field, message: error.message) }
            let group = try text("rubric_id", required: false) ?? rubric ?? type.rawValue
            items.append(LabelledJudgement(id: id, line: lineNumber, type: type, rubric: rubric, input: input, output: output, expected: expected,
                                           human: human, group: group, prepared: prepared))
        }
        guard !items.isEmpty else { throw InputError(location: SourceLocation(file: path, line: 0), message: "the labels file has no items") }
        return items
    }

    public struct Disagreement: Sendable {
        public var id: String
        public var line: Int
        public var human: Bool
        public var judge: Bool
        public var reason: String
    }

    public struct Result: Sendable {
        /// Over the items the judge gave a verdict for.
        public var agreement: Agreement?
        public var byGroup: [(group: String, agreement: Agreement)]
        /// Items without a verdict: (id, error kind, message).
        public var unscored: [(id: String, kind: String, message: String)]
        public var disagreements: [Disagreement]
        public var usage: JudgeUsage
        public var gate: GateResult
    }

    /// Asks `judge` about every item (at most `concurrency` at once) and measures the agreement.
    /// `minKappa` gates: below it the judge is not to be trusted (fail); with more than
    /// `maxUnscoredRate` of items unscored, inconclusive.
    public static func run(_ items: [LabelledJudgement], judge: EndpointClient, memory: RunMemory, concurrency: Int = 32, seed: UInt64 = 0x5EED,
                           minKappa: Double? = nil, maxUnscoredRate: Double = 0.1) async throws -> Result {
        let writer = memory.store.map(StoreWriter.init)
        let context = RunCore.Context(runID: "", writer: writer, memory: memory, warn: { _ in })
        let step = JudgeStep(sources: [judge.endpoint.name: JudgeStep.sources(for: judge, context)], defaultJudge: judge.endpoint.name, params: JudgeStep.defaultParams)
        var outcomes = [(JudgeOutcome, JudgeUsage)?](repeating: nil, count: items.count)
        try await withThrowingTaskGroup(of: Void.self) { background in
            if let writer { background.addTask { await writer.run() } }
            defer { writer?.finish() }
            await withTaskGroup(of: (Int, JudgeOutcome, JudgeUsage).self) { group in
                var next = 0
                func add() {
                    let i = next
                    let item = items[i]
                    group.addTask {
                        var output = CaseOutput(text: item.output)
                        output.input = item.input
                        await step.run(item.prepared, output: &output)
                        return (i, output.judgements[0] ?? .failed(kind: "judge_error", message: "no verdict"), output.judgeUsage)
                    }
                    next += 1
                }
                while next < min(max(1, concurrency), items.count) { add() }
                while let (i, outcome, usage) = await group.next() {
                    outcomes[i] = (outcome, usage)
                    if next < items.count { add() }
                }
            }
        }
        await writer?.flush()
        var pairs: [(human: Bool, judge: Bool)] = []
        var grouped: [String: [(human: Bool, judge: Bool)]] = [:]
        var unscored: [(id: String, kind: String, message: String)] = []
        var disagreements: [Disagreement] = []
        var usage = JudgeUsage()
        for (item, entry) in zip(items, outcomes) {
            guard let (outcome, u) = entry else { continue }
            usage.add(u)
            switch outcome {
            case .failed(let kind, let message): unscored.append((item.id, kind, message))
            case .verdict(let v):
                pairs.append((item.human, v.pass))
                grouped[item.group, default: []].append((item.human, v.pass))
                if v.pass != item.human { disagreements.append(Disagreement(id: item.id, line: item.line, human: item.human, judge: v.pass, reason: v.reason)) }
            }
        }
        let agreement = Agreement.measure(pairs, seed: seed)
        let byGroup = grouped.sorted { $0.key < $1.key }.compactMap { g in Agreement.measure(g.value, seed: seed).map { (group: g.key, agreement: $0) } }
        var checks: [GateCheck] = []
        let unscoredRate = Double(unscored.count) / Double(items.count)
        checks.append(GateCheck(name: "unscored_rate", kind: .infrastructure, comparison: "<=", threshold: maxUnscoredRate, actual: unscoredRate,
                                pass: unscoredRate <= maxUnscoredRate))
        if let t = minKappa {
            checks.append(GateCheck(name: "kappa", kind: .quality, comparison: ">=", threshold: t, actual: agreement?.kappa, pass: (agreement?.kappa ?? -1) >= t))
        }
        var reasons: [String] = []
        let verdict: Verdict
        if unscoredRate > maxUnscoredRate || agreement == nil {
            verdict = .inconclusive
            reasons.append("\(unscored.count) of \(items.count) items got no verdict from the judge (more than \(format(maxUnscoredRate * 100))%)")
        } else if let t = minKappa, let a = agreement, a.kappa < t {
            verdict = .fail
            reasons.append("the judge's agreement with people, κ \(String(format: "%.3f", a.kappa)) (95% CI \(String(format: "%.3f", a.kappaCI.low))–\(String(format: "%.3f", a.kappaCI.high))), is below min_kappa \(format(t)): do not gate on this judge")
        } else {
            verdict = .pass
        }
        return Result(agreement: agreement, byGroup: byGroup, unscored: unscored, disagreements: disagreements, usage: usage,
                      gate: GateResult(verdict: verdict, checks: checks, reasons: reasons))
    }

    /// The calibration report (`evalengine.judge-calibration/v1`).
    public static func reportJSON(_ r: Result, labels: String, judge: String, model: String) -> JSONValue {
        [
            "schema": "evalengine.judge-calibration/v1",
            "labels": .string(labels), "judge": ["endpoint": .string(judge), "model": .string(model)],
            "verdict": .string(r.gate.verdict.rawValue), "reasons": .array(r.gate.reasons.map(JSONValue.string)),
            "checks": .array(r.gate.checks.map(\.json)),
            "agreement": r.agreement?.json ?? .null,
            "by_rubric": .array(r.byGroup.map { ["rubric": .string($0.group), "agreement": $0.agreement.json] }),
            "unscored": .array(r.unscored.map { ["id": .string($0.id), "kind": .string($0.kind), "message": .string($0.message)] }),
            "disagreements": .array(r.disagreements.map {
                ["id": .string($0.id), "line": .number(Double($0.line)), "human": .bool($0.human), "judge": .bool($0.judge), "reason": .string($0.reason)]
            }),
            "judge_usage": r.usage.json,
        ]
    }
}
