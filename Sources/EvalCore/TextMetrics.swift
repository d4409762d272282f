/// Text-overlap metrics with promptfoo's semantics (see eval-runners.md §1b).
public enum TextMetrics {
    /// Character edit distance (insert, delete, substitute; Unicode scalars).
    public static func levenshtein(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars)
        let y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }

    /// Edit distance when it is at most `k`, else `k + 1` ("more than k"), computed in a band of
    /// width 2k+1 around the diagonal (Ukkonen): O(n·k), not O(n·m). Nil when even the band would
    /// need more than `maxCells` cells.
    public static func levenshtein(_ a: String, _ b: String, atMost k: Int, maxCells: Int) -> Int? {
        let x = Array(a.unicodeScalars)
        let y = Array(b.unicodeScalars)
        let k = max(0, k)
        if abs(x.count - y.count) > k { return k + 1 }
        if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
        let band = min(y.count, 2 * k + 1)
        guard x.count.multipliedReportingOverflow(by: band).partialValue <= maxCells, x.count <= maxCells else { return nil }
        let big = k + 1
        var previous = [Int](repeating: big, count: y.count + 1)
        var current = [Int](repeating: big, count: y.count + 1)
        for j in 0...min(y.count, k) { previous[j] = j }
        for i in 1...x.count {
            let lo = max(1, i - k)
            let hi = min(y.count, i + k)
            current[lo - 1] = lo - 1 == 0 ? i : big
            if lo > 1 { current[lo - 1] = big }
            var rowMin = current[lo - 1]
            if lo <= hi {
                for j in lo...hi {
                    let cost = x[i - 1] == y[j - 1] ? 0 : 1
                    let v = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost, big)
                    current[j] = v
                    rowMin = min(rowMin, v)
                }
            }
            if hi < y.count { current[hi + 1] = big }
            if rowMin > k { return k + 1 }
            swap(&previous, &current)
        }
        return min(previous[y.count], big)
    }

    /// Lower-cased word tokens: runs of letters and digits; other non-space characters are tokens
    /// of their own (a tree-bank-like split: "it's." -> it ' s .).
    public static func wordTokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber {
                current.append(ch)
            } else {
                if !current.isEmpty {
                    tokens.append(current)
                    current = ""
                }
                if !ch.isWhitespace { tokens.append(String(ch)) }
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    static func ngrams(_ tokens: [String], _ n: Int) -> [[String]: Int] {
        var counts: [[String]: Int] = [:]
        guard tokens.count >= n, n > 0 else { return counts }
        for i in 0...(tokens.count - n) { counts[Array(tokens[i..<(i + n)]), default: 0] += 1 }
        return counts
    }

    /// ROUGE-N F1 (β = 1) with clipped n-gram counts, both texts lower-cased and tokenised.
    public static func rougeN(candidate: String, reference: String, n: Int = 1) -> Double {
        let c = ngrams(wordTokens(candidate), n)
        let r = ngrams(wordTokens(reference), n)
        let cTotal = c.values.reduce(0, +)
        let rTotal = r.values.reduce(0, +)
        guard cTotal > 0, rTotal > 0 else { return 0 }
        var overlap = 0
        for (gram, count) in c { overlap += min(count, r[gram] ?? 0) }
        let precision = Double(overlap) / Double(cTotal)
        let recall = Double(overlap) / Double(rTotal)
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
    }

    /// Sentence BLEU-4: whitespace tokens lower-cased, clipped counts (max over references), brevity
    /// penalty against the closest reference length, zero precisions smoothed to 1e-7.
    public static func bleu(candidate: String, references: [String]) -> Double {
        let cand = candidate.lowercased().split(whereSeparator: \.isWhitespace).map(String.init)
        let refs = references.map { $0.lowercased().split(whereSeparator: \.isWhitespace).map(String.init) }
        guard !cand.isEmpty, !refs.isEmpty else { return 0 }
        var logSum = 0.0
        for n in 1...4 {
            let cGrams = ngrams(cand, n)
            let total = cGrams.values.reduce(0, +)
            var maxRef: [[String]: Int] = [:]
            for r in refs {
                for (g, count) in ngrams(r, n) { maxRef[g] = max(maxRef[g] ?? 0, count) }
            }
            var clipped = 0
            for (g, count) in cGrams { clipped += min(count, maxRef[g] ?? 0) }
            let p = total == 0 || clipped == 0 ? 1e-7 : Double(clipped) / Double(total)
            logSum += 0.25 * log(p)
        }
        let c = cand.count
        let closest = refs.map(\.count).min { abs($0 - c) == abs($1 - c) ? $0 < $1 : abs($0 - c) < abs($1 - c) }!
        let bp = c > closest ? 1.0 : exp(1 - Double(closest) / Double(c))
        return bp * exp(logSum)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
