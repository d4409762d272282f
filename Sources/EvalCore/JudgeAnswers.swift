/// The answers of the judge calls that are not a verdict on their own: G-Eval's steps and score,
/// claim checks, the needed sentences of a context, questions an answer answers, the best of
/// several outputs. Each reads the JSON the prompt asks for (in fences, with prose around it:
/// the last well-formed object wins) and the plain-text forms judges fall back to. Nil means
/// unparseable: the assertion is errored `judge_unparseable`, never failed.
extension JudgeVerdictParser {
    /// G-Eval's first call: `{"steps": [...]}`, or numbered / bulleted lines.
    public static func steps(_ raw: String) -> [String]? {
        guard let text = bounded(raw) else { return nil }
        if let steps = lastJSON(text, as: { json -> [String]? in
            let items = json["steps"]?.arrayValue?.compactMap { $0.stringValue?.trimmingSpaces }.filter { !$0.isEmpty }
            return items?.isEmpty == false ? items : nil
        }) {
            return steps
        }
        let listed = text.split(whereSeparator: \.isNewline).compactMap { listItem(String($0)) }
        return listed.isEmpty ? nil : listed
    }

    /// G-Eval's second call: `{"score": 1...10, "reason": ...}` or a `Score: 7` line, as a verdict
    /// whose score is out of `maxScore` (pass is left to the threshold).
    public static func gEvalScore(_ raw: String, maxScore: Double = 10) -> JudgeVerdict? {
        guard let text = bounded(raw) else { return nil }
        func scored(_ s: Double, _ reason: String) -> JudgeVerdict? {
            guard s.isFinite, s >= 0, s <= maxScore else { return nil }
            return JudgeVerdict(pass: true, score: s / maxScore, reason: reason)
        }
        if let v = lastJSON(text, as: { json -> JudgeVerdict? in
            guard let s = (json["score"] ?? json["rating"]).flatMap(number) else { return nil }
            return scored(s, (json["reason"] ?? json["reasoning"])?.stringValue ?? "")
        }) {
            return v
        }
        // `Score: 7`, `Score: 7/10`, `**Score**: 7`, the last one.
        let lower = text.lowercased()
        guard let r = lower.range(of: "score", options: .backwards) else { return nil }
        let tail = lower[r.upperBound...].drop { !$0.isNumber && $0 != "-" }
        let digits = tail.prefix { $0.isNumber || $0 == "." }  // a negative score reads as none
        guard let s = Double(digits) else { return nil }
        return scored(s, reasonText(String(text[..<r.lowerBound])))
    }

    /// One claim (or statement) and whether the context supports it.
    public struct CheckedClaim: Sendable, Hashable {
        public var text: String
        public var supported: Bool
    }

    /// `{"claims": [{"claim", "supported"}]}` (faithfulness) or `{"statements": [{"statement",
    /// "attributed"}]}` (recall), or a top-level list of such objects; the plain-text forms are
    /// lines ending in `Verdict: Yes/No` or carrying `[Attributed]` / `[Not Attributed]`. An empty
    /// list is a valid answer (no claims): the caller decides what that scores.
    public static func checkedClaims(_ raw: String) -> [CheckedClaim]? {
        guard let text = bounded(raw) else { return nil }
        func read(_ items: [JSONValue]) -> [CheckedClaim]? {
            var out: [CheckedClaim] = []
            for item in items {
                guard let o = item.objectValue else { return nil }
                let label = (o["claim"] ?? o["statement"] ?? o["text"])?.stringValue ?? ""
                guard let verdict = (o["supported"] ?? o["attributed"] ?? o["verdict"] ?? o["faithful"]).flatMap(truth) else { return nil }
                out.append(CheckedClaim(text: label, supported: verdict))
            }
            return out
        }
        if let claims = lastJSON(text, as: { json -> [CheckedClaim]? in
            guard let items = (json["claims"] ?? json["statements"] ?? json["verdicts"])?.arrayValue else { return nil }
            return read(items)
        }) {
            return claims
        }
        if let open = text.firstIndex(of: "["), let close = text.lastIndex(of: "]"), open < close,
            let items = (try? JSONValue.parse(String(text[open...close])))?.arrayValue, let claims = read(items)
        {
            return claims
        }
        var out: [CheckedClaim] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let l = line.lowercased()
            if l.contains("[not attributed]") || l.contains("verdict: no") {
                out.append(CheckedClaim(text: String(line), supported: false))
            } else if l.contains("[attributed]") || l.contains("verdict: yes") {
                out.append(CheckedClaim(text: String(line), supported: true))
            }
        }
        return out.isEmpty ? nil : out
    }

    /// The numbers (1-based) of the needed sentences: `{"relevant": [1, 3]}`, or a line of numbers;
    /// `Insufficient Information` is none. Numbers outside 1...count make the answer unparseable
    /// (the judge did not read the numbering); repeats count once.
    public static func neededSentences(_ raw: String, count: Int) -> Set<Int>? {
        guard let text = bounded(raw) else { return nil }
        func valid(_ numbers: [Double]) -> Set<Int>? {
            guard numbers.allSatisfy({ $0.rounded() == $0 && $0 >= 1 && $0 <= Double(count) }) else { return nil }
            return Set(numbers.map { Int($0) })
        }
        if let found = lastJSON(text, as: { json -> Set<Int>? in
            guard let items = (json["relevant"] ?? json["sentences"] ?? json["needed"])?.arrayValue else { return nil }
            let numbers = items.compactMap(number)
            return numbers.count == items.count ? valid(numbers) : nil
        }) {
            return found
        }
        if text.lowercased().contains("insufficient information") { return [] }
        if let open = text.lastIndex(of: "["), let close = text.lastIndex(of: "]"), open < close,
            let items = (try? JSONValue.parse(String(text[open...close])))?.arrayValue
        {
            let numbers = items.compactMap(number)
            if numbers.count == items.count { return valid(numbers) }
        }
        return nil
    }

    /// `{"questions": [...], "noncommittal": bool}`, or the lines that end in `?`.
    public static func questions(_ raw: String) -> (questions: [String], noncommittal: Bool)? {
        guard let text = bounded(raw) else { return nil }
        if let found = lastJSON(text, as: { json -> ([String], Bool)? in
            guard let items = json["questions"]?.arrayValue else { return nil }
            let qs = items.compactMap { $0.stringValue?.trimmingSpaces }.filter { !$0.isEmpty }
            guard qs.count == items.count, !qs.isEmpty else { return nil }
            return (qs, json["noncommittal"].flatMap(truth) ?? false)
        }) {
            return found
        }
        let qs = text.split(whereSeparator: \.isNewline).map { (listItem(String($0)) ?? String($0)).trimmingSpaces }.filter { $0.hasSuffix("?") }
        return qs.isEmpty ? nil : (qs, false)
    }

    /// The index (0-based, as the prompt numbers them) of the best of `count` outputs:
    /// `{"best": 1}`, `Best: 1`, or a last line that is the number.
    public static func best(_ raw: String, count: Int) -> (index: Int, reason: String)? {
        guard let text = bounded(raw) else { return nil }
        func valid(_ n: Double) -> Int? { n.rounded() == n && n >= 0 && n < Double(count) ? Int(n) : nil }
        if let found = lastJSON(text, as: { json -> (Int, String)? in
            guard let n = (json["best"] ?? json["index"] ?? json["winner"]).flatMap(number), let i = valid(n) else { return nil }
            return (i, (json["reason"] ?? json["reasoning"])?.stringValue ?? "")
        }) {
            return found
        }
        for line in text.split(whereSeparator: \.isNewline).reversed() {
            let words = line.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "-" }).map { $0.lowercased() }
            guard let last = words.last else { continue }
            if words.count <= 3, let n = Double(last), let i = valid(n) { return (i, reasonText(text)) }
            break
        }
        return nil
    }

    /// `1. text`, `- text`, `* text`, `Step 2: text` → `text`; nil for a line that is no list item.
    static func listItem(_ line: String) -> String? {
        var s = Substring(line.trimmingSpaces)
        if s.lowercased().hasPrefix("step") { s = s.dropFirst(4).drop { $0 == " " } }
        if let f = s.first, f == "-" || f == "*" || f == "•" {
            let rest = s.dropFirst().trimmingPrefixSpaces
            return rest.isEmpty ? nil : String(rest)
        }
        let digits = s.prefix { $0.isNumber }
        guard !digits.isEmpty, digits.count <= 3 else { return nil }
        let after = s.dropFirst(digits.count)
        guard let sep = after.first, sep == "." || sep == ")" || sep == ":" else { return nil }
        let rest = after.dropFirst().trimmingPrefixSpaces
        return rest.isEmpty ? nil : String(rest)
    }
}

extension Substring {
    fileprivate var trimmingPrefixSpaces: Substring { drop { $0.isWhitespace } }
}
