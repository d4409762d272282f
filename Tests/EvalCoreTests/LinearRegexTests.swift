import Foundation
import Testing
@testable import EvalCore

/// The linear-time engine against ICU (NSRegularExpression) on the patterns golden sets use, and
/// on the ones that make a backtracking engine take minutes.
@Suite struct LinearRegexTests {
    static let patterns = [
        "^\\d+$", "\\bParis\\b", "(?i)paris", "^[A-Z][a-z]+( [A-Z][a-z]+)*$", "colou?r", "a{2,3}", "^a{2}$", "x{0}y",
        "\\$\\d+(\\.\\d{2})?", "^\\s*\\{.*\\}\\s*$", "(?s)^\\{.*\\}$", "[^aeiou]{3}", "foo|bar|baz", "^(foo|bar)+$", "\\w+@\\w+\\.com",
        "[\\d-]+", "[a\\-z]", "\\Aabc\\z", "abc\\Z", "(?m)^b$", "^b$", "end$", "\\Bb\\B", "(?:ab)+c", "(?<year>\\d{4})-(?<m>\\d\\d)",
        "[.]", "a.c", "\\.", "\\u00e9", "\\x41", "[[:]", "(a|b)*abb", "é+", "(?i)ÉCOLE", "(?x) a b # c",
        "(?i:A)b", "a{,3}", "{", "a{2,}", "^$", "", "\\t", "[\\s\\S]", "[^\\n]+", "\\d{3}-\\d{4}", "^.{0,5}$",
    ]
    static let texts = [
        "", "123", "12a", "Paris", "I love paris.", "Paris, France", "New York", "New york", "color", "colour", "aa", "aaa", "aaaa", "y",
        "$12.50", "$3", " {\"a\": 1} ", "{\n}", "rhythm", "foobar", "barbaz", "joe@example.com", "1-2-3", "-", "z", "abc", "abc\n",
        "a\nb\nc", "b", "the end", "the end\n", "abba", "ababc", "2024-05", "a.c", "abc.", "é", "ééé", "école", "A", "ab", "Ab",
        "a{,3}", "{", "\t", "xyz", "555-1234", "hello", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    ]

    @Test func agreesWithICUOnOrdinaryPatterns() throws {
        var compared = 0
        for p in Self.patterns {
            guard let icu = try? NSRegularExpression(pattern: p) else { continue }
            let ours: LinearRegex
            do { ours = try LinearRegex(p) } catch {
                Issue.record("refused \(p): \(error)")
                continue
            }
            for t in Self.texts {
                let want = icu.firstMatch(in: t, range: NSRange(t.startIndex..., in: t)) != nil
                #expect(ours.matches(t) == want, "/\(p)/ on \(t.debugDescription)")
                compared += 1
            }
        }
        #expect(compared > 2000)
    }

    @Test func catastrophicPatternsAreLinear() throws {
        // Each takes a backtracking engine seconds to minutes at these lengths.
        let cases: [(String, String)] = [
            ("(a+)+$", String(repeating: "a", count: 80) + "!"),
            ("^(a|aa)+$", String(repeating: "a", count: 5000) + "b"),
            ("(x+x+)+y", String(repeating: "x", count: 10_000)),
            ("^(\\w+\\s?)*$", String(repeating: "word ", count: 2000) + "!"),
        ]
        for (p, t) in cases {
            let r = try LinearRegex(p)
            #expect(r.firstMatch(in: t) == .noMatch, "/\(p)/")
        }
    }

    @Test func aTinyBudgetIsReportedNotPassed() throws {
        let r = try LinearRegex("(a|b)*c")
        #expect(r.firstMatch(in: String(repeating: "ab", count: 10_000), stepBudget: 1000) == .overBudget)
    }

    @Test(arguments: ["(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?>a)", "a++", "\\p{L}", "[[:alpha:]]", "(", "a)", "[a", "*a", "a{3,2}", "a{5000}", "(a{1000}){1000}"])
    func unsupportedOrBadPatternsAreRefusedWithAReason(pattern: String) {
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(pattern) }
    }
}
