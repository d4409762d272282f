import ArgumentParser
import EndpointSessions
import Engine
import Foundation
import SimulatedModel
import UnixSignals

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Serve the built-in OpenAI-compatible simulated endpoint (chat, completions, embeddings).")

    @Option(name: .long, help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Port (0 picks a free one; the chosen port is printed).")
    var port: Int = 8089

    @Option(name: .long, help: "Profile (YAML): accuracy, latency, faults, rate_limit.")
    var profile: String?

    func run() async throws {
        var p = SimulatorProfile()
        if let profile {
            do { p = try EndpointSession.loadSimulatorProfile(profile) } catch {
                printError(error.description)
                throw ExitCode(ExitCodes.config)
            }
        }
        let simulator = SimulatedEndpoint(profile: p)
        let host = self.host
        do {
            try await simulator.run(host: host, port: port, logLevel: .info, shutdownSignals: [.sigint, .sigterm]) { bound in
                FileHandle.standardOutput.write("simulated endpoint listening on http://\(host):\(bound)\n".data(using: .utf8)!)
            }
        } catch is CancellationError {
        }
    }
}
