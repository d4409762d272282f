import EvalCore

/// Assembles a streamed chat completion (server-sent `chat.completion.chunk` events) as its bytes
/// arrive, and times it: time to first token, the gaps between tokens.
///
/// What real servers do differently is all accepted: a first chunk that carries only
/// `delta.role` (not a token); `usage` in a chunk of its own (`stream_options.include_usage`) or
/// inside the finish chunk; no `data: [DONE]` (the end is then the finish chunk and the closed
/// body); `\r\n` line ends; comments and `event:` lines. A body that ends before any finish
/// chunk or `[DONE]` was cut off: that is an error, never a truncated answer.
struct StreamedCompletion {
    private var line: [UInt8] = []
    private(set) var text = ""
    private var calls: [Int: (id: String?, name: String, arguments: String)] = [:]
    private(set) var finishReason: String?
    private(set) var usage: JSONValue?
    private(set) var done = false
    /// Milliseconds from the request's start to each chunk that carried content or a tool call.
    private(set) var tokenTimesMs: [Double] = []
    private(set) var error: ModelCallError?

    /// The most events one answer may have (a bound on the work a hostile stream can cause).
    static let maxEvents = 1_000_000
    private var events = 0

    /// Feeds bytes that arrived at `elapsedMs` after the request started.
    mutating func feed(_ bytes: some Collection<UInt8>, elapsedMs: Double) {
        for b in bytes {
            guard error == nil, !done else { return }
            if b == UInt8(ascii: "\n") {
                handleLine(elapsedMs)
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(b)
            }
        }
    }

    /// The body ended: a last line without its newline counts.
    mutating func finish(elapsedMs: Double) {
        if !line.isEmpty, error == nil, !done { handleLine(elapsedMs) }
        line.removeAll()
    }

    private mutating func handleLine(_ t: Double) {
        var l = line[...]
        if l.last == UInt8(ascii: "\r") { l = l.dropLast() }
        guard l.starts(with: "data:".utf8) else { return }  // blank separators, comments, event:, id:, retry:
        var payload = l.dropFirst(5)
        if payload.first == UInt8(ascii: " ") { payload = payload.dropFirst() }
        if payload.elementsEqual("[DONE]".utf8) {
            done = true
            return
        }
        events += 1
        guard events <= StreamedCompletion.maxEvents else {
            error = ModelCallError(code: .responseTooLarge, message: "the stream sent more than \(StreamedCompletion.maxEvents) events", retryable: false, attempts: 0, rateLimited: 0)
            return
        }
        guard let chunk = try? JSONValue.parse(bytes: Array(payload)) else {
            error = ModelCallError(code: .malformedResponse, message: "a stream event is not JSON: \(String(decoding: payload.prefix(120), as: UTF8.self).debugDescription)",
                retryable: true, attempts: 0, rateLimited: 0)
            return
        }
        if let e = chunk["error"], e != .null {
            let message = e["message"]?.stringValue ?? e.stringValue ?? "error"
            error = ModelCallError(code: .malformedResponse, message: "the stream reported an error: \(String(message.prefix(300)))", retryable: true, attempts: 0, rateLimited: 0)
            return
        }
        if let u = chunk["usage"], u != .null { usage = u }
        guard let choice = chunk["choices"]?.arrayValue?.first else { return }
        var token = false
        if let delta = choice["delta"] {
            if let piece = delta["content"]?.stringValue, !piece.isEmpty {
                text += piece
                token = true
            }
            for c in delta["tool_calls"]?.arrayValue ?? [] {
                let index = c["index"]?.wholeNumber(in: 0...(ToolCall.maxPerAnswer - 1)) ?? 0
                var entry = calls[index] ?? (id: nil, name: "", arguments: "")
                if let id = c["id"]?.stringValue { entry.id = id }
                if let name = c["function"]?["name"]?.stringValue { entry.name += name }
                if let args = c["function"]?["arguments"]?.stringValue { entry.arguments += args }
                calls[index] = entry
                token = true
            }
        }
        if token { tokenTimesMs.append(t) }
        if let f = choice["finish_reason"]?.stringValue { finishReason = f }
    }

    /// Where the assembled answer carries its timing to the decoder (stripped from any real body).
    static let timingKey = "x-evalengine-stream"

    /// The answer as a non-streamed completion body, its timing under `timingKey`.
    var completionJSON: JSONValue {
        var message: [String: JSONValue] = ["role": "assistant", "content": .string(text)]
        let calls = toolCalls
        if !calls.isEmpty {
            message["tool_calls"] = .array(calls.map { c in
                ["id": c.id.map(JSONValue.string) ?? .null, "type": "function", "function": ["name": .string(c.name), "arguments": .string(c.rawArguments)]]
            })
        }
        var o: [String: JSONValue] = ["choices": [["index": 0, "message": .object(message), "finish_reason": finishReason.map(JSONValue.string) ?? .null]]]
        if let usage { o["usage"] = usage }
        if let t = timing { o[StreamedCompletion.timingKey] = t.json }
        return .object(o)
    }

    /// The stream ended properly: `[DONE]`, or a finish chunk before the body closed.
    var complete: Bool { done || finishReason != nil }

    var toolCalls: [ToolCall] {
        calls.keys.sorted().compactMap { i in
            let c = calls[i]!
            return c.name.isEmpty ? nil : ToolCall(id: c.id, name: c.name, rawArguments: c.arguments)
        }
    }

    /// Time to the first token, the median and 95th percentile of the gaps between tokens.
    var timing: StreamTiming? {
        guard let first = tokenTimesMs.first else { return nil }
        var gaps: [Double] = []
        gaps.reserveCapacity(tokenTimesMs.count)
        for i in tokenTimesMs.indices.dropFirst() { gaps.append(tokenTimesMs[i] - tokenTimesMs[i - 1]) }
        gaps.sort()
        func q(_ p: Double) -> Double? { gaps.isEmpty ? nil : gaps[min(gaps.count - 1, Int((p * Double(gaps.count - 1)).rounded()))] }
        return StreamTiming(ttftMs: first, interTokenP50Ms: q(0.5), interTokenP95Ms: q(0.95), tokens: tokenTimesMs.count,
                            streamMs: (tokenTimesMs.last ?? first) - first)
    }
}
