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
    public func answer(prompt: String, sample: Int = 0) -> String? {
        guard let input = SimulatedJudge.section(prompt, "Input"), let output = SimulatedJudge.section(prompt, "Output") else { return nil }
        let kind: String
        if SimulatedJudge.section(prompt, "Rubric") != nil { kind = "rubric" }
        else if SimulatedJudge.section(prompt, "Criterion") != nil { kind = "criterion" }
        else if SimulatedJudge.section(prompt, "Expert") != nil { kind = "expert" }
        else { return nil }
        var key = Array(prompt.utf8)
        key.append(contentsOf: "|judge|\(salt)".utf8)
        if sample > 0 { key.append(contentsOf: "|sample=\(sample)".utf8) }
        var rng = SplitMix64(seed: fnv1a(key))
        let truth = SimulatedJudge.isRight(output: output, input: input)
        let verdict = rng.nextUnit() < accuracy ? truth : !truth
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
}

import EvalCore
import Foundation
