import Foundation

/// Removes configured secrets from text an endpoint sent back before it is stored or shown:
/// providers and gateways echo the `Authorization` header in error bodies, and an error text goes
/// into reports, JUnit files, the store and the service's report endpoint.
public struct SecretRedactor: Sendable {
    public static let mask = "[REDACTED]"
    private let secrets: [String]

    /// `secrets` shorter than 4 characters are ignored: masking them would mask ordinary words.
    public init(secrets: [String]) {
        // Longest first, so a key that contains another is masked whole.
        self.secrets = Array(Set(secrets.filter { $0.utf8.count >= 4 })).sorted { $0.utf8.count > $1.utf8.count }
    }

    /// `text` with every secret, and every `Bearer <token>` credential whatever its value, masked.
    public func redact(_ text: String) -> String {
        SecretRedactor.maskBearerTokens(redactSecrets(text))
    }

    /// `text` with the configured secrets masked, and nothing else changed (for model outputs,
    /// which may legitimately talk about bearer tokens).
    public func redactSecrets(_ text: String) -> String {
        var out = text
        for s in secrets where out.contains(s) {
            out = out.replacingAll(s, with: SecretRedactor.mask)
        }
        return out
    }

    /// Masks the word after `Bearer ` (any case): a credential of some other endpoint or gateway
    /// key that we were not told about is still a credential.
    static func maskBearerTokens(_ text: String) -> String {
        guard text.range(of: "bearer ", options: .caseInsensitive) != nil else { return text }
        var result = ""
        var rest = Substring(text)
        while let r = rest.range(of: "bearer ", options: .caseInsensitive) {
            result += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let tokenEnd = rest.firstIndex { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "," || $0 == "\n" || $0 == "}" || $0 == "\\" } ?? rest.endIndex
            if tokenEnd != rest.startIndex, !rest[..<tokenEnd].hasPrefix(mask) {
                result += mask
            } else {
                result += rest[..<tokenEnd]
            }
            rest = rest[tokenEnd...]
        }
        return result + rest
    }
}

extension String {
    /// Every occurrence of `target` replaced.
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            result += rest[..<r.lowerBound]
            result += replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }
}
