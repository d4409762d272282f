import EvalCore

extension CaseRecord {
    /// The case's row in the report and in the store (`docs/REPORT.md`).
    public func json(includeOutput: Bool = true) -> JSONValue {
        let r = self
        var o: [String: JSONValue] = [
            "id": .string(r.id), "line": .number(Double(r.line)), "status": .string(r.status.rawValue),
            "pass": .bool(r.status == .passed), "score": .number(r.score), "attempts": .number(Double(r.attempts)),
            "rate_limited": .number(Double(r.rateLimited)), "cached": .bool(r.cached),
            "tokens": ["prompt": .number(Double(r.promptTokens)), "completion": .number(Double(r.completionTokens))],
        ]
        if let d = r.description { o["description"] = .string(d) }
        if !r.tags.isEmpty { o["tags"] = .array(r.tags.map(JSONValue.string)) }
        if !r.namedScores.isEmpty { o["named_scores"] = .object(r.namedScores.mapValues(JSONValue.number)) }
        if includeOutput, let out = r.output { o["output"] = .string(out) }
        if let f = r.finishReason { o["finish_reason"] = .string(f) }
        if !r.toolCalls.isEmpty { o["tool_calls"] = .array(r.toolCalls.map(\.json)) }
        if !r.turns.isEmpty { o["turns"] = .array(r.turns.map(\.json)) }
        if let t = r.stream {
            var timing = t.json.objectValue ?? [:]
            if let rate = t.tokensPerSecond(completionTokens: r.completionTokens) { timing["tokens_per_second"] = .number(round3(rate)) }
            o["stream"] = .object(timing)
        }
        if let l = r.latencyMs { o["latency_ms"] = .number(l) }
        if let c = r.costUSD { o["cost_usd"] = .number(c) }
        if !r.assertions.isEmpty {
            o["assertions"] = .array(r.assertions.map { a in
                var ao: [String: JSONValue] = ["type": .string(a.type), "pass": .bool(a.pass), "score": .number(a.score), "weight": .number(a.weight), "reason": .string(a.reason)]
                if let m = a.metric { ao["metric"] = .string(m) }
                if let k = a.errorKind { ao["error"] = .string(k) }
                if let g = a.judgeAgreement { ao["judge_agreement"] = g.json }
                if a.judgeContradiction { ao["judge_contradiction"] = true }
                return .object(ao)
            })
        }
        if let k = r.errorKind { o["error"] = ["kind": .string(k), "message": .string(r.errorMessage ?? "")] }
        if let t = r.threshold { o["threshold"] = .number(t) }
        if let t = r.target { o["target"] = .string(t) }
        if !r.judgeUsage.isEmpty { o["judge"] = r.judgeUsage.json }
        if let s = r.samples {
            o["repeats"] = [
                "k": .number(Double(s.k)), "passed": .number(Double(s.passed)), "failed": .number(Double(s.failed)),
                "errored": .number(Double(s.errored)), "flaky": .bool(s.flaky),
            ]
            o["samples"] = .array(s.records.map { $0.json(includeOutput: includeOutput) })
        }
        return .object(o)
    }

    /// Reads a row written by `json()`; nil if it is not one. Every number is range-checked: rows
    /// come back from the store and from report files that `merge` is handed.
    public init?(json j: JSONValue) {
        let counts = 0...OutsideNumber.maxTokens
        guard let id = j["id"]?.stringValue, let line = j["line"]?.wholeNumber(in: 0...Int(Int32.max)), let statusText = j["status"]?.stringValue,
            let status = CaseOutcome.Status(rawValue: statusText), let score = j["score"]?.numberValue, score.isFinite
        else { return nil }
        func count(_ v: JSONValue?) -> Int? { v == nil || v == .null ? 0 : v?.wholeNumber(in: counts) }
        guard let promptTokens = count(j["tokens"]?["prompt"]), let completionTokens = count(j["tokens"]?["completion"]),
            let attempts = count(j["attempts"]), let rateLimited = count(j["rate_limited"])
        else { return nil }
        var assertions: [AssertionResult] = []
        for a in j["assertions"]?.arrayValue ?? [] {
            guard let type = a["type"]?.stringValue, let pass = a["pass"]?.boolValue, let s = a["score"]?.numberValue,
                let w = a["weight"]?.numberValue, let reason = a["reason"]?.stringValue
            else { return nil }
            var result = AssertionResult(type: type, pass: pass, score: s, weight: w, metric: a["metric"]?.stringValue, reason: reason,
                                         errorKind: a["error"]?.stringValue)
            result.judgeAgreement = a["judge_agreement"].flatMap(JudgeAgreement.init(json:))
            result.judgeContradiction = a["judge_contradiction"]?.boolValue ?? false
            assertions.append(result)
        }
        self.init(
            id: id, line: line, description: j["description"]?.stringValue, tags: j["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            status: status, score: score, namedScores: j["named_scores"]?.objectValue?.compactMapValues(\.numberValue) ?? [:],
            output: j["output"]?.stringValue, finishReason: j["finish_reason"]?.stringValue, latencyMs: j["latency_ms"]?.numberValue,
            promptTokens: promptTokens, completionTokens: completionTokens,
            costUSD: j["cost_usd"]?.numberValue, attempts: attempts, rateLimited: rateLimited,
            assertions: assertions, errorKind: j["error"]?["kind"]?.stringValue, errorMessage: j["error"]?["message"]?.stringValue)
        cached = j["cached"]?.boolValue ?? false
        if let calls = j["tool_calls"] {
            guard let list = ToolCall.list(json: calls) else { return nil }
            toolCalls = list
        }
        if let t = j["stream"] {
            guard let timing = StreamTiming(json: t) else { return nil }
            stream = timing
        }
        if let t = j["turns"] {
            guard let list = t.arrayValue, list.count <= ConversationTurn.maxTurns else { return nil }
            var out: [TurnRecord] = []
            for item in list {
                guard let turn = TurnRecord(json: item) else { return nil }
                out.append(turn)
            }
            turns = out
        }
        threshold = j["threshold"]?.numberValue
        target = j["target"]?.stringValue
        if let u = j["judge"] {
            guard let usage = JudgeUsage(json: u) else { return nil }
            judgeUsage = usage
        }
        if let rows = j["samples"]?.arrayValue {
            guard let k = j["repeats"]?["k"]?.wholeNumber(in: 1...GateConfig.maxRepeats), rows.count <= k else { return nil }
            var records: [CaseRecord] = []
            for row in rows {
                // Samples are flat rows: a sample with samples of its own is not one of ours.
                guard row["samples"] == nil, let r = CaseRecord(json: row) else { return nil }
                records.append(r)
            }
            samples = RepeatedSamples(k: k, records: records)
        }
    }

    /// Nil when the row's status follows from its own assertion results (every weighted one passed,
    /// or the score reached the case's threshold; errored when it has an error); otherwise why not.
    /// `merge` checks every row with this, beside the report's digest.
    public var statusContradiction: String? {
        if let samples {
            // A repeated case: each sample answers for itself, and the row for its samples.
            if let bad = samples.records.lazy.compactMap(\.statusContradiction).first { return bad }
            let derived = CaseRecord.combining(samples.records, k: samples.k).status
            guard !samples.records.isEmpty, derived == status else {
                return "case '\(id)' is recorded \(status.rawValue), but its samples say \(samples.records.isEmpty ? "nothing" : derived.rawValue)"
            }
            return nil
        }
        let undecided = errorKind != nil || assertions.contains { $0.errorKind != nil }
        let derived: CaseOutcome.Status
        if undecided {
            derived = .errored
        } else if let t = threshold {
            derived = score >= t ? .passed : .failed
        } else {
            derived = assertions.allSatisfy { $0.pass || $0.weight == 0 } ? .passed : .failed
        }
        guard derived != status else { return nil }
        return "case '\(id)' is recorded \(status.rawValue), but its assertion results say \(derived.rawValue)"
    }
}
