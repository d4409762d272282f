import EvalCore

/// One logged production request: the chat messages and sampling parameters it was sent with,
/// and, when the log has it, the production answer.
public struct TrafficCase: Sendable, Hashable {
    public var id: String
    public var messages: [ChatMessage]
    public var params: ModelParams
    public var tags: [String]
    public var productionOutput: String?
    public var line: Int
}

/// Reads a copy of production traffic: JSONL whose lines are OpenAI chat request bodies, or
/// `{id?, request: <body>, response?: <chat completion>, tags?: [...]}`. Line-numbered errors.
public enum TrafficFile {
    static let bodyFields: Set<String> = ["model", "messages", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format"]

    /// Whether `path` is a traffic copy rather than a golden set: JSONL whose first non-blank line
    /// is a chat request body (`messages`) or a logged exchange (`request`).
    public static func looksLikeTraffic(path: String) -> Bool {
        guard path.lowercased().hasSuffix(".jsonl"), let reader = try? LineReader(path: path) else { return false }
        while let (bytes, _) = reader.nextLine() {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let json = try? JSONValue.parse(bytes: bytes) else { return false }
            return json["messages"] != nil || json["request"] != nil
        }
        return false
    }

    /// Streams the cases to `body`, in file order.
    public static func forEach(path: String, _ body: (TrafficCase) throws -> Void) throws {
        let reader = try LineReader(path: path)
        while let (bytes, line) = reader.nextLine() {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            try body(try parse(bytes, line: line, file: path))
        }
    }

    /// Parses one line.
    public static func parse(_ bytes: [UInt8], line: Int, file: String) throws(InputError) -> TrafficCase {
        let location = SourceLocation(file: file, line: line)
        let json: JSONValue
        do { json = try JSONValue.parse(bytes: bytes) } catch {
            throw InputError(location: location, message: "malformed JSON: \(error.message) (column \(error.offset + 1))")
        }
        let request = json["request"] ?? json
        guard let messages = request["messages"]?.arrayValue, !messages.isEmpty else {
            throw InputError(location: location, field: json["request"] == nil ? "messages" : "request.messages", message: "missing or empty: a traffic line is an OpenAI chat request body")
        }
        var chat: [ChatMessage] = []
        for (i, m) in messages.enumerated() {
            guard let role = m["role"]?.stringValue, let content = m["content"]?.stringValue else {
                throw InputError(location: location, field: "messages[\(i)]", message: "needs a string role and content")
            }
            chat.append(ChatMessage(role: role, content: content))
        }
        var paramsJSON: [String: JSONValue] = [:]
        for (k, v) in request.objectValue ?? [:] where bodyFields.contains(k) && k != "model" && k != "messages" { paramsJSON[k] = v }
        let params: ModelParams
        do { params = try ModelParams.decode(.object(paramsJSON)) } catch {
            throw InputError(location: location, field: error.field, message: error.message)
        }
        let tags = json["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let output = json["response"]?["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
        let id = json["id"]?.stringValue ?? "t-" + String(SHA256Digest.hex(request.canonicalBytes).prefix(16))
        return TrafficCase(id: id, messages: chat, params: params, tags: tags, productionOutput: output, line: line)
    }
}

/// Deterministic sampling of traffic: each case gets a seeded hash of its id; `rate` keeps the cases
/// whose hash falls below it, and `maxCases` keeps the lowest hashes, split across tags in
/// proportion to their size when `stratifyByTag` (a case's first tag is its stratum). The same
/// file, seed and settings always pick the same cases, in file order.
public struct TrafficSampler: Sendable {
    public var rate: Double
    public var maxCases: Int?
    public var stratifyByTag: Bool
    public var seed: UInt64

    public init(rate: Double = 1, maxCases: Int? = nil, stratifyByTag: Bool = false, seed: UInt64 = 0x5EED) {
        self.rate = rate
        self.maxCases = maxCases
        self.stratifyByTag = stratifyByTag
        self.seed = seed
    }

    func unit(_ id: String) -> Double {
        var bytes = Array(id.utf8)
        withUnsafeBytes(of: seed.littleEndian) { bytes.append(contentsOf: $0) }
        let h = SHA256Digest.hash(bytes)
        var x: UInt64 = 0
        for b in h.prefix(8) { x = x << 8 | UInt64(b) }
        return Double(x >> 11) * 0x1.0p-53
    }

    /// The sampled cases of a traffic file, in file order. Three streaming passes (count per
    /// stratum, pick the lowest hashes per stratum, collect), so memory holds only the kept cases.
    public func sample(path: String) throws -> [TrafficCase] {
        func stratum(_ c: TrafficCase) -> String { stratifyByTag ? (c.tags.first ?? "") : "" }
        var counts: [String: Int] = [:]
        try TrafficFile.forEach(path: path) { c in
            if unit(c.id) < rate { counts[stratum(c), default: 0] += 1 }
        }
        let total = counts.values.reduce(0, +)
        var quotas = counts
        if let maxCases, total > maxCases {
            for (k, n) in counts { quotas[k] = Int((Double(maxCases) * Double(n) / Double(total)).rounded()) }
        }
        var heaps: [String: LowestK] = [:]
        try TrafficFile.forEach(path: path) { c in
            let u = unit(c.id)
            guard u < rate else { return }
            let s = stratum(c)
            heaps[s, default: LowestK(k: quotas[s] ?? 0)].offer(u, c.id)
        }
        let keep = Set(heaps.values.flatMap(\.ids))
        var out: [TrafficCase] = []
        try TrafficFile.forEach(path: path) { c in if keep.contains(c.id) { out.append(c) } }
        if let maxCases, out.count > maxCases { out = Array(out.prefix(maxCases)) }
        return out
    }
}

/// The k (hash, id) pairs with the lowest hashes seen: a max-heap whose root is the worst kept.
struct LowestK {
    let k: Int
    private var items: [(Double, String)] = []

    init(k: Int) { self.k = k }

    var ids: [String] { items.map(\.1) }

    mutating func offer(_ u: Double, _ id: String) {
        guard k > 0 else { return }
        if items.count < k {
            items.append((u, id))
            var c = items.count - 1
            while c > 0, items[(c - 1) / 2].0 < items[c].0 {
                items.swapAt(c, (c - 1) / 2)
                c = (c - 1) / 2
            }
            return
        }
        guard u < items[0].0 else { return }
        items[0] = (u, id)
        var p = 0
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < items.count, items[l].0 > items[m].0 { m = l }
            if r < items.count, items[r].0 > items[m].0 { m = r }
            if m == p { return }
            items.swapAt(p, m)
            p = m
        }
    }
}
