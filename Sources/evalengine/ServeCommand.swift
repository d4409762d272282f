import ArgumentParser
import CoreMetrics
import Foundation
import Logging
import Prometheus
import Server

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the three stages over HTTP for Argo: idempotent, persisted jobs, Prometheus metrics.",
        discussion: "SIGTERM drains: /readyz answers 503, no new jobs, running jobs get drain_grace_seconds, then stop and resume on the next start.")

    @Option(name: .long, help: "Service config (YAML).")
    var config: String = "configs/service.yaml"

    @Option(name: .long, help: "Override the config's listen port (0 picks a free one; the port is logged).")
    var port: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        var serviceConfig: ServiceConfig
        do {
            serviceConfig = try ServiceConfig.load(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(FileManager.default.fileExists(atPath: config) ? ExitCodes.config : ExitCodes.noInput)
        }
        if let port { serviceConfig.port = port }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(ServiceMetricsFactory(registry: registry))
        var logger = Logger(label: "evalengine")
        logger.logLevel = level
        let service = EvalService(config: serviceConfig, registry: registry, logger: logger)
        let host = serviceConfig.host
        try await service.run { port in
            // One line on stdout that scripts and tests wait for.
            FileHandle.standardOutput.write("evalengine serving on http://\(host):\(port)\n".data(using: .utf8)!)
        }
    }
}
