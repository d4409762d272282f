/// Parses a duration: `45` (seconds), `250ms`, `1.5s`, `30m`, `12h`, `14d`, or compounds like
/// `6m0s` and `1h2m3.5s` (Go's form, which OpenAI's rate-limit headers use). Nil when malformed.
public func parseDuration(_ text: String) -> Double? {
    let t = text.trimmingSpaces
    if let plain = Double(t) { return plain >= 0 ? plain : nil }
    var total = 0.0
    var number = ""
    var chars = Array(t)
    guard !chars.isEmpty else { return nil }
    chars.append(" ")
    var i = 0
    while i < chars.count - 1 {
        let c = chars[i]
        if c.isNumber || c == "." {
            number.append(c)
            i += 1
            continue
        }
        guard let n = Double(number) else { return nil }
        number = ""
        switch c {
        case "m" where chars[i + 1] == "s":
            total += n / 1000
            i += 1
        case "d": total += n * 86400
        case "h": total += n * 3600
        case "m": total += n * 60
        case "s": total += n
        default: return nil
        }
        i += 1
    }
    return number.isEmpty ? total : nil
}

extension Duration {
    /// The duration in seconds, as a Double (for reports and rates).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
