import Foundation
import NIOCore
import Testing
import TestSupport

@testable import ModelClient

/// The runner's HTTP/1.1 answer parser on what servers send and what hostile ones do: every answer
/// is also fed one byte at a time (reads split anywhere must give the same answer).
struct HTTP1ResponseParserTests {
    static let limit = 1 << 20

    /// The answers `wire` holds, fed whole and fed byte by byte; the two must agree.
    func answers(_ wire: [UInt8], eof: Bool = false, limit: Int = limit) throws -> [HTTPAnswer] {
        func run(_ pieces: [[UInt8]]) throws -> [HTTPAnswer] {
            var parser = HTTP1ResponseParser(maxBodyBytes: limit)
            var out: [HTTPAnswer] = []
            for piece in pieces {
                var buffer = ByteBuffer(bytes: piece)
                // A read may hold the end of one answer and the start of the next: feed what is left.
                while buffer.readableBytes > 0 {
                    let chunk = buffer.readSlice(length: buffer.readableBytes)!
                    if let a = try parser.feed(chunk) { out.append(a) }
                }
            }
            if eof, let a = try parser.finishAtEOF() { out.append(a) }
            return out
        }
        let whole = try run([wire])
        let split = try run(wire.map { [$0] })
        #expect(whole.map(\.status) == split.map(\.status) && whole.map { String(buffer: $0.body) } == split.map { String(buffer: $0.body) })
        return split
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func aLengthFramedAnswerWithItsHeaders() throws {
        let a = try answers(bytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\nRetry-After:  3 \r\n\r\n{\"a\":1}"))
        #expect(a.count == 1 && a[0].status == 200 && String(buffer: a[0].body) == "{\"a\":1}" && a[0].keepAlive)
        #expect(a[0].headers.first(name: "retry-after") == "3")
    }

    @Test func chunkedWithExtensionsAndTrailers() throws {
        let a = try answers(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n"))
        #expect(a.count == 1 && String(buffer: a[0].body) == "Wikipedia in\r\n\r\nchunks." && a[0].keepAlive)
    }

    @Test func interimAnswersAreSkippedAndNoBodyStatusesHaveNone() throws {
        let a = try answers(bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"))
        #expect(a.count == 1 && a[0].status == 204 && a[0].body.readableBytes == 0)
    }

    @Test func keepAliveFollowsTheVersionAndConnectionHeader() throws {
        #expect(try answers(bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))[0].keepAlive == false)
        #expect(try answers(bytes("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))[0].keepAlive == false)
        #expect(try answers(bytes("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"))[0].keepAlive == true)
        // Bytes after the answer in the same read: not reused (later ones close it: HTTPExchangeHandler).
        var parser = HTTP1ResponseParser(maxBodyBytes: Self.limit)
        #expect(try parser.feed(ByteBuffer(bytes: bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxjunk")))?.keepAlive == false)
    }

    @Test func aBodyToTheEndOfTheConnectionEndsThere() throws {
        let a = try answers(bytes("HTTP/1.1 200 OK\r\n\r\nall of it"), eof: true)
        #expect(a.count == 1 && String(buffer: a[0].body) == "all of it" && !a[0].keepAlive)
        // A length-framed answer cut by the end of the connection is no answer.
        #expect(try answers(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), eof: true).isEmpty)
    }

    @Test func aGzipBodyIsInflatedAndABombStopsAtTheLimit() throws {
        let json = bytes("{\"choices\":[]}")
        let small = try gzipped(json)
        let a = try answers(bytes("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: \(small.count)\r\n\r\n") + small)
        #expect(a.count == 1 && Array(a[0].body.readableBytesView) == json)
        let bomb = try gzipped([UInt8](repeating: 0x20, count: 4 << 20))
        var parser = HTTP1ResponseParser(maxBodyBytes: 1 << 20)
        #expect(throws: HTTP1ParseError.self) {
            _ = try parser.feed(ByteBuffer(bytes: self.bytes("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n") + bomb))
        }
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",  // more digits than an Int holds
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",  // two lengths
        "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",  // a chunk size past Int
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",  // no CRLF after the chunk
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2 200\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 600 Odd\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: header\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    ])
    func hostileAnswersAreErrorsNotTraps(_ wire: String) {
        var parser = HTTP1ResponseParser(maxBodyBytes: Self.limit)
        #expect(throws: HTTP1ParseError.self, "\(wire.debugDescription)") {
            _ = try parser.feed(ByteBuffer(bytes: Array(wire.utf8)))
            _ = try parser.finishAtEOF()
        }
    }

    @Test func aHeadOrBodyPastTheLimitsIsRefused() throws {
        var parser = HTTP1ResponseParser(maxBodyBytes: 1000)
        #expect(throws: HTTP1ParseError.self) {
            _ = try parser.feed(ByteBuffer(bytes: self.bytes("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 70_000))))
        }
        parser = HTTP1ResponseParser(maxBodyBytes: 1000)
        #expect(throws: HTTP1ParseError.tooLarge) { _ = try parser.feed(ByteBuffer(bytes: self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n"))) }
        parser = HTTP1ResponseParser(maxBodyBytes: 1000)
        #expect(throws: HTTP1ParseError.tooLarge) {
            _ = try parser.feed(ByteBuffer(bytes: self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3E8\r\n" + String(repeating: "a", count: 1000) + "\r\n1\r\n")))
        }
    }

    @Test func twoAnswersInARowOnOneConnection() throws {
        let a = try answers(bytes("HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"))
        #expect(a.first?.status == 429)
        var parser = HTTP1ResponseParser(maxBodyBytes: Self.limit)
        let first = try parser.feed(ByteBuffer(bytes: bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")))
        let second = try parser.feed(ByteBuffer(bytes: bytes("HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nb")))
        #expect(first?.status == 200 && second?.status == 500 && String(buffer: second!.body) == "b")
    }
}
