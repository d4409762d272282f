/// What K samples of every case say about a run: how often a case passes when asked again.
///
/// pass@1 is the pooled pass rate over scored samples (the mean over cases of passes/K when no
/// sample errored); pass^K counts cases whose every sample passed, pass@K cases with at least one
/// passing sample, flaky cases with at least one passing and one failing sample. Rates over cases
/// count only *complete* cases, whose K samples were all scored; a case with an errored sample is
/// reported apart (and bounds the gate both ways, as errored cases do).
public struct RepeatSummary: Sendable, Hashable {
    /// Samples per case asked for.
    public var k: Int
    public var cases = 0
    /// Cases whose every sample was scored.
    public var complete = 0
    public var passAll = 0
    public var passAny = 0
    public var flaky = 0
    /// Cases with at least one errored sample.
    public var withErrors: Int { cases - complete }
    /// The flakiest cases (pass fraction nearest one half first), at most `RepeatAccumulator.flakiestKept`.
    public var flakiest: [FlakyCase] = []

    public init(k: Int) { self.k = k }

    public var passAllRate: Double? { complete > 0 ? Double(passAll) / Double(complete) : nil }
    public var passAnyRate: Double? { complete > 0 ? Double(passAny) / Double(complete) : nil }
    public var flakyRate: Double? { complete > 0 ? Double(flaky) / Double(complete) : nil }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "k": .number(Double(k)), "cases": .number(Double(cases)), "complete_cases": .number(Double(complete)),
            "pass_all": .number(Double(passAll)), "pass_any": .number(Double(passAny)), "flaky": .number(Double(flaky)),
            "cases_with_errors": .number(Double(withErrors)),
            "flakiest": .array(flakiest.map { ["id": .string($0.id), "passed": .number(Double($0.passed)), "scored": .number(Double($0.scored))] }),
        ]
        if let v = passAllRate { o["pass_all_rate"] = .number(v) }
        if let v = passAnyRate { o["pass_any_rate"] = .number(v) }
        if let v = flakyRate { o["flaky_rate"] = .number(v) }
        return .object(o)
    }
}

/// A case whose samples disagreed.
public struct FlakyCase: Sendable, Hashable {
    public var id: String
    public var passed: Int
    public var scored: Int

    public init(id: String, passed: Int, scored: Int) {
        self.id = id
        self.passed = passed
        self.scored = scored
    }

    /// 0 for an even split, 0.5 for a case that always agrees with itself.
    var certainty: Double { abs(Double(passed) / Double(max(1, scored)) - 0.5) }
}

/// Builds a `RepeatSummary` one case (its K samples) at a time.
public struct RepeatAccumulator: Sendable {
    public static let flakiestKept = 10
    private var summary: RepeatSummary

    public init(k: Int) { summary = RepeatSummary(k: k) }

    /// One case: how many of its samples passed, failed and errored.
    public mutating func add(id: String, passed: Int, failed: Int, errored: Int) {
        summary.cases += 1
        guard errored == 0 else { return }
        summary.complete += 1
        if failed == 0 && passed > 0 { summary.passAll += 1 }
        if passed > 0 { summary.passAny += 1 }
        guard passed > 0 && failed > 0 else { return }
        summary.flaky += 1
        let c = FlakyCase(id: id, passed: passed, scored: passed + failed)
        // Kept sorted, nearest an even split first, then by id: independent of completion order.
        let position = summary.flakiest.firstIndex { ($0.certainty, $0.id) > (c.certainty, c.id) } ?? summary.flakiest.endIndex
        if position < RepeatAccumulator.flakiestKept {
            summary.flakiest.insert(c, at: position)
            if summary.flakiest.count > RepeatAccumulator.flakiestKept { summary.flakiest.removeLast() }
        }
    }

    public func finish() -> RepeatSummary { summary }
}
