// Helpers shared by the test targets: a simulated endpoint on loopback and clients for it.
import EvalCore
import ModelClient
import NIOPosix
import SimulatedModel

/// Runs `body` with a simulated endpoint listening on a loopback port.
public func withSimulator<T: Sendable>(
    _ profile: SimulatorProfile = SimulatorProfile(), _ body: @Sendable (SimulatedEndpoint, Int) async throws -> T
) async throws -> T {
    let sim = SimulatedEndpoint(profile: profile)
    let (ports, sink) = AsyncStream.makeStream(of: Int.self)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await sim.run(port: 0) { sink.yield($0) }
            return nil
        }
        var it = ports.makeAsyncIterator()
        let port = await it.next()!
        do {
            let result = try await body(sim, port)
            await sim.stop()
            try await group.waitForAll()
            return result
        } catch {
            await sim.stop()
            try? await group.waitForAll()
            throw error
        }
    }
}

public func makeClient(_ e: EndpointConfig, port: Int, apiKey: String? = nil) -> EndpointClient {
    EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)",
                   eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
}

public func request(_ text: String, maxTokens: Int? = 64) -> ModelRequest {
    var p = ModelParams()
    p.maxTokens = maxTokens
    p.temperature = 0
    return ModelRequest(messages: [ChatMessage(role: "user", content: text)], params: p)
}

/// Runs `body` with a client for `e` on `port` (or a full base URL), shutting it down on every path.
public func withClient<T: Sendable>(
    _ e: EndpointConfig, port: Int, path: String = "", apiKey: String? = nil, _ body: @Sendable (EndpointClient) async throws -> T
) async throws -> T {
    let client = EndpointClient(endpoint: e, limiter: EndpointLimiter(.init(e)), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)\(path)",
                                eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    do {
        let r = try await body(client)
        await client.shutdown()
        return r
    } catch {
        await client.shutdown()
        throw error
    }
}
