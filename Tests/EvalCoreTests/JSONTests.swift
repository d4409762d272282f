import Testing
@testable import EvalCore

@Suite struct JSONTests {
    @Test func parsesAndSerialisesRoundTrip() throws {
        let text = #"{"a":[1,2.5,-3e2,true,false,null],"b":{"c":"x\ny\u00e9\ud83d\ude00"}}"#
        let v = try JSONValue.parse(text)
        #expect(v["a"]?.arrayValue?.count == 6)
        #expect(v["a"]?.arrayValue?[2] == .number(-300))
        #expect(v["b"]?["c"]?.stringValue == "x\nyé😀")
        #expect(try JSONValue.parse(v.serialized()) == v)
    }

    @Test func canonicalEncodingIgnoresKeyOrderAndWhitespace() throws {
        let a = try JSONValue.parse(#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.0}"#)
        let b = try JSONValue.parse(#"{ "temperature": 0, "messages": [ {"content": "hi", "role": "user"} ], "model": "m" }"#)
        #expect(a.canonicalBytes == b.canonicalBytes)
        #expect(String(decoding: a.canonicalBytes, as: UTF8.self) == #"{"messages":[{"content":"hi","role":"user"}],"model":"m","temperature":0}"#)
        #expect(SHA256Digest.hex(a.canonicalBytes) == SHA256Digest.hex(b.canonicalBytes))
    }

    @Test func sha256MatchesKnownVector() {
        #expect(SHA256Digest.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [
        ("{\"a\":1,}", 7), ("[1 2]", 3), ("\"abc", 4), ("{\"a\" 1}", 5), ("01", 1), ("[1,2", 4), ("tru", 0), ("\"\\x\"", 3),
    ])
    func reportsWhereMalformedJSONFails(text: String, offset: Int) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
        do { _ = try JSONValue.parse(text) } catch { #expect(error.offset == offset, "\(text): \(error)") }
    }

    @Test func rejectsNestingBeyondTheLimitWithoutRecursingForever() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func rejectsInvalidUTF8AndLoneSurrogates() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#""\ud800""#) }
    }

    @Test func extractsEmbeddedJSONFromProse() {
        let found = extractEmbeddedJSON(#"Sure! Here it is: {"name": "Ann", "tags": ["a", "}"]} and [1, 2] done {broken"#)
        #expect(found.count == 2)
        #expect(found.first?["name"]?.stringValue == "Ann")
    }
}

@Suite struct TemplateTests {
    @Test func rendersVarsPathsAndNonStrings() throws {
        let t = Template("Q: {{ question }} ({{meta.lang}}) {{n}} {{list.1}} {{}}")
        let out = try t.render(["question": "Why?", "meta": ["lang": "en"], "n": 3, "list": ["a", "b"]])
        #expect(out == "Q: Why? (en) 3 b {{}}")
        #expect(Set(t.variableNames) == ["question", "meta", "n", "list"])
    }

    /// Found by `evalengine fuzz --target template`: `{{ . }}` split into no names and trapped.
    @Test func bracesAroundSomethingThatIsNotADottedNameStayLiteral() throws {
        let t = Template("a {{ . }} b {{x..y}} c {{.z}} d {{q.}} {{ok}}")
        #expect(t.variableNames == ["ok"])
        #expect(try t.render(["ok": 1]) == "a {{ . }} b {{x..y}} c {{.z}} d {{q.}} 1")
    }

    @Test func missingVarIsAnErrorNamingIt() {
        #expect(throws: MissingVariable(name: "topic")) { try Template("About {{topic}}").render([:]) }
        #expect(throws: MissingVariable(name: "a.b")) { try Template("{{a.b}}").render(["a": ["c": 1]]) }
    }
}
