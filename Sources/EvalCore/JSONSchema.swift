import Foundation

/// A JSON Schema validator for the keywords golden sets use (draft 2020-12 subset): type, enum,
/// const, properties, required, additionalProperties, items, prefixItems, minItems, maxItems,
/// uniqueItems, minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
/// multipleOf, allOf, anyOf, oneOf, not. Unknown keywords are ignored, as the spec says.
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) {
        self.schema = schema
    }

    /// Nil when `instance` validates; otherwise the first violation, with a JSON Pointer-like path.
    public func firstError(_ instance: JSONValue) -> String? {
        validate(instance, schema, path: "$")
    }

    private func validate(_ v: JSONValue, _ s: JSONValue, path: String) -> String? {
        if case .bool(let b) = s { return b ? nil : "\(path): schema false rejects every value" }
        guard let s = s.objectValue else { return nil }
        if let t = s["type"] {
            let allowed: [String] = t.stringValue.map { [$0] } ?? (t.arrayValue?.compactMap(\.stringValue) ?? [])
            if !allowed.isEmpty && !allowed.contains(where: { matchesType(v, $0) }) {
                return "\(path): expected \(allowed.joined(separator: " or ")), got \(v.typeName)"
            }
        }
        if let e = s["enum"]?.arrayValue, !e.contains(where: { jsonEqual($0, v) }) {
            return "\(path): value not in enum"
        }
        if let c = s["const"], !jsonEqual(c, v) { return "\(path): value is not the const" }
        for sub in s["allOf"]?.arrayValue ?? [] {
            if let err = validate(v, sub, path: path) { return err }
        }
        if let any = s["anyOf"]?.arrayValue, !any.contains(where: { validate(v, $0, path: path) == nil }) {
            return "\(path): matches none of anyOf"
        }
        if let one = s["oneOf"]?.arrayValue {
            let n = one.filter { validate(v, $0, path: path) == nil }.count
            if n != 1 { return "\(path): matches \(n) of oneOf, expected exactly 1" }
        }
        if let not = s["not"], validate(v, not, path: path) == nil { return "\(path): matches a 'not' schema" }
        switch v {
        case .object(let o):
            for req in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where o[req] == nil {
                return "\(path): missing required property '\(req)'"
            }
            let props = s["properties"]?.objectValue ?? [:]
            for (k, sub) in props {
                if let child = o[k], let err = validate(child, sub, path: "\(path).\(k)") { return err }
            }
            if let ap = s["additionalProperties"] {
                for (k, child) in o where props[k] == nil {
                    if case .bool(false) = ap { return "\(path): unexpected property '\(k)'" }
                    if let err = validate(child, ap, path: "\(path).\(k)") { return err }
                }
            }
        case .array(let a):
            if let n = s["minItems"]?.numberValue, Double(a.count) < n { return "\(path): fewer than \(Int(n)) items" }
            if let n = s["maxItems"]?.numberValue, Double(a.count) > n { return "\(path): more than \(Int(n)) items" }
            let prefix = s["prefixItems"]?.arrayValue ?? []
            for (i, sub) in prefix.enumerated() where i < a.count {
                if let err = validate(a[i], sub, path: "\(path)[\(i)]") { return err }
            }
            if let items = s["items"], items.objectValue != nil || items.boolValue != nil {
                for i in prefix.count..<max(prefix.count, a.count) {
                    if let err = validate(a[i], items, path: "\(path)[\(i)]") { return err }
                }
            }
            if s["uniqueItems"]?.boolValue == true, Set(a).count != a.count { return "\(path): items are not unique" }
        case .string(let str):
            let length = str.unicodeScalars.count
            if let n = s["minLength"]?.numberValue, Double(length) < n { return "\(path): shorter than \(Int(n))" }
            if let n = s["maxLength"]?.numberValue, Double(length) > n { return "\(path): longer than \(Int(n))" }
            if let p = s["pattern"]?.stringValue {
                guard let re = try? NSRegularExpression(pattern: p) else { return "\(path): invalid pattern in schema" }
                if re.firstMatch(in: str, range: NSRange(str.startIndex..., in: str)) == nil {
                    return "\(path): does not match pattern \(p)"
                }
            }
        case .number(let x):
            if let n = s["minimum"]?.numberValue, x < n { return "\(path): less than minimum \(n)" }
            if let n = s["maximum"]?.numberValue, x > n { return "\(path): greater than maximum \(n)" }
            if let n = s["exclusiveMinimum"]?.numberValue, x <= n { return "\(path): not greater than \(n)" }
            if let n = s["exclusiveMaximum"]?.numberValue, x >= n { return "\(path): not less than \(n)" }
            if let n = s["multipleOf"]?.numberValue, n > 0, (x / n).rounded() != x / n { return "\(path): not a multiple of \(n)" }
        default: break
        }
        return nil
    }

    private func matchesType(_ v: JSONValue, _ t: String) -> Bool {
        switch (t, v) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
            ("object", .object):
            return true
        case ("integer", .number(let n)): return n.rounded() == n
        default: return false
        }
    }
}

/// JSON equality where numbers compare by value (1 == 1.0) — what deep-equal on parsed JSON means.
func jsonEqual(_ a: JSONValue, _ b: JSONValue) -> Bool { a == b }

/// Finds the JSON objects and arrays embedded in free text (e.g. a model's answer around a code block).
public func extractEmbeddedJSON(_ text: String) -> [JSONValue] {
    let bytes = Array(text.utf8)
    var found: [JSONValue] = []
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        guard b == UInt8(ascii: "{") || b == UInt8(ascii: "[") else {
            i += 1
            continue
        }
        // Find the matching close bracket, skipping strings.
        var depth = 0
        var inString = false
        var escaped = false
        var end: Int?
        var j = i
        while j < bytes.count {
            let c = bytes[j]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 {
                    end = j
                    break
                }
            }
            j += 1
        }
        if let end, let value = try? JSONValue.parse(bytes: Array(bytes[i...end])) {
            found.append(value)
            i = end + 1
        } else {
            i += 1
        }
    }
    return found
}
