import EvalCore
import GoldenSets
import ModelClient
import NIOCore
import NIOPosix
import SimulatedModel

/// Opens a client for a configured endpoint for the length of `body`. Its own module so that the
/// engine library does not pull in the simulator (and Hummingbird): the CLI, the service and the
/// tests open endpoints through it. An endpoint marked
/// `simulated` gets the built-in simulator, started in-process on a loopback port and spoken to over
/// real HTTP, and stopped when `body` returns.
public enum EndpointSession {
    public static func with<T: Sendable>(
        _ endpoint: EndpointConfig, registry: LimiterRegistry, apiKey: String?,
        _ body: @Sendable (EndpointClient) async throws -> T
    ) async throws -> T {
        let group = MultiThreadedEventLoopGroup.singleton
        guard let profilePath = endpoint.simulatedProfile else {
            return try await withClient(endpoint, limiter: registry.limiter(for: endpoint), apiKey: apiKey, baseURL: nil, eventLoopGroup: group, body)
        }
        var profile = SimulatorProfile()
        if !profilePath.isEmpty {
            profile = try loadSimulatorProfile(profilePath)
        }
        return try await SimulatedEndpoint.serving(profile) { _, port in
            try await withClient(endpoint, limiter: registry.limiter(for: endpoint), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)", eventLoopGroup: group, body)
        }
    }

    /// A client for the length of `body`, shut down on every path (`baseURL` overrides the endpoint's).
    public static func withClient<T: Sendable>(
        _ endpoint: EndpointConfig, limiter: EndpointLimiter, apiKey: String?, baseURL: String?,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, _ body: @Sendable (EndpointClient) async throws -> T
    ) async throws -> T {
        let client = EndpointClient(endpoint: endpoint, limiter: limiter, apiKey: apiKey, baseURL: baseURL, eventLoopGroup: eventLoopGroup)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Reads a simulator profile file.
    public static func loadSimulatorProfile(_ path: String) throws(InputError) -> SimulatorProfile {
        let doc = try ConfigFiles.document(path)
        do {
            return try SimulatorProfile.decode(doc.json)
        } catch {
            throw InputError(location: SourceLocation(file: path, line: doc.line(of: error.field)), field: error.field, message: error.message)
        }
    }
}

extension EndpointSession {
    /// Opens clients for several endpoints at once (each simulated one gets its own simulator).
    public static func withClients<T: Sendable>(
        _ endpoints: [EndpointConfig], registry: LimiterRegistry, apiKeys: [String: String],
        _ body: @Sendable ([String: EndpointClient]) async throws -> T
    ) async throws -> T {
        try await open(endpoints[...], registry: registry, apiKeys: apiKeys, opened: [:], body)
    }

    private static func open<T: Sendable>(
        _ rest: ArraySlice<EndpointConfig>, registry: LimiterRegistry, apiKeys: [String: String], opened: [String: EndpointClient],
        _ body: @Sendable ([String: EndpointClient]) async throws -> T
    ) async throws -> T {
        guard let first = rest.first else { return try await body(opened) }
        return try await with(first, registry: registry, apiKey: apiKeys[first.name]) { client in
            var next = opened
            next[first.name] = client
            return try await open(rest.dropFirst(), registry: registry, apiKeys: apiKeys, opened: next, body)
        }
    }
}
