/// How well a judge's pass/fail verdicts agree with people's: accuracy with its Wilson interval,
/// Cohen's κ with a percentile-bootstrap interval over items, and the confusion matrix (people
/// as the reference).
public struct Agreement: Sendable, Hashable {
    public var items: Int
    public var accuracy: Double
    public var accuracyCI: (low: Double, high: Double)
    /// (p_o − p_e) / (1 − p_e); 1 when both raters are constant and agree, 0 when p_e is 1 otherwise.
    public var kappa: Double
    public var kappaCI: (low: Double, high: Double)
    /// People pass, judge pass / people pass, judge fail / people fail, judge pass / both fail.
    public var truePass: Int
    public var missedPass: Int
    public var falsePass: Int
    public var trueFail: Int

    public static func == (a: Agreement, b: Agreement) -> Bool {
        a.items == b.items && a.accuracy == b.accuracy && a.kappa == b.kappa && a.truePass == b.truePass && a.missedPass == b.missedPass
            && a.falsePass == b.falsePass && a.trueFail == b.trueFail && a.accuracyCI == b.accuracyCI && a.kappaCI == b.kappaCI
    }

    public func hash(into h: inout Hasher) {
        h.combine(items)
        h.combine(kappa)
        h.combine(accuracy)
    }

    /// Cohen's κ of `pairs` (people, judge).
    public static func kappa(_ pairs: [(human: Bool, judge: Bool)]) -> Double {
        kappa(counts(pairs))
    }

    static func counts(_ pairs: [(human: Bool, judge: Bool)]) -> (tp: Int, fn: Int, fp: Int, tn: Int) {
        var c = (tp: 0, fn: 0, fp: 0, tn: 0)
        for p in pairs {
            switch (p.human, p.judge) {
            case (true, true): c.tp += 1
            case (true, false): c.fn += 1
            case (false, true): c.fp += 1
            case (false, false): c.tn += 1
            }
        }
        return c
    }

    static func kappa(_ c: (tp: Int, fn: Int, fp: Int, tn: Int)) -> Double {
        let n = Double(c.tp + c.fn + c.fp + c.tn)
        guard n > 0 else { return 0 }
        let po = Double(c.tp + c.tn) / n
        let humanPass = Double(c.tp + c.fn) / n
        let judgePass = Double(c.tp + c.fp) / n
        let pe = humanPass * judgePass + (1 - humanPass) * (1 - judgePass)
        guard pe < 1 else { return po == 1 ? 1 : 0 }
        return (po - pe) / (1 - pe)
    }

    /// Everything above for `pairs`, the κ interval from `resamples` seeded bootstrap draws.
    public static func measure(_ pairs: [(human: Bool, judge: Bool)], resamples: Int = 1000, seed: UInt64 = 0x5EED) -> Agreement? {
        guard !pairs.isEmpty else { return nil }
        let c = counts(pairs)
        let n = pairs.count
        let agree = c.tp + c.tn
        var rng = SplitMix64(seed: seed)
        var draws = [Double](repeating: 0, count: resamples)
        // Resample item indices; only the four counts matter, so each draw is O(n) without copies.
        let codes = pairs.map { ($0.human ? 2 : 0) + ($0.judge ? 1 : 0) }
        for b in 0..<resamples {
            var d = (tp: 0, fn: 0, fp: 0, tn: 0)
            for _ in 0..<n {
                switch codes[Int(rng.next(below: UInt64(n)))] {
                case 3: d.tp += 1
                case 2: d.fn += 1
                case 1: d.fp += 1
                default: d.tn += 1
                }
            }
            draws[b] = kappa(d)
        }
        draws.sort()
        return Agreement(
            items: n, accuracy: Double(agree) / Double(n), accuracyCI: Statistics.wilson(successes: agree, trials: n),
            kappa: kappa(c), kappaCI: (Statistics.percentile(sorted: draws, 0.025)!, Statistics.percentile(sorted: draws, 0.975)!),
            truePass: c.tp, missedPass: c.fn, falsePass: c.fp, trueFail: c.tn)
    }

    public var json: JSONValue {
        [
            "items": .number(Double(items)), "accuracy": .number(accuracy), "accuracy_ci95": [.number(accuracyCI.low), .number(accuracyCI.high)],
            "kappa": .number(kappa), "kappa_ci95": [.number(kappaCI.low), .number(kappaCI.high)],
            "confusion": ["human_pass_judge_pass": .number(Double(truePass)), "human_pass_judge_fail": .number(Double(missedPass)),
                          "human_fail_judge_pass": .number(Double(falsePass)), "human_fail_judge_fail": .number(Double(trueFail))],
        ]
    }
}
