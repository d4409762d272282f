import EvalCore

/// A corpus document or a query: id and text, in file order.
public struct TextRecord: Sendable, Hashable {
    public var id: String
    public var text: String
    public var line: Int
}

/// Readers for index-test inputs: corpus and queries JSONL, qrels as TREC or JSONL, RAG configs.
public enum RAGInputs {
    /// `{id, text, metadata?}` per line; duplicate ids and missing text are errors.
    public static func readRecords(path: String, what: String, allowEmptyText: Bool = true) throws(InputError) -> [TextRecord] {
        let reader = try LineReader(path: path)
        var out: [TextRecord] = []
        var seen: [String: Int] = [:]
        while let (bytes, line) = reader.nextLine() {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let location = SourceLocation(file: path, line: line)
            let json: JSONValue
            do { json = try JSONValue.parse(bytes: bytes) } catch {
                throw InputError(location: location, message: "malformed JSON: \(error.message) (column \(error.offset + 1))")
            }
            let id: String
            switch json["id"] {
            case .string(let s)? where !s.isEmpty: id = s
            case .number(let n)?: id = JSONValue.number(n).serialized()
            default: throw InputError(location: location, field: "id", message: "missing: every \(what) needs an id")
            }
            guard let text = json["text"]?.stringValue else {
                throw InputError(location: location, field: "text", message: "missing or not a string")
            }
            if !allowEmptyText && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw InputError(location: location, field: "text", message: "empty \(what) text")
            }
            if let first = seen[id] {
                throw InputError(location: location, field: "id", message: "duplicate \(what) id '\(id)' (first at line \(first))")
            }
            seen[id] = line
            out.append(TextRecord(id: id, text: text, line: line))
        }
        if out.isEmpty { throw InputError(location: SourceLocation(file: path, line: 0), message: "no \(what)s in the file") }
        return out
    }

    /// Qrels as TREC (`qid iter docid grade`) or JSONL (`{query_id, doc_id, relevance}`), with every
    /// judged document checked against the corpus.
    public static func readQrels(path: String, corpusIDs: Set<String>) throws(InputError) -> Qrels {
        let reader = try LineReader(path: path)
        var qrels: Qrels = [:]
        while let (bytes, line) = reader.nextLine() {
            let trimmed = bytes.drop { $0 == 0x20 || $0 == 0x09 }
            if trimmed.isEmpty { continue }
            let location = SourceLocation(file: path, line: line)
            let qid: String, doc: String, grade: Int
            if trimmed.first == UInt8(ascii: "{") {
                guard let json = try? JSONValue.parse(bytes: Array(trimmed)) else { throw InputError(location: location, message: "malformed JSON") }
                guard let q = json["query_id"]?.textForm, let d = json["doc_id"]?.textForm, let g = json["relevance"]?.numberValue, g.rounded() == g, abs(g) < 1e9 else {
                    throw InputError(location: location, message: "a JSONL qrels line needs query_id, doc_id and an integer relevance")
                }
                (qid, doc, grade) = (q, d, Int(g))
            } else {
                let fields = TrecFiles.splitFields(bytes)
                guard fields.count == 4, let g = Int(fields[3]) else {
                    throw InputError(location: location, message: "a qrels line is 'qid iter docid grade'")
                }
                (qid, doc, grade) = (fields[0], fields[2], g)
            }
            guard corpusIDs.contains(doc) else {
                throw InputError(location: location, field: "docid", message: "document '\(doc)' is not in the corpus")
            }
            if qrels[qid]?[doc] != nil {
                throw InputError(location: location, field: "docid", message: "duplicate judgment for query '\(qid)', document '\(doc)'")
            }
            qrels[qid, default: [:]][doc] = grade
        }
        return qrels
    }

    /// Reads a RAG config file.
    public static func loadConfig(path: String) throws(InputError) -> RAGConfig {
        let doc = try ConfigFiles.document(path)
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        do {
            return try RAGConfig.decode(doc.json, defaultName: name)
        } catch {
            throw InputError(location: SourceLocation(file: path, line: doc.line(of: error.field)), field: error.field, message: error.message)
        }
    }

    /// Reads an index-test gate file.
    public static func loadGate(path: String) throws(InputError) -> IndexTestGate {
        let doc = try ConfigFiles.document(path)
        do {
            return try IndexTestGate.decode(doc.json)
        } catch {
            throw InputError(location: SourceLocation(file: path, line: doc.line(of: error.field)), field: error.field, message: error.message)
        }
    }
}

import Foundation
