import EvalCore

/// The full result of one case: what the report and the JUnit file show.
public struct CaseRecord: Sendable {
    public var id: String
    public var line: Int
    public var description: String?
    public var tags: [String]
    public var status: CaseOutcome.Status
    public var score: Double
    public var namedScores: [String: Double]
    public var output: String?
    public var finishReason: String?
    /// The functions the model called (beside `output`, which may then be empty).
    public var toolCalls: [ToolCall] = []
    /// A streamed answer's timing: time to first token, gaps between tokens.
    public var stream: StreamTiming?
    /// A multi-turn case's answers, turn by turn.
    public var turns: [TurnRecord] = []
    public var latencyMs: Double?
    public var promptTokens: Int
    public var completionTokens: Int
    public var costUSD: Double?
    public var attempts: Int
    public var rateLimited: Int
    public var assertions: [AssertionResult]
    public var errorKind: String?
    public var errorMessage: String?
    /// Answered from the response cache.
    public var cached = false
    /// The case's own score threshold, when it has one (`merge` re-derives the status from it).
    public var threshold: Double?
    /// The matrix target that answered (nil in a run with one target).
    public var target: String?
    /// With `--repeat K`: the case's K samples, each a record of its own.
    public var samples: RepeatedSamples?
    /// What the case's judge calls cost (model-graded assertions), apart from the target's.
    public var judgeUsage = JudgeUsage()

    var outcome: CaseOutcome {
        var o = CaseOutcome(
            status: status, score: score, namedScores: namedScores, latencyMs: latencyMs, promptTokens: promptTokens,
            completionTokens: completionTokens, costUSD: costUSD, retries: max(0, attempts - 1), rateLimited: rateLimited, errorKind: errorKind)
        o.errorMessage = errorMessage
        o.cached = cached
        o.judgeUsage = judgeUsage
        o.stream = stream
        return o
    }
}

/// The K samples of one repeated case, in repeat order.
public struct RepeatedSamples: Sendable {
    public var k: Int
    public var records: [CaseRecord]

    public var passed: Int { records.count { $0.status == .passed } }
    public var failed: Int { records.count { $0.status == .failed } }
    public var errored: Int { records.count { $0.status == .errored } }
    /// Some samples passed and some failed.
    public var flaky: Bool { passed > 0 && failed > 0 }
}

extension CaseRecord {
    /// One row for a case sampled `k` times: passed when every sample passed, failed when any
    /// scored sample failed, else errored; the score is the mean over scored samples, tokens,
    /// cost and attempts are sums. Each sample keeps its own row under `samples`.
    static func combining(_ records: [CaseRecord], k: Int) -> CaseRecord {
        let first = records[0]
        let samples = RepeatedSamples(k: k, records: records)
        var r = first
        let scored = records.filter { $0.status != .errored }
        r.status = samples.failed > 0 ? .failed : (samples.errored > 0 ? .errored : .passed)
        r.score = scored.isEmpty ? 0 : scored.reduce(0) { $0 + $1.score } / Double(scored.count)
        var named: [String: (sum: Double, n: Int)] = [:]
        for s in scored { for (name, v) in s.namedScores { named[name, default: (0, 0)].sum += v; named[name, default: (0, 0)].n += 1 } }
        r.namedScores = named.mapValues { $0.sum / Double($0.n) }
        r.output = nil
        r.finishReason = nil
        r.latencyMs = nil
        r.assertions = []
        r.promptTokens = records.reduce(0) { $0 + $1.promptTokens }
        r.completionTokens = records.reduce(0) { $0 + $1.completionTokens }
        let costs = records.compactMap(\.costUSD)
        r.costUSD = costs.isEmpty ? nil : costs.reduce(0, +)
        r.attempts = records.reduce(0) { $0 + $1.attempts }
        r.rateLimited = records.reduce(0) { $0 + $1.rateLimited }
        r.cached = records.allSatisfy(\.cached)
        r.judgeUsage = records.reduce(into: JudgeUsage()) { $0.add($1.judgeUsage) }
        let firstError = records.first { $0.status == .errored }
        r.errorKind = r.status == .errored ? firstError?.errorKind : nil
        r.errorMessage = r.status == .errored ? firstError?.errorMessage : nil
        r.samples = samples
        return r
    }
}

/// One turn's answer of a multi-turn case, as reports show it.
public struct TurnRecord: Sendable, Hashable {
    public var output: String
    public var toolCalls: [ToolCall]
    public var latencyMs: Double?
    public var cached: Bool

    public init(output: String, toolCalls: [ToolCall] = [], latencyMs: Double? = nil, cached: Bool = false) {
        self.output = output
        self.toolCalls = toolCalls
        self.latencyMs = latencyMs
        self.cached = cached
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["output": .string(output), "cached": .bool(cached)]
        if !toolCalls.isEmpty { o["tool_calls"] = .array(toolCalls.map(\.json)) }
        if let l = latencyMs { o["latency_ms"] = .number(l) }
        return .object(o)
    }

    public init?(json j: JSONValue) {
        guard let output = j["output"]?.stringValue else { return nil }
        var calls: [ToolCall] = []
        if let c = j["tool_calls"] {
            guard let list = ToolCall.list(json: c) else { return nil }
            calls = list
        }
        let latency = j["latency_ms"]?.numberValue
        if let l = latency, !(l.isFinite && l >= 0) { return nil }
        self.init(output: output, toolCalls: calls, latencyMs: latency, cached: j["cached"]?.boolValue ?? false)
    }
}
