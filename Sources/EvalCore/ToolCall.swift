/// One function a prompt offers the model: OpenAI's `{type: "function", function: {name,
/// description, parameters}}`. The parameters schema is compiled when the prompt is read, so a
/// schema that is not valid JSON Schema is an error before anything is sent.
public struct ToolDefinition: Sendable, Hashable {
    public var name: String
    public var description: String?
    /// A JSON Schema for the arguments (`{}` when the tool declares none).
    public var parameters: JSONValue
    /// Other fields of `function` (`strict`, ...), sent as written.
    public var extra: [String: JSONValue] = [:]

    public init(name: String, description: String? = nil, parameters: JSONValue = .object([:])) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }

    public static func == (a: ToolDefinition, b: ToolDefinition) -> Bool { a.json == b.json }
    public func hash(into h: inout Hasher) { h.combine(json) }

    /// As the request body carries it.
    public var json: JSONValue {
        var f: [String: JSONValue] = extra
        f["name"] = .string(name)
        if let d = description { f["description"] = .string(d) }
        f["parameters"] = parameters
        return ["type": "function", "function": .object(f)]
    }

    /// A list of tool definitions (`tools:`), each checked: a name (letters, digits, `_`, `-`, at
    /// most 64, as OpenAI requires), names unique, parameters a valid JSON Schema.
    public static func decodeList(_ json: JSONValue) throws(FieldError) -> [ToolDefinition] {
        guard let items = json.arrayValue else { throw FieldError(field: "", message: "must be a list of tool definitions") }
        var out: [ToolDefinition] = []
        for (i, item) in items.enumerated() {
            do throws(FieldError) {
                let t = try decode(item)
                if out.contains(where: { $0.name == t.name }) { throw FieldError(field: "function.name", message: "tool '\(t.name)' is declared twice") }
                out.append(t)
            } catch {
                throw error.nested(in: "[\(i)]")
            }
        }
        return out
    }

    static func decode(_ item: JSONValue) throws(FieldError) -> ToolDefinition {
        guard let o = item.objectValue else { throw FieldError(field: "", message: "a tool must be an object {type: function, function: {...}}") }
        if let t = o["type"], t.stringValue != "function" { throw FieldError(field: "type", message: "only function tools are supported") }
        guard let f = o["function"]?.objectValue else { throw FieldError(field: "function", message: "missing (an object with name and parameters)") }
        guard let name = f["name"]?.stringValue, !name.isEmpty, name.count <= 64,
            name.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-" })
        else { throw FieldError(field: "function.name", message: "must be 1 to 64 letters, digits, _ or -") }
        var t = ToolDefinition(name: name)
        if let d = f["description"], d != .null {
            guard let s = d.stringValue else { throw FieldError(field: "function.description", message: "must be a string") }
            t.description = s
        }
        if let p = f["parameters"], p != .null {
            guard p.objectValue != nil else { throw FieldError(field: "function.parameters", message: "must be a JSON Schema object") }
            do { _ = try JSONSchemaValidator(schema: p) } catch { throw FieldError(field: "function.parameters" + (error.field.isEmpty ? "" : error.field.replacingAll("/", with: ".")), message: "not a valid JSON Schema: \(error.message)") }
            t.parameters = p
        }
        for (k, v) in f where !["name", "description", "parameters"].contains(k) { t.extra[k] = v }
        return t
    }
}

/// A tool call the model answered with: the function's name and its arguments, as written (a
/// JSON string, per OpenAI) and parsed (nil when that string is not JSON).
public struct ToolCall: Sendable, Hashable {
    public var id: String?
    public var name: String
    public var rawArguments: String
    public var arguments: JSONValue?

    public init(id: String? = nil, name: String, rawArguments: String) {
        self.id = id
        self.name = name
        self.rawArguments = rawArguments
        arguments = rawArguments.trimmingSpaces.isEmpty ? .object([:]) : try? JSONValue.parse(rawArguments)
    }

    /// Reports and the cache: `{id?, name, arguments}` with the arguments as written.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "arguments": .string(rawArguments)]
        if let id { o["id"] = .string(id) }
        return .object(o)
    }

    public init?(json j: JSONValue) {
        guard let name = j["name"]?.stringValue, let raw = j["arguments"]?.stringValue else { return nil }
        self.init(id: j["id"]?.stringValue, name: name, rawArguments: raw)
    }

    /// A list written by `json` (a cache row, a report's row); nil when any entry is not one.
    public static func list(json: JSONValue) -> [ToolCall]? {
        guard let items = json.arrayValue, items.count <= maxPerAnswer else { return nil }
        var out: [ToolCall] = []
        for item in items {
            guard let call = ToolCall(json: item) else { return nil }
            out.append(call)
        }
        return out
    }

    /// The most tool calls read from one answer (a hostile endpoint's ten thousand are refused).
    public static let maxPerAnswer = 128

    /// An answer's `message.tool_calls` (and the legacy `function_call`): nil when malformed
    /// (not a list, a call without a function name, arguments that are neither a string nor an
    /// object, more than `maxPerAnswer`).
    public static func decode(message: JSONValue) -> [ToolCall]? {
        var out: [ToolCall] = []
        func one(_ f: JSONValue?, id: String?) -> ToolCall? {
            guard let f, let name = f["name"]?.stringValue, !name.isEmpty else { return nil }
            switch f["arguments"] {
            case nil, .null?: return ToolCall(id: id, name: name, rawArguments: "")
            case .string(let s)?: return ToolCall(id: id, name: name, rawArguments: s)
            // Some servers send the arguments as an object rather than a JSON string.
            case let v? where v.objectValue != nil: return ToolCall(id: id, name: name, rawArguments: v.serialized())
            default: return nil
            }
        }
        switch message["tool_calls"] {
        case nil, .null?: break
        case .array(let calls)?:
            guard calls.count <= maxPerAnswer else { return nil }
            for c in calls {
                guard let call = one(c["function"], id: c["id"]?.stringValue) else { return nil }
                out.append(call)
            }
        default: return nil
        }
        if out.isEmpty, let f = message["function_call"], f != .null {
            guard let call = one(f, id: nil) else { return nil }
            out.append(call)
        }
        return out
    }
}
