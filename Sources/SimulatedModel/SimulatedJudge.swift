/// The simulator as a judge: it recognises evalengine's judge prompts (their `<Input>`, `<Output>`
/// and `<Rubric>` / `<Criterion>` / `<Expert>` sections), decides whether the output is the right
/// answer to the input for its task families (it knows them: `SimulatedBrain.solve`), agrees with
/// that truth with probability `accuracy`, and answers in the format the prompt asks for — with a
/// `formatNoise` share in the messy forms real judges use and an `unparseableRate` share with no
/// verdict. Every choice is a hash of the prompt and the salt: the same prompt, the same answer.
public struct SimulatedJudge: Sendable {
    public var accuracy: Double
    public var formatNoise: Double
    public var unparseableRate: Double
    public var salt: UInt64
    /// -1 (harsh) … 1 (lenient): which way the mistakes lean (`judge_bias`).
    public var bias = 0.0

    public init(accuracy: Double, formatNoise: Double = 0, unparseableRate: Double = 0, salt: UInt64 = 0) {
        self.accuracy = accuracy
        self.formatNoise = formatNoise
        self.unparseableRate = unparseableRate
        self.salt = salt
    }

    /// The text between `<Tag>` and `</Tag>`, trimmed.
    static func section(_ text: String, _ tag: String) -> String? {
        guard let open = text.range(of: "<\(tag)>"), let close = text.range(of: "</\(tag)>", range: open.upperBound..<text.endIndex) else { return nil }
        return text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `output` is the right answer to `input`, as the simulated model knows it.
    public static func isRight(output: String, input: String) -> Bool {
        var rng = SplitMix64(seed: 0)
        let right = SimulatedBrain(accuracy: 1).solve(input, correct: true, rng: &rng)
        func norm(_ s: String) -> String {
            s.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: " .\n\t\"'"))
        }
        let (o, r) = (norm(output), norm(right))
        return o == r || (!r.isEmpty && r.count <= 40 && o.contains(r) && o.count <= r.count + 40)
    }

    /// The judge's answer to a judge prompt, or nil when `prompt` is not one.
    /// `system` (the request's system messages) says whether it is one of the JSON-answering prompts.
    public func answer(prompt: String, system: String = "", sample: Int = 0) -> String? {
        var key = Array(prompt.utf8)
        key.append(contentsOf: "|judge|\(salt)".utf8)
        if sample > 0 { key.append(contentsOf: "|sample=\(sample)".utf8) }
        var rng = SplitMix64(seed: fnv1a(key))
        // Its own draws: the verdict prompts' answers stay what they were.
        var structuredRNG = rng
        if system.contains(SimulatedJudge.jsonMarker), let structured = structuredAnswer(prompt, rng: &structuredRNG) { return structured }
        guard let input = SimulatedJudge.section(prompt, "Input"), let output = SimulatedJudge.section(prompt, "Output") else { return nil }
        let kind: String
        if SimulatedJudge.section(prompt, "Rubric") != nil { kind = "rubric" }
        else if SimulatedJudge.section(prompt, "Criterion") != nil { kind = "criterion" }
        else if SimulatedJudge.section(prompt, "Expert") != nil { kind = "expert" }
        else { return nil }
        let truth = SimulatedJudge.isRight(output: output, input: input)
        let verdict = judged(truth, rng.nextUnit())
        if rng.nextUnit() < unparseableRate {
            return ["I'm not able to grade this response.", "", "The output is interesting and raises several points worth discussing."][Int(rng.next(below: 3))]
        }
        let messy = rng.nextUnit() < formatNoise
        let style = rng.next(below: 3)
        let reason = verdict ? "The output gives the right answer to the input." : "The output does not give the right answer to the input."
        switch kind {
        case "rubric":
            let json = "{\"reason\": \"\(reason)\", \"score\": \(verdict ? "1.0" : "0.0"), \"pass\": \(verdict)}"
            guard messy else { return json }
            switch style {
            case 0: return "```json\n\(json)\n```"
            case 1: return "Let me assess this.\n\(json)\nI hope this helps."
            default: return "\(reason)\nGRADE: \(verdict ? "C" : "I")"
            }
        case "criterion":
            guard messy else { return "\(reason)\n\(verdict ? "Y" : "N")" }
            return style == 2 ? "\(reason)\nGRADE: \(verdict ? "C" : "I")" : "\(reason)\n\nAnswer: \(verdict ? "Yes" : "No")"
        default:
            let letter = verdict ? "C" : "D"
            guard messy else { return "\(reason)\n(\(letter))" }
            return style == 0 ? "{\"category\": \"\(letter)\", \"reason\": \"\(reason)\"}" : "\(reason)\nAnswer: \(letter)"
        }
    }

    // MARK: G-Eval, context metrics, answer relevance, select-best

    /// Answers of the prompts that are not a verdict on one output: G-Eval's steps and score,
    /// claims against a context, the needed sentences, questions, the best of several outputs.
    /// Ground truth: an output is right as `isRight` says; a claim or sentence is supported when
    /// most of its words are in the context. Each judgement flips with probability 1 − accuracy.
    /// The judge's call on `truth` at the uniform draw `u`: wrong with probability (1 − accuracy),
    /// leaning by `bias` (a lenient judge errs on wrong outputs, a harsh one on right ones). At
    /// bias 0 this is `u < accuracy ? truth : !truth`, draw for draw.
    func judged(_ truth: Bool, _ u: Double) -> Bool {
        let error = min(1, max(0, (1 - accuracy) * (truth ? 1 - bias : 1 + bias)))
        return u < 1 - error ? truth : !truth
    }

    /// Only evalengine's own judge prompts are answered so (their system message says so): a
    /// target's prompt may well have a <Context> section.
    func structuredAnswer(_ prompt: String, rng: inout SplitMix64) -> String? {
        let sec = { (tag: String) in SimulatedJudge.section(prompt, tag) }
        let input = sec("Input") ?? ""
        func decide(_ truth: Bool) -> Bool { judged(truth, rng.nextUnit()) }
        if rng.nextUnit() < unparseableRate, sec("Criteria") != nil || sec("Context") != nil || sec("Sentences") != nil || sec("Answer") != nil {
            return "I'm not able to grade this response."
        }
        let messy = rng.nextUnit() < formatNoise
        func emit(_ json: String) -> String { messy ? "Here is my assessment.\n```json\n\(json)\n```" : json }
        if let outputs = sec("Outputs"), sec("Criteria") != nil {
            let candidates = SimulatedJudge.numberedOutputs(outputs)
            guard !candidates.isEmpty else { return nil }
            let right = candidates.indices.filter { SimulatedJudge.isRight(output: candidates[$0], input: input) }
            var best = right.first ?? 0
            if !decide(true), candidates.count > 1 { best = (best + 1 + Int(rng.next(below: UInt64(candidates.count - 1)))) % candidates.count }
            return emit("{\"reason\": \"Output \(best) answers the input best.\", \"best\": \(best)}")
        }
        if let criteria = sec("Criteria") {
            guard let output = sec("Output") else {
                return emit("{\"steps\": [\"Read the input and what it asks.\", \"Check the output against: \(SimulatedJudge.escaped(String(criteria.prefix(80))))\", \"Score how fully the output meets it.\"]}")
            }
            let good = decide(SimulatedJudge.isRight(output: output, input: input))
            let score = good ? 8 + Int(rng.next(below: 3)) : 1 + Int(rng.next(below: 3))
            let reason = good ? "The output meets the criterion." : "The output does not meet the criterion."
            return messy ? "\(reason)\nScore: \(score)/10" : "{\"reason\": \"\(reason)\", \"score\": \(score)}"
        }
        if let context = sec("Context") {
            let words = SimulatedJudge.words(context)
            let (text, list, item, verdict) = sec("Reference").map { ($0, "statements", "statement", "attributed") } ?? (sec("Output") ?? "", "claims", "claim", "supported")
            let claims = JudgePrompts.sentences(text)
            let entries = claims.map { c in
                "{\"\(item)\": \"\(SimulatedJudge.escaped(c))\", \"\(verdict)\": \(decide(SimulatedJudge.supported(c, by: words)))}"
            }
            return emit("{\"\(list)\": [\(entries.joined(separator: ", "))]}")
        }
        if let sentences = sec("Sentences") {
            let asked = SimulatedJudge.words(input)
            var needed: [Int] = []
            for (i, line) in sentences.split(whereSeparator: \.isNewline).enumerated() where decide(!SimulatedJudge.words(String(line)).isDisjoint(with: asked)) {
                needed.append(i + 1)
            }
            return emit("{\"relevant\": [\(needed.map(String.init).joined(separator: ", "))]}")
        }
        if let answer = sec("Answer") {
            let lower = answer.lowercased()
            let noncommittal = ["i don't know", "i do not know", "cannot answer", "not sure"].contains { lower.contains($0) }
            let a = SimulatedJudge.escaped(String(answer.prefix(80)))
            return emit("{\"questions\": [\"What is \(a)?\", \"Which answer is \(a)?\", \"What gives \(a)?\"], \"noncommittal\": \(noncommittal)}")
        }
        return nil
    }

    /// What every JSON-answering judge prompt of evalengine says.
    public static let jsonMarker = "Answer with one JSON object and nothing else"

    /// `Output 0:\n...` blocks of a select-best prompt.
    static func numberedOutputs(_ text: String) -> [String] {
        var out: [String] = []
        for block in text.components(separatedBy: "\n\nOutput ") {
            guard let colon = block.firstIndex(of: ":") else { continue }
            out.append(block[block.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return out
    }

    /// Lower-cased words of four letters or more (the ones that carry content).
    static func words(_ text: String) -> Set<String> {
        Set(text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init).filter { $0.count >= 4 || $0.allSatisfy(\.isNumber) })
    }

    /// Most of the claim's content words are in the context.
    static func supported(_ claim: String, by context: Set<String>) -> Bool {
        let w = words(claim)
        guard !w.isEmpty else { return true }
        return Double(w.intersection(context).count) >= 0.75 * Double(w.count)
    }

    static func escaped(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n", "\r", "\t": out += " "
            default: out.append(ch)
            }
        }
        return out
    }
}

import EvalCore
import Foundation
