// Helpers shared by the test targets: a simulated endpoint on loopback and clients for it.
import EndpointSessions
import EvalCore
import ModelClient
import NIOPosix
import SimulatedModel

/// Runs `body` with a simulated endpoint listening on a loopback port.
public func withSimulator<T: Sendable>(
    _ profile: SimulatorProfile = SimulatorProfile(), _ body: @Sendable (SimulatedEndpoint, Int) async throws -> T
) async throws -> T {
    try await SimulatedEndpoint.serving(profile, body)
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
    try await EndpointSession.withClient(e, limiter: EndpointLimiter(.init(e)), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)\(path)",
                                         eventLoopGroup: MultiThreadedEventLoopGroup.singleton, body)
}
