import Foundation
import Testing
@testable import EvalCore

/// The golden vectors of `../shared/reference/retrieval/vectors/` (pytrec_eval-terrier 0.5.11).
let vectorsDir: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/reference/retrieval/vectors").path

func loadJSON(_ path: String) throws -> JSONValue {
    try JSONValue.parse(String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self))
}

@Suite struct RetrievalMetricsTests {
    static let vectorFiles: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: vectorsDir)) ?? [])
        .filter { $0.first?.isNumber == true && $0.hasSuffix(".json") }.sorted()

    @Test func allVectorsArePresent() {
        #expect(Self.vectorFiles.count >= 14, "expected the golden vectors in \(vectorsDir)")
    }

    @Test(arguments: vectorFiles)
    func goldenVectorMatchesPerQueryAndInTheMeans(file: String) throws {
        let v = try loadJSON(vectorsDir + "/" + file)
        var qrels: Qrels = [:]
        for (q, docs) in v["qrels"]!.objectValue! { qrels[q] = docs.objectValue!.mapValues { Int($0.numberValue!) } }
        var run: Run = [:]
        for (q, docs) in v["run"]!.objectValue! { run[q] = docs.objectValue!.mapValues { $0.numberValue! } }
        let level = Int(v["params"]?["relevance_level"]?.numberValue ?? 1)
        let names = v["metrics"]!.objectValue!.keys.sorted()
        let measures = names.map { RetrievalMeasure(name: $0)! }
        let result = RetrievalMetrics.evaluate(qrels: qrels, run: run, measures: measures, relevanceLevel: level)
        #expect(result.queries == (v["query_sets"]?["evaluated"]?.arrayValue?.compactMap(\.stringValue) ?? []))
        for (m, name) in names.enumerated() {
            for (qid, expected) in v["metrics"]![name]!.objectValue! {
                let got = result.value(measures[m], query: qid)
                #expect(got != nil && abs(got! - expected.numberValue!) <= 1e-12, "\(file) \(name) \(qid): \(String(describing: got)) vs \(expected)")
            }
            let expectedMean = measures[m].isCount ? v["sums"]?[name]?.numberValue : v["means"]?[name]?.numberValue
            if let expectedMean {
                #expect(abs(result.means[m] - expectedMean) <= 1e-12, "\(file) mean \(name): \(result.means[m]) vs \(expectedMean)")
            }
            if !measures[m].isCount, let complete = v["means_complete"]?[name]?.numberValue {
                #expect(abs(result.completeMeans[m] - complete) <= 1e-12, "\(file) complete mean \(name)")
            }
        }
    }

    @Test func ragasContextMetricsMatchTheirGoldenValues() throws {
        let v = try loadJSON(vectorsDir + "/ragas_context_metrics.json")
        func ids(_ j: JSONValue?) -> [String] { (j?.arrayValue ?? []).map(\.textForm) }
        for c in v["id_based"]!.arrayValue! {
            let p = ContextMetrics.idBasedPrecision(retrieved: ids(c["retrieved_context_ids"]), reference: ids(c["reference_context_ids"]))
            let r = ContextMetrics.idBasedRecall(retrieved: ids(c["retrieved_context_ids"]), reference: ids(c["reference_context_ids"]))
            let name = c["name"]!.stringValue!
            for (got, key) in [(p, "id_based_context_precision"), (r, "id_based_context_recall")] {
                if c[key]?["nan"]?.boolValue == true { #expect(got == nil, "\(name) \(key)") } else {
                    #expect(got != nil && abs(got! - c[key]!["value"]!.numberValue!) <= 1e-12, "\(name) \(key)")
                }
            }
        }
        for c in v["string_based"]!.arrayValue! {
            let name = c["name"]!.stringValue!
            let retrieved = ids(c["retrieved_contexts"])
            let reference = ids(c["reference_contexts"])
            if let sims = c["similarities"]?.arrayValue {
                for (i, row) in sims.enumerated() {
                    for (j, s) in row.arrayValue!.enumerated() {
                        #expect(abs(ContextMetrics.similarity(retrieved[i], reference[j]) - s.numberValue!) <= 1e-12, "\(name) sim[\(i)][\(j)]")
                    }
                }
            }
            for key in ["non_llm_context_precision_with_reference", "non_llm_context_recall"] {
                guard let expected = c[key] else { continue }
                let got: Double?
                do {
                    got = key.contains("precision")
                        ? try ContextMetrics.nonLLMPrecision(retrieved: retrieved, reference: reference)
                        : try ContextMetrics.nonLLMRecall(retrieved: retrieved, reference: reference)
                } catch {
                    #expect(expected["error"] != nil || expected["raises"] != nil || expected["value"] == nil, "\(name) \(key) threw \(error)")
                    continue
                }
                if expected["nan"]?.boolValue == true { #expect(got == nil, "\(name) \(key)") } else if let want = expected["value"]?.numberValue {
                    #expect(got != nil && abs(got! - want) <= 1e-12, "\(name) \(key): \(String(describing: got)) vs \(want)")
                }
            }
        }
    }

    @Test func measureRequestsParseLikeTrecEval() {
        #expect(RetrievalMeasure.parseRequest("P.5,10") == [.precision(5), .precision(10)])
        #expect(RetrievalMeasure.parseRequest("ndcg_cut.10") == [.ndcgCut(10)])
        #expect(RetrievalMeasure.parseRequest("map") == [.averagePrecision])
        #expect(RetrievalMeasure.parseRequest("mrr_cut.10") == [.reciprocalRankCut(10)])
        #expect(RetrievalMeasure.parseRequest("recip_rank") == [.reciprocalRank])
        #expect(RetrievalMeasure.parseRequest("P_5") == [.precision(5)])
        #expect(RetrievalMeasure.parseRequest("all_trec")!.contains(.bpref))
        #expect(RetrievalMeasure.parseRequest("nonsense") == nil)
        #expect(RetrievalMeasure.parseRequest("P.x") == nil)
    }
}
