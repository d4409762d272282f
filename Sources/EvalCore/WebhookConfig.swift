/// A scorer behind a URL (`webhooks:` in the endpoints config). Golden sets and requests name it;
/// they never carry URLs, so nothing a case says can make us call another host.
public struct WebhookConfig: Sendable, Hashable {
    public var name: String
    public var url: String
    public var timeoutSeconds = 30.0
    /// Sent as `Authorization: Bearer` (never logged, redacted from error texts).
    public var apiKeyEnv: String?

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    static let knownFields: Set<String> = ["name", "url", "timeout_seconds", "api_key_env", "description"]

    public static func decode(_ json: JSONValue) throws(FieldError) -> WebhookConfig {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a webhook must be an object {name, url}") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        guard let name = o["name"]?.stringValue, !name.isEmpty else { throw FieldError(field: "name", message: "missing or not a string") }
        guard let url = o["url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw FieldError(field: "url", message: "must be an http:// or https:// URL")
        }
        var w = WebhookConfig(name: name, url: url)
        if let t = o["timeout_seconds"], t != .null {
            guard let n = t.numberValue, n >= 0.001, n <= 600 else { throw FieldError(field: "timeout_seconds", message: "must be a number of seconds from 0.001 to 600") }
            w.timeoutSeconds = n
        }
        if let k = o["api_key_env"], k != .null {
            guard let s = k.stringValue, !s.isEmpty else { throw FieldError(field: "api_key_env", message: "must be a variable name") }
            w.apiKeyEnv = s
        }
        return w
    }
}
