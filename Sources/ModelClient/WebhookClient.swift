import AsyncHTTPClient
import EvalCore
import Foundation
import NIOCore
import NIOHTTP1

/// POSTs a scorer request to a configured webhook and reads its JSON answer: no redirects
/// followed, the body bounded, the key redacted from every error text.
public final class WebhookClient: Sendable {
    public let config: WebhookConfig
    private let http: HTTPClient
    private let authorization: String?
    private let redactor: SecretRedactor

    public static let maxResponseBytes = 1 << 20

    public init(_ config: WebhookConfig, eventLoopGroup: any EventLoopGroup) {
        self.config = config
        let key = config.apiKeyEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
        authorization = key.map { "Bearer \($0)" }
        redactor = SecretRedactor(secrets: key.map { [$0] } ?? [])
        var c = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: .clampedSeconds(config.timeoutSeconds)))
        c.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: c)
    }

    /// Why a webhook gave no answer, for a person (secrets redacted).
    public struct Failure: Error, Sendable {
        public let message: String
    }

    /// The answer's JSON, or what went wrong.
    public func post(_ body: JSONValue, timeoutSeconds: Double) async -> Result<JSONValue, Failure> {
        var request = HTTPClientRequest(url: config.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        var bytes: [UInt8] = []
        body.write(to: &bytes)
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let timeout = min(timeoutSeconds, config.timeoutSeconds)
        do {
            let exchange = try await withDeadline(seconds: timeout) { [http, request] in
                let response = try await http.execute(request, timeout: .clampedSeconds(timeout))
                return (response.status.code, try await response.body.collect(upTo: WebhookClient.maxResponseBytes))
            }
            guard let (status, data) = exchange else { return .failure(Failure(message: "webhook '\(config.name)' did not answer within \(format(timeout)) s")) }
            guard status == 200 else {
                return .failure(Failure(message: redactor.redact("webhook '\(config.name)' answered HTTP \(status): \(String(decoding: data.readableBytesView.prefix(300), as: UTF8.self))")))
            }
            guard let json = try? JSONValue.parse(bytes: Array(data.readableBytesView)) else { return .failure(Failure(message: "webhook '\(config.name)' answered 200 with a body that is not JSON")) }
            return .success(json)
        } catch {
            return .failure(Failure(message: redactor.redact("webhook '\(config.name)': \(error)")))
        }
    }

    public func shutdown() async { try? await http.shutdown() }
}
