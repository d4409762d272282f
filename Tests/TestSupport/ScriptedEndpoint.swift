import EvalCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Spawn

/// One answer of a scripted endpoint: whatever status, headers and bytes a hostile or odd server
/// would send.
public struct ScriptedAnswer: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [(String, String)] = [("Content-Type", "application/json")], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int = 200, headers: [(String, String)] = [], json: JSONValue) {
        var bytes: [UInt8] = []
        json.write(to: &bytes)
        self.init(status: status, headers: [("Content-Type", "application/json")] + headers, body: bytes)
    }

    /// A well-formed chat completion with `text` and the given usage object.
    public static func chat(_ text: String, usage: JSONValue = ["prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6], headers: [(String, String)] = []) -> ScriptedAnswer {
        ScriptedAnswer(headers: headers, json: [
            "id": "x", "object": "chat.completion", "model": "m",
            "choices": [["index": 0, "message": ["role": "assistant", "content": .string(text)], "finish_reason": "stop"]],
            "usage": usage,
        ])
    }
}

/// What a scripted endpoint saw of one request.
public struct ScriptedRequest: Sendable {
    public var index: Int
    public var path: String
    public var headers: [(String, String)]
    public var body: String
}

/// An endpoint on loopback that answers each request with whatever `script` returns for it (by
/// the request's 0-based index), for tests of hostile or unusual servers. Records every request.
public final class ScriptedEndpoint: Sendable {
    private let script: @Sendable (ScriptedRequest) -> ScriptedAnswer
    private let seen = Mutex<[ScriptedRequest]>([])
    private let group = Mutex<ServiceGroup?>(nil)

    public init(_ script: @escaping @Sendable (ScriptedRequest) -> ScriptedAnswer) {
        self.script = script
    }

    /// Every request received so far.
    public var requests: [ScriptedRequest] { seen.withLock { $0 } }

    /// Runs `body` with the endpoint listening; stops it afterwards.
    public func with<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await self.run { sink.yield($0) }
                return nil
            }
            var it = ports.makeAsyncIterator()
            let port = await it.next()!
            do {
                let r = try await body(port)
                await self.stop()
                try await tasks.waitForAll()
                return r
            } catch {
                await self.stop()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    private func run(onReady: @escaping @Sendable (Int) async -> Void) async throws {
        var logger = Logger(label: "scripted-endpoint")
        logger.logLevel = .critical
        let router = Router()
        router.post("**") { request, _ in try await self.answer(request) }
        router.get("**") { request, _ in try await self.answer(request) }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "scripted"),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? 0) }, logger: logger)
        let g = ServiceGroup(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        group.withLock { $0 = g }
        try await g.run()
    }

    private func stop() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }

    private func answer(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024 * 1024)
        let seenRequest = seen.withLock { list -> ScriptedRequest in
            let r = ScriptedRequest(index: list.count, path: request.uri.path, headers: request.headers.map { ($0.name.canonicalName, $0.value) },
                                    body: String(buffer: body))
            list.append(r)
            return r
        }
        let a = script(seenRequest)
        var fields = HTTPFields()
        for (name, value) in a.headers { if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) } }
        return Response(status: .init(code: a.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: a.body)))
    }
}

/// `bytes` gzip-compressed by the system's gzip (for decompression-bomb tests).
public func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
    let dir = NSTemporaryDirectory() + "gz-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    FileManager.default.createFile(atPath: dir + "/b", contents: Data(bytes))
    let p = try ChildProcess(executable: "/bin/gzip", arguments: ["-9", dir + "/b"])
    p.waitUntilExit()
    return Array(FileManager.default.contents(atPath: dir + "/b.gz") ?? Data())
}
