import ArgumentParser
import AsyncHTTPClient
import EndpointSessions
import Engine
import EvalCore
import Foundation
import GoldenSets
import ModelClient
import NIOCore

struct CapacityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capacity",
        abstract: "Open-loop load against a model endpoint or a service URL: latency per step, throughput, errors, and the knee.",
        discussion: "--target is an endpoint name from --config (chat completions, no limiter or retries of ours) or an http(s) URL (GET). Exit 0 when a knee was found, 1 when not even the first step met the SLO.")

    @Option(name: .long, help: "Load profile (YAML): steady, ramp, spike or steps; slo_p99_ms.")
    var profile: String

    @Option(name: .long, help: "An endpoint name, or an http(s) URL to GET.")
    var target: String

    @Option(name: .long, help: "Endpoints config.")
    var config: String = "configs/endpoints.yaml"

    @Option(name: .long, help: "Write the JSON result here.")
    var report: String?

    @Option(name: .long, help: "Write the SVG plot (latency percentiles against offered rate) here.")
    var svg: String?

    @Option(name: .long, help: "Most requests in flight; beyond it a request is counted as an overload error, never delayed.")
    var maxInFlight: Int = 4096

    func run() async throws {
        let load: LoadProfile
        do throws(InputError) {
            let doc = try ConfigFiles.document(profile)
            do { load = try LoadProfile.decode(doc.json) } catch {
                throw InputError(location: SourceLocation(file: profile, line: doc.line(of: error.field)), field: error.field, message: error.message)
            }
        } catch {
            printError(error.description)
            throw ExitCode(FileManager.default.fileExists(atPath: profile) ? ExitCodes.dataError : ExitCodes.noInput)
        }
        let printProgress: @Sendable (Int, Double) -> Void = { i, rate in printError("step \(i + 1)/\(load.steps.count): \(format(rate)) requests/s") }
        let result: CapacityResult
        if target.hasPrefix("http://") || target.hasPrefix("https://") {
            let url = target
            let runner = CapacityRunner(maxInFlight: maxInFlight) {
                do {
                    let r = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
                    _ = try await r.body.collect(upTo: 16 << 20)
                    return r.status.code < 400 ? nil : "http_\(r.status.code)"
                } catch { return "connection" }
            }
            result = await runner.run(load, target: url, progress: printProgress)
        } else {
            let endpoints: [EndpointConfig]
            do { endpoints = try ConfigFiles.loadEndpoints(path: config) } catch {
                printError(error.description)
                throw ExitCode(ExitCodes.config)
            }
            guard var e = endpoints.first(where: { $0.name == target }) else {
                printError("\(config): no endpoint named '\(target)' for --target (defined: \(endpoints.map(\.name).joined(separator: ", ")))")
                throw ExitCode(ExitCodes.config)
            }
            // Measure the endpoint, not our own throttle: no rate limit, no retries, room for every request.
            e.requestsPerMinute = nil
            e.tokensPerMinute = nil
            e.maxInFlight = maxInFlight
            e.retry.maxAttempts = 1
            // The client's own deadline is the profile's timeout (it ends a request without a timer of its own).
            e.requestTimeoutSeconds = load.timeoutSeconds
            let key: String?
            do { key = try EndpointClient.resolveAPIKey(e) } catch {
                printError("\(config): \(error)")
                throw ExitCode(ExitCodes.config)
            }
            let endpoint = e
            let max = maxInFlight
            result = try await EndpointSession.with(endpoint, registry: LimiterRegistry(), apiKey: key) { client in
                await CapacityRunner(maxInFlight: max, sendKeepsTheTimeout: true, timedSend: CapacityRunner.endpoint(client, prompt: load.prompt)).run(load, target: "endpoint \(endpoint.name)", progress: printProgress)
            }
        }
        print(result.table)
        if let report {
            var bytes: [UInt8] = []
            result.json.write(to: &bytes, sortedKeys: true)
            try writeAtomically(report, String(decoding: bytes, as: UTF8.self) + "\n")
            print("report: \(report)")
        }
        if let svg {
            try writeAtomically(svg, result.svg)
            print("svg: \(svg)")
        }
        throw ExitCode(result.kneeRate == nil ? 1 : 0)
    }
}
