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
            guard let (qid, doc, score) = try parseRunLine(bytes, path: path, line: line) else { continue }
            if let first = firstLine[qid]?[doc] {
                throw InputError(location: SourceLocation(file: path, line: line), field: "docid",
                                 message: "document '\(doc)' appears twice for query '\(qid)' (first at line \(first))")
            }
            firstLine[qid, default: [:]][doc] = line
            run[qid, default: [:]][doc] = score
        }
        return run
    }

    /// Streams a run file one query at a time to `body`, in bounded memory: the largest query's
    /// results, or a pass's worth, plus what the caller keeps per query. A first pass checks every
    /// line (the same errors as `readRun`) and whether each query's lines are contiguous, as in
    /// runs sorted by query; then one more pass hands over each query as its block ends. When the
    /// lines are not grouped, the file is read again in passes that each collect a group of
    /// queries of at most `linesPerPass` lines: memory stays bounded, at the cost of rereading.
    public static func streamRun(path: String, linesPerPass: Int = 2_000_000, _ body: (String, [String: Double]) -> Void) throws(InputError) {
        var lineCounts: [String: Int] = [:]
        var finished = Set<String>()
        var currentQuery: String?
        var contiguous = true
        let check = try LineReader(path: path)
        while let (bytes, line) = check.nextLine() {
            guard let (qid, _, _) = try parseRunLine(bytes, path: path, line: line) else { continue }
            lineCounts[qid, default: 0] += 1
            if qid != currentQuery {
                if let c = currentQuery { finished.insert(c) }
                if finished.contains(qid) { contiguous = false }
                currentQuery = qid
            }
        }
        var groups: [Set<String>] = []
        if contiguous {
            groups = [Set(lineCounts.keys)]
        } else {
            var group = Set<String>()
            var lines = 0
            for q in lineCounts.keys.sorted() {
                if lines + lineCounts[q]! > linesPerPass, !group.isEmpty {
                    groups.append(group)
                    group = []
                    lines = 0
                }
                group.insert(q)
                lines += lineCounts[q]!
            }
            if !group.isEmpty { groups.append(group) }
        }
        for g in groups {
            let pass = try LineReader(path: path)
            var docs: [String: [String: Double]] = [:]
            var first: [String: [String: Int]] = [:]
            var open: String?
            while let (bytes, line) = pass.nextLine() {
                guard let (qid, doc, score) = try parseRunLine(bytes, path: path, line: line), g.contains(qid) else { continue }
                if contiguous, qid != open {
                    // The previous query's block is complete: evaluate it and drop it.
                    if let o = open, let d = docs.removeValue(forKey: o) {
                        first[o] = nil
                        body(o, d)
                    }
                    open = qid
                }
                if let f = first[qid]?[doc] {
                    throw InputError(location: SourceLocation(file: path, line: line), field: "docid",
                                     message: "document '\(doc)' appears twice for query '\(qid)' (first at line \(f))")
                }
                first[qid, default: [:]][doc] = line
                docs[qid, default: [:]][doc] = score
            }
            for (q, d) in docs { body(q, d) }
        }
    }

    /// One run line's query, document and score; nil for a blank line.
    static func parseRunLine(_ bytes: [UInt8], path: String, line: Int) throws(InputError) -> (String, String, Double)? {
        let fields = splitFields(bytes)
        if fields.isEmpty { return nil }
        let location = SourceLocation(file: path, line: line)
        guard fields.count == 6 else {
            throw InputError(location: location, message: "a run line has 6 fields (qid Q0 docid rank score tag), this one has \(fields.count)")
        }
        guard let score = Double(fields[4]) else {
            throw InputError(location: location, field: "score", message: "'\(fields[4])' is not a number")
        }
        guard !score.isNaN else { throw InputError(location: location, field: "score", message: "NaN is not a score (it has no order)") }
        return (fields[0], fields[2], score)
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
