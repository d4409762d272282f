import EvalCore

/// TREC qrels and run files, with errors that name the file and line.
public enum TrecFiles {
    /// Reads `qid iter docid grade` lines. A repeated (qid, docid) is an error.
    public static func readQrels(path: String) throws(InputError) -> Qrels {
        let reader = try LineReader(path: path)
        var qrels: Qrels = [:]
        var firstLine: [String: [String: Int]] = [:]
        while let (bytes, line) = reader.nextLine() {
            let fields = splitFields(bytes)
            if fields.isEmpty { continue }
            let location = SourceLocation(file: path, line: line)
            guard fields.count == 4 else {
                throw InputError(location: location, message: "a qrels line has 4 fields (qid iter docid grade), this one has \(fields.count)")
            }
            guard let grade = Int(fields[3]) else {
                throw InputError(location: location, field: "grade", message: "'\(fields[3])' is not an integer")
            }
            let (qid, doc) = (fields[0], fields[2])
            if let first = firstLine[qid]?[doc] {
                throw InputError(location: location, field: "docid", message: "duplicate judgment for query '\(qid)', document '\(doc)' (first at line \(first))")
            }
            firstLine[qid, default: [:]][doc] = line
            qrels[qid, default: [:]][doc] = grade
        }
        return qrels
    }

    /// Reads `qid Q0 docid rank score tag` lines (rank is ignored: score and docid decide the order).
    /// A repeated (qid, docid) or a NaN score is an error.
    public static func readRun(path: String) throws(InputError) -> Run {
        let reader = try LineReader(path: path)
        var run: Run = [:]
        var firstLine: [String: [String: Int]] = [:]
        while let (bytes, line) = reader.nextLine() {
            let fields = splitFields(bytes)
            if fields.isEmpty { continue }
            let location = SourceLocation(file: path, line: line)
            guard fields.count == 6 else {
                throw InputError(location: location, message: "a run line has 6 fields (qid Q0 docid rank score tag), this one has \(fields.count)")
            }
            guard let score = Double(fields[4]) else {
                throw InputError(location: location, field: "score", message: "'\(fields[4])' is not a number")
            }
            guard !score.isNaN else { throw InputError(location: location, field: "score", message: "NaN is not a score (it has no order)") }
            let (qid, doc) = (fields[0], fields[2])
            if let first = firstLine[qid]?[doc] {
                throw InputError(location: location, field: "docid", message: "document '\(doc)' appears twice for query '\(qid)' (first at line \(first))")
            }
            firstLine[qid, default: [:]][doc] = line
            run[qid, default: [:]][doc] = score
        }
        return run
    }

    /// Writes a run in TREC format, ranked by the same rule the metrics use.
    public static func runText(_ run: Run, tag: String) -> String {
        var out = ""
        for qid in run.keys.sorted(by: RetrievalMetrics.bytesLess) {
            let ranked = run[qid]!.map { (Float($0.value), $0.key, $0.value) }.sorted { a, b in
                a.0 != b.0 ? a.0 > b.0 : RetrievalMetrics.bytesLess(b.1, a.1)
            }
            for (i, r) in ranked.enumerated() { out += "\(qid) Q0 \(r.1) \(i + 1) \(r.2) \(tag)\n" }
        }
        return out
    }

    /// Whitespace-separated fields of a line.
    static func splitFields(_ bytes: [UInt8]) -> [String] {
        var fields: [String] = []
        var start = -1
        for (i, b) in bytes.enumerated() {
            let space = b == 0x20 || b == 0x09 || b == 0x0D
            if space {
                if start >= 0 {
                    fields.append(String(decoding: bytes[start..<i], as: UTF8.self))
                    start = -1
                }
            } else if start < 0 {
                start = i
            }
        }
        if start >= 0 { fields.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return fields
    }
}
