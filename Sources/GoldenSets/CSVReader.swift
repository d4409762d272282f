import EvalCore

/// CSV golden sets (RFC 4180 quoting, fields may span lines). Columns are vars, except promptfoo's
/// special columns: `__expected`, `__expected1..N` (assertion shorthand `type:value`), `__id`,
/// `__description`, `__threshold`, `__metric`, `__tags` (comma-separated), `__metadata:KEY`.
final class CSVRecordReader {
    private let lines: LineReader
    private var header: [String] = []
    private var headerLine = 0

    init(path: String) throws(InputError) {
        lines = try LineReader(path: path)
        guard let (fields, line) = try nextRecord(file: path) else {
            throw InputError(location: SourceLocation(file: path, line: 1), message: "empty CSV: the first row must name the columns")
        }
        header = fields.map { $0.trimmingCharacters(in: .whitespaces) }
        headerLine = line
        for (i, name) in header.enumerated() {
            if name.isEmpty {
                throw InputError(location: SourceLocation(file: path, line: line), field: "column \(i + 1)", message: "empty column name")
            }
            if name.hasPrefix("__") && !CSVRecordReader.isSpecial(name) {
                throw InputError(location: SourceLocation(file: path, line: line), field: name,
                    message: "unsupported special column (known: __expected, __expectedN, __id, __description, __threshold, __metric, __tags, __metadata:KEY)")
            }
        }
    }

    static func isSpecial(_ name: String) -> Bool {
        if ["__expected", "__id", "__description", "__threshold", "__metric", "__tags"].contains(name) { return true }
        if name.hasPrefix("__metadata:") && name.count > 11 { return true }
        if name.hasPrefix("__expected"), Int(name.dropFirst(10)) != nil { return true }
        return false
    }

    /// One record's fields and the line it starts on.
    private func nextRecord(file: String) throws(InputError) -> ([String], Int)? {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var startLine = 0
        var sawQuoteInField = false
        while let (bytes, number) = lines.nextLine() {
            if startLine == 0 {
                if bytes.isEmpty { continue }  // blank lines between records
                startLine = number
            }
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if quoted {
                    if b == UInt8(ascii: "\"") {
                        if i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\"") {
                            field.append(b)
                            i += 1
                        } else {
                            quoted = false
                        }
                    } else {
                        field.append(b)
                    }
                } else if b == UInt8(ascii: "\"") && field.isEmpty && !sawQuoteInField {
                    quoted = true
                    sawQuoteInField = true
                } else if b == UInt8(ascii: ",") {
                    fields.append(String(decoding: field, as: UTF8.self))
                    field.removeAll(keepingCapacity: true)
                    sawQuoteInField = false
                } else {
                    field.append(b)
                }
                i += 1
            }
            if quoted {
                field.append(0x0A)  // the newline is part of the quoted field
                continue
            }
            fields.append(String(decoding: field, as: UTF8.self))
            return (fields, startLine)
        }
        if quoted {
            throw InputError(location: SourceLocation(file: file, line: startLine), message: "unterminated quoted field")
        }
        return nil
    }

    func nextCase(file: String) throws(InputError) -> GoldenCase? {
        guard let (fields, line) = try nextRecord(file: file) else { return nil }
        let location = SourceLocation(file: file, line: line)
        guard fields.count == header.count else {
            throw InputError(location: location, message: "row has \(fields.count) fields, the header has \(header.count)")
        }
        var vars: [String: JSONValue] = [:]
        var c = GoldenCase(id: "", location: location)
        var metric: String?
        var explicitID: String?
        var expectedColumns: [(String, String)] = []
        for (name, value) in zip(header, fields) {
            switch name {
            case "__id": explicitID = value.isEmpty ? nil : value
            case "__description": c.description = value.isEmpty ? nil : value
            case "__metric": metric = value.isEmpty ? nil : value
            case "__tags": c.tags = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case "__threshold":
                if !value.isEmpty {
                    guard let t = Double(value.trimmingCharacters(in: .whitespaces)) else {
                        throw InputError(location: location, field: name, message: "must be a number, got '\(value)'")
                    }
                    do {
                        c.threshold = try GoldenCase.checkedThreshold(t)
                    } catch {
                        throw InputError(location: location, field: name, message: error.message)
                    }
                }
            default:
                if name.hasPrefix("__metadata:") {
                    c.metadata[String(name.dropFirst(11))] = .string(value)
                } else if name.hasPrefix("__expected") {
                    if !value.isEmpty { expectedColumns.append((name, value)) }
                } else {
                    vars[name] = .string(value)
                }
            }
        }
        c.vars = vars
        for (column, text) in expectedColumns {
            do {
                var spec = try AssertionSpec.parseShorthand(text)
                if spec.metric == nil { spec.metric = metric }
                c.assertions.append(spec)
            } catch {
                throw InputError(location: location, caseID: explicitID, field: column, message: error.message)
            }
        }
        if let explicitID {
            c.id = explicitID
        } else {
            var identity: [String: JSONValue] = ["vars": .object(vars)]
            identity["expected"] = .array(expectedColumns.map { .string($0.1) })
            c.id = "c-" + String(SHA256Digest.hex(JSONValue.object(identity).canonicalBytes).prefix(16))
            c.hasGeneratedID = true
        }
        return c
    }
}

import Foundation
