import EvalCore

/// Writes a case's stored row (`CaseRecord.json()`, keys sorted) straight to bytes: one row per
/// case is the run's commonest write, and building it as a dictionary of `JSONValue`s first cost
/// more than the rest of persisting it. Records with the rarer parts (tool calls, turns, stream
/// timing, judge usage, repeats, judge agreement) take the `JSONValue` path; a test holds the two
/// equal byte for byte.
enum CaseRecordRowWriter {
    /// The row as `json()` would write it with `sortedKeys`, `sample` added when above 0.
    static func write(_ r: CaseRecord, sample: Int, to out: inout [UInt8]) {
        guard isPlain(r) else {
            var json = r.json()
            if sample > 0, case .object(var o) = json {
                o["sample"] = .number(Double(sample))
                json = .object(o)
            }
            json.write(to: &out, sortedKeys: true)
            return
        }
        // Keys in byte order, as `write(sortedKeys: true)` orders them.
        var row = ObjectWriter(&out)
        if !r.assertions.isEmpty {
            row.key("assertions", &out)
            out.append(UInt8(ascii: "["))
            for (i, a) in r.assertions.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                var o = ObjectWriter(&out)
                if let k = a.errorKind { o.string("error", k, &out) }
                if let m = a.metric { o.string("metric", m, &out) }
                o.bool("pass", a.pass, &out)
                o.string("reason", a.reason, &out)
                o.number("score", a.score, &out)
                o.string("type", a.type, &out)
                o.number("weight", a.weight, &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        }
        row.number("attempts", Double(r.attempts), &out)
        row.bool("cached", r.cached, &out)
        if let c = r.costUSD { row.number("cost_usd", c, &out) }
        if let d = r.description { row.string("description", d, &out) }
        if let k = r.errorKind {
            row.key("error", &out)
            var o = ObjectWriter(&out)
            o.string("kind", k, &out)
            o.string("message", r.errorMessage ?? "", &out)
            out.append(UInt8(ascii: "}"))
        }
        if let f = r.finishReason { row.string("finish_reason", f, &out) }
        row.string("id", r.id, &out)
        if let l = r.latencyMs { row.number("latency_ms", l, &out) }
        row.number("line", Double(r.line), &out)
        if !r.namedScores.isEmpty {
            row.key("named_scores", &out)
            var o = ObjectWriter(&out)
            for name in r.namedScores.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                o.key(name, &out)
                JSONValue.writeNumber(r.namedScores[name]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        if let output = r.output { row.string("output", output, &out) }
        row.bool("pass", r.status == .passed, &out)
        row.number("rate_limited", Double(r.rateLimited), &out)
        if sample > 0 { row.number("sample", Double(sample), &out) }
        row.number("score", r.score, &out)
        row.string("status", r.status.rawValue, &out)
        if !r.tags.isEmpty {
            row.key("tags", &out)
            out.append(UInt8(ascii: "["))
            for (i, t) in r.tags.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(t, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        if let t = r.target { row.string("target", t, &out) }
        if let t = r.threshold { row.number("threshold", t, &out) }
        row.key("tokens", &out)
        var tokens = ObjectWriter(&out)
        tokens.number("completion", Double(r.completionTokens), &out)
        tokens.number("prompt", Double(r.promptTokens), &out)
        out.append(UInt8(ascii: "}"))
        out.append(UInt8(ascii: "}"))
    }

    /// No part that only the `JSONValue` form writes.
    private static func isPlain(_ r: CaseRecord) -> Bool {
        r.toolCalls.isEmpty && r.turns.isEmpty && r.stream == nil && r.judgeUsage.isEmpty && r.samples == nil
            && r.assertions.allSatisfy { $0.judgeAgreement == nil && !$0.judgeContradiction }
    }

    /// One object being written into a buffer: opened by `init`, pairs with commas between them;
    /// the caller appends the closing brace.
    private struct ObjectWriter {
        private var first = true

        init(_ out: inout [UInt8]) { out.append(UInt8(ascii: "{")) }

        mutating func key(_ k: StaticString, _ out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }

        mutating func key(_ k: String, _ out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONValue.writeString(k, to: &out)
            out.append(UInt8(ascii: ":"))
        }

        mutating func string(_ k: StaticString, _ v: String, _ out: inout [UInt8]) {
            key(k, &out)
            JSONValue.writeString(v, to: &out)
        }

        mutating func number(_ k: StaticString, _ v: Double, _ out: inout [UInt8]) {
            key(k, &out)
            JSONValue.writeNumber(v, to: &out)
        }

        mutating func bool(_ k: StaticString, _ v: Bool, _ out: inout [UInt8]) {
            key(k, &out)
            out.append(contentsOf: v ? "true".utf8 : "false".utf8)
        }
    }
}
