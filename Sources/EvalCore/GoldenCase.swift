/// Where a value came from, for error messages a user can act on: `file:line`.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based line; 0 when unknown.
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { line > 0 ? "\(file):\(line)" : file }
}

/// A problem with one field of an input value; the reader adds the file and line.
public struct FieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Dotted path of the offending field, e.g. `assert[1].type`.
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    /// The same error, one level deeper: `prefix` is prepended to the field path.
    public func nested(in prefix: String) -> FieldError {
        FieldError(field: field.isEmpty ? prefix : (field.hasPrefix("[") ? prefix + field : prefix + "." + field), message: message)
    }

    public var description: String { field.isEmpty ? message : "field '\(field)': \(message)" }
}

/// One golden-set case after `defaults` were merged in.
public struct GoldenCase: Sendable, Hashable {
    /// Stable id: the case's own `id`, or one derived from its content.
    public var id: String
    public var description: String?
    public var vars: [String: JSONValue]
    /// Reference answer; assertions without a `value` compare against it.
    public var expected: JSONValue?
    public var assertions: [AssertionSpec]
    /// When set, the case passes if its weighted score reaches it (instead of "all assertions pass").
    public var threshold: Double?
    public var tags: [String]
    public var metadata: [String: JSONValue]
    public var location: SourceLocation
    /// True when `id` was derived from the content (the case had none).
    public var hasGeneratedID = false
    /// A multi-turn conversation (empty: one request, as the prompt renders it).
    public var turns: [ConversationTurn] = []

    public init(
        id: String, description: String? = nil, vars: [String: JSONValue] = [:], expected: JSONValue? = nil,
        assertions: [AssertionSpec] = [], threshold: Double? = nil, tags: [String] = [],
        metadata: [String: JSONValue] = [:], location: SourceLocation = SourceLocation(file: "", line: 0)
    ) {
        self.id = id
        self.description = description
        self.vars = vars
        self.expected = expected
        self.assertions = assertions
        self.threshold = threshold
        self.tags = tags
        self.metadata = metadata
        self.location = location
    }
}

/// Values merged into every case, as promptfoo's `defaultTest`: vars merged (the case wins),
/// assertions concatenated (defaults first), threshold used when the case has none, tags united,
/// metadata shallow-merged.
public struct CaseDefaults: Sendable, Hashable {
    public var vars: [String: JSONValue] = [:]
    public var assertions: [AssertionSpec] = []
    public var threshold: Double?
    public var tags: [String] = []
    public var metadata: [String: JSONValue] = [:]
    /// The judge endpoint of the set's model-graded assertions that name no `provider:`.
    public var judge: String?
    /// The judge's sampling parameters (`judge: {id, config}`), under an assertion's own.
    public var judgeParams: JudgeParams?

    public init() {}

    static let knownFields: Set<String> = ["vars", "assert", "threshold", "tags", "metadata", "description", "judge"]

    /// Decodes a `defaults:` block.
    public static func decode(_ json: JSONValue) throws(FieldError) -> CaseDefaults {
        guard let object = json.objectValue else { throw FieldError(field: "", message: "defaults must be an object") }
        for key in object.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        var d = CaseDefaults()
        d.vars = try decodeVars(object["vars"])
        d.assertions = try decodeAssertions(object["assert"])
        d.threshold = try decodeThreshold(object["threshold"])
        d.tags = try decodeTags(object["tags"])
        d.metadata = try decodeMetadata(object["metadata"])
        switch object["judge"] {
        case nil, .null?: break
        case .string(let s)? where !s.isEmpty: d.judge = s
        case .object(let o)? where o["id"]?.stringValue?.isEmpty == false:
            for key in o.keys where !["id", "config"].contains(key) {
                throw FieldError(field: "judge.\(key)", message: "unknown field (expected id, config)")
            }
            d.judge = o["id"]!.stringValue
            if let config = o["config"], config != .null {
                do { d.judgeParams = try JudgeParams.decode(config) } catch { throw error.nested(in: "judge.config") }
            }
        default: throw FieldError(field: "judge", message: "must be the name of a judge endpoint, or {id, config}")
        }
        return d
    }
}

extension GoldenCase {
    static let knownFields: Set<String> = [
        "id", "description", "vars", "expected", "assert", "threshold", "tags", "metadata", "turns",
    ]

    /// Decodes one case from its JSON form and merges `defaults` into it. A case without an `id` gets
    /// one derived from the SHA-256 of its canonical JSON, so the same case keeps the same id.
    public static func decode(
        _ json: JSONValue, defaults: CaseDefaults = CaseDefaults(), location: SourceLocation
    ) throws(FieldError) -> GoldenCase {
        guard let object = json.objectValue else {
            throw FieldError(field: "", message: "a case must be a JSON object, got \(json.typeName)")
        }
        for key in object.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        let id: String
        switch object["id"] {
        case nil, .null?: id = "c-" + String(SHA256Digest.hex(json.canonicalBytes).prefix(16))
        case .string(let s)? where !s.isEmpty: id = s
        case .number(let n)?: id = JSONValue.number(n).serialized()
        default: throw FieldError(field: "id", message: "must be a non-empty string")
        }
        var description: String?
        if let d = object["description"], d != .null {
            guard let s = d.stringValue else { throw FieldError(field: "description", message: "must be a string") }
            description = s
        }
        var vars = defaults.vars
        for (k, v) in try decodeVars(object["vars"]) { vars[k] = v }
        let expected = object["expected"].flatMap { $0 == .null ? nil : $0 }
        var assertions = defaults.assertions
        assertions.append(contentsOf: try decodeAssertions(object["assert"]))
        if assertions.isEmpty, let expected {
            // A bare `expected` means the output must equal it, as in CSV's `__expected` shorthand.
            assertions.append(AssertionSpec(type: .equals, value: expected))
        }
        for i in assertions.indices where assertions[i].type.isJudged {
            if assertions[i].provider == nil, let judge = defaults.judge { assertions[i].provider = judge }
            if let p = defaults.judgeParams { assertions[i].judgeParams = p.overridden(by: assertions[i].judgeParams) }
        }
        let threshold = try decodeThreshold(object["threshold"]) ?? defaults.threshold
        var tags = defaults.tags
        for t in try decodeTags(object["tags"]) where !tags.contains(t) { tags.append(t) }
        var metadata = defaults.metadata
        for (k, v) in try decodeMetadata(object["metadata"]) { metadata[k] = v }
        var c = GoldenCase(
            id: id, description: description, vars: vars, expected: expected, assertions: assertions,
            threshold: threshold, tags: tags, metadata: metadata, location: location)
        c.hasGeneratedID = object["id"] == nil || object["id"] == .null
        if let t = object["turns"], t != .null {
            c.turns = try ConversationTurn.decodeList(t)
            var known = Set(vars.keys)
            for (i, turn) in c.turns.enumerated() {
                for name in turn.user.variableNames where !known.contains(name.split(separator: ".").first.map(String.init) ?? name) {
                    throw FieldError(field: "turns[\(i)].user", message: "reads var '\(name)', which neither the case nor an earlier turn's store_output_as defines")
                }
                if let s = turn.storeOutputAs { known.insert(s) }
            }
            for (i, a) in assertions.enumerated() {
                if let t = a.turn, t > c.turns.count {
                    throw FieldError(field: "assert[\(i)].turn", message: "the case has \(c.turns.count) turns")
                }
            }
        } else if let i = assertions.firstIndex(where: { $0.turn != nil }) {
            throw FieldError(field: "assert[\(i)].turn", message: "the case has no turns")
        }
        return c
    }
}

func decodeVars(_ json: JSONValue?) throws(FieldError) -> [String: JSONValue] {
    switch json {
    case nil, .null?: return [:]
    case .object(let o)?: return o
    case let other?: throw FieldError(field: "vars", message: "must be an object, got \(other.typeName)")
    }
}

func decodeAssertions(_ json: JSONValue?) throws(FieldError) -> [AssertionSpec] {
    switch json {
    case nil, .null?: return []
    case .array(let items)?:
        var out: [AssertionSpec] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            do {
                out.append(try AssertionSpec.decode(item))
            } catch {
                throw error.nested(in: "assert[\(i)]")
            }
        }
        return out
    case let other?: throw FieldError(field: "assert", message: "must be a list, got \(other.typeName)")
    }
}

func decodeThreshold(_ json: JSONValue?) throws(FieldError) -> Double? {
    switch json {
    case nil, .null?: return nil
    case .number(let n)?: return try GoldenCase.checkedThreshold(n)
    case let other?: throw FieldError(field: "threshold", message: "must be a number, got \(other.typeName)")
    }
}

extension GoldenCase {
    /// A case threshold is compared with the weighted mean score, which lies in 0...1: NaN,
    /// infinities and numbers outside it would make every case pass or every case fail.
    public static func checkedThreshold(_ n: Double) throws(FieldError) -> Double {
        guard n.isFinite, (0...1).contains(n) else {
            throw FieldError(field: "threshold", message: "must be a number from 0 to 1 (the case's weighted score), got \(n)")
        }
        return n
    }
}

func decodeTags(_ json: JSONValue?) throws(FieldError) -> [String] {
    switch json {
    case nil, .null?: return []
    case .string(let s)?: return [s]
    case .array(let items)?:
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard let s = item.stringValue else { throw FieldError(field: "tags[\(i)]", message: "must be a string") }
            out.append(s)
        }
        return out
    case let other?: throw FieldError(field: "tags", message: "must be a list of strings, got \(other.typeName)")
    }
}

func decodeMetadata(_ json: JSONValue?) throws(FieldError) -> [String: JSONValue] {
    switch json {
    case nil, .null?: return [:]
    case .object(let o)?: return o
    case let other?: throw FieldError(field: "metadata", message: "must be an object, got \(other.typeName)")
    }
}
