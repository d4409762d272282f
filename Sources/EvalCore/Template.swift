/// A `{{var}}` template, parsed once and rendered per case. `{{ a.b }}` reads member `b` of var `a`;
/// non-string values render as compact JSON. A missing var is an error, never an empty string.
public struct Template: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case literal(String)
        case variable(path: [String])
    }

    let parts: [Part]
    /// The template text as written.
    public let source: String

    /// Parses `text`; an unterminated `{{`, and braces around something that is not a dotted name,
    /// are kept as literal text.
    public init(_ text: String) {
        source = text
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            if open.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<open.lowerBound]))) }
            let name = String(rest[open.upperBound..<close.lowerBound]).trimmingSpaces
            let path = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            // `{{}}`, `{{ . }}`, `{{a..b}}`: not a var name, so the text stays as written.
            if path.contains(where: \.isEmpty) {
                parts.append(.literal(String(rest[open.lowerBound..<close.upperBound])))
            } else {
                parts.append(.variable(path: path))
            }
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
    }

    /// True when the template has no `{{var}}`.
    public var isLiteral: Bool { parts.allSatisfy { if case .literal = $0 { return true } else { return false } } }

    /// Names of the top-level vars the template reads.
    public var variableNames: [String] {
        parts.compactMap { if case .variable(let p) = $0 { return p[0] } else { return nil } }
    }

    /// Renders with `vars`; throws the dotted name of the first var that is missing.
    public func render(_ vars: [String: JSONValue]) throws(MissingVariable) -> String {
        if parts.count == 1, case .literal(let s) = parts[0] { return s }
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .variable(let path):
                guard var value = vars[path[0]] else { throw MissingVariable(name: path.joined(separator: ".")) }
                for key in path.dropFirst() {
                    if let next = value[key] {
                        value = next
                    } else if let array = value.arrayValue, let i = Int(key), array.indices.contains(i) {
                        value = array[i]
                    } else {
                        throw MissingVariable(name: path.joined(separator: "."))
                    }
                }
                out += value.textForm
            }
        }
        return out
    }
}

/// A template read a var that the case does not define.
public struct MissingVariable: Error, Sendable, Equatable {
    public var name: String
}
