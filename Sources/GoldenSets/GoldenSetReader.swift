import EvalCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Streams the cases of a golden set: JSONL and CSV one record at a time (memory flat in the number
/// of cases), YAML/JSON documents as a whole. Every error names the file, the line and the field.
public final class GoldenSetReader {
    public enum Format: String, Sendable { case jsonl, csv, yaml }

    public let path: String
    public let format: Format
    private var source: RecordSource
    /// Every id handed out so far (explicit and generated), as a 64-bit keyed hash with the line
    /// that used it: 1,000,000 cases cost ~40 MB as strings, ~16 MB like this.
    private var seenIDs: [CaseIDKey: Int32] = [:]
    private var generatedCounts: [CaseIDKey: Int] = [:]
    /// Cases read so far.
    public private(set) var count = 0

    /// Opens a golden set; the format follows the extension (.jsonl/.ndjson, .csv, .yaml/.yml/.json).
    /// `expectedCases` (a count from an earlier pass) sizes the id table once, so it never holds an
    /// old and a new table at once while growing (12 MB at 1,000,000 cases).
    public init(path: String, expectedCases: Int = 0) throws(InputError) {
        self.path = path
        if expectedCases > 0 { seenIDs.reserveCapacity(min(expectedCases, 100_000_000)) }
        let ext = (path as NSString).pathExtension.lowercased()
        switch ext {
        case "jsonl", "ndjson":
            format = .jsonl
            source = .jsonl(try LineReader(path: path))
        case "csv":
            format = .csv
            source = .csv(try CSVRecordReader(path: path))
        case "yaml", "yml", "json":
            format = .yaml
            source = .yaml(try YAMLCases(path: path))
        default:
            throw InputError(location: SourceLocation(file: path, line: 0), message: "unknown golden-set format '.\(ext)' (use .jsonl, .csv, .yaml or .json)")
        }
    }

    /// The next case, or nil at the end of the file.
    public func next() throws(InputError) -> GoldenCase? {
        guard var c = try source.next(file: path) else { return nil }
        count += 1
        let key = CaseIDKey(c.id)
        if let first = seenIDs[key] {
            guard c.hasGeneratedID else {
                // A negative line marks an id generated for a case that had none.
                let message = first < 0
                    ? "duplicate case id: it is the id generated for the identical case at line \(-first), which has no id of its own; give this case another id"
                    : "duplicate case id (first used at line \(first))"
                throw InputError(location: c.location, caseID: c.id, field: "id", message: message)
            }
            // Identical cases without ids: keep them apart, deterministically, by occurrence, and
            // never onto an id some other case already has (an explicit `c-…-2` included).
            var n = generatedCounts[key] ?? 1
            var candidate: String
            repeat {
                n += 1
                candidate = c.id + "-\(n)"
            } while seenIDs[CaseIDKey(candidate)] != nil
            generatedCounts[key] = n
            c.id = candidate
        }
        let line = Int32(clamping: max(1, c.location.line))
        seenIDs[CaseIDKey(c.id)] = c.hasGeneratedID ? -line : line
        return c
    }

    /// Reads every case; for tests and small sets.
    public func readAll() throws(InputError) -> [GoldenCase] {
        var out: [GoldenCase] = []
        while let c = try next() { out.append(c) }
        return out
    }
}

enum RecordSource {
    case jsonl(LineReader)
    case csv(CSVRecordReader)
    case yaml(YAMLCases)

    mutating func next(file: String) throws(InputError) -> GoldenCase? {
        switch self {
        case .jsonl(let reader):
            while let (line, number) = reader.nextLine() {
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) { continue }
                let location = SourceLocation(file: file, line: number)
                let json: JSONValue
                do {
                    json = try JSONValue.parse(bytes: line)
                } catch {
                    throw InputError(location: location, message: "malformed JSON: \(error.message) (column \(error.offset + 1))")
                }
                do {
                    return try GoldenCase.decode(json, location: location)
                } catch {
                    throw InputError(location: location, caseID: json["id"]?.stringValue, field: error.field, message: error.message)
                }
            }
            return nil
        case .csv(let reader):
            return try reader.nextCase(file: file)
        case .yaml(let cases):
            return try cases.next(file: file)
        }
    }
}

/// Reads a file line by line with `getline`, numbering lines from 1; strips the newline.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private(set) var lineNumber = 0

    init(path: String) throws(InputError) {
        guard let f = fopen(path, "r") else {
            throw InputError(location: SourceLocation(file: path, line: 0), message: "cannot open the file: \(String(cString: strerror(errno)))")
        }
        file = f
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    /// The next line's bytes and its 1-based number, or nil at end of file.
    func nextLine() -> ([UInt8], Int)? {
        let n = getline(&buffer, &capacity, file)
        guard n >= 0, let buffer else { return nil }
        lineNumber += 1
        var length = n
        while length > 0, buffer[length - 1] == 0x0A || buffer[length - 1] == 0x0D { length -= 1 }
        var bytes = buffer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
        if lineNumber == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // UTF-8 BOM
        return (bytes, lineNumber)
    }
}

/// YAML/JSON golden sets: a list of cases, or `{defaults, cases}` (promptfoo's `defaultTest` and
/// `tests` are accepted too).
final class YAMLCases {
    private var items: [DocNode]
    private var index = 0
    private let defaults: CaseDefaults

    init(path: String) throws(InputError) {
        let text = try readTextFile(path)
        guard let root = try DocNode.parseYAML(text, file: path) else {
            items = []
            defaults = CaseDefaults()
            return
        }
        switch root.kind {
        case .list(let list):
            items = list
            defaults = CaseDefaults()
        case .map(let pairs):
            for p in pairs where !["defaults", "defaultTest", "cases", "tests", "description"].contains(p.key) {
                throw InputError(location: SourceLocation(file: path, line: p.value.line), field: p.key, message: "unknown top-level field (expected defaults, cases)")
            }
            guard let casesNode = root["cases"] ?? root["tests"], case .list(let list) = casesNode.kind else {
                throw InputError(location: SourceLocation(file: path, line: root.line), field: "cases", message: "missing or not a list of cases")
            }
            items = list
            if let d = root["defaults"] ?? root["defaultTest"] {
                defaults = try decodeLocated(d, file: path, prefix: "defaults", CaseDefaults.decode)
            } else {
                defaults = CaseDefaults()
            }
        case .scalar:
            throw InputError(location: SourceLocation(file: path, line: root.line), message: "a golden set must be a list of cases or {defaults, cases}")
        }
    }

    func next(file: String) throws(InputError) -> GoldenCase? {
        guard index < items.count else { return nil }
        let node = items[index]
        index += 1
        let location = SourceLocation(file: file, line: node.line)
        do {
            return try GoldenCase.decode(node.json, defaults: defaults, location: location)
        } catch {
            throw InputError(
                location: SourceLocation(file: file, line: node.line(of: error.field)), caseID: node["id"]?.json.stringValue,
                field: error.field, message: error.message)
        }
    }
}

/// 64 bits of a keyed hash of a case id: equal ids always agree; two different ids of a
/// 1,000,000-case set share a key with probability ~n²/2⁶⁵ ≈ 3·10⁻⁸ (then the second is refused
/// as a duplicate, naming both lines: a rename fixes it). 12 bytes a case instead of ~40 as strings.
struct CaseIDKey: Hashable {
    let value: UInt64

    init(_ id: String) {
        var h = Hasher()
        h.combine(0x9E37_79B9 as UInt32)
        h.combine(id)
        value = UInt64(bitPattern: Int64(h.finalize()))
    }
}
