import EvalCore
import Foundation
import Testing
import TestSupport
@testable import ModelClient

/// Streamed answers as real servers send them (OpenAI, vLLM, `transformers serve` 5.24), fed in
/// arbitrary splits: the text, the calls, usage and timing come out the same; a cut-off or
/// broken stream is an error.
@Suite struct StreamedCompletionTests {
    static func chunk(_ delta: String, finish: String? = nil, usage: String? = nil) -> String {
        #"data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(finish.map { "\"\($0)\"" } ?? "null")}]\#(usage.map { ",\"usage\":\($0)" } ?? "")}"# + "\n\n"
    }

    /// Feeds `text` in pieces of `split` bytes, each arriving 10 ms after the previous.
    static func feed(_ text: String, split: Int) -> StreamedCompletion {
        var s = StreamedCompletion()
        let bytes = Array(text.utf8)
        var t = 0.0
        var i = 0
        while i < bytes.count {
            s.feed(bytes[i..<min(bytes.count, i + split)], elapsedMs: t)
            i += split
            t += 10
        }
        s.finish(elapsedMs: t)
        return s
    }

    static let openai = chunk(#"{"role":"assistant"}"#) + chunk(#"{"content":"The"}"#) + chunk(#"{"content":" answer"}"#)
        + chunk(#"{"content":" is 4."}"#) + chunk("{}", finish: "stop")
        + #"data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"# + "\n\n" + "data: [DONE]\n\n"

    @Test(arguments: [1, 3, 7, 64, 10_000])
    func anySplitGivesTheSameAnswer(_ split: Int) {
        let s = Self.feed(Self.openai, split: split)
        #expect(s.error == nil && s.complete && s.text == "The answer is 4." && s.finishReason == "stop")
        #expect(s.usage?["completion_tokens"]?.numberValue == 4)
        #expect(s.tokenTimesMs.count == 3, "the role-only chunk is not a token")
    }

    @Test func serversThatDifferAreRead() {
        // transformers serve: usage inside the finish chunk, no [DONE], CRLF line ends.
        let transformers = (Self.chunk(#"{"role":"assistant","content":""}"#) + Self.chunk(#"{"content":"Paris"}"#)
            + Self.chunk("{}", finish: "stop", usage: #"{"prompt_tokens":5,"completion_tokens":1}"#)).replacingOccurrences(of: "\n", with: "\r\n")
        let t = Self.feed(transformers, split: 5)
        #expect(t.error == nil && t.complete && t.text == "Paris" && t.usage?["prompt_tokens"]?.numberValue == 5)
        // Comments, event: lines and a final line without its newline.
        let odd = ": keep-alive\n\nevent: message\n" + Self.chunk(#"{"content":"ok"}"#) + #"data: {"choices":[{"delta":{},"finish_reason":"length"}]}"#
        let o = Self.feed(odd, split: 4)
        #expect(o.complete && o.text == "ok" && o.finishReason == "length")
    }

    @Test func toolCallDeltasAreAssembled() {
        let stream = Self.chunk(#"{"role":"assistant","content":null}"#)
            + Self.chunk(#"{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"calculator","arguments":""}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\": 1,"}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":" \"b\": 2}"}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":1,"id":"c2","function":{"name":"lookup","arguments":"{}"}}]}"#)
            + Self.chunk("{}", finish: "tool_calls") + "data: [DONE]\n\n"
        let s = Self.feed(stream, split: 11)
        #expect(s.toolCalls.map(\.name) == ["calculator", "lookup"] && s.toolCalls[0].arguments?["b"]?.numberValue == 2 && s.toolCalls[0].id == "c1")
    }

    @Test func timingIsMeasuredFromTheTokens() throws {
        var s = StreamedCompletion()
        s.feed(Array(Self.chunk(#"{"role":"assistant"}"#).utf8), elapsedMs: 5)
        for (i, t) in [200.0, 220, 240, 262].enumerated() { s.feed(Array(Self.chunk(#"{"content":"w\#(i) "}"#).utf8), elapsedMs: t) }
        s.feed(Array(Self.chunk("{}", finish: "stop").utf8), elapsedMs: 263)
        let timing = try #require(s.timing)
        #expect(timing.ttftMs == 200 && timing.interTokenP50Ms == 20 && timing.tokens == 4 && timing.streamMs == 62)
        #expect(abs(timing.tokensPerSecond(completionTokens: 0)! - 3 / 0.062) < 1e-9)
    }

    @Test func brokenStreamsAreErrors() {
        let cut = Self.feed(Self.chunk(#"{"role":"assistant"}"#) + Self.chunk(#"{"content":"half an"}"#), split: 9)
        #expect(!cut.complete && cut.error == nil, "a body that ends mid-answer is not complete")
        let notJSON = Self.feed(Self.chunk(#"{"content":"a"}"#) + "data: {not json\n\n", split: 6)
        #expect(notJSON.error?.code == .malformedResponse)
        let reported = Self.feed(#"data: {"error":{"message":"overloaded"}}"# + "\n\n", split: 100)
        #expect(reported.error?.message.contains("overloaded") == true)
    }
}

/// An endpoint that echoes the key into a tool call or a stream's error event does not get it
/// into reports, caches or messages; a simulator asked to add Int.max does not trap.
@Suite struct HostileToolAndStreamTests {
    static let key = "sk-hostile-test-key-0123456789"

    @Test func echoedKeysAreRedacted() async throws {
        let toolEcho = ScriptedEndpoint { _ in
            ScriptedAnswer(json: ["choices": [["index": 0, "finish_reason": "tool_calls", "message": [
                "role": "assistant", "content": .null,
                "tool_calls": [["id": "c", "type": "function", "function": ["name": "t", "arguments": .string(#"{"k": "\#(Self.key)"}"#)]]],
            ]]]])
        }
        let call = try await toolEcho.with { port in
            let client = makeClient(EndpointConfig(name: "e", baseURL: nil, model: "m"), port: port, apiKey: Self.key)
            defer { Task { await client.shutdown() } }
            return try await client.complete(request("hi"))
        }
        #expect(call.toolCalls.count == 1 && !call.toolCalls[0].rawArguments.contains(Self.key), "\(call.toolCalls)")
        let streamEcho = ScriptedEndpoint { _ in
            ScriptedAnswer(headers: [("Content-Type", "text/event-stream")], body: Array(#"data: {"error": {"message": "invalid key \#(Self.key)"}}"#.utf8) + Array("\n\n".utf8))
        }
        let message = try await streamEcho.with { port -> String in
            var e = EndpointConfig(name: "s", baseURL: nil, model: "m")
            e.stream = true
            e.retry.maxAttempts = 1
            let client = makeClient(e, port: port, apiKey: Self.key)
            defer { Task { await client.shutdown() } }
            do throws(ModelCallError) {
                _ = try await client.complete(request("hi"))
                return "answered"
            } catch {
                return error.message
            }
        }
        #expect(message.contains("the stream reported an error") && !message.contains(Self.key), "\(message)")
    }

    @Test func hugeOperandsDoNotTrapTheSimulator() async throws {
        let text = try await withSimulator { _, port in
            try await withClient(EndpointConfig(name: "sim", baseURL: nil, model: "sim-small"), port: port) { client in
                try await client.complete(request("What is 9223372036854775807 + 1?")).text
            }
        }
        #expect(!text.isEmpty)
    }
}
