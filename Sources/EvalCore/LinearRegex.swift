/// A regular expression matched in time linear in the text (a Pike VM over Unicode scalars, as
/// RE2 and Rust's `regex` do), for patterns that come from golden sets and JSON Schemas: a
/// backtracking engine takes 70 s on `(a+)+$` against 81 characters, this one microseconds.
///
/// The syntax is ICU's (which `NSRegularExpression` and promptfoo's JavaScript mostly share) minus
/// what needs backtracking: lookarounds, backreferences, atomic groups and possessive quantifiers
/// are refused when the pattern is compiled, with a message that says so. Supported: literals and
/// escapes, `.`, classes `[...]` with ranges and `\d \w \s` (and negations), anchors `^ $ \A \z \Z
/// \b \B`, groups `(...)`, `(?:...)`, `(?<name>...)`, alternation, `* + ? {n} {n,} {n,m}` (lazy
/// forms too) and the flags `(?i)`, `(?s)`, `(?m)`, `(?x)`, also scoped as `(?i:...)`.
public struct LinearRegex: Sendable, Hashable {
    public let pattern: String
    private let program: [Instruction]

    /// Most instructions a compiled pattern may have (counted repetition expands).
    public static let maxProgramSize = 20_000
    /// Most VM steps one match may take before it is abandoned as over budget.
    public static let defaultStepBudget = 50_000_000

    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public init(_ pattern: String) throws(SyntaxError) {
        self.pattern = pattern
        var parser = Parser(Array(pattern.unicodeScalars))
        let node = try parser.parseAll()
        var compiler = Compiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
    }

    public enum MatchResult: Sendable, Equatable {
        case matched, noMatch
        /// The step budget ran out before an answer (only possible for huge texts times huge patterns).
        case overBudget
    }

    /// Whether the pattern matches anywhere in `text`.
    public func firstMatch(in text: String, stepBudget: Int = LinearRegex.defaultStepBudget) -> MatchResult {
        var vm = VM(program: program, text: Array(text.unicodeScalars), budget: stepBudget)
        return vm.run()
    }

    /// True when it matches; false when it does not or the budget ran out.
    public func matches(_ text: String) -> Bool { firstMatch(in: text) == .matched }

    // MARK: - Program

    enum Instruction: Sendable, Hashable {
        case scalar(Unicode.Scalar, foldCase: Bool)
        case any(dotAll: Bool)
        case set(CharSet)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    enum Assertion: Sendable, Hashable {
        case lineStart(multiline: Bool), lineEnd(multiline: Bool), textStart, textEnd, textEndOrFinalNewline
        case wordBoundary, notWordBoundary
    }

    struct CharSet: Sendable, Hashable {
        var ranges: [ClosedRange<UInt32>] = []
        var classes: [ClassEscape] = []
        var negated = false
        var foldCase = false

        func contains(_ c: Unicode.Scalar) -> Bool {
            var hit = rawContains(c)
            if !hit && foldCase {
                for alt in caseVariants(c) where rawContains(alt) {
                    hit = true
                    break
                }
            }
            return hit != negated
        }

        private func rawContains(_ c: Unicode.Scalar) -> Bool {
            let v = c.value
            for r in ranges where r.contains(v) { return true }
            for k in classes where k.contains(c) { return true }
            return false
        }
    }

    enum ClassEscape: Sendable, Hashable {
        case digit(Bool), word(Bool), space(Bool)

        func contains(_ c: Unicode.Scalar) -> Bool {
            switch self {
            case .digit(let negated): return isDigit(c) != negated
            case .word(let negated): return isWord(c) != negated
            case .space(let negated): return c.properties.isWhitespace != negated
            }
        }
    }

    indirect enum Node {
        case empty
        case scalar(Unicode.Scalar, foldCase: Bool)
        case any(dotAll: Bool)
        case set(CharSet)
        case assert(Assertion)
        case concat([Node])
        case alternate([Node])
        case repeated(Node, min: Int, max: Int?)
    }

    // MARK: - Parser

    struct Flags {
        var caseInsensitive = false
        var dotAll = false
        var multiline = false
        var extended = false
    }

    struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var flags = Flags()
        var depth = 0

        init(_ s: [Unicode.Scalar]) { self.s = s }

        func error(_ message: String) -> SyntaxError {
            SyntaxError(message: "\(message) (at character \(i + 1))")
        }

        var atEnd: Bool { i >= s.count }
        func peek(_ offset: Int = 0) -> Unicode.Scalar? { i + offset < s.count ? s[i + offset] : nil }

        mutating func parseAll() throws(SyntaxError) -> Node {
            let n = try parseAlternation()
            if !atEnd { throw error(peek() == ")" ? "unbalanced ')'" : "unexpected '\(peek()!)'") }
            return n
        }

        mutating func parseAlternation() throws(SyntaxError) -> Node {
            var branches = [try parseConcat()]
            while peek() == "|" {
                i += 1
                branches.append(try parseConcat())
            }
            return branches.count == 1 ? branches[0] : .alternate(branches)
        }

        mutating func parseConcat() throws(SyntaxError) -> Node {
            var items: [Node] = []
            while let c = peek(), c != "|", c != ")" {
                if flags.extended {
                    if c.properties.isWhitespace { i += 1; continue }
                    if c == "#" {
                        while let d = peek(), d != "\n" { _ = d; i += 1 }
                        continue
                    }
                }
                guard let atom = try parseAtom() else { continue }
                items.append(try parseQuantifiers(atom))
            }
            return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
        }

        mutating func parseQuantifiers(_ atom: Node) throws(SyntaxError) -> Node {
            var node = atom
            while let c = peek() {
                var range: (Int, Int?)
                switch c {
                case "*": range = (0, nil); i += 1
                case "+": range = (1, nil); i += 1
                case "?": range = (0, 1); i += 1
                case "{":
                    guard let r = try parseInterval() else { return node }
                    range = r
                default: return node
                }
                if case .assert = node { throw error("a quantifier after an anchor") }
                if peek() == "?" {
                    i += 1  // lazy: the same set of matches, so the same answer to "does it match"
                } else if peek() == "+" {
                    throw error("possessive quantifiers are not supported (evalengine matches regexes in linear time)")
                }
                node = .repeated(node, min: range.0, max: range.1)
            }
            return node
        }

        /// `{n}`, `{n,}`, `{n,m}`; nil (and nothing consumed) when the brace is a literal.
        mutating func parseInterval() throws(SyntaxError) -> (Int, Int?)? {
            var j = i + 1
            func number() -> Int? {
                var v = 0
                var digits = 0
                while j < s.count, let d = s[j].properties.numericType == .decimal ? Int(String(s[j])) : nil {
                    v = min(v * 10 + d, 1_000_000)
                    digits += 1
                    j += 1
                }
                return digits > 0 ? v : nil
            }
            guard let lo = number() else { return nil }
            var hi: Int? = lo
            if j < s.count, s[j] == "," {
                j += 1
                hi = number()
            }
            guard j < s.count, s[j] == "}" else { return nil }
            i = j + 1
            if lo > 1000 || (hi ?? 0) > 1000 { throw error("a repetition count above 1000") }
            if let hi, hi < lo { throw error("a repetition {\(lo),\(hi)} whose maximum is below its minimum") }
            return (lo, hi)
        }

        mutating func parseAtom() throws(SyntaxError) -> Node? {
            let c = s[i]
            i += 1
            switch c {
            case "(": return try parseGroup()
            case "[": return .set(try parseClass())
            case ".": return .any(dotAll: flags.dotAll)
            case "^": return .assert(.lineStart(multiline: flags.multiline))
            case "$": return .assert(.lineEnd(multiline: flags.multiline))
            case "\\": return try parseEscape(inClass: false).node(flags)
            case "*", "+", "?": throw error("nothing to repeat before '\(c)'")
            default: return .scalar(c, foldCase: flags.caseInsensitive)
            }
        }

        mutating func parseGroup() throws(SyntaxError) -> Node? {
            depth += 1
            defer { depth -= 1 }
            if depth > 200 { throw error("groups nested deeper than 200") }
            let saved = flags
            if peek() == "?" {
                i += 1
                switch peek() {
                case ":": i += 1
                case "=", "!": throw error("lookahead is not supported (evalengine matches regexes in linear time)")
                case ">": throw error("atomic groups are not supported (evalengine matches regexes in linear time)")
                case "<" where peek(1) == "=" || peek(1) == "!":
                    throw error("lookbehind is not supported (evalengine matches regexes in linear time)")
                case "<", "P", "'":
                    if peek() == "P" { i += 1 }
                    let close: Unicode.Scalar = peek() == "'" ? "'" : ">"
                    i += 1
                    while let d = peek(), d != close { _ = d; i += 1 }
                    guard peek() == close else { throw error("unterminated group name") }
                    i += 1
                default:
                    // Inline flags: (?i) for the rest of the group, (?i:...) scoped.
                    var on = true
                    var f = flags
                    while let d = peek(), d != ")" && d != ":" {
                        switch d {
                        case "-": on = false
                        case "i": f.caseInsensitive = on
                        case "s": f.dotAll = on
                        case "m": f.multiline = on
                        case "x": f.extended = on
                        case "u", "U", "w": break
                        default: throw error("unknown group flag '\(d)'")
                        }
                        i += 1
                    }
                    guard let end = peek() else { throw error("unterminated group") }
                    i += 1
                    if end == ")" {
                        flags = f  // applies to the rest of the enclosing group
                        return nil
                    }
                    flags = f
                }
            }
            let inner = try parseAlternation()
            guard peek() == ")" else { throw error("missing ')'") }
            i += 1
            flags = saved
            return inner
        }

        mutating func parseClass() throws(SyntaxError) -> CharSet {
            var set = CharSet()
            set.foldCase = flags.caseInsensitive
            if peek() == "^" {
                set.negated = true
                i += 1
            }
            var first = true
            while true {
                guard let c = peek() else { throw error("missing ']'") }
                if c == "]" && !first { i += 1; break }
                first = false
                if c == "[" && (peek(1) == ":" || peek(1) == "=" || peek(1) == ".") {
                    throw error("POSIX classes like [:alpha:] are not supported; use \\w, \\d, \\s or ranges")
                }
                if c == "[" { throw error("nested sets are not supported; escape '[' as \\[") }
                if c == "&" && peek(1) == "&" { throw error("set operations (&&) are not supported") }
                i += 1
                var lo: Unicode.Scalar
                if c == "\\" {
                    let e = try parseEscape(inClass: true)
                    switch e {
                    case .scalar(let v): lo = v
                    case .klass(let k):
                        set.classes.append(k)
                        continue
                    case .assertion: throw error("an anchor inside a set")
                    }
                } else {
                    lo = c
                }
                if peek() == "-", let next = peek(1), next != "]" {
                    i += 2
                    var hi = next
                    if next == "\\" {
                        guard case .scalar(let v) = try parseEscape(inClass: true) else { throw error("a class escape as a range end") }
                        hi = v
                    }
                    guard hi.value >= lo.value else { throw error("a range whose end is below its start") }
                    set.ranges.append(lo.value...hi.value)
                } else {
                    set.ranges.append(lo.value...lo.value)
                }
            }
            return set
        }

        enum Escape {
            case scalar(Unicode.Scalar)
            case klass(ClassEscape)
            case assertion(Assertion)

            func node(_ flags: Flags) -> Node {
                switch self {
                case .scalar(let v): return .scalar(v, foldCase: flags.caseInsensitive)
                case .klass(let k): return .set(CharSet(classes: [k], foldCase: false))
                case .assertion(let a): return .assert(a)
                }
            }
        }

        mutating func parseEscape(inClass: Bool) throws(SyntaxError) -> Escape {
            guard let c = peek() else { throw error("a pattern ending in '\\'") }
            i += 1
            switch c {
            case "d": return .klass(.digit(false))
            case "D": return .klass(.digit(true))
            case "w": return .klass(.word(false))
            case "W": return .klass(.word(true))
            case "s": return .klass(.space(false))
            case "S": return .klass(.space(true))
            case "n": return .scalar("\n")
            case "t": return .scalar("\t")
            case "r": return .scalar("\r")
            case "f": return .scalar("\u{0C}")
            case "v": return .scalar("\u{0B}")
            case "e": return .scalar("\u{1B}")
            case "a": return .scalar("\u{07}")
            case "0": return .scalar("\u{00}")
            case "b" where inClass: return .scalar("\u{08}")
            case "b": return .assertion(.wordBoundary)
            case "B": return .assertion(.notWordBoundary)
            case "A": return .assertion(.textStart)
            case "z": return .assertion(.textEnd)
            case "Z": return .assertion(.textEndOrFinalNewline)
            case "x", "u":
                var hex = ""
                if c == "x" && peek() == "{" {
                    i += 1
                    while let d = peek(), d != "}" { hex.unicodeScalars.append(d); i += 1 }
                    guard peek() == "}" else { throw error("unterminated \\x{...}") }
                    i += 1
                } else {
                    for _ in 0..<(c == "x" ? 2 : 4) {
                        guard let d = peek() else { break }
                        hex.unicodeScalars.append(d)
                        i += 1
                    }
                }
                guard let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) else { throw error("a bad \\\(c) escape") }
                return .scalar(scalar)
            case "1"..."9", "k":
                throw error("backreferences are not supported (evalengine matches regexes in linear time)")
            case "p", "P":
                throw error("Unicode property classes (\\p{...}) are not supported; use \\w, \\d, \\s or ranges")
            case "G", "X", "R", "N", "Q", "E", "h", "H", "V", "c":
                throw error("the escape \\\(c) is not supported")
            default:
                if c.properties.isAlphabetic || c.properties.numericType != nil { throw error("an unknown escape \\\(c)") }
                return .scalar(c)  // an escaped metacharacter or punctuation
            }
        }
    }

    // MARK: - Compiler

    struct Compiler {
        var program: [Instruction] = []

        mutating func add(_ inst: Instruction) throws(SyntaxError) -> Int {
            guard program.count < LinearRegex.maxProgramSize else {
                throw SyntaxError(message: "the pattern is too large once its repetitions are expanded (more than \(LinearRegex.maxProgramSize) steps)")
            }
            program.append(inst)
            return program.count - 1
        }

        mutating func emit(_ node: Node) throws(SyntaxError) {
            switch node {
            case .empty: break
            case .scalar(let c, let fold): _ = try add(.scalar(c, foldCase: fold))
            case .any(let dotAll): _ = try add(.any(dotAll: dotAll))
            case .set(let s): _ = try add(.set(s))
            case .assert(let a): _ = try add(.assert(a))
            case .concat(let items): for n in items { try emit(n) }
            case .alternate(let branches):
                var jumps: [Int] = []
                for (k, b) in branches.enumerated() {
                    if k < branches.count - 1 {
                        let split = try add(.split(0, 0))
                        try emit(b)
                        jumps.append(try add(.jump(0)))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(b)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case .repeated(let n, let lo, let hi):
                for _ in 0..<lo { try emit(n) }
                if let hi {
                    // (n(n(n)?)?)? for the optional copies
                    var splits: [Int] = []
                    for _ in lo..<hi {
                        splits.append(try add(.split(0, 0)))
                        try emit(n)
                    }
                    for s in splits { program[s] = .split(s + 1, program.count) }
                } else {
                    let split = try add(.split(0, 0))
                    try emit(n)
                    _ = try add(.jump(split))
                    program[split] = .split(split + 1, program.count)
                }
            }
        }
    }

    // MARK: - VM

    struct VM {
        let program: [Instruction]
        let text: [Unicode.Scalar]
        var budget: Int
        var mark: [Int]
        var generation = 0
        var stack: [Int] = []

        init(program: [Instruction], text: [Unicode.Scalar], budget: Int) {
            self.program = program
            self.text = text
            self.budget = budget
            mark = [Int](repeating: -1, count: program.count)
        }

        /// Adds the threads reachable from `pc` without consuming a character at position `at`.
        /// Returns true when one of them is `match`.
        mutating func addThread(_ pc: Int, at position: Int, into list: inout [Int]) -> Bool? {
            stack.append(pc)
            while let p = stack.popLast() {
                budget -= 1
                if budget < 0 { return nil }
                if mark[p] == generation { continue }
                mark[p] = generation
                switch program[p] {
                case .match: return true
                case .jump(let t): stack.append(t)
                case .split(let a, let b):
                    stack.append(b)
                    stack.append(a)
                case .assert(let a):
                    if holds(a, at: position) { stack.append(p + 1) }
                case .scalar, .any, .set:
                    list.append(p)
                }
            }
            return false
        }

        func holds(_ a: Assertion, at p: Int) -> Bool {
            let n = text.count
            switch a {
            case .textStart: return p == 0
            case .textEnd: return p == n
            case .lineStart(let multiline): return p == 0 || (multiline && isLineTerminator(text[p - 1]))
            case .lineEnd(let multiline):
                if p == n { return true }
                if multiline { return isLineTerminator(text[p]) }
                return p == n - 1 && isLineTerminator(text[p])
            case .textEndOrFinalNewline: return p == n || (p == n - 1 && isLineTerminator(text[p]))
            case .wordBoundary, .notWordBoundary:
                let before = p > 0 && isWord(text[p - 1])
                let after = p < n && isWord(text[p])
                return (before != after) == (a == .wordBoundary)
            }
        }

        func consumes(_ inst: Instruction, _ c: Unicode.Scalar) -> Bool {
            switch inst {
            case .scalar(let want, let fold):
                if c == want { return true }
                return fold && caseVariants(c).contains(want)
            case .any(let dotAll): return dotAll || !isLineTerminator(c)
            case .set(let s): return s.contains(c)
            default: return false
            }
        }

        mutating func run() -> MatchResult {
            var current: [Int] = []
            var next: [Int] = []
            current.reserveCapacity(program.count)
            next.reserveCapacity(program.count)
            generation += 1
            for position in 0...text.count {
                // A new attempt starts at every position (an unanchored search).
                guard let found = addThread(0, at: position, into: &current) else { return .overBudget }
                if found { return .matched }
                if position == text.count || current.isEmpty { current.removeAll(keepingCapacity: true); generation += 1; continue }
                let c = text[position]
                generation += 1
                for pc in current where consumes(program[pc], c) {
                    guard let found = addThread(pc + 1, at: position + 1, into: &next) else { return .overBudget }
                    if found { return .matched }
                }
                swap(&current, &next)
                next.removeAll(keepingCapacity: true)
            }
            return .noMatch
        }
    }
}

private func isDigit(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal }

private func isWord(_ c: Unicode.Scalar) -> Bool {
    c == "_" || c.properties.isAlphabetic || c.properties.numericType == .decimal || c.properties.generalCategory == .nonspacingMark
}

private func isLineTerminator(_ c: Unicode.Scalar) -> Bool {
    c == "\n" || c == "\r" || c == "\u{85}" || c == "\u{2028}" || c == "\u{2029}"
}

/// The simple case variants of a scalar (lower and upper), for case-insensitive matching.
private func caseVariants(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    for m in [c.properties.lowercaseMapping, c.properties.uppercaseMapping] {
        let scalars = m.unicodeScalars
        if scalars.count == 1, let s = scalars.first, s != c { out.append(s) }
    }
    return out
}
