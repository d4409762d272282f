/// Sampling parameters sent with every request of a run.
public struct ModelParams: Sendable, Hashable {
    public var temperature: Double?
    public var topP: Double?
    public var maxTokens: Int?
    public var seed: Int?
    public var stop: [String]?
    public var responseFormat: JSONValue?
    /// Passed through into the request body as given (provider-specific options).
    public var extraBody: [String: JSONValue] = [:]

    public init() {}

    static let knownFields: Set<String> = ["temperature", "top_p", "max_tokens", "seed", "stop", "response_format", "extra_body"]

    /// Decodes `params:`.
    public static func decode(_ json: JSONValue) throws(FieldError) -> ModelParams {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "params must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown parameter (expected one of \(knownFields.sorted().joined(separator: ", ")); use extra_body for others)")
        }
        var p = ModelParams()
        if let v = o["temperature"], v != .null {
            guard let n = v.numberValue, n >= 0, n <= 2 else { throw FieldError(field: "temperature", message: "must be a number between 0 and 2") }
            p.temperature = n
        }
        if let v = o["top_p"], v != .null {
            guard let n = v.numberValue, n >= 0, n <= 1 else { throw FieldError(field: "top_p", message: "must be a number between 0 and 1") }
            p.topP = n
        }
        if let v = o["max_tokens"], v != .null {
            guard let n = v.numberValue, n >= 1, n.rounded() == n, n < 1e9 else { throw FieldError(field: "max_tokens", message: "must be a whole number >= 1") }
            p.maxTokens = Int(n)
        }
        if let v = o["seed"], v != .null {
            guard let n = v.numberValue, n.rounded() == n, abs(n) < 9e15 else { throw FieldError(field: "seed", message: "must be a whole number") }
            p.seed = Int(n)
        }
        switch o["stop"] {
        case nil, .null?: break
        case .string(let s)?: p.stop = [s]
        case .array(let items)?:
            var stops: [String] = []
            for (i, item) in items.enumerated() {
                guard let s = item.stringValue else { throw FieldError(field: "stop[\(i)]", message: "must be a string") }
                stops.append(s)
            }
            p.stop = stops
        default: throw FieldError(field: "stop", message: "must be a string or a list of strings")
        }
        if let v = o["response_format"], v != .null {
            guard v.objectValue?["type"]?.stringValue != nil else {
                throw FieldError(field: "response_format", message: "must be an object with a 'type' (text, json_object or json_schema)")
            }
            p.responseFormat = v
        }
        if let v = o["extra_body"], v != .null {
            guard let e = v.objectValue else { throw FieldError(field: "extra_body", message: "must be an object") }
            p.extraBody = e
        }
        return p
    }
}

/// One chat message with a `{{var}}` template as its content.
public struct MessageTemplate: Sendable, Hashable {
    public var role: String
    public var content: Template

    public init(role: String, content: Template) {
        self.role = role
        self.content = content
    }
}

/// A rendered chat message.
public struct ChatMessage: Sendable, Hashable {
    public var role: String
    public var content: String
    /// An assistant message that called tools (multi-turn conversations carry the model's calls).
    public var toolCalls: [ToolCall] = []
    /// A `tool` message: the call it answers.
    public var toolCallID: String?

    public init(role: String, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

extension ModelParams {
    /// The parameters as they go into a request body, for run digests.
    public var canonicalJSON: JSONValue {
        var params: [String: JSONValue] = [:]
        if let v = temperature { params["temperature"] = .number(v) }
        if let v = topP { params["top_p"] = .number(v) }
        if let v = maxTokens { params["max_tokens"] = .number(Double(v)) }
        if let v = seed { params["seed"] = .number(Double(v)) }
        if let v = stop { params["stop"] = .array(v.map(JSONValue.string)) }
        if let v = responseFormat { params["response_format"] = v }
        if !extraBody.isEmpty { params["extra_body"] = .object(extraBody) }
        return .object(params)
    }
}

/// The prompt of a run: chat messages (or one completion prompt) plus sampling parameters.
public struct PromptConfig: Sendable, Hashable {
    public var messages: [MessageTemplate]
    /// Set for the legacy `/v1/completions` API instead of `messages`.
    public var completionPrompt: Template?
    public var params: ModelParams
    /// Functions the model may call (`tools:`), with `tool_choice` and `parallel_tool_calls` as OpenAI takes them.
    public var tools: [ToolDefinition] = []
    public var toolChoice: JSONValue?
    public var parallelToolCalls: Bool?

    public init(messages: [MessageTemplate], completionPrompt: Template? = nil, params: ModelParams = ModelParams()) {
        self.messages = messages
        self.completionPrompt = completionPrompt
        self.params = params
    }

    static let knownFields: Set<String> = ["messages", "prompt", "params", "description", "tools", "tool_choice", "parallel_tool_calls"]
    static let roles: Set<String> = ["system", "developer", "user", "assistant"]

    /// Decodes a prompt file: `messages: [{role, content}]` or `prompt: "text"`, and `params:`.
    public static func decode(_ json: JSONValue) throws(FieldError) -> PromptConfig {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a prompt config must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        var messages: [MessageTemplate] = []
        var completion: Template?
        switch (o["messages"], o["prompt"]) {
        case (.array(let items)?, nil):
            guard !items.isEmpty else { throw FieldError(field: "messages", message: "needs at least one message") }
            for (i, item) in items.enumerated() {
                guard let role = item["role"]?.stringValue, roles.contains(role) else {
                    throw FieldError(field: "messages[\(i)].role", message: "must be one of \(roles.sorted().joined(separator: ", "))")
                }
                guard let content = item["content"]?.stringValue else {
                    throw FieldError(field: "messages[\(i)].content", message: "must be a string")
                }
                messages.append(MessageTemplate(role: role, content: Template(content)))
            }
        case (nil, .string(let p)?):
            completion = Template(p)
        case (nil, nil):
            throw FieldError(field: "messages", message: "a prompt config needs 'messages' (chat) or 'prompt' (completions)")
        default:
            throw FieldError(field: "messages", message: "give either 'messages' (a list) or 'prompt' (a string), not both")
        }
        var params = ModelParams()
        if let v = o["params"], v != .null {
            do { params = try ModelParams.decode(v) } catch { throw error.nested(in: "params") }
        }
        var config = PromptConfig(messages: messages, completionPrompt: completion, params: params)
        if let v = o["tools"], v != .null {
            do { config.tools = try ToolDefinition.decodeList(v) } catch { throw error.nested(in: "tools") }
            if completion != nil { throw FieldError(field: "tools", message: "tools need a chat prompt ('messages'), not 'prompt'") }
        }
        if let v = o["tool_choice"], v != .null {
            guard !config.tools.isEmpty else { throw FieldError(field: "tool_choice", message: "there are no tools to choose from") }
            if let mode = v.stringValue {
                guard ["auto", "none", "required"].contains(mode) else { throw FieldError(field: "tool_choice", message: "must be auto, none, required or {type: function, function: {name}}") }
            } else {
                guard let name = v["function"]?["name"]?.stringValue, config.tools.contains(where: { $0.name == name }) else {
                    throw FieldError(field: "tool_choice", message: "must name one of the declared tools (\(config.tools.map(\.name).joined(separator: ", ")))")
                }
            }
            config.toolChoice = v
        }
        if let v = o["parallel_tool_calls"], v != .null {
            guard let b = v.boolValue else { throw FieldError(field: "parallel_tool_calls", message: "must be true or false") }
            config.parallelToolCalls = b
        }
        return config
    }

    /// The request fields of the tools: `tools`, `tool_choice`, `parallel_tool_calls` (empty without tools).
    public var toolFields: [String: JSONValue] {
        guard !tools.isEmpty else { return [:] }
        var o: [String: JSONValue] = ["tools": .array(tools.map(\.json))]
        if let c = toolChoice { o["tool_choice"] = c }
        if let p = parallelToolCalls { o["parallel_tool_calls"] = .bool(p) }
        return o
    }

    /// Canonical description of the prompt (templates as written, parameters), for run digests.
    public var canonicalJSON: JSONValue {
        var o: [String: JSONValue] = [
            "messages": .array(messages.map { ["role": .string($0.role), "content": .string($0.content.source)] }),
            "prompt": completionPrompt.map { .string($0.source) } ?? .null,
            "params": params.canonicalJSON,
        ]
        // Only with tools, so the digests of prompts without them stay what they were.
        for (k, v) in toolFields { o[k] = v }
        return .object(o)
    }

    /// Top-level var names the prompt reads.
    public var variableNames: Set<String> {
        var names = Set(messages.flatMap(\.content.variableNames))
        if let c = completionPrompt { names.formUnion(c.variableNames) }
        return names
    }

    /// Renders the messages for a case; throws the first var the case lacks.
    public func renderMessages(_ vars: [String: JSONValue]) throws(MissingVariable) -> [ChatMessage] {
        var out: [ChatMessage] = []
        out.reserveCapacity(messages.count)
        for m in messages { out.append(ChatMessage(role: m.role, content: try m.content.render(vars))) }
        return out
    }
}
