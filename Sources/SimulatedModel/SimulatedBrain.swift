import EvalCore

/// The simulated model's "knowledge": a few task families it can really solve, so golden sets
/// pass and fail for real. Answers are a pure function of (model, prompt, seed, temperature,
/// sampling salt).
///
/// Which answers are wrong follows an item-difficulty model, so that comparisons between models
/// behave like real ones: every prompt has a difficulty in [0, 1) (a hash of the prompt alone), and
/// a model with accuracy `a` answers correctly exactly the prompts easier than `a`. A weaker model
/// therefore fails a superset of a stronger one's prompts, as real models mostly do. Sampling at
/// temperature t > 0 jitters the difficulty by up to ±0.05·t, drawn per (prompt, seed, salt): two
/// deployments of one model (different salts) then disagree on prompts near their accuracy, which
/// is the noise shadow comparisons must not mistake for a regression.
public struct SimulatedBrain: Sendable {
    public var accuracy: Double
    /// Tells sampling deployments apart (the simulator passes its profile seed).
    public var samplingSalt: UInt64

    public init(accuracy: Double, samplingSalt: UInt64 = 0) {
        self.accuracy = accuracy
        self.samplingSalt = samplingSalt
    }

    /// The difficulty of a prompt, uniform in [0, 1).
    public static func difficulty(_ prompt: String) -> Double {
        var rng = SplitMix64(seed: fnv1a(Array(prompt.utf8)))
        return rng.nextUnit()
    }

    /// The answer to the last user message (the system message only sets the style). `sample`
    /// tells apart repeated unseeded calls at temperature > 0 (0 for the first, as always).
    /// `previous` is the model's own answer before this message in a conversation: a follow-up
    /// ("Multiply that by 4.", "Add 7 to that.") works on the number it answered.
    public func answer(model: String, prompt: String, seed: Int?, temperature: Double?, sample: Int = 0, previous: String? = nil) -> String {
        // Only a follow-up depends on the previous answer (a few-shot prompt's assistant turns do not).
        let follow = previous.flatMap { SimulatedBrain.followUp(prompt, previous: $0) }
        let conversation = follow == nil ? nil : previous
        var key: [UInt8] = Array(model.utf8)
        key.append(0)
        if let conversation { key.append(contentsOf: (conversation + "\u{0}").utf8) }
        key.append(contentsOf: prompt.utf8)
        var difficulty = SimulatedBrain.difficulty(conversation.map { $0 + "\n" + prompt } ?? prompt)
        if let t = temperature, t > 0 {
            // Sampling: the seed and the deployment's salt pick the sample.
            key.append(contentsOf: "|seed=\(seed ?? 0)|t=\(t)|salt=\(samplingSalt)".utf8)
            if sample > 0 { key.append(contentsOf: "|sample=\(sample)".utf8) }
            var jitter = SplitMix64(seed: fnv1a(key))
            difficulty += 0.05 * min(t, 2) * (2 * jitter.nextUnit() - 1)
        }
        var rng = SplitMix64(seed: fnv1a(key) ^ 0x9E37_79B9_7F4A_7C15)
        if let value = follow {
            if difficulty < accuracy { return String(value) }
            return String(value + Int(rng.next(below: 3)) + 1)
        }
        return solve(prompt, correct: difficulty < accuracy, rng: &rng)
    }

    /// "Multiply that by N", "Add N to that", "Subtract N from that" on the last number of `previous`.
    static func followUp(_ prompt: String, previous: String) -> Int? {
        let words = prompt.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "-" }).map(String.init)
        guard words.contains("that"), let n = words.compactMap({ Int($0) }).last else { return nil }
        guard let last = previous.split(whereSeparator: { !$0.isNumber && $0 != "-" }).compactMap({ Int($0) }).last else { return nil }
        // Bounded: a follow-up of huge numbers must not trap the simulator.
        guard abs(last) < 1_000_000_000, abs(n) < 1_000_000_000 else { return nil }
        if words.contains("multiply") || words.contains("times") { return last * n }
        if words.contains("add") || words.contains("plus") { return last + n }
        if words.contains("subtract") || words.contains("minus") { return last - n }
        return nil
    }

    /// The tool call the model makes for a prompt offering `tools` (by name), or nil when none
    /// of its task families fits: arithmetic → `calculator {a, b, op}`, person extraction →
    /// `record_person {name, age, city}`. The argument names are the model's own (as if it had
    /// been tuned on them), whatever the offered schema says; a wrong answer gets an operand or
    /// the age off by one, by the same difficulty model as the text answers.
    public func toolCall(model: String, prompt: String, tools: Set<String>, seed: Int?, temperature: Double?, sample: Int = 0) -> (name: String, arguments: String)? {
        let lower = prompt.lowercased()
        var key: [UInt8] = Array("tool\u{0}\(model)\u{0}".utf8)
        key.append(contentsOf: prompt.utf8)
        var difficulty = SimulatedBrain.difficulty(prompt)
        if let t = temperature, t > 0 {
            key.append(contentsOf: "|seed=\(seed ?? 0)|t=\(t)|salt=\(samplingSalt)|sample=\(sample)".utf8)
            var jitter = SplitMix64(seed: fnv1a(key))
            difficulty += 0.05 * min(t, 2) * (2 * jitter.nextUnit() - 1)
        }
        let correct = difficulty < accuracy
        var rng = SplitMix64(seed: fnv1a(key) ^ 0x9E37_79B9_7F4A_7C15)
        if tools.contains("calculator"), let r = lower.range(of: "what is ") {
            let tokens = String(lower[r.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: " ?.\n")).split(separator: " ")
            // Bounded: operands a request makes huge must not overflow the simulator.
            if tokens.count == 3, var a = Int(tokens[0]), let b = Int(tokens[2]), abs(a) < 1_000_000_000, abs(b) < 1_000_000_000, let op = ["+": "+", "plus": "+", "-": "-", "minus": "-", "*": "*", "x": "*", "times": "*"][String(tokens[1])] {
                if !correct { a += Int(rng.next(below: 3)) + 1 }
                return ("calculator", "{\"a\": \(a), \"b\": \(b), \"op\": \"\(op)\"}")
            }
        }
        if tools.contains("record_person"), let text = after(prompt, lower, "extract the person:") ?? after(prompt, lower, "extract the person as json:") {
            let words = text.trimmingCharacters(in: CharacterSet(charactersIn: ". ")).split(separator: " ").map(String.init)
            if words.count >= 9, let age = Int(words[2]), abs(age) < 1_000_000 {
                let city = words[8...].joined(separator: " ")
                return ("record_person", "{\"name\": \"\(words[0])\", \"age\": \(correct ? age : age + 1), \"city\": \"\(city)\"}")
            }
        }
        return nil
    }

    func solve(_ prompt: String, correct: Bool, rng: inout SplitMix64) -> String {
        let lower = prompt.lowercased()
        if let r = lower.range(of: "capital of ") {
            let country = prompt[r.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: " ?.!\n"))
            guard let capital = SimulatedBrain.capitals[country.lowercased()] else {
                return "I am not sure what the capital of \(country) is."
            }
            let name = country.prefix(1).uppercased() + country.dropFirst()
            if correct { return "The capital of \(name) is \(capital)." }
            let others = SimulatedBrain.capitalList.filter { $0 != capital }
            return "The capital of \(name) is \(others[Int(rng.next(below: UInt64(others.count)))])."
        }
        if let r = lower.range(of: "what is "), let result = arithmetic(String(lower[r.upperBound...])) {
            if correct { return String(result) }
            let delta = Int(rng.next(below: 3)) + 1
            return String(rng.next(below: 2) == 0 ? result + delta : result - delta)
        }
        if let text = after(prompt, lower, "convert to uppercase:") {
            if correct { return text.uppercased() }
            return String(text.prefix(1)).uppercased() + String(text.dropFirst())
        }
        if let text = after(prompt, lower, "reverse the words:") {
            let words = text.split(separator: " ")
            if correct || words.count < 2 { return words.reversed().joined(separator: " ") }
            return words.joined(separator: " ")
        }
        if let text = after(prompt, lower, "count the words:") {
            let n = text.split(whereSeparator: \.isWhitespace).count
            return String(correct ? n : n + 1)
        }
        if let text = after(prompt, lower, "extract the person as json:") ?? after(prompt, lower, "extract the person:") {
            return extractPerson(text, correct: correct, rng: &rng)
        }
        if let text = after(prompt, lower, "classify the sentiment:") {
            let label = sentiment(text)
            if correct { return label }
            let others = ["positive", "negative", "neutral"].filter { $0 != label }
            return others[Int(rng.next(below: 2))]
        }
        if let text = after(prompt, lower, "repeat exactly:") {
            return correct ? text : text + " Sure."
        }
        if let text = after(prompt, lower, "summarize:") {
            // First sentence: a terse but faithful summary.
            let first = text.split(separator: ".", maxSplits: 1).first.map(String.init) ?? text
            return correct ? first.trimmingCharacters(in: .whitespaces) + "." : "This text is about something else entirely."
        }
        // Anything else: a fluent but content-free answer derived from the words of the prompt.
        let words: [String] = prompt.split(whereSeparator: { !$0.isLetter }).filter { $0.count > 3 }.prefix(4).map(String.init)
        let topic: String = words.isEmpty ? "your request" : words.joined(separator: ", ")
        return "Here is a considered answer about \(topic)."
    }

    private func after(_ prompt: String, _ lower: String, _ marker: String) -> String? {
        guard let r = lower.range(of: marker) else { return nil }
        let offset = lower.distance(from: lower.startIndex, to: r.upperBound)
        // `lower` and `prompt` have the same length for the ASCII markers we use.
        guard offset <= prompt.count else { return nil }
        return String(prompt.dropFirst(offset)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func arithmetic(_ text: String) -> Int? {
        let tokens = text.trimmingCharacters(in: CharacterSet(charactersIn: " ?.\n")).split(separator: " ")
        // Bounded: a request's 9223372036854775807 + 1 must not trap the simulator.
        guard tokens.count == 3, let a = Int(tokens[0]), let b = Int(tokens[2]), abs(a) < 1_000_000_000, abs(b) < 1_000_000_000 else { return nil }
        switch tokens[1] {
        case "+", "plus": return a + b
        case "-", "minus": return a - b
        case "*", "x", "times": return a * b
        default: return nil
        }
    }

    private func extractPerson(_ text: String, correct: Bool, rng: inout SplitMix64) -> String {
        // "<Name> is <age> years old and lives in <City>."
        let words = text.trimmingCharacters(in: CharacterSet(charactersIn: ". ")).split(separator: " ").map(String.init)
        guard words.count >= 9, let age = Int(words[2]), abs(age) < 1_000_000 else { return "{\"error\": \"could not parse\"}" }
        let name = words[0]
        let city = words[8...].joined(separator: " ")
        if correct { return "{\"name\": \"\(name)\", \"age\": \(age), \"city\": \"\(city)\"}" }
        if rng.next(below: 2) == 0 { return "Sure! {\"name\": \"\(name)\", \"age\": \"\(age)\"}" }
        return "{\"name\": \"\(name)\", \"age\": \(age + 1), \"city\": \"\(city)\"}"
    }

    private func sentiment(_ text: String) -> String {
        var score = 0
        for w in text.lowercased().split(whereSeparator: { !$0.isLetter }) {
            if SimulatedBrain.positive.contains(String(w)) { score += 1 }
            if SimulatedBrain.negative.contains(String(w)) { score -= 1 }
        }
        return score > 0 ? "positive" : (score < 0 ? "negative" : "neutral")
    }

    static let positive: Set<String> = [
        "good", "great", "excellent", "love", "loved", "wonderful", "happy", "fantastic", "perfect", "amazing", "enjoyed",
        "recommend", "fast", "friendly", "delicious", "beautiful", "best", "pleasant",
    ]
    static let negative: Set<String> = [
        "bad", "terrible", "awful", "hate", "hated", "poor", "slow", "broken", "rude", "worst", "disappointing",
        "disappointed", "cold", "dirty", "late", "never", "refund", "boring",
    ]

    static let capitals: [String: String] = [
        "france": "Paris", "germany": "Berlin", "italy": "Rome", "spain": "Madrid", "portugal": "Lisbon",
        "japan": "Tokyo", "china": "Beijing", "india": "New Delhi", "brazil": "Brasília", "canada": "Ottawa",
        "australia": "Canberra", "mexico": "Mexico City", "egypt": "Cairo", "kenya": "Nairobi", "nigeria": "Abuja",
        "argentina": "Buenos Aires", "chile": "Santiago", "peru": "Lima", "norway": "Oslo", "sweden": "Stockholm",
        "finland": "Helsinki", "denmark": "Copenhagen", "poland": "Warsaw", "austria": "Vienna", "greece": "Athens",
        "turkey": "Ankara", "ireland": "Dublin", "netherlands": "Amsterdam", "belgium": "Brussels",
        "switzerland": "Bern", "hungary": "Budapest", "czechia": "Prague", "romania": "Bucharest",
        "south korea": "Seoul", "thailand": "Bangkok", "vietnam": "Hanoi", "indonesia": "Jakarta",
        "philippines": "Manila", "new zealand": "Wellington", "south africa": "Pretoria", "morocco": "Rabat",
        "ethiopia": "Addis Ababa", "colombia": "Bogotá", "venezuela": "Caracas", "cuba": "Havana",
        "iceland": "Reykjavik", "ukraine": "Kyiv", "pakistan": "Islamabad", "iran": "Tehran", "saudi arabia": "Riyadh",
    ]
    static let capitalList: [String] = capitals.values.sorted()
}

/// 64-bit FNV-1a: a fast, stable hash for deterministic choices (not for security).
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}

import Foundation
