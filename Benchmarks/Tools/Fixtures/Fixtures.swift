// Inputs shared by the package-benchmark suites and the callgrind workloads, so both measure the
// same thing.
import EvalCore

public enum Fixtures {
    /// A chat request as the cache key sees it.
    public static let chatRequest: JSONValue = [
        "model": "gpt-4o-mini", "temperature": 0, "max_tokens": 128, "seed": 7,
        "messages": [["role": "system", "content": "You are a precise assistant. Answer with only what is asked."],
                     ["role": "user", "content": "What is 176 * 115?"]],
    ]

    /// 10,000 case outcomes, one in ten failed.
    public static func outcomes() -> [CaseOutcome] {
        (0..<10_000).map { i in
            let failed = i % 10 == 0
            let score: Double = failed ? 0 : 1
            return CaseOutcome(status: failed ? .failed : .passed, score: score, namedScores: ["accuracy": score],
                               latencyMs: Double(20 + i % 97), promptTokens: 30, completionTokens: 5, costUSD: 1e-5)
        }
    }

    /// 1,000 queries x 100 ranked documents, five judged per query.
    public static func retrieval() -> (qrels: Qrels, run: Run) {
        var qrels: Qrels = [:]
        var run: Run = [:]
        for q in 0..<1000 {
            var docs: [String: Double] = [:]
            for d in 0..<100 { docs["d\(q * 7 + d)"] = Double((q * 31 + d * 17) % 1000) / 1000 }
            run["q\(q)"] = docs
            qrels["q\(q)"] = Dictionary(uniqueKeysWithValues: (0..<5).map { ("d\(q * 7 + $0 * 13)", 1 + $0 % 2) })
        }
        return (qrels, run)
    }

    /// The five trec_eval measures the suites compute.
    public static let measures: [RetrievalMeasure] = [.ndcgCut(10), .recall(100), .averagePrecision, .reciprocalRank, .precision(10)]

    /// An 800-byte cached response and 10,000 keys.
    public static let cacheValue = Array(repeating: UInt8(ascii: "x"), count: 800)
    public static func cacheKeys() -> [[UInt8]] { (0..<10_000).map { SHA256Digest.hash(Array("key-\($0)".utf8)) } }
}
