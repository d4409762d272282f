import EvalCore
import ModelClient

/// Runs a multi-turn case: the prompt's messages, then each turn's user message with the model's
/// answers (and the tool results a turn supplies) appended, one request per call. Each request
/// covers the whole conversation so far and goes through the run's response source, so every
/// call is cached on its own and a resumed run sends only the calls not yet answered.
struct Conversation {
    /// One turn's answer.
    struct TurnAnswer: Sendable {
        /// The turn's last answer; its `toolCalls` are every call the model made in the turn.
        var response: ModelResponse
        var cached: Bool
    }

    /// What the whole conversation cost and how it went.
    struct Outcome: Sendable {
        var turns: [TurnAnswer]
        var promptTokens = 0
        var completionTokens = 0
        var latencyMs = 0.0
        var attempts = 0
        var rateLimited = 0
        /// Every call was answered from the cache.
        var cached = true
        /// The last user message (judges show it as the input of the final answer).
        var lastUser = ""
    }

    let turns: [ConversationTurn]
    let vars: [String: JSONValue]

    func run(_ start: ModelRequest, source: ResponseSource) async throws(ModelCallError) -> Outcome {
        var request = start
        var vars = self.vars
        var outcome = Outcome(turns: [])
        func ask() async throws(ModelCallError) -> (ModelResponse, Bool) {
            let (r, cached) = try await source.response(for: request)
            outcome.promptTokens += r.promptTokens
            outcome.completionTokens += r.completionTokens
            outcome.latencyMs += r.latencyMs
            outcome.attempts += r.attempts
            outcome.rateLimited += r.rateLimited
            outcome.cached = outcome.cached && cached
            request.messages.append(ChatMessage(role: "assistant", content: r.text, toolCalls: r.toolCalls))
            return (r, cached)
        }
        for turn in turns {
            // Checked when the case was read: every var is the case's or stored by an earlier turn.
            let text = (try? turn.user.render(vars)) ?? turn.user.source
            request.messages.append(ChatMessage(role: "user", content: text))
            outcome.lastUser = text
            var (answer, cached) = try await ask()
            var calls = answer.toolCalls
            var rounds = 0
            while !answer.toolCalls.isEmpty, !turn.toolResults.isEmpty, rounds < ConversationTurn.maxToolRounds,
                let results = Conversation.results(for: answer.toolCalls, from: turn.toolResults)
            {
                for (call, content) in zip(answer.toolCalls, results) {
                    request.messages.append(ChatMessage(role: "tool", content: content, toolCallID: call.id ?? call.name))
                }
                (answer, cached) = try await ask()
                calls += answer.toolCalls
                rounds += 1
            }
            answer.toolCalls = calls
            outcome.turns.append(TurnAnswer(response: answer, cached: cached))
            if let name = turn.storeOutputAs { vars[name] = .string(answer.text) }
        }
        return outcome
    }

    /// The supplied result for each call: by the tool's name where results are named, else in
    /// order; nil when some call has none (the turn's answer is then the calls themselves).
    static func results(for calls: [ToolCall], from supplied: [ConversationTurn.ToolResult]) -> [String]? {
        var unused = supplied
        var out: [String] = []
        for call in calls {
            let i = unused.firstIndex { $0.name == call.name } ?? unused.firstIndex { $0.name == nil }
            guard let i else { return nil }
            out.append(unused.remove(at: i).content)
        }
        return out
    }
}
