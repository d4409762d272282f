import ArgumentParser
import EvalCore
import Foundation
import GoldenSets

/// A faster drop-in for trec_eval 9.0.8's numbers (pytrec_eval-terrier semantics).
struct TrecEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trec-eval",
        abstract: "Score a TREC run against qrels with trec_eval 9.0.8's exact semantics.",
        discussion: """
            Measures: -m map, -m P.5,10, -m recall.100, -m ndcg_cut.10, -m ndcg, -m recip_rank, -m mrr_cut.10 (RR@k), \
            -m Rprec, -m bpref, -m success.1,5, -m map_cut.10, -m num_ret, -m all_trec. Output lines are \
            measure<TAB>qid<TAB>value; 'all' is the mean over evaluated queries (the sum for num_*).
            """)

    @Option(name: .customShort("m"), help: "Measure (repeatable), trec_eval's forms.")
    var measure: [String] = []

    @Option(name: .customShort("l"), help: "Relevance level: a document is relevant when its grade is at least this.")
    var level: Int = 1

    @Flag(name: .customShort("q"), help: "Print per-query values too.")
    var perQuery = false

    @Flag(name: .customShort("c"), help: "Complete means: average over every judged query (missing ones count 0).")
    var complete = false

    @Option(name: .long, help: "Decimal digits printed (17 round-trips a double).")
    var digits: Int = 4

    @Flag(name: .long, help: "Print the time spent reading the run (streamed) and evaluating it to stderr.")
    var time = false

    @Argument(help: "qrels file (qid iter docid grade)")
    var qrels: String

    @Argument(help: "run file (qid Q0 docid rank score tag)")
    var runFile: String

    func validate() throws {
        guard level >= 1 else { throw ValidationError("-l: the relevance level must be at least 1") }
        guard (0...17).contains(digits) else { throw ValidationError("--digits must be between 0 and 17") }
        for m in measure where RetrievalMeasure.parseRequest(m) == nil {
            throw ValidationError("-m \(m): unknown measure")
        }
    }

    func run() throws {
        var measures: [RetrievalMeasure] = []
        for m in measure.isEmpty ? ["all_trec"] : measure {
            for x in RetrievalMeasure.parseRequest(m)! where !measures.contains(x) { measures.append(x) }
        }
        let q: Qrels
        do throws(InputError) {
            q = try TrecFiles.readQrels(path: qrels)
        } catch {
            printError(error.description)
            throw ExitCode(ExitCodes.dataError)
        }
        // The run is streamed query by query (a 1.2 GB run file no longer has to fit in memory);
        // the numbers are the whole-run evaluation's to the bit.
        let clock = ContinuousClock()
        let start = clock.now
        var accumulator = RetrievalAccumulator(qrels: q, measures: measures, relevanceLevel: level)
        var docs = 0
        // Evaluation alone (what pytrec_eval's `evaluate` times) is summed apart from reading.
        var evaluating = Duration.zero
        do throws(InputError) {
            try TrecFiles.streamRun(path: runFile) { qid, results in
                docs += results.count
                let t0 = clock.now
                accumulator.add(query: qid, results: results)
                evaluating += clock.now - t0
            }
        } catch {
            printError(error.description)
            throw ExitCode(ExitCodes.dataError)
        }
        let t0 = clock.now
        let result = accumulator.finish()
        evaluating += clock.now - t0
        if time {
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
            let total = seconds(clock.now - start), eval = max(seconds(evaluating), 1e-9)
            printError(String(format: "evaluation: %.4f s, %.2f M docs scored/s (%d docs, %d queries); reading the run and evaluating: %.4f s",
                              eval, Double(docs) / eval / 1e6, docs, result.queries.count, total))
        }
        var out = ""
        func line(_ m: RetrievalMeasure, _ qid: String, _ v: Double) {
            let name = m.description.padding(toLength: max(22, m.description.count), withPad: " ", startingAt: 0)
            let value = m.isCount ? String(Int64(v)) : String(format: "%.\(digits)f", v)
            out += "\(name)\t\(qid)\t\(value)\n"
        }
        if perQuery {
            for (i, qid) in result.queries.enumerated() {
                for (j, m) in measures.enumerated() { line(m, qid, result.values[i][j]) }
            }
            if complete {
                for qid in result.missingFromRun {
                    for m in measures { line(m, qid, 0) }
                }
            }
        }
        for (j, m) in measures.enumerated() { line(m, "all", complete ? result.completeMeans[j] : result.means[j]) }
        FileHandle.standardOutput.write(out.data(using: .utf8)!)
    }
}
