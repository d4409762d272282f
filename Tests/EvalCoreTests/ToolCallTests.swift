import Testing
@testable import EvalCore

/// Tool definitions are checked when the prompt is read; tool calls are read from answers in the
/// forms servers send; the tool assertions score them.
@Suite struct ToolCallTests {
    static let calculator: JSONValue = [
        "type": "function",
        "function": ["name": "calculator", "parameters": [
            "type": "object", "properties": ["a": ["type": "integer"], "b": ["type": "integer"], "op": ["type": "string", "enum": ["+", "-", "*"]],
                                             "meta": ["type": "object", "properties": ["unit": ["type": "string"]], "required": ["unit"]]],
            "required": ["a", "b", "op"], "additionalProperties": false,
        ]],
    ]

    @Test func badToolDefinitionsAreNamed() {
        let cases: [(JSONValue, String)] = [
            ([["type": "function", "function": ["name": "bad name!"]]], "[0].function.name"),
            ([["type": "function", "function": ["name": "t", "parameters": ["type": "strng"]]]], "[0].function.parameters.type"),
            ([["type": "function", "function": ["name": "t", "parameters": ["type": "object", "required": "a"]]]], "[0].function.parameters.required"),
            ([["type": "function", "function": ["name": "t", "parameters": ["type": "object", "properties": ["a": ["type": "integer", "minimum": "zero"]]]]]],
             "[0].function.parameters.properties.a.minimum"),
            ([["type": "function", "function": ["name": "t", "parameters": "not a schema"]]], "[0].function.parameters"),
            ([Self.calculator, Self.calculator], "[1].function.name"),
            ([["type": "retrieval"]], "[0].type"),
            (["type": "function"], ""),
        ]
        for (json, field) in cases {
            do {
                _ = try ToolDefinition.decodeList(json)
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.field == field, "\(json): \(error)")
            }
        }
        #expect((try? ToolDefinition.decodeList([Self.calculator]))?.first?.name == "calculator")
    }

    @Test func toolCallsAreReadInTheFormsServersSend() throws {
        let openai: JSONValue = ["role": "assistant", "content": .null, "tool_calls": [
            ["id": "c1", "type": "function", "function": ["name": "calculator", "arguments": #"{"a": 1, "b": 2, "op": "+"}"#]],
            ["id": "c2", "type": "function", "function": ["name": "calculator", "arguments": "{\"a\": 1"]],  // truncated arguments
        ]]
        let calls = try #require(ToolCall.decode(message: openai))
        #expect(calls.count == 2 && calls[0].arguments?["a"]?.numberValue == 1 && calls[1].arguments == nil && calls[1].rawArguments == "{\"a\": 1")
        // Arguments as an object (some servers), the legacy function_call, empty arguments.
        let object = try #require(ToolCall.decode(message: ["tool_calls": [["function": ["name": "t", "arguments": ["x": 1]]]]]))
        #expect(object[0].arguments?["x"]?.numberValue == 1)
        let legacy = try #require(ToolCall.decode(message: ["content": .null, "function_call": ["name": "t", "arguments": "{}"]]))
        #expect(legacy.map(\.name) == ["t"])
        #expect(try #require(ToolCall.decode(message: ["tool_calls": [["function": ["name": "t", "arguments": ""]]]]))[0].arguments == .object([:]))
        #expect(try #require(ToolCall.decode(message: ["content": "hi"])).isEmpty)
        // Malformed: not a list, no name, arguments a number, too many calls.
        #expect(ToolCall.decode(message: ["tool_calls": "calculator"]) == nil)
        #expect(ToolCall.decode(message: ["tool_calls": [["function": ["arguments": "{}"]]]]) == nil)
        #expect(ToolCall.decode(message: ["tool_calls": [["function": ["name": "t", "arguments": 5]]]]) == nil)
        let many = JSONValue.array(Array(repeating: ["function": ["name": "t", "arguments": "{}"]], count: ToolCall.maxPerAnswer + 1))
        #expect(ToolCall.decode(message: ["tool_calls": many]) == nil)
    }

    func score(_ asserts: String, calls: [ToolCall]) throws -> [AssertionResult] {
        let json = try JSONValue.parse(#"{"id":"t","vars":{"q":"x"},"assert":[\#(asserts)]}"#)
        let c = try GoldenCase.decode(json, location: SourceLocation(file: "g.jsonl", line: 1))
        let scorer = Scorer()
        let prepared = try scorer.prepare(c, tools: try ToolDefinition.decodeList([Self.calculator, ["type": "function", "function": ["name": "lookup"]]]))
        var output = CaseOutput(text: "")
        output.toolCalls = calls
        return scorer.score(prepared, output: output).results
    }

    @Test func isValidOpenAIToolsCall() throws {
        let check = #"{"type":"is-valid-openai-tools-call"}"#
        func valid(_ calls: [ToolCall]) throws -> AssertionResult { try score(check, calls: calls)[0] }
        #expect(try valid([ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2, "op": "*"}"#)]).pass)
        #expect(try valid([ToolCall(name: "lookup", rawArguments: "{}"), ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2, "op": "-", "meta": {"unit": "m"}}"#)]).pass)
        let cases: [([ToolCall], String)] = [
            ([], "calls no tool"),
            ([ToolCall(name: "weather", rawArguments: "{}")], "not a declared tool"),
            ([ToolCall(name: "calculator", rawArguments: "{\"a\": 1")], "not JSON"),
            ([ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2}"#)], "missing required property 'op'"),
            ([ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2, "op": "/"}"#)], "enum"),
            ([ToolCall(name: "calculator", rawArguments: #"{"a": 1.5, "b": 2, "op": "+"}"#)], "integer"),
            ([ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2, "op": "+", "c": 3}"#)], "c"),
            ([ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2, "op": "+", "meta": {}}"#)], "unit"),
        ]
        for (calls, why) in cases {
            let r = try valid(calls)
            #expect(!r.pass && r.reason.contains(why), "\(calls.map(\.rawArguments)): \(r.reason)")
        }
        // Without tools in the prompt the assertion cannot be prepared.
        let c = try GoldenCase.decode(try JSONValue.parse(#"{"id":"t","assert":[{"type":"is-valid-openai-tools-call"}]}"#), location: SourceLocation(file: "g", line: 1))
        #expect(throws: FieldError.self) { try Scorer().prepare(c) }
    }

    @Test func toolCallF1SequenceAndExpectedCalls() throws {
        let calls = [ToolCall(name: "calculator", rawArguments: #"{"a": 1, "b": 2, "op": "+", "meta": {"unit": "m"}}"#), ToolCall(name: "lookup", rawArguments: "{}")]
        let r = try score(#"""
            {"type":"tool-call-f1","value":["calculator","search"]},
            {"type":"tool-call-f1","value":"calculator, lookup"},
            {"type":"tool-sequence","value":["calculator","lookup"]},
            {"type":"tool-sequence","value":["lookup","calculator"]},
            {"type":"tool-call","value":{"name":"calculator","arguments":{"a":1,"b":2,"op":"+","meta":{"unit":"m"}}}},
            {"type":"tool-call","value":{"name":"calculator","arguments":{"a":1,"meta":{}},"partial":true}},
            {"type":"tool-call","value":{"name":"calculator","arguments":{"a":1}}},
            {"type":"tool-call","value":[{"name":"lookup"},{"name":"calculator"}]},
            {"type":"tool-call","value":[{"name":"calculator"},{"name":"calculator"}]},
            {"type":"tool-call-f1","value":["calculator","search"],"threshold":0.5}
            """#, calls: calls)
        #expect(!r[0].pass && abs(r[0].score - 0.5) < 1e-9)  // precision 1/2, recall 1/2
        #expect(r[1].pass && r[1].score == 1)
        #expect(r[2].pass && !r[3].pass)
        #expect(r[4].pass && r[5].pass && !r[6].pass, "\(r[6].reason)")
        #expect(r[7].pass && !r[8].pass, "each expected call needs a call of its own: \(r[8].reason)")
        #expect(r[9].pass)
    }
}
