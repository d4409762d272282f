/// How a RAG config splits documents into chunks.
public struct ChunkerConfig: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Windows of `size` characters, `overlap` characters shared between neighbours.
        case fixedChars = "fixed_chars"
        /// Windows of about `size` tokens (4 characters each), cut at word boundaries.
        case approxTokens = "approx_tokens"
        /// Whole sentences packed up to `size` characters.
        case sentence
        /// Whole paragraphs (blank-line separated) packed up to `size` characters.
        case paragraph
        /// LangChain-style recursive splitting on `separators`, pieces merged up to `size`.
        case recursive
    }

    public var kind: Kind
    public var size: Int
    public var overlap: Int
    public var separators: [String]

    public init(kind: Kind, size: Int, overlap: Int = 0, separators: [String] = ["\n\n", "\n", ". ", " "]) {
        self.kind = kind
        self.size = size
        self.overlap = overlap
        self.separators = separators
    }

    /// Splits one document's text into chunks (never empty strings; a short text is one chunk).
    public func chunks(_ text: String) -> [String] {
        let chars = Array(text)
        guard !chars.isEmpty else { return [] }
        switch kind {
        case .fixedChars:
            return windows(chars, size: size, overlap: overlap)
        case .approxTokens:
            return wordWindows(text, maxChars: size * 4, overlapChars: overlap * 4)
        case .sentence:
            return pack(splitSentences(text), maxChars: size)
        case .paragraph:
            return pack(text.components(separatedBy: "\n\n").map { $0.trimmingSpaces }.filter { !$0.isEmpty }, maxChars: size)
        case .recursive:
            return pack(recursiveSplit(text, separators: separators), maxChars: size, joiner: "")
                .map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        }
    }

    func windows(_ chars: [Character], size: Int, overlap: Int) -> [String] {
        let step = max(1, size - overlap)
        var out: [String] = []
        var start = 0
        while start < chars.count {
            out.append(String(chars[start..<min(start + size, chars.count)]))
            if start + size >= chars.count { break }
            start += step
        }
        return out
    }

    func wordWindows(_ text: String, maxChars: Int, overlapChars: Int) -> [String] {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        var out: [String] = []
        var i = 0
        while i < words.count {
            var j = i
            var length = 0
            while j < words.count && (j == i || length + words[j].count + 1 <= maxChars) {
                length += words[j].count + 1
                j += 1
            }
            out.append(words[i..<j].joined(separator: " "))
            if j >= words.count { break }
            // Step back over about `overlapChars` of words, but always move forward.
            var back = j
            var kept = 0
            while back > i + 1 && kept + words[back - 1].count + 1 <= overlapChars {
                back -= 1
                kept += words[back].count + 1
            }
            i = back
        }
        return out
    }

    func splitSentences(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        let chars = Array(text)
        for (i, c) in chars.enumerated() {
            current.append(c)
            if c == "." || c == "!" || c == "?" || c == "\n" {
                let next = i + 1 < chars.count ? chars[i + 1] : " "
                if next.isWhitespace {
                    let s = current.trimmingSpaces
                    if !s.isEmpty { out.append(s) }
                    current = ""
                }
            }
        }
        let s = current.trimmingSpaces
        if !s.isEmpty { out.append(s) }
        return out
    }

    /// Packs pieces into chunks of at most `maxChars` (a piece longer than that is cut in windows).
    func pack(_ pieces: [String], maxChars: Int, joiner: String = " ") -> [String] {
        var out: [String] = []
        var current = ""
        for piece in pieces {
            if piece.count > maxChars {
                if !current.isEmpty { out.append(current) }
                current = ""
                out.append(contentsOf: windows(Array(piece), size: maxChars, overlap: 0))
                continue
            }
            if current.isEmpty {
                current = piece
            } else if current.count + joiner.count + piece.count <= maxChars {
                current += joiner + piece
            } else {
                out.append(current)
                current = piece
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    func recursiveSplit(_ text: String, separators: [String]) -> [String] {
        guard text.count > size, let sep = separators.first else { return [text] }
        let parts = text.components(separatedBy: sep)
        guard parts.count > 1 else { return recursiveSplit(text, separators: Array(separators.dropFirst())) }
        var out: [String] = []
        for (i, p) in parts.enumerated() {
            let piece = i < parts.count - 1 ? p + sep : p
            out.append(contentsOf: piece.count > size ? recursiveSplit(piece, separators: Array(separators.dropFirst())) : [piece])
        }
        return out
    }
}

/// One side of an index-test: how documents are chunked and embedded, and how many are retrieved.
public struct RAGConfig: Sendable, Hashable {
    public var name: String
    public var chunker: ChunkerConfig
    /// Endpoint (by name, from the endpoints file) that serves `/v1/embeddings`.
    public var embeddingEndpoint: String
    /// Embedding model; nil uses the endpoint's model.
    public var embeddingModel: String?
    /// The vectors' dimension the config expects (`embedding.dimensions`): checked with one probe
    /// before any document is embedded.
    public var embeddingDimensions: Int?
    public var queryPrefix = ""
    public var documentPrefix = ""
    /// L2-normalise vectors so inner product is cosine.
    public var normalize = true
    /// Documents retrieved per query.
    public var k = 100

    public init(name: String, chunker: ChunkerConfig, embeddingEndpoint: String) {
        self.name = name
        self.chunker = chunker
        self.embeddingEndpoint = embeddingEndpoint
    }

    static let knownFields: Set<String> = ["name", "chunker", "embedding", "query_prefix", "document_prefix", "normalize", "k", "description"]

    /// Decodes a RAG config file.
    public static func decode(_ json: JSONValue, defaultName: String) throws(FieldError) -> RAGConfig {
        guard let o = json.objectValue else { throw FieldError(field: "", message: "a RAG config must be an object") }
        for key in o.keys where !knownFields.contains(key) {
            throw FieldError(field: key, message: "unknown field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
        guard let c = o["chunker"]?.objectValue else { throw FieldError(field: "chunker", message: "missing or not an object") }
        guard let t = c["type"]?.stringValue, let kind = ChunkerConfig.Kind(rawValue: t) else {
            throw FieldError(field: "chunker.type", message: "must be one of \(ChunkerConfig.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let size = c["size"]?.numberValue, size >= 1, size < 1e9, size.rounded() == size else {
            throw FieldError(field: "chunker.size", message: "must be a whole number >= 1")
        }
        let overlap = c["overlap"]?.numberValue ?? 0
        guard overlap >= 0, overlap < size, overlap.rounded() == overlap else {
            throw FieldError(field: "chunker.overlap", message: "must be a whole number >= 0 and smaller than size")
        }
        var chunker = ChunkerConfig(kind: kind, size: Int(size), overlap: Int(overlap))
        if let seps = c["separators"] {
            guard let list = seps.arrayValue?.compactMap(\.stringValue), !list.isEmpty, list.count == seps.arrayValue?.count else {
                throw FieldError(field: "chunker.separators", message: "must be a list of strings")
            }
            chunker.separators = list
        }
        guard let e = o["embedding"]?.objectValue, let endpoint = e["endpoint"]?.stringValue, !endpoint.isEmpty else {
            throw FieldError(field: "embedding.endpoint", message: "missing: name the endpoint that serves embeddings")
        }
        var config = RAGConfig(name: o["name"]?.stringValue ?? defaultName, chunker: chunker, embeddingEndpoint: endpoint)
        config.embeddingModel = e["model"]?.stringValue
        if let d = e["dimensions"], d != .null {
            guard let n = d.wholeNumber(in: 1...65_536) else { throw FieldError(field: "embedding.dimensions", message: "must be a whole number from 1 to 65536") }
            config.embeddingDimensions = n
        }
        config.queryPrefix = o["query_prefix"]?.stringValue ?? ""
        config.documentPrefix = o["document_prefix"]?.stringValue ?? ""
        config.normalize = o["normalize"]?.boolValue ?? true
        if let k = o["k"] {
            guard let n = k.numberValue, n >= 1, n < 1e9, n.rounded() == n else { throw FieldError(field: "k", message: "must be a whole number from 1 to 10^9") }
            config.k = Int(n)
        }
        return config
    }
}
