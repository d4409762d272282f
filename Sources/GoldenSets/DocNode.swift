import EvalCore
import Foundation
import Yams

/// A problem in an input file, named the way a user finds it: file, line, case and field.
public struct InputError: Error, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var caseID: String?
    public var field: String?
    public var message: String

    public init(location: SourceLocation, caseID: String? = nil, field: String? = nil, message: String) {
        self.location = location
        self.caseID = caseID
        self.field = field
        self.message = message
    }

    public var description: String {
        var s = "\(location): "
        if let caseID { s += "case '\(caseID)': " }
        if let field, !field.isEmpty { s += "field '\(field)': " }
        return s + message
    }
}

/// A parsed YAML (or JSON) document that remembers the line of every value, so a field error can
/// point at the line that holds the field.
public struct DocNode: Sendable {
    public enum Kind: Sendable {
        case scalar(JSONValue)
        case list([DocNode])
        case map([(key: String, value: DocNode)])
    }

    public var line: Int
    public var kind: Kind

    /// The value without positions.
    public var json: JSONValue {
        switch kind {
        case .scalar(let v): return v
        case .list(let items): return .array(items.map(\.json))
        case .map(let pairs):
            var o: [String: JSONValue] = [:]
            for p in pairs { o[p.key] = p.value.json }
            return .object(o)
        }
    }

    public subscript(key: String) -> DocNode? {
        if case .map(let pairs) = kind { return pairs.first { $0.key == key }?.value }
        return nil
    }

    /// Line of the deepest node along a field path like `assert[1].value` (the case's own line
    /// when the path leads nowhere).
    public func line(of fieldPath: String) -> Int {
        var node = self
        for component in fieldPath.split(separator: ".") {
            var name = Substring(component)
            var indices: [Int] = []
            while let open = name.lastIndex(of: "["), name.hasSuffix("]") {
                if let i = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) { indices.insert(i, at: 0) }
                name = name[..<open]
            }
            if !name.isEmpty {
                guard let next = node[String(name)] else { return node.line }
                node = next
            }
            for i in indices {
                guard case .list(let items) = node.kind, items.indices.contains(i) else { return node.line }
                node = items[i]
            }
        }
        return node.line
    }

    /// Parses YAML 1.2 (JSON is a subset). Plain scalars resolve with the core schema: `true`/`false`,
    /// `null`/`~`, numbers; everything else, and every quoted scalar, is a string.
    ///
    /// Hostile documents are refused before they can exhaust the stack or memory: nesting deeper
    /// than `YAMLLimits.maxDepth` (measured on the text before the recursive composer sees it, and
    /// again while aliases are expanded) and documents that expand to more than
    /// `YAMLLimits.maxNodes` nodes (alias bombs).
    public static func parseYAML(_ text: String, file: String) throws(InputError) -> DocNode? {
        if let line = YAMLLimits.lineTooDeep(text) {
            throw InputError(location: SourceLocation(file: file, line: line), message: "invalid YAML: nesting deeper than \(YAMLLimits.maxDepth) levels")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw InputError(location: SourceLocation(file: file, line: yamlErrorLine(error)), message: "invalid YAML: \(yamlErrorMessage(error))")
        } catch {
            throw InputError(location: SourceLocation(file: file, line: 0), message: "invalid YAML: \(error)")
        }
        guard let node else { return nil }
        var budget = YAMLLimits.maxNodes
        do {
            return try convert(node, depth: 0, budget: &budget)
        } catch {
            throw InputError(location: SourceLocation(file: file, line: error.line), message: "invalid YAML: \(error.message)")
        }
    }

    struct LimitExceeded: Error {
        var line: Int
        var message: String
    }

    static func convert(_ node: Node, depth: Int, budget: inout Int) throws(LimitExceeded) -> DocNode {
        let line = node.mark?.line ?? 0
        budget -= 1
        if budget < 0 { throw LimitExceeded(line: line, message: "the document expands to more than \(YAMLLimits.maxNodes) nodes (aliases?)") }
        if depth > YAMLLimits.maxDepth { throw LimitExceeded(line: line, message: "nesting deeper than \(YAMLLimits.maxDepth) levels (through aliases)") }
        switch node {
        case .scalar(let s):
            return DocNode(line: line, kind: .scalar(resolveScalar(s)))
        case .sequence(let seq):
            var items: [DocNode] = []
            items.reserveCapacity(seq.count)
            for item in seq { items.append(try convert(item, depth: depth + 1, budget: &budget)) }
            return DocNode(line: line, kind: .list(items))
        case .mapping(let map):
            var pairs: [(key: String, value: DocNode)] = []
            for (k, v) in map {
                let key = k.scalar?.string ?? k.string ?? "\(k)"
                pairs.append((key, try convert(v, depth: depth + 1, budget: &budget)))
            }
            return DocNode(line: line, kind: .map(pairs))
        }
    }

    static func resolveScalar(_ s: Node.Scalar) -> JSONValue {
        let text = s.string
        guard s.style == .plain else { return .string(text) }
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let first = text.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
            || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
        {
            let cleaned = text.replacingOccurrences(of: "_", with: "")
            if let n = Double(cleaned), n.isFinite, !cleaned.lowercased().contains("x") { return .number(n) }
        }
        return .string(text)
    }

    private static func yamlErrorLine(_ error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return 0
        }
    }

    private static func yamlErrorMessage(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }
}

/// Reads a whole text file, naming the file in the error.
func readTextFile(_ path: String) throws(InputError) -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw InputError(location: SourceLocation(file: path, line: 0), message: "cannot read the file (missing or unreadable)")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw InputError(location: SourceLocation(file: path, line: 0), message: "the file is not valid UTF-8")
    }
    return text
}

/// Decodes a document node with a decoder that reports `FieldError`, mapping the field to its line.
func decodeLocated<T>(_ node: DocNode, file: String, prefix: String = "", _ decode: (JSONValue) throws(FieldError) -> T)
    throws(InputError) -> T
{
    do {
        return try decode(node.json)
    } catch {
        throw InputError(location: SourceLocation(file: file, line: node.line(of: error.field)), field: prefix.isEmpty ? error.field : error.nested(in: prefix).field, message: error.message)
    }
}

/// Bounds on what a YAML document may make us build. Yams composes recursively, so nesting must be
/// bounded before it runs; no golden set or config needs more than a dozen levels.
enum YAMLLimits {
    static let maxDepth = 128
    /// A YAML golden set of 100,000 simple cases is about 1.5 million nodes (large sets belong in JSONL).
    static let maxNodes = 4_000_000

    /// The first line (1-based) at which the text nests deeper than `maxDepth`, or nil. A
    /// conservative over-estimate: open flow collections (`[`, `{`) outside quotes and comments, plus
    /// the block levels (distinct indentations on the stack and `- `/`? ` entries that start the line).
    static func lineTooDeep(_ text: String) -> Int? {
        var flow = 0
        var indents: [Int] = []
        var line = 1
        var quote: UInt8? = nil
        var atLineStart = true
        var column = 0
        var blockEntries = 0
        var previous: UInt8 = 0x0A
        for byte in text.utf8 {
            if byte == 0x0A {
                line += 1
                atLineStart = true
                column = 0
                blockEntries = 0
                previous = byte
                if quote == 0x0A { quote = nil }  // the end of a comment; quoted scalars may span lines
                continue
            }
            if let q = quote {
                if byte == q && !(q == UInt8(ascii: "\"") && previous == UInt8(ascii: "\\")) { quote = nil }
                previous = (previous == UInt8(ascii: "\\") && byte == UInt8(ascii: "\\")) ? 0 : byte
                continue
            }
            if atLineStart {
                if byte == UInt8(ascii: " ") {
                    column += 1
                    previous = byte
                    continue
                }
                atLineStart = false
                if byte != UInt8(ascii: "#") && flow == 0 {
                    while let last = indents.last, last > column { indents.removeLast() }
                    if indents.last.map({ $0 < column }) ?? true { indents.append(column) }
                }
            }
            let tokenStart = previous == 0x20 || previous == 0x09 || previous == 0x0A || previous == UInt8(ascii: "[")
                || previous == UInt8(ascii: "{") || previous == UInt8(ascii: ",") || previous == UInt8(ascii: ":") || previous == UInt8(ascii: "-")
            switch byte {
            case UInt8(ascii: "#") where previous == 0x20 || previous == 0x09 || previous == 0x0A:
                quote = 0x0A  // a comment runs to the end of the line
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                if tokenStart { quote = byte }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flow += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                flow = max(0, flow - 1)
            case UInt8(ascii: "-"), UInt8(ascii: "?"):
                if tokenStart && flow == 0 { blockEntries += 1 }
            default: break
            }
            previous = byte
            if flow + indents.count + blockEntries > maxDepth { return line }
        }
        return nil
    }
}
