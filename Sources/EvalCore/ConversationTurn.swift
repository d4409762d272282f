/// One turn of a multi-turn case (`turns:`): a user message (a `{{var}}` template over the case's
/// vars and the outputs earlier turns stored), the tool results to hand back when the model
/// answers the turn with tool calls, and a name to store the turn's answer under.
///
/// The conversation runs turn by turn: the prompt's messages, then each turn's user message, the
/// model's answer appended as an assistant message (with its tool calls); when the answer calls
/// tools and the turn supplies `tool_results`, they are appended as `tool` messages and the model
/// is asked again (at most `maxToolRounds` times) — its answer then is the turn's. Every call
/// is its own request over the whole conversation so far, so each is cached on its own: a
/// resumed run sends only the turns not yet answered.
public struct ConversationTurn: Sendable, Hashable {
    public var user: Template
    public var toolResults: [ToolResult] = []
    /// promptfoo's `storeOutputAs`: later turns read this turn's answer as `{{name}}`.
    public var storeOutputAs: String?

    public struct ToolResult: Sendable, Hashable {
        /// The call it answers, by the tool's name (nil: the calls in order).
        public var name: String?
        public var content: String
    }

    public static let maxTurns = 64
    public static let maxToolRounds = 4

    public init(user: Template) { self.user = user }

    /// `turns:` — a list of user messages, or of `{user, tool_results?, store_output_as?}`.
    public static func decodeList(_ json: JSONValue) throws(FieldError) -> [ConversationTurn] {
        guard let items = json.arrayValue else { throw FieldError(field: "turns", message: "must be a list of user messages or {user, tool_results, store_output_as}, got \(json.typeName)") }
        guard !items.isEmpty, items.count <= maxTurns else { throw FieldError(field: "turns", message: "must have 1 to \(maxTurns) turns") }
        var out: [ConversationTurn] = []
        for (i, item) in items.enumerated() {
            let field = "turns[\(i)]"
            if let text = item.stringValue {
                out.append(ConversationTurn(user: Template(text)))
                continue
            }
            guard let o = item.objectValue else { throw FieldError(field: field, message: "must be a string or an object with 'user'") }
            for key in o.keys where !["user", "tool_results", "store_output_as"].contains(key) {
                throw FieldError(field: field + "." + key, message: "unknown field (expected user, tool_results, store_output_as)")
            }
            guard let text = o["user"]?.stringValue else { throw FieldError(field: field + ".user", message: "must be a string") }
            var turn = ConversationTurn(user: Template(text))
            if let r = o["tool_results"], r != .null {
                guard let list = r.arrayValue else { throw FieldError(field: field + ".tool_results", message: "must be a list of {name?, content}") }
                for (j, entry) in list.enumerated() {
                    guard let content = entry["content"].map({ $0.stringValue ?? $0.serialized() }), entry.objectValue != nil else {
                        throw FieldError(field: field + ".tool_results[\(j)].content", message: "missing (the tool's answer, a string or JSON)")
                    }
                    turn.toolResults.append(ToolResult(name: entry["name"]?.stringValue, content: content))
                }
            }
            if let s = o["store_output_as"], s != .null {
                guard let name = s.stringValue, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw FieldError(field: field + ".store_output_as", message: "must be a var name (letters, digits, _)")
                }
                turn.storeOutputAs = name
            }
            out.append(turn)
        }
        // Every var a turn reads is the case's or stored by an earlier turn: checked per case.
        return out
    }
}
