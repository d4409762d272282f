import Foundation

/// A JSON Schema validator for the keywords golden sets use (draft 2020-12 subset): type, enum,
/// const, properties, required, additionalProperties, items, prefixItems, minItems, maxItems,
/// uniqueItems, minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
/// multipleOf, allOf, anyOf, oneOf, not, and local `$ref` (`#`, `#/$defs/...`, any `#/...` JSON
/// Pointer). Unknown keywords are ignored, as the spec says; a remote `$ref` is refused.
///
/// Everything that can be wrong with a schema is found when it is built (bad patterns, `$ref`s
/// that point nowhere), so a bad schema fails validation of the golden set, not cases at run
/// time. Patterns run on `LinearRegex`, and one validation is bounded in steps: a schema of
/// nested `anyOf`s cannot take minutes.
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue
    private let patterns: [String: LinearRegex]

    /// `$ref`s followed in a row without descending into the instance (a cycle like `{"$ref": "#"}`).
    public static let maxRefChain = 32
    /// Schema keywords visited in one validation before it is abandoned as over budget.
    public static let defaultStepBudget = 2_000_000

    public enum Outcome: Sendable, Equatable {
        case valid
        case invalid(String)
        case overBudget
    }

    public init(schema: JSONValue) throws(FieldError) {
        self.schema = schema
        var found: [String: LinearRegex] = [:]
        try JSONSchemaValidator.check(schema, root: schema, path: "", patterns: &found, depth: 0)
        patterns = found
    }

    /// Nil when `instance` validates; otherwise the first violation, with a JSON Pointer-like path.
    public func firstError(_ instance: JSONValue) -> String? {
        switch validate(instance) {
        case .valid: return nil
        case .invalid(let e): return e
        case .overBudget: return "validation exceeded its step budget"
        }
    }

    public func validate(_ instance: JSONValue, stepBudget: Int = JSONSchemaValidator.defaultStepBudget) -> Outcome {
        var run = Run(validator: self, steps: stepBudget)
        let e = run.validate(instance, schema, path: "$", refChain: 0)
        if run.steps < 0 { return .overBudget }
        return e.map(Outcome.invalid) ?? .valid
    }

    /// Walks the schema keywords: compiles every `pattern`, resolves every `$ref`.
    private static func check(_ s: JSONValue, root: JSONValue, path: String, patterns: inout [String: LinearRegex], depth: Int) throws(FieldError) {
        guard depth < 128 else { throw FieldError(field: path, message: "the schema is nested deeper than 128") }
        if case .bool = s { return }
        guard let o = s.objectValue else { throw FieldError(field: path, message: "a schema must be an object or a boolean, got \(s.typeName)") }
        try checkShapes(o, path: path)
        func sub(_ v: JSONValue?, _ key: String) throws(FieldError) {
            if let v { try check(v, root: root, path: path + "/" + key, patterns: &patterns, depth: depth + 1) }
        }
        if let p = o["pattern"] {
            guard let text = p.stringValue else { throw FieldError(field: path + "/pattern", message: "must be a string") }
            do {
                patterns[text] = try LinearRegex(text)
            } catch {
                throw FieldError(field: path + "/pattern", message: "bad pattern /\(text)/: \(error.message)")
            }
        }
        if let r = o["$ref"] {
            guard let ref = r.stringValue else { throw FieldError(field: path + "/$ref", message: "must be a string") }
            guard resolve(ref, in: root) != nil else {
                throw FieldError(field: path + "/$ref", message: ref.hasPrefix("#")
                    ? "'\(ref)' points nowhere in this schema"
                    : "'\(ref)' is not a local reference (only '#' and '#/...' are supported; a schema is never fetched)")
            }
        }
        for key in ["additionalProperties", "items", "not"] {
            // Draft 4's tuple form of `items` is a list of schemas.
            if key == "items", let list = o[key]?.arrayValue {
                for (i, v) in list.enumerated() { try sub(v, "items/\(i)") }
            } else {
                try sub(o[key], key)
            }
        }
        for key in ["properties", "$defs", "definitions"] {
            for (name, v) in o[key]?.objectValue ?? [:] { try sub(v, key + "/" + name) }
        }
        for key in ["prefixItems", "allOf", "anyOf", "oneOf"] {
            for (i, v) in (o[key]?.arrayValue ?? []).enumerated() { try sub(v, "\(key)/\(i)") }
        }
    }

    static let typeNames: Set<String> = ["null", "boolean", "object", "array", "number", "integer", "string"]

    /// The keywords' own shapes: a `type` that names no type, `required` that is not a list of
    /// names, `properties` that is not an object make the schema invalid (a tool schema with a
    /// typo must not validate everything).
    private static func checkShapes(_ o: [String: JSONValue], path: String) throws(FieldError) {
        if let t = o["type"] {
            let names = t.stringValue.map { [$0] } ?? t.arrayValue?.compactMap(\.stringValue)
            guard let names, !names.isEmpty, names.count == (t.arrayValue?.count ?? 1), names.allSatisfy(typeNames.contains) else {
                throw FieldError(field: path + "/type", message: "must be one of \(typeNames.sorted().joined(separator: ", ")) or a list of them")
            }
        }
        if let r = o["required"] {
            guard let items = r.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw FieldError(field: path + "/required", message: "must be a list of property names")
            }
        }
        for key in ["properties", "$defs", "definitions"] {
            if let v = o[key], v.objectValue == nil { throw FieldError(field: path + "/" + key, message: "must be an object of schemas") }
        }
        if let e = o["enum"], e.arrayValue == nil { throw FieldError(field: path + "/enum", message: "must be a list") }
        for key in ["prefixItems", "allOf", "anyOf", "oneOf"] {
            if let v = o[key], v.arrayValue?.isEmpty != false { throw FieldError(field: path + "/" + key, message: "must be a non-empty list of schemas") }
        }
        for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems"] {
            // Draft 4's exclusiveMinimum/-Maximum are booleans: accepted (and ignored) as written.
            if let v = o[key], v.numberValue == nil, !(key.hasPrefix("exclusive") && v.boolValue != nil) {
                throw FieldError(field: path + "/" + key, message: "must be a number")
            }
        }
    }

    /// The subschema a local `$ref` names (RFC 6901 pointer after `#`), or nil.
    static func resolve(_ ref: String, in root: JSONValue) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        let pointer = ref.dropFirst()
        if pointer.isEmpty { return root }
        guard pointer.hasPrefix("/") else { return nil }
        var node = root
        for raw in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = String(raw).replacingAll("~1", with: "/").replacingAll("~0", with: "~")
            switch node {
            case .object(let o):
                guard let next = o[token] else { return nil }
                node = next
            case .array(let a):
                guard let i = Int(token), a.indices.contains(i) else { return nil }
                node = a[i]
            default: return nil
            }
        }
        return node
    }

    private struct Run {
        let validator: JSONSchemaValidator
        var steps: Int

        mutating func validate(_ v: JSONValue, _ s: JSONValue, path: String, refChain: Int) -> String? {
            steps -= 1
            if steps < 0 { return "validation exceeded its step budget" }
            if case .bool(let b) = s { return b ? nil : "\(path): schema false rejects every value" }
            guard let s = s.objectValue else { return nil }
            if let ref = s["$ref"]?.stringValue {
                guard refChain < JSONSchemaValidator.maxRefChain else { return "\(path): $ref chain longer than \(JSONSchemaValidator.maxRefChain) (a cycle?)" }
                guard let target = JSONSchemaValidator.resolve(ref, in: validator.schema) else { return "\(path): $ref '\(ref)' points nowhere" }
                if let err = validate(v, target, path: path, refChain: refChain + 1) { return err }
            }
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
                if let err = validate(v, sub, path: path, refChain: refChain) { return err }
            }
            if let any = s["anyOf"]?.arrayValue {
                var matched = false
                for sub in any where validate(v, sub, path: path, refChain: refChain) == nil {
                    matched = true
                    break
                }
                if !matched { return "\(path): matches none of anyOf" }
            }
            if let one = s["oneOf"]?.arrayValue {
                var n = 0
                for sub in one where validate(v, sub, path: path, refChain: refChain) == nil { n += 1 }
                if n != 1 { return "\(path): matches \(n) of oneOf, expected exactly 1" }
            }
            if let not = s["not"], validate(v, not, path: path, refChain: refChain) == nil { return "\(path): matches a 'not' schema" }
            if steps < 0 { return "validation exceeded its step budget" }
            switch v {
            case .object(let o):
                for req in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where o[req] == nil {
                    return "\(path): missing required property '\(req)'"
                }
                let props = s["properties"]?.objectValue ?? [:]
                for (k, sub) in props {
                    if let child = o[k], let err = validate(child, sub, path: "\(path).\(k)", refChain: 0) { return err }
                }
                if let ap = s["additionalProperties"] {
                    for (k, child) in o where props[k] == nil {
                        if case .bool(false) = ap { return "\(path): unexpected property '\(k)'" }
                        if let err = validate(child, ap, path: "\(path).\(k)", refChain: 0) { return err }
                    }
                }
            case .array(let a):
                if let n = s["minItems"]?.numberValue, Double(a.count) < n { return "\(path): fewer than \(format(n)) items" }
                if let n = s["maxItems"]?.numberValue, Double(a.count) > n { return "\(path): more than \(format(n)) items" }
                let prefix = s["prefixItems"]?.arrayValue ?? []
                for (i, sub) in prefix.enumerated() where i < a.count {
                    if let err = validate(a[i], sub, path: "\(path)[\(i)]", refChain: 0) { return err }
                }
                if let items = s["items"], items.objectValue != nil || items.boolValue != nil {
                    for i in prefix.count..<max(prefix.count, a.count) {
                        if let err = validate(a[i], items, path: "\(path)[\(i)]", refChain: 0) { return err }
                    }
                }
                if s["uniqueItems"]?.boolValue == true, Set(a).count != a.count { return "\(path): items are not unique" }
            case .string(let str):
                let length = str.unicodeScalars.count
                if let n = s["minLength"]?.numberValue, Double(length) < n { return "\(path): shorter than \(format(n))" }
                if let n = s["maxLength"]?.numberValue, Double(length) > n { return "\(path): longer than \(format(n))" }
                if let p = s["pattern"]?.stringValue {
                    guard let re = validator.patterns[p] else { return "\(path): invalid pattern in schema" }
                    switch re.firstMatch(in: str) {
                    case .matched: break
                    case .noMatch: return "\(path): does not match pattern \(p)"
                    case .overBudget:
                        steps = -1
                        return "validation exceeded its step budget"
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
}

/// JSON equality where numbers compare by value (1 == 1.0) — what deep-equal on parsed JSON means.
func jsonEqual(_ a: JSONValue, _ b: JSONValue) -> Bool { a == b }

/// Finds the JSON objects and arrays embedded in free text (e.g. a model's answer around a code block).
public func extractEmbeddedJSON(_ text: String) -> [JSONValue] {
    extractEmbeddedJSON(text, workBudget: .max).values
}

/// The same within `workBudget` bytes scanned and parsed: every `{` or `[` starts a scan to its
/// closing bracket, so 40,000 unclosed brackets would cost 40,000² steps. `complete` is false
/// when the budget ran out before the whole text was searched.
public func extractEmbeddedJSON(_ text: String, workBudget: Int) -> (values: [JSONValue], complete: Bool) {
    let bytes = Array(text.utf8)
    var found: [JSONValue] = []
    var work = workBudget
    var i = 0
    while i < bytes.count {
        if work <= 0 { return (found, false) }
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
        work -= (j - i) * 2 + 1  // the scan, and the parse of what it found
        if let end, let value = try? JSONValue.parse(bytes: Array(bytes[i...end])) {
            found.append(value)
            i = end + 1
        } else {
            i += 1
        }
    }
    return (found, true)
}
