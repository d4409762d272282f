import Testing
@testable import EvalCore

/// `writeString` and `writeNumber` copy runs and spell digits themselves; their bytes are what the
/// character-at-a-time and `String`-based forms wrote (cache keys are taken over these bytes).
@Suite struct JSONWriterTests {
    static func referenceString(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        return out + [0x22]
    }

    static func referenceNumber(_ n: Double) -> [UInt8] {
        guard n.isFinite else { return Array("null".utf8) }
        if n.rounded() == n, abs(n) < 9.007_199_254_740_992e15 { return Array(String(Int64(n)).utf8) }
        return Array("\(n)".utf8)
    }

    @Test func stringsAreWrittenAsBefore() {
        var generator = SystemRandomNumberGenerator()
        var samples = ["", "plain", "\"", "\\", "a\"b\\c\nd\re\tf", "\u{0}\u{1}\u{1F}\u{7F}", "ünïcödé ✓ 日本語 🙂", String(repeating: "x", count: 5000) + "\n"]
        let alphabet: [Character] = ["a", " ", "\"", "\\", "\n", "\t", "\u{1}", "é", "✓", "🙂", "\u{7F}", "\r"]
        for _ in 0..<500 {
            samples.append(String((0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for s in samples {
            var out: [UInt8] = [0x7B]
            JSONValue.writeString(s, to: &out)
            #expect(out == [0x7B] + JSONWriterTests.referenceString(s), "\(s.debugDescription)")
        }
        // A bridged or non-contiguous string is made contiguous, not misread.
        let sub = "prefix\"quoted\"suffix".dropFirst(3)
        var out: [UInt8] = []
        JSONValue.writeString(String(sub), to: &out)
        #expect(out == JSONWriterTests.referenceString(String(sub)))
    }

    @Test func numbersAreWrittenAsBefore() {
        var values: [Double] = [0, -0.0, 1, -1, 7, 10, 99, 100, 12345, -98765, 9.007_199_254_740_991e15, -9.007_199_254_740_991e15,
                                9.007_199_254_740_992e15, 1e300, -1e-300, 0.5, 0.1, 1.0 / 3, .nan, .infinity, -.infinity, 123.456, 2.5e-7]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            values.append(Double(Int64.random(in: -10_000_000_000...10_000_000_000, using: &generator)))
            values.append(Double.random(in: -1e6...1e6, using: &generator))
        }
        for v in values {
            var out: [UInt8] = []
            JSONValue.writeNumber(v, to: &out)
            #expect(out == JSONWriterTests.referenceNumber(v), "\(v)")
        }
    }
}
