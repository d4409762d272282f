#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Relevance judgments: query id -> document id -> grade (negative = judged "unjudged").
public typealias Qrels = [String: [String: Int]]
/// Retrieval results: query id -> document id -> score.
public typealias Run = [String: [String: Double]]

/// A trec_eval measure (names as trec_eval 9.0.8 prints them; `SPEC.md` §4).
public enum RetrievalMeasure: Hashable, Sendable, CustomStringConvertible {
    case precision(Int)
    case recall(Int)
    case success(Int)
    case averagePrecision
    case averagePrecisionCut(Int)
    case reciprocalRank
    case reciprocalRankCut(Int)
    case rPrecision
    case ndcg
    case ndcgCut(Int)
    case bpref
    case numRet
    case numRel
    case numRelRet

    /// trec_eval's name: `P_5`, `map_cut_10`, `recip_rank`, `mrr_cut_10` (RR@k), ...
    public var description: String {
        switch self {
        case .precision(let k): return "P_\(k)"
        case .recall(let k): return "recall_\(k)"
        case .success(let k): return "success_\(k)"
        case .averagePrecision: return "map"
        case .averagePrecisionCut(let k): return "map_cut_\(k)"
        case .reciprocalRank: return "recip_rank"
        case .reciprocalRankCut(let k): return "mrr_cut_\(k)"
        case .rPrecision: return "Rprec"
        case .ndcg: return "ndcg"
        case .ndcgCut(let k): return "ndcg_cut_\(k)"
        case .bpref: return "bpref"
        case .numRet: return "num_ret"
        case .numRel: return "num_rel"
        case .numRelRet: return "num_rel_ret"
        }
    }

    /// Counts (`num_*`) are summed over queries, not averaged.
    public var isCount: Bool {
        switch self {
        case .numRet, .numRel, .numRelRet: return true
        default: return false
        }
    }

    /// Parses a printed name (`P_5`, `ndcg_cut_10`, `map`, ...).
    public init?(name: String) {
        func cut(_ prefix: String) -> Int? {
            guard name.hasPrefix(prefix), let k = Int(name.dropFirst(prefix.count)), k > 0 else { return nil }
            return k
        }
        switch name {
        case "map": self = .averagePrecision
        case "recip_rank": self = .reciprocalRank
        case "Rprec": self = .rPrecision
        case "ndcg": self = .ndcg
        case "bpref": self = .bpref
        case "num_ret": self = .numRet
        case "num_rel": self = .numRel
        case "num_rel_ret": self = .numRelRet
        default:
            if let k = cut("P_") { self = .precision(k) }
            else if let k = cut("recall_") { self = .recall(k) }
            else if let k = cut("success_") { self = .success(k) }
            else if let k = cut("map_cut_") { self = .averagePrecisionCut(k) }
            else if let k = cut("mrr_cut_") { self = .reciprocalRankCut(k) }
            else if let k = cut("ndcg_cut_") { self = .ndcgCut(k) }
            else { return nil }
        }
    }

    /// trec_eval's `-m` forms: `map`, `P.5,10`, `ndcg_cut.10`, `mrr_cut.10`, `all_trec`, or a printed name.
    public static func parseRequest(_ text: String) -> [RetrievalMeasure]? {
        if text == "all_trec" {
            return [.numRet, .numRel, .numRelRet, .averagePrecision, .rPrecision, .bpref, .reciprocalRank]
                + [5, 10, 15, 20, 30, 100, 200, 500, 1000].map(RetrievalMeasure.precision)
                + [5, 10, 15, 20, 30, 100, 200, 500, 1000].map(RetrievalMeasure.recall)
                + [.ndcg] + [5, 10, 15, 20, 30, 100, 200, 500, 1000].map(RetrievalMeasure.ndcgCut)
                + [5, 10, 15, 20, 30, 100, 200, 500, 1000].map(RetrievalMeasure.averagePrecisionCut)
                + [1, 5, 10].map(RetrievalMeasure.success)
        }
        let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 2 {
            let base = parts[0]
            var out: [RetrievalMeasure] = []
            for kText in parts[1].split(separator: ",") {
                guard let k = Int(kText), k > 0, let m = RetrievalMeasure(name: "\(base)_\(k)") else { return nil }
                out.append(m)
            }
            return out.isEmpty ? nil : out
        }
        if let m = RetrievalMeasure(name: text) { return [m] }
        // Bare cutoff families take trec_eval's default cutoffs.
        let defaults = [5, 10, 15, 20, 30, 100, 200, 500, 1000]
        switch text {
        case "P": return defaults.map(RetrievalMeasure.precision)
        case "recall": return defaults.map(RetrievalMeasure.recall)
        case "ndcg_cut": return defaults.map(RetrievalMeasure.ndcgCut)
        case "map_cut": return defaults.map(RetrievalMeasure.averagePrecisionCut)
        case "success": return [1, 5, 10].map(RetrievalMeasure.success)
        case "mrr_cut": return [1, 5, 10].map(RetrievalMeasure.reciprocalRankCut)
        default: return nil
        }
    }
}

/// Per-query values, means and sums for a set of measures.
public struct RetrievalEvaluation: Sendable {
    public var measures: [RetrievalMeasure]
    /// Evaluated queries (in the run and with at least one judgment), sorted by UTF-8 bytes.
    public var queries: [String]
    /// `values[q][m]`: query `queries[q]`, measure `measures[m]`.
    public var values: [[Double]]
    /// Mean over the evaluated queries (sum for counts).
    public var means: [Double]
    /// Sum divided by the number of judged queries, so queries missing from the run count as 0
    /// (`trec_eval -c`; sum for counts).
    public var completeMeans: [Double]
    /// Judged queries the run does not have.
    public var missingFromRun: [String]
    /// Run queries without judgments (ignored).
    public var ignoredRunOnly: [String]

    /// The value of `measure` for query `qid`, if evaluated.
    public func value(_ measure: RetrievalMeasure, query qid: String) -> Double? {
        guard let m = measures.firstIndex(of: measure), let q = queries.firstIndex(of: qid) else { return nil }
        return values[q][m]
    }
}

/// trec_eval 9.0.8 semantics, bit for bit (`../shared/reference/retrieval/SPEC.md`).
public enum RetrievalMetrics {
    /// Evaluates `run` against `qrels` at relevance level `level` (≥ 1).
    /// (`RetrievalAccumulator` gives the same numbers to the bit one query at a time, for runs too
    /// large to hold; this whole-run form stays the reference and the faster path.)
    public static func evaluate(qrels: Qrels, run: Run, measures: [RetrievalMeasure], relevanceLevel level: Int = 1) -> RetrievalEvaluation {
        let judged = qrels.filter { !$0.value.isEmpty }
        let evaluated = run.keys.filter { judged[$0] != nil }.sorted(by: bytesLess)
        var values: [[Double]] = []
        values.reserveCapacity(evaluated.count)
        var scratch = QueryScratch()
        for qid in evaluated {
            values.append(evaluateQuery(judgments: judged[qid]!, results: run[qid]!, measures: measures, level: level, scratch: &scratch))
        }
        var sums = [Double](repeating: 0, count: measures.count)
        for row in values {
            for m in measures.indices { sums[m] += row[m] }
        }
        let means = measures.indices.map { m in measures[m].isCount ? sums[m] : (evaluated.isEmpty ? 0 : sums[m] / Double(evaluated.count)) }
        let complete = measures.indices.map { m in measures[m].isCount ? sums[m] : (judged.isEmpty ? 0 : sums[m] / Double(judged.count)) }
        return RetrievalEvaluation(
            measures: measures, queries: evaluated, values: values, means: means, completeMeans: complete,
            missingFromRun: judged.keys.filter { run[$0] == nil }.sorted(by: bytesLess),
            ignoredRunOnly: run.keys.filter { judged[$0] == nil }.sorted(by: bytesLess))
    }

    /// Reusable buffers for one query's evaluation.
    public struct QueryScratch {
        public init() {}
        var keys: [Float] = []
        var docs: [String] = []
        /// Judged retrieved docs as (rank, grade), ranks 1-based; sorted by rank before use.
        var judged: [(rank: Int, grade: Int)] = []
        var ideal: [Int] = []
    }

    /// One query. Only the judged documents' ranks matter to every measure here, so instead of
    /// sorting the whole run we rank each judged document by counting the documents ahead of it
    /// (binary32 score descending, then docid bytes descending: trec_eval 9.0.8's order). With a
    /// few judged documents per query this is a short vectorisable loop, and it hashes only the
    /// judged ids rather than every retrieved one.
    static func evaluateQuery(judgments: [String: Int], results: [String: Double], measures: [RetrievalMeasure], level: Int, scratch: inout QueryScratch)
        -> [Double]
    {
        let n = results.count
        scratch.keys.removeAll(keepingCapacity: true)
        scratch.docs.removeAll(keepingCapacity: true)
        for (doc, score) in results {
            scratch.keys.append(Float(score))
            scratch.docs.append(doc)
        }
        scratch.judged.removeAll(keepingCapacity: true)
        scratch.ideal.removeAll(keepingCapacity: true)
        var R = 0
        var N = 0
        scratch.keys.withUnsafeBufferPointer { keys in
            for (doc, g) in judgments {
                if g >= level { R += 1 } else if g >= 0 { N += 1 }
                if g > 0 { scratch.ideal.append(g) }
                // Negative grades are "unjudged": they never score, so their rank is not needed.
                guard g >= 0, let score = results[doc] else { continue }
                let key = Float(score)
                var ahead = 0
                var ties = 0
                for k in keys {
                    if k > key { ahead += 1 } else if k == key { ties += 1 }
                }
                if ties > 1 {
                    for (i, k) in keys.enumerated() where k == key && bytesLess(doc, scratch.docs[i]) { ahead += 1 }
                }
                scratch.judged.append((ahead + 1, g))
            }
        }
        scratch.judged.sort { $0.rank < $1.rank }
        scratch.ideal.sort(by: >)
        let judged = scratch.judged
        let ideal = scratch.ideal
        func hits(_ k: Int) -> Int {
            var c = 0
            for j in judged {
                if j.rank > k { break }
                if j.grade >= level { c += 1 }
            }
            return c
        }
        func firstRelevant() -> Int? { judged.first { $0.grade >= level }?.rank }
        func ap(_ k: Int) -> Double {
            guard R > 0 else { return 0 }
            var s = 0.0
            var c = 0
            for j in judged {
                if j.rank > k { break }
                if j.grade >= level {
                    c += 1
                    s += Double(c) / Double(j.rank)
                }
            }
            return s / Double(R)
        }
        func dcg(_ k: Int) -> Double {
            var s = 0.0
            for j in judged {
                if j.rank > k { break }
                if j.grade > 0 { s += Double(j.grade) / log2(Double(j.rank + 1)) }
            }
            return s
        }
        func idcg(_ k: Int) -> Double {
            var s = 0.0
            for j in 0..<min(k, ideal.count) { s += Double(ideal[j]) / log2(Double(j + 2)) }
            return s
        }
        func ndcg(_ k: Int) -> Double {
            let best = idcg(k)
            return best == 0 ? 0 : dcg(k) / best
        }
        var out = [Double](repeating: 0, count: measures.count)
        for (m, measure) in measures.enumerated() {
            switch measure {
            case .precision(let k): out[m] = Double(hits(k)) / Double(k)
            case .recall(let k): out[m] = R == 0 ? 0 : Double(hits(k)) / Double(R)
            case .success(let k): out[m] = hits(k) >= 1 ? 1 : 0
            case .averagePrecision: out[m] = ap(n)
            case .averagePrecisionCut(let k): out[m] = ap(k)
            case .reciprocalRank: out[m] = firstRelevant().map { 1.0 / Double($0) } ?? 0
            case .reciprocalRankCut(let k): out[m] = firstRelevant().map { $0 <= k ? 1.0 / Double($0) : 0 } ?? 0
            case .rPrecision: out[m] = R == 0 ? 0 : Double(hits(R)) / Double(R)
            case .ndcg: out[m] = ndcg(Int.max)
            case .ndcgCut(let k): out[m] = ndcg(k)
            case .bpref:
                guard R > 0 else {
                    out[m] = 0
                    continue
                }
                var s = 0.0
                var nonRelevantSeen = 0
                for j in judged {
                    if j.grade >= level {
                        s += nonRelevantSeen == 0 ? 1.0 : 1.0 - Double(min(nonRelevantSeen, R)) / Double(min(N, R))
                    } else {
                        nonRelevantSeen += 1
                    }
                }
                out[m] = s / Double(R)
            case .numRet: out[m] = Double(n)
            case .numRel: out[m] = Double(R)
            case .numRelRet: out[m] = Double(hits(n))
            }
        }
        return out
    }

    /// UTF-8 byte order (C `strcmp`), which trec_eval uses for docids and query ids.
    public static func bytesLess(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

/// RAGAS 0.4.3's non-LLM context metrics (`SPEC.md` §7). Nil stands for RAGAS's NaN.
public enum ContextMetrics {
    /// |retrieved ∩ reference| / |retrieved| over id sets (ints and strings compare as text).
    public static func idBasedPrecision(retrieved: [String], reference: [String]) -> Double? {
        let r = Set(retrieved)
        guard !r.isEmpty else { return nil }
        return Double(r.intersection(Set(reference)).count) / Double(r.count)
    }

    /// |reference ∩ retrieved| / |reference| over id sets.
    public static func idBasedRecall(retrieved: [String], reference: [String]) -> Double? {
        let ref = Set(reference)
        guard !ref.isEmpty else { return nil }
        return Double(ref.intersection(Set(retrieved)).count) / Double(ref.count)
    }

    /// `1 - Levenshtein(a, b) / max(len a, len b)` over code points; two empty strings give 1.
    public static func similarity(_ a: String, _ b: String) -> Double {
        let m = max(a.unicodeScalars.count, b.unicodeScalars.count)
        guard m > 0 else { return 1 }
        return 1 - Double(TextMetrics.levenshtein(a, b)) / Double(m)
    }

    /// Non-LLM context precision with reference; throws for an empty reference list as RAGAS does.
    public static func nonLLMPrecision(retrieved: [String], reference: [String], threshold: Double = 0.5) throws(FieldError) -> Double {
        guard !reference.isEmpty else { throw FieldError(field: "reference_contexts", message: "must not be empty") }
        guard !retrieved.isEmpty else { return 0 }
        let verdicts = retrieved.map { c in reference.map { similarity(c, $0) }.max()! >= threshold ? 1.0 : 0.0 }
        var numerator = 0.0
        var seen = 0.0
        for (i, v) in verdicts.enumerated() {
            seen += v
            numerator += v * (seen / Double(i + 1))
        }
        return numerator / (verdicts.reduce(0, +) + 1e-10)
    }

    /// Non-LLM context recall; nil (NaN) with no references, throws with no retrieved contexts.
    public static func nonLLMRecall(retrieved: [String], reference: [String], threshold: Double = 0.5) throws(FieldError) -> Double? {
        guard !reference.isEmpty else { return nil }
        guard !retrieved.isEmpty else { throw FieldError(field: "retrieved_contexts", message: "must not be empty") }
        let hits = reference.filter { ref in retrieved.map { similarity($0, ref) }.max()! > threshold }.count
        return Double(hits) / Double(reference.count)
    }
}

/// `RetrievalMetrics.evaluate` one query at a time, for run files too large to hold: each query's
/// results are evaluated as soon as they are complete and dropped; only the per-query values stay
/// (measures × queries doubles). `finish` sums them in the same order as the whole-run form, so the
/// numbers are identical to the bit.
public struct RetrievalAccumulator {
    let judged: Qrels
    let measures: [RetrievalMeasure]
    let level: Int
    private var rows: [(qid: String, values: [Double])] = []
    private var seen = Set<String>()
    private var ignored: [String] = []
    private var scratch = RetrievalMetrics.QueryScratch()

    public init(qrels: Qrels, measures: [RetrievalMeasure], relevanceLevel level: Int = 1) {
        judged = qrels.filter { !$0.value.isEmpty }
        self.measures = measures
        self.level = level
    }

    /// Adds one query's complete results (each query once).
    public mutating func add(query qid: String, results: [String: Double]) {
        seen.insert(qid)
        guard let judgments = judged[qid] else {
            ignored.append(qid)
            return
        }
        rows.append((qid, RetrievalMetrics.evaluateQuery(judgments: judgments, results: results, measures: measures, level: level, scratch: &scratch)))
    }

    public func finish() -> RetrievalEvaluation {
        let sorted = rows.sorted { RetrievalMetrics.bytesLess($0.qid, $1.qid) }
        var sums = [Double](repeating: 0, count: measures.count)
        for row in sorted {
            for m in measures.indices { sums[m] += row.values[m] }
        }
        let n = sorted.count
        let means = measures.indices.map { m in measures[m].isCount ? sums[m] : (n == 0 ? 0 : sums[m] / Double(n)) }
        let complete = measures.indices.map { m in measures[m].isCount ? sums[m] : (judged.isEmpty ? 0 : sums[m] / Double(judged.count)) }
        return RetrievalEvaluation(
            measures: measures, queries: sorted.map(\.qid), values: sorted.map(\.values), means: means, completeMeans: complete,
            missingFromRun: judged.keys.filter { !seen.contains($0) }.sorted(by: RetrievalMetrics.bytesLess),
            ignoredRunOnly: ignored.sorted(by: RetrievalMetrics.bytesLess))
    }
}
