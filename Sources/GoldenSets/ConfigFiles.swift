import EvalCore

extension String {
    fileprivate var trimmingSpacesAndNewlines: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Loaders for the YAML/JSON configuration files; errors name the file, line and field.
public enum ConfigFiles {
    /// Reads `endpoints: [...]` (or a bare list) from an endpoints file.
    public static func loadEndpoints(path: String) throws(InputError) -> [EndpointConfig] {
        let root = try document(path)
        let listNode: DocNode
        if case .list = root.kind {
            listNode = root
        } else if let e = root["endpoints"], case .list = e.kind {
            listNode = e
        } else {
            throw InputError(location: SourceLocation(file: path, line: root.line), field: "endpoints", message: "missing or not a list of endpoints")
        }
        guard case .list(let items) = listNode.kind else { return [] }
        var out: [EndpointConfig] = []
        var seen: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            let e = try decodeLocated(item, file: path, prefix: "endpoints[\(i)]", EndpointConfig.decode)
            if let first = seen[e.name] {
                throw InputError(location: SourceLocation(file: path, line: item.line), field: "endpoints[\(i)].name",
                    message: "duplicate endpoint name '\(e.name)' (first defined at line \(first))")
            }
            seen[e.name] = item.line
            out.append(e)
        }
        return out
    }

    /// Reads `webhooks: [...]` (scorers behind URLs) from an endpoints file; none when it has none.
    public static func loadWebhooks(path: String) throws(InputError) -> [WebhookConfig] {
        let root = try document(path)
        guard let list = root["webhooks"] else { return [] }
        guard case .list(let items) = list.kind else {
            throw InputError(location: SourceLocation(file: path, line: list.line), field: "webhooks", message: "must be a list of {name, url}")
        }
        var out: [WebhookConfig] = []
        for (i, item) in items.enumerated() {
            let w = try decodeLocated(item, file: path, prefix: "webhooks[\(i)]", WebhookConfig.decode)
            if out.contains(where: { $0.name == w.name }) {
                throw InputError(location: SourceLocation(file: path, line: item.line), field: "webhooks[\(i)].name", message: "duplicate webhook name '\(w.name)'")
            }
            out.append(w)
        }
        return out
    }

    /// Reads a prompt file (`messages` or `prompt`, and `params`).
    /// `tools: file:tools.json` (or .yaml) reads the tool definitions from that file, relative to the prompt's.
    public static func loadPrompt(path: String) throws(InputError) -> PromptConfig {
        var root = try document(path)
        if case .map(var pairs) = root.kind, let i = pairs.firstIndex(where: { $0.key == "tools" }),
            case .scalar(.string(let ref)) = pairs[i].value.kind, ref.hasPrefix("file:")
        {
            let name = String(ref.dropFirst(5)).trimmingSpacesAndNewlines
            let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
            let toolsPath = name.hasPrefix("/") ? name : dir + "/" + name
            let tools = try document(toolsPath)
            // The tools file's own errors name its lines.
            _ = try decodeLocated(tools, file: toolsPath, ToolDefinition.decodeList)
            pairs[i].value = tools
            root.kind = .map(pairs)
        }
        return try decodeLocated(root, file: path, PromptConfig.decode)
    }

    /// Reads a gate file: the thresholds at the top level or under `gate:`.
    public static func loadGate(path: String) throws(InputError) -> GateConfig {
        let root = try document(path)
        if let g = root["gate"] { return try decodeLocated(g, file: path, prefix: "gate", GateConfig.decode) }
        return try decodeLocated(root, file: path, GateConfig.decode)
    }

    /// Reads a shadow-compare gate: the file's top level, or its `shadow_gate:` section.
    public static func loadShadowGate(path: String) throws(InputError) -> ShadowGate {
        let root = try document(path)
        if let g = root["shadow_gate"] { return try decodeLocated(g, file: path, prefix: "shadow_gate", ShadowGate.decode) }
        return try decodeLocated(root, file: path, ShadowGate.decode)
    }

    /// Parses a YAML/JSON file that must not be empty.
    public static func document(_ path: String) throws(InputError) -> DocNode {
        guard let root = try DocNode.parseYAML(try readTextFile(path), file: path) else {
            throw InputError(location: SourceLocation(file: path, line: 0), message: "the file is empty")
        }
        return root
    }
}
