/// What one script or webhook assertion of one case asks the user's scorer. The request is one
/// JSON line (script) or body (webhook): `{output, vars, expected, value, config, tool_calls}`;
/// the answer `{pass, score, reason, named_scores}` (see docs/SCORERS.md).
public struct ScorerRequestSpec: Sendable, Hashable {
    public enum Target: Sendable, Hashable {
        /// A worker's command line, run in `directory` (the golden set's).
        case command([String], directory: String)
        /// A webhook named in the endpoints config.
        case webhook(String)
    }

    public let assertionIndex: Int
    public var target: Target
    public let value: JSONValue?
    public let config: JSONValue?
    public let timeoutSeconds: Double
    public let cache: Bool
    /// Multi-turn cases: the turn whose answer is scored (nil: the final answer).
    public var turn: Int?

    public static let defaultTimeoutSeconds = 10.0

    /// The request for one output.
    public func request(_ c: GoldenCase, output: CaseOutput) -> JSONValue {
        var o: [String: JSONValue] = [
            "output": .string(output.text), "vars": .object(c.vars), "expected": c.expected ?? .null, "id": .string(c.id),
        ]
        if let value { o["value"] = value }
        if let config { o["config"] = config }
        if !output.toolCalls.isEmpty {
            o["tool_calls"] = .array(output.toolCalls.map { t in
                ["name": .string(t.name), "arguments": t.arguments ?? .string(t.rawArguments)]
            })
        }
        return .object(o)
    }
}

/// A scorer's answer, or why there is none (it crashed, hung, or answered nonsense).
public enum ScorerOutcome: Sendable, Hashable {
    case answer(pass: Bool, score: Double, reason: String, namedScores: [String: Double])
    case failed(message: String)

    /// Reads `{pass, score, reason, named_scores}`: `pass` a boolean (or, without it, `score` at
    /// least 0.5 passes), `score` a finite number (1 or 0 from `pass` without it); nil when the
    /// answer is neither.
    public static func read(_ json: JSONValue) -> ScorerOutcome? {
        guard json.objectValue != nil else { return nil }
        let pass = json["pass"].flatMap(JudgeVerdictParser.truth)
        var score: Double?
        if let s = json["score"], s != .null {
            guard let n = s.numberValue, n.isFinite, abs(n) <= 1e12 else { return nil }
            score = n
        }
        guard pass != nil || score != nil else { return nil }
        if json["pass"] != nil && json["pass"] != .null && pass == nil { return nil }
        var named: [String: Double] = [:]
        for (k, v) in json["named_scores"]?.objectValue ?? [:] {
            guard let n = v.numberValue, n.isFinite, abs(n) <= 1e12 else { return nil }
            named[k] = n
        }
        let p = pass ?? (score! >= 0.5)
        return .answer(pass: p, score: score ?? (p ? 1 : 0), reason: String((json["reason"]?.stringValue ?? "").prefix(2000)), namedScores: named)
    }
}
