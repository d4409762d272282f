/// What a judge model said about one output, read from the text it answered.
public struct JudgeVerdict: Sendable, Hashable {
    public var pass: Bool
    /// 0...1.
    public var score: Double
    public var reason: String
    /// The judge's `pass` and `score` disagreed; the score decided (`JudgeVerdictParser` says how).
    public var contradiction: Bool = false
    /// With `judge_samples`: how the samples agreed.
    public var agreement: JudgeAgreement?

    public init(pass: Bool, score: Double, reason: String, contradiction: Bool = false) {
        self.pass = pass
        self.score = score
        self.reason = reason
        self.contradiction = contradiction
    }
}

/// How the K samples of a judged assertion agreed (`judge_samples`).
public struct JudgeAgreement: Sendable, Hashable {
    /// Times the judge was asked.
    public var samples: Int
    /// Answers that gave a verdict.
    public var verdicts: Int
    /// Verdicts that agree with the combined one.
    public var agreeing: Int

    public init(samples: Int, verdicts: Int, agreeing: Int) {
        self.samples = samples
        self.verdicts = verdicts
        self.agreeing = agreeing
    }

    /// `{samples, verdicts, agreeing, rate}`; rate is agreeing ÷ verdicts.
    public var json: JSONValue {
        ["samples": .number(Double(samples)), "verdicts": .number(Double(verdicts)), "agreeing": .number(Double(agreeing)),
         "rate": .number(verdicts > 0 ? Double(agreeing) / Double(verdicts) : 0)]
    }

    public init?(json j: JSONValue) {
        let range = 0...AssertionSpec.maxJudgeSamples
        guard let s = j["samples"]?.wholeNumber(in: range), let v = j["verdicts"]?.wholeNumber(in: range), let a = j["agreeing"]?.wholeNumber(in: range),
            v <= s, a <= v
        else { return nil }
        self.init(samples: s, verdicts: v, agreeing: a)
    }
}

/// Reads verdicts out of the messy text real judges answer with: JSON in code fences, JSON with
/// prose before or after it, `pass` as a string, scores out of 10 or 100, `GRADE: C/P/I` lines,
/// a bare `Y`/`N`, a category letter. The last well-formed verdict wins (judges reason first and
/// conclude last). Nil means unparseable: the assertion is then errored, never failed.
public enum JudgeVerdictParser {
    /// How a type asks its judge to answer.
    public enum Format: Sendable, Hashable {
        /// `{"reason": ..., "score": 0..1, "pass": true|false}` (llm-rubric).
        case rubricJSON
        /// Reasoning, then `Y` or `N` (model-graded-closedqa).
        case yesNo
        /// One of the letters A–E (factuality), scored by the given table.
        case category(scores: [Character: Double], passing: Set<Character>)
    }

    /// promptfoo's factuality defaults: A, B, C, E pass; D (disagrees with the reference) fails.
    public static let factualityScores: [Character: Double] = ["A": 1, "B": 1, "C": 1, "D": 0, "E": 1]
    public static let factualityPassing: Set<Character> = ["A", "B", "C", "E"]

    /// Judges' answers longer than this are cut before parsing (a bound on the work).
    public static let maxAnswerBytes = 64 * 1024

    public static func parse(_ raw: String, format: Format) -> JudgeVerdict? {
        guard let trimmed = bounded(raw) else { return nil }
        switch format {
        case .rubricJSON:
            if let v = lastJSONVerdict(trimmed) { return v }
            if let g = lastGrade(trimmed) { return g }
            return nil
        case .yesNo:
            if let g = lastGrade(trimmed) { return g }
            if let v = lastJSONVerdict(trimmed) { return v }
            guard let yes = lastYesNo(trimmed) else { return nil }
            return JudgeVerdict(pass: yes, score: yes ? 1 : 0, reason: reasonText(trimmed))
        case .category(let scores, let passing):
            guard let letter = lastCategory(trimmed), let score = scores[letter] else { return nil }
            return JudgeVerdict(pass: passing.contains(letter), score: score, reason: "category \(letter): " + reasonText(trimmed))
        }
    }

    // MARK: JSON verdicts

    /// Bytes scanned (brace matching and parsing) per byte of answer before giving up: a hostile
    /// answer of nested braces must not cost quadratic time.
    static let workPerByte = 32

    /// The last JSON object in `text` that reads as a verdict.
    static func lastJSONVerdict(_ text: String) -> JudgeVerdict? { lastJSON(text, as: verdict) }

    /// The last JSON object in `text` that `read` accepts (judges reason first, conclude last).
    static func lastJSON<T>(_ text: String, as read: (JSONValue) -> T?) -> T? {
        let bytes = Array(text.utf8)
        var budget = workPerByte * bytes.count + 4096
        var end = bytes.count
        // Scan back for closing braces, and for each the object it closes.
        while budget > 0, let close = bytes[..<end].lastIndex(of: UInt8(ascii: "}")) {
            if let open = matchingOpen(bytes, close: close, budget: &budget) {
                budget -= close - open + 1
                if let json = try? JSONValue.parse(bytes: Array(bytes[open...close])), let v = read(json) { return v }
            }
            end = close
        }
        return nil
    }

    /// `text` cut to `maxAnswerBytes` and trimmed; nil when nothing is left.
    static func bounded(_ raw: String) -> String? {
        let text = raw.utf8.count > maxAnswerBytes ? String(decoding: raw.utf8.prefix(maxAnswerBytes), as: UTF8.self) : raw
        let trimmed = text.trimmingSpaces
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The `{` that balances the `}` at `close`, skipping braces inside strings; every byte
    /// scanned is taken from `budget`.
    static func matchingOpen(_ b: [UInt8], close: Int, budget: inout Int) -> Int? {
        // Forward pass from each candidate open is simplest to get strings right: try the opens
        // from nearest to farthest and keep the first whose object ends exactly at `close`.
        var i = close
        var tries = 0
        while i > 0, tries < 64, budget > 0 {
            i -= 1
            budget -= 1
            guard b[i] == UInt8(ascii: "{") else { continue }
            tries += 1
            if objectEnd(b, from: i, limit: close, budget: &budget) == close { return i }
        }
        return nil
    }

    /// Where the object opened at `start` closes, scanning no further than `limit`.
    static func objectEnd(_ b: [UInt8], from start: Int, limit: Int, budget: inout Int) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        var i = start
        while i <= limit, i < b.count {
            budget -= 1
            let c = b[i]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "{") {
                depth += 1
            } else if c == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return i }
            }
            i += 1
        }
        return nil
    }

    /// `{pass, score, reason}` with the forms judges use: `pass` as a bool or "true"/"yes"/"pass",
    /// `score` as a number or a numeric string, out of 1, 10 or 100.
    static func verdict(_ json: JSONValue) -> JudgeVerdict? {
        guard let o = json.objectValue else { return nil }
        let passValue = o["pass"] ?? o["passed"] ?? o["verdict"] ?? o["result"]
        let pass: Bool? = passValue.flatMap(truth)
        let score: Double? = (o["score"] ?? o["rating"]).flatMap(number).flatMap(normalised)
        if (o["score"] ?? o["rating"]) != nil && score == nil { return nil }  // a score that is no score
        if passValue != nil && pass == nil { return nil }
        guard pass != nil || score != nil else { return nil }
        let reason = (o["reason"] ?? o["reasoning"] ?? o["explanation"])?.stringValue ?? ""
        switch (pass, score) {
        case (let p?, let s?):
            // pass and score disagree (promptfoo #2998): the score decides, and the report says so.
            // Documented rule: a pass with a score under 0.5, or a fail with one of 0.5 or more.
            let byScore = s >= 0.5
            if p != byScore { return JudgeVerdict(pass: byScore, score: s, reason: reason, contradiction: true) }
            return JudgeVerdict(pass: p, score: s, reason: reason)
        case (let p?, nil): return JudgeVerdict(pass: p, score: p ? 1 : 0, reason: reason)
        case (nil, let s?): return JudgeVerdict(pass: s >= 0.5, score: s, reason: reason)
        case (nil, nil): return nil
        }
    }

    public static func truth(_ v: JSONValue) -> Bool? {
        if let b = v.boolValue { return b }
        guard let s = v.stringValue?.trimmingSpaces.lowercased() else { return nil }
        if ["true", "yes", "y", "pass", "passed", "correct"].contains(s) { return true }
        if ["false", "no", "n", "fail", "failed", "incorrect"].contains(s) { return false }
        return nil
    }

    static func number(_ v: JSONValue) -> Double? {
        if let n = v.numberValue { return n }
        guard let s: String = v.stringValue?.trimmingSpaces else { return nil }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        if parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]), b > 0 {
            let ratio: Double = a / b
            return ratio
        }
        return Double(s)
    }

    /// A score in 0...1; scores above 1 are read as out of 10 (up to 10) or 100 (up to 100).
    static func normalised(_ s: Double) -> Double? {
        guard s.isFinite, s >= 0 else { return nil }
        if s <= 1 { return s }
        if s <= 10 { return s / 10 }
        if s <= 100 { return s / 100 }
        return nil
    }

    // MARK: Letter verdicts

    /// The last `GRADE: C|P|I` (inspect_ai's model_graded_qa): correct, partial (0.5), incorrect.
    static func lastGrade(_ text: String) -> JudgeVerdict? {
        let upper = text.uppercased()
        guard let r = upper.range(of: "GRADE:", options: .backwards) else { return nil }
        guard let letter = upper[r.upperBound...].first(where: { !$0.isWhitespace && $0 != "*" }) else { return nil }
        let reason = reasonText(String(text[..<r.lowerBound]))
        switch letter {
        case "C": return JudgeVerdict(pass: true, score: 1, reason: reason)
        case "P": return JudgeVerdict(pass: false, score: 0.5, reason: reason)
        case "I": return JudgeVerdict(pass: false, score: 0, reason: reason)
        default: return nil
        }
    }

    /// The last line's (or last word's) Y/N answer.
    static func lastYesNo(_ text: String) -> Bool? {
        for line in text.split(whereSeparator: \.isNewline).reversed() {
            var words = line.split(whereSeparator: { !$0.isLetter }).map { $0.lowercased() }
            if words.first == "answer" || words.first == "verdict" { words.removeFirst() }
            guard let last = words.last else { continue }
            if ["y", "yes"].contains(last) && words.count <= 3 { return true }
            if ["n", "no"].contains(last) && words.count <= 3 { return false }
            if words.count > 3 { break }
        }
        return nil
    }

    /// The last category letter: `{"category": "A"}`, `(A)`, `Answer: A`, or a line that is the letter.
    static func lastCategory(_ text: String) -> Character? {
        if let close = text.utf8.lastIndex(of: UInt8(ascii: "}")) {
            let bytes = Array(text.utf8)
            let c = text.utf8.distance(from: text.utf8.startIndex, to: close)
            var budget = workPerByte * bytes.count + 4096
            if let open = matchingOpen(bytes, close: c, budget: &budget), let json = try? JSONValue.parse(bytes: Array(bytes[open...c])),
                let s = (json["category"] ?? json["choice"] ?? json["answer"])?.stringValue?.trimmingSpaces.uppercased(), s.count == 1,
                let ch = s.first, ("A"..."E").contains(ch)
            {
                return ch
            }
        }
        let chars = Array(text.uppercased())
        var i = chars.count - 3
        while i >= 0 {
            if chars[i] == "(", chars[i + 2] == ")", ("A"..."E").contains(chars[i + 1]) { return chars[i + 1] }
            i -= 1
        }
        for line in text.split(whereSeparator: \.isNewline).reversed() {
            let words = line.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.uppercased() }
            guard let last = words.last else { continue }
            if last.count == 1, let ch = last.first, ("A"..."E").contains(ch), words.count <= 3 { return ch }
            break
        }
        return nil
    }

    static func reasonText(_ text: String) -> String {
        String(text.trimmingSpaces.prefix(500))
    }
}

extension JudgeVerdict {
    /// The verdict of several samples of one judge: the majority's pass (a tie goes to the mean
    /// score, pass at 0.5 or more), the mean score, and how many of them the majority holds.
    public static func combining(_ verdicts: [JudgeVerdict]) -> (verdict: JudgeVerdict, agreeing: Int)? {
        guard !verdicts.isEmpty else { return nil }
        if verdicts.count == 1 { return (verdicts[0], 1) }
        let passes = verdicts.count { $0.pass }
        let mean = verdicts.reduce(0) { $0 + $1.score } / Double(verdicts.count)
        let pass = passes * 2 == verdicts.count ? mean >= 0.5 : passes * 2 > verdicts.count
        let agreeing = pass ? passes : verdicts.count - passes
        let reason = verdicts.first { $0.pass == pass }?.reason ?? verdicts[0].reason
        return (JudgeVerdict(pass: pass, score: mean, reason: reason, contradiction: verdicts.contains { $0.contradiction }), agreeing)
    }
}

/// A judged assertion's outcome: a verdict, or why there is none (`judge_error`: the call failed;
/// `judge_unparseable`: the judge answered nothing readable, its text in the message).
public enum JudgeOutcome: Sendable, Hashable {
    case verdict(JudgeVerdict)
    case failed(kind: String, message: String)
}

/// What a case's judge calls cost, apart from the target's.
public struct JudgeUsage: Sendable, Hashable {
    /// Calls sent (not answered from the cache).
    public var calls = 0
    public var cacheHits = 0
    public var promptTokens = 0
    public var completionTokens = 0
    /// Nil when no judge endpoint of the case has pricing.
    public var costUSD: Double?

    public init() {}

    public mutating func add(_ other: JudgeUsage) {
        calls += other.calls
        cacheHits += other.cacheHits
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
        if let c = other.costUSD { costUSD = (costUSD ?? 0) + c }
    }

    public var isEmpty: Bool { calls == 0 && cacheHits == 0 }
}

extension JudgeUsage {
    /// As reports show it: `{calls, cache_hits, tokens: {prompt, completion}, cost_usd}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "calls": .number(Double(calls)), "cache_hits": .number(Double(cacheHits)),
            "tokens": ["prompt": .number(Double(promptTokens)), "completion": .number(Double(completionTokens))],
        ]
        if let c = costUSD { o["cost_usd"] = .number(c) }
        return .object(o)
    }

    /// Reads `json` back, every count range-checked (rows come back from stores and reports).
    public init?(json j: JSONValue) {
        let counts = 0...OutsideNumber.maxTokens
        guard let calls = j["calls"]?.wholeNumber(in: counts), let hits = j["cache_hits"]?.wholeNumber(in: counts),
            let p = j["tokens"]?["prompt"]?.wholeNumber(in: counts), let c = j["tokens"]?["completion"]?.wholeNumber(in: counts)
        else { return nil }
        self.init()
        self.calls = calls
        cacheHits = hits
        promptTokens = p
        completionTokens = c
        if let cost = j["cost_usd"]?.numberValue, cost.isFinite, cost >= 0 { costUSD = cost }
    }
}
