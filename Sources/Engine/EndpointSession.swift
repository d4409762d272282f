import EvalCore
import GoldenSets
import ModelClient
import NIOCore
import NIOPosix
import SimulatedModel

/// Opens a client for a configured endpoint for the length of `body`. An endpoint marked
/// `simulated` gets the built-in simulator, started in-process on a loopback port and spoken to over
/// real HTTP, and stopped when `body` returns.
public enum EndpointSession {
    public static func with<T: Sendable>(
        _ endpoint: EndpointConfig, registry: LimiterRegistry, apiKey: String?,
        _ body: @Sendable (EndpointClient) async throws -> T
    ) async throws -> T {
        let group = MultiThreadedEventLoopGroup.singleton
        guard let profilePath = endpoint.simulatedProfile else {
            let client = EndpointClient(endpoint: endpoint, limiter: registry.limiter(for: endpoint), apiKey: apiKey, eventLoopGroup: group)
            do {
                let result = try await body(client)
                await client.shutdown()
                return result
            } catch {
                await client.shutdown()
                throw error
            }
        }
        var profile = SimulatorProfile()
        if !profilePath.isEmpty {
            profile = try loadSimulatorProfile(profilePath)
        }
        let simulator = SimulatedEndpoint(profile: profile)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await simulator.run(port: 0) { port in portSink.yield(port) }
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw ReportError(message: "the simulated endpoint did not start") }
            let client = EndpointClient(
                endpoint: endpoint, limiter: registry.limiter(for: endpoint), apiKey: apiKey, baseURL: "http://127.0.0.1:\(port)", eventLoopGroup: group)
            // Stop gracefully, not by cancelling (see SimulatedEndpoint.run).
            do {
                let result = try await body(client)
                await client.shutdown()
                await simulator.stop()
                try await tasks.waitForAll()
                return result
            } catch {
                await client.shutdown()
                await simulator.stop()
                try? await tasks.waitForAll()
                throw error
            }
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
