/// Where a request goes, read once from an endpoint's URL: the scheme, host and port a connection
/// is opened to, and the path (with any base-URL prefix and query) each request names.
struct HTTPOrigin: Sendable, Hashable {
    var tls: Bool
    /// Without brackets for an IPv6 literal.
    var host: String
    var port: Int
    /// What the `Host` header says (brackets and a non-default port kept).
    var hostHeader: String
    /// The request target: "/", a base URL's prefix, the API path and any query.
    var path: String

    /// Nil for anything but `http://` or `https://` with a host and, if given, a port from 1 to 65535.
    init?(url: String) {
        let rest: Substring
        if url.hasPrefix("https://") {
            tls = true
            rest = url.dropFirst("https://".count)
        } else if url.hasPrefix("http://") {
            tls = false
            rest = url.dropFirst("http://".count)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if let fragment = target.firstIndex(of: "#") { target = String(target[..<fragment]) }
        if target.isEmpty || target.first == "?" { target = "/" + target }
        // Credentials in the URL are not a way we send keys: refuse rather than put them in a header.
        guard !authority.contains("@") else { return nil }
        // The URL is written into the request line and the Host header as it is: no spaces or control
        // characters (a CRLF there would add headers of its own).
        guard url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return nil }
        hostHeader = String(authority)
        var portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return nil }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                portText = authority[authority.index(after: colon)...]
                authority = authority[..<colon]
            }
            host = String(authority)
        }
        guard !host.isEmpty else { return nil }
        if let portText {
            // Range-checked before the conversion: "99999999999999999999" must not trap.
            guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(portText), (1...65535).contains(p)
            else { return nil }
            port = p
        } else {
            port = tls ? 443 : 80
        }
        path = target
    }

    /// Whether `host` is an IP literal (TLS sends no SNI name for one).
    var hostIsIPAddress: Bool {
        host.contains(":") || (!host.isEmpty && host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) })
    }
}
