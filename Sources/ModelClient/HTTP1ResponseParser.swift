import NIOCore
import NIOHTTP1

/// One answer read whole.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// The connection may carry another request.
    public var keepAlive: Bool
}

/// Why bytes from an endpoint are not an HTTP/1.1 answer we read.
public enum HTTP1ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// The body (before or after inflating) is larger than the limit.
    case tooLarge

    public var description: String {
        switch self {
        case .malformed(let why): "malformed HTTP answer: \(why)"
        case .tooLarge: "the answer is larger than the limit"
        }
    }
}

/// Reads HTTP/1.1 answers from the bytes of a connection, as they come: a status line and headers
/// (at most 64 KiB), then a body framed by `Content-Length`, chunked transfer coding, or the end of
/// the connection; 1xx interim answers are skipped; a gzip or zlib body is inflated. Every number
/// from the wire is range-checked before it becomes an `Int`: a hostile length is an error, never a
/// trap, and a body never grows past `maxBodyBytes`. The common answer — head and body in one read,
/// framed by `Content-Length` — is taken as a slice of that read, without copying. Public for the
/// benchmarks' regression guard.
public struct HTTP1ResponseParser {
    static let maxHeadBytes = 64 * 1024
    let maxBodyBytes: Int

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    private var state = State.head
    private var pending = ByteBuffer()
    /// How far the search for the end of the head (or of a line) has already looked.
    private var scanned = 0
    private var status = 0
    private var headers = HTTPHeaders()
    private var keepAlive = true
    private var encoding: String?
    private var body: ByteBuffer?

    public init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    /// Whether bytes of an answer have arrived (an idle connection closing is not a cut answer).
    var isIdle: Bool {
        if case .head = state { return pending.readableBytes == 0 }
        return false
    }

    /// Takes `bytes`; returns the answer once it is complete.
    public mutating func feed(_ bytes: ByteBuffer) throws(HTTP1ParseError) -> HTTPAnswer? {
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            var b = bytes
            pending.writeBuffer(&b)
        }
        while true {
            switch state {
            case .head:
                guard let end = find(crlfcrlf: true) else {
                    if pending.readableBytes > HTTP1ResponseParser.maxHeadBytes { throw .malformed("the head is larger than 64 KiB") }
                    return nil
                }
                let head = pending.readSlice(length: end + 4)!
                scanned = 0
                if let answer = try startBody(head) { return answer }
            case .fixed(let remaining):
                guard pending.readableBytes > 0 else { return nil }
                let n = min(remaining, pending.readableBytes)
                append(pending.readSlice(length: n)!)
                if n == remaining { return try finish() }
                state = .fixed(remaining: remaining - n)
                return nil
            case .chunkSize:
                guard let end = find(crlfcrlf: false) else {
                    if pending.readableBytes > 1024 { throw .malformed("a chunk size line is longer than 1 KiB") }
                    return nil
                }
                let line = pending.readSlice(length: end + 2)!
                scanned = 0
                let size = try HTTP1ResponseParser.chunkSize(line)
                if size == 0 {
                    state = .trailers
                } else {
                    if (body?.readableBytes ?? 0) + size > maxBodyBytes { throw .tooLarge }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                guard pending.readableBytes > 0 else { return nil }
                let n = min(remaining, pending.readableBytes)
                append(pending.readSlice(length: n)!)
                state = n == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - n)
            case .chunkDataEnd:
                guard pending.readableBytes >= 2 else { return nil }
                guard pending.readInteger(as: UInt16.self) == 0x0D0A else { throw .malformed("a chunk does not end with CRLF") }
                state = .chunkSize
            case .trailers:
                guard let end = find(crlfcrlf: false) else {
                    if pending.readableBytes > HTTP1ResponseParser.maxHeadBytes { throw .malformed("the trailers are larger than 64 KiB") }
                    return nil
                }
                pending.moveReaderIndex(forwardBy: end + 2)
                scanned = 0
                if end == 0 { return try finish() }  // the empty line ends the trailers
            case .untilClose:
                if pending.readableBytes > 0 { append(pending.readSlice(length: pending.readableBytes)!) }
                return nil
            }
        }
    }

    /// The connection ended: the answer of a body read to the end of the connection is complete;
    /// any other answer in progress was cut.
    public mutating func finishAtEOF() throws(HTTP1ParseError) -> HTTPAnswer? {
        if case .untilClose = state { return try finish() }
        return nil
    }

    private mutating func append(_ slice: ByteBuffer) {
        if body == nil {
            body = slice
        } else {
            var s = slice
            body!.writeBuffer(&s)
        }
    }

    /// Offset of the next CRLFCRLF (or CRLF) in `pending`, resuming where the last search stopped.
    private mutating func find(crlfcrlf: Bool) -> Int? {
        let width = crlfcrlf ? 4 : 2
        let found: Int? = pending.withUnsafeReadableBytes { raw in
            guard raw.count >= width else { return nil }
            var i = max(0, scanned - width + 1)
            while i + width <= raw.count {
                if raw[i] == 0x0D && raw[i + 1] == 0x0A && (!crlfcrlf || (raw[i + 2] == 0x0D && raw[i + 3] == 0x0A)) { return i }
                i += 1
            }
            return nil
        }
        if found == nil { scanned = pending.readableBytes }
        return found
    }

    /// The framing headers, read as the head is parsed (compared as bytes, case-insensitively).
    private struct Framing {
        var connectionClose = false
        var connectionKeepAlive = false
        var contentLength: Int?
        var lengthConflict = false
        var chunked = false
        var otherTransfer = false
        var encodings: [String] = []
    }

    /// Reads the status line and headers; decides the framing. Returns the answer if it has no body.
    private mutating func startBody(_ head: ByteBuffer) throws(HTTP1ParseError) -> HTTPAnswer? {
        var fields = HTTPHeaders()
        var framing = Framing()
        let (code, http11) = try head.withUnsafeReadableBytes { raw throws(HTTP1ParseError) -> (Int, Bool) in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.count - 4  // the head ends with CRLFCRLF
            // "HTTP/1.1 200 ..." : version, a space, three digits, then a space or the end of the line.
            guard end >= 12, bytes[0] == 0x48, bytes[1] == 0x54, bytes[2] == 0x54, bytes[3] == 0x50, bytes[4] == 0x2F, bytes[5] == 0x31, bytes[6] == 0x2E,
                bytes[7] == 0x31 || bytes[7] == 0x30, bytes[8] == 0x20,
                (0x31...0x35).contains(bytes[9]), (0x30...0x39).contains(bytes[10]), (0x30...0x39).contains(bytes[11]),
                end == 12 || bytes[12] == 0x20 || bytes[12] == 0x0D
            else {
                throw .malformed("the status line '\(String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<min(80, max(0, end))]), as: UTF8.self))' is not HTTP/1.x with a status from 100 to 599")
            }
            let code = Int(bytes[9] - 0x30) * 100 + Int(bytes[10] - 0x30) * 10 + Int(bytes[11] - 0x30)
            var i = 12
            while i < end && !(bytes[i] == 0x0D && bytes[i + 1] == 0x0A) { i += 1 }
            i += 2
            while i < end + 2 {
                var lineEnd = i
                while lineEnd < end && !(bytes[lineEnd] == 0x0D && bytes[lineEnd + 1] == 0x0A) { lineEnd += 1 }
                guard lineEnd > i, bytes[i] != 0x20 && bytes[i] != 0x09 else { throw .malformed("a folded or empty header line") }
                var colon = i
                while colon < lineEnd && bytes[colon] != 0x3A {
                    guard bytes[colon] != 0x20 && bytes[colon] != 0x09 else { throw .malformed("a header name with whitespace") }
                    colon += 1
                }
                guard colon < lineEnd, colon > i else { throw .malformed("a header line without a name") }
                var vStart = colon + 1
                var vEnd = lineEnd
                while vStart < vEnd && (bytes[vStart] == 0x20 || bytes[vStart] == 0x09) { vStart += 1 }
                while vEnd > vStart && (bytes[vEnd - 1] == 0x20 || bytes[vEnd - 1] == 0x09) { vEnd -= 1 }
                let name = UnsafeBufferPointer(rebasing: bytes[i..<colon])
                let value = UnsafeBufferPointer(rebasing: bytes[vStart..<vEnd])
                try HTTP1ResponseParser.note(name: name, value: value, into: &framing)
                fields.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
                i = lineEnd + 2
            }
            return (code, bytes[7] == 0x31)
        }
        if code < 200 {
            // An interim answer (100 Continue, 103 Early Hints): the real one follows.
            guard code != 101 else { throw .malformed("101 Switching Protocols: nothing was asked to upgrade") }
            return nil
        }
        status = code
        headers = fields
        keepAlive = http11 ? !framing.connectionClose : framing.connectionKeepAlive
        guard framing.encodings.count <= 1 else { throw .malformed("more than one Content-Encoding (\(framing.encodings.joined(separator: ", ")))") }
        encoding = framing.encodings.first
        body = nil
        if code == 204 || code == 304 { return try finish() }
        if framing.chunked || framing.otherTransfer {
            guard framing.chunked && !framing.otherTransfer else { throw .malformed("a Transfer-Encoding other than chunked") }
            // A length beside chunked is ignored (the chunks frame the body), and the connection is not reused.
            if framing.contentLength != nil || framing.lengthConflict { keepAlive = false }
            state = .chunkSize
            return nil
        }
        if framing.lengthConflict { throw .malformed("Content-Length is not one whole number") }
        if let n = framing.contentLength {
            guard n <= maxBodyBytes else { throw .tooLarge }
            if n == 0 { return try finish() }
            state = .fixed(remaining: n)
            return nil
        }
        keepAlive = false
        state = .untilClose
        return nil
    }

    /// Whether `bytes` equals `lowercase` ignoring ASCII case.
    private static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let l = lowercase.utf8Start
        for k in 0..<bytes.count where bytes[k] | 0x20 != l[k] { return false }
        return true
    }

    /// Takes what the framing needs from one header; every comma-separated item of a list counts.
    private static func note(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, into f: inout Framing) throws(HTTP1ParseError) {
        guard let first = name.first else { return }
        switch first | 0x20 {
        case 0x63:  // c
            if equalsIgnoringCase(name, "content-length") {
                for item in value.split(separator: 0x2C) {
                    let digits = item.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
                    // At most 18 digits: an Int holds them all; more is a hostile length, not a trap.
                    guard (1...18).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else {
                        f.lengthConflict = true
                        return
                    }
                    let n = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                    if let known = f.contentLength, known != n { f.lengthConflict = true }
                    f.contentLength = n
                }
            } else if equalsIgnoringCase(name, "connection") {
                let v = String(decoding: value, as: UTF8.self).lowercased()
                if v.contains("close") { f.connectionClose = true }
                if v.contains("keep-alive") { f.connectionKeepAlive = true }
            } else if equalsIgnoringCase(name, "content-encoding") {
                for item in String(decoding: value, as: UTF8.self).lowercased().split(separator: ",") {
                    let coding = item.trimmingASCIIWhitespace()
                    if !coding.isEmpty && coding != "identity" { f.encodings.append(String(coding)) }
                }
            }
        case 0x74:  // t
            if equalsIgnoringCase(name, "transfer-encoding") {
                for item in String(decoding: value, as: UTF8.self).lowercased().split(separator: ",") {
                    let coding = item.trimmingASCIIWhitespace()
                    if coding == "chunked" {
                        f.chunked = true
                    } else if !coding.isEmpty {
                        f.otherTransfer = true
                    }
                }
            }
        default:
            return
        }
    }

    private static func chunkSize(_ line: ByteBuffer) throws(HTTP1ParseError) -> Int {
        var value = 0
        var digits = 0
        for byte in line.readableBytesView.dropLast(2) {
            let d: Int
            switch byte {
            case 0x30...0x39: d = Int(byte - 0x30)
            case 0x41...0x46: d = Int(byte - 0x41 + 10)
            case 0x61...0x66: d = Int(byte - 0x61 + 10)
            case 0x3B, 0x20, 0x09:  // ';' starts an extension (ignored); whitespace before it
                guard digits > 0 else { throw .malformed("a chunk size line without a size") }
                return value
            default: throw .malformed("a chunk size that is not hexadecimal")
            }
            digits += 1
            // Fifteen hex digits fit an Int; more is a hostile size, not a trap.
            guard digits <= 15 else { throw .malformed("a chunk size of more than 15 hex digits") }
            value = value * 16 + d
        }
        guard digits > 0 else { throw .malformed("a chunk size line without a size") }
        return value
    }

    /// The answer, its body inflated if it came compressed; the parser is ready for the next.
    private mutating func finish() throws(HTTP1ParseError) -> HTTPAnswer {
        var content = body ?? ByteBuffer()
        if let encoding {
            switch encoding {
            case "gzip", "x-gzip", "deflate":
                do {
                    content = try Inflater.inflate(content, limit: maxBodyBytes)
                } catch {
                    if error == .tooLarge { throw .tooLarge }
                    throw .malformed("the \(encoding) body does not inflate")
                }
            default:
                throw .malformed("Content-Encoding \(encoding.prefix(40)) (none was asked for)")
            }
        }
        // Bytes after the answer were not asked for: the connection is not reused.
        let answer = HTTPAnswer(status: status, headers: headers, body: content, keepAlive: keepAlive && pending.readableBytes == 0)
        state = .head
        scanned = 0
        body = nil
        encoding = nil
        headers = HTTPHeaders()
        keepAlive = true
        pending = ByteBuffer()
        return answer
    }
}

extension Substring {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
