import ArgumentParser
import CoreMetrics
import Foundation
import Logging
import NIOCore
import Prometheus
import ResultStore
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
        let port = serviceConfig.port
        do {
            try await service.run { port in
                // One line on stdout that scripts and tests wait for.
                FileHandle.standardOutput.write("evalengine serving on http://\(host):\(port)\n".data(using: .utf8)!)
            }
        } catch let error as StoreLock.Held {
            printError("evalengine serve: \(error)")
            throw ExitCode(ExitCodes.config)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            // Said plainly: after a crash, an orphaned swift-backtrace child can hold the port for
            // minutes (docs/OPERATIONS.md: SWIFT_BACKTRACE).
            printError("""
                evalengine serve: \(host):\(port) is already in use. Another process listens there: another evalengine serve, or the \
                swift-backtrace helper of one that crashed (it keeps the socket until it has written its report; run with \
                SWIFT_BACKTRACE=enable=no, as the container image does, to avoid that). Find it with: ss -ltnp 'sport = :\(port)'
                """)
            throw ExitCode(ExitCodes.config)
        }
    }
}
