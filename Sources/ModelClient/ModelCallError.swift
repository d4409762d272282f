/// Why a call failed, after retries.
public struct ModelCallError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a value to compare (never text): a small struct around a private enum,
    /// as AsyncHTTPClient's `HTTPClientError` does, so codes can be added without breaking callers.
    /// `shortDescription` is the stable text reports, metric labels and `errors_by_kind` carry.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case timeout, connection, rateLimited, http(Int), redirected, malformedResponse, responseTooLarge, emptyOutput, badDimensions, cancelled
            case streamCut
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// No answer within the endpoint's request timeout.
        public static let timeout = Code(.timeout)
        /// Refused, reset, or a failed TLS or connect.
        public static let connection = Code(.connection)
        /// HTTP 429.
        public static let rateLimited = Code(.rateLimited)
        /// Any other non-2xx status.
        public static func http(_ status: Int) -> Code { Code(.http(status)) }
        /// A 3xx: a model API does not redirect, and we follow none.
        public static let redirected = Code(.redirected)
        /// A 200 whose body is not the API's shape.
        public static let malformedResponse = Code(.malformedResponse)
        /// A body over the size limit (after decompression).
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The model answered with empty content.
        public static let emptyOutput = Code(.emptyOutput)
        /// Embeddings whose dimensions differ.
        public static let badDimensions = Code(.badDimensions)
        /// The run was cancelled while the call waited or ran.
        public static let cancelled = Code(.cancelled)
        /// A streamed answer whose body ended before its finish chunk (or `[DONE]`).
        public static let streamCut = Code(.streamCut)

        /// The HTTP status, for `http(_:)` codes.
        public var httpStatus: Int? {
            if case .http(let s) = base { return s }
            return nil
        }

        /// `timeout`, `connection`, `rate_limited`, `http_NNN`, `redirected`, `malformed_response`,
        /// `response_too_large`, `empty_output`, `bad_dimensions`, `cancelled`, `stream_cut`.
        public var shortDescription: String {
            switch base {
            case .timeout: return "timeout"
            case .connection: return "connection"
            case .rateLimited: return "rate_limited"
            case .http(let s): return "http_\(s)"
            case .redirected: return "redirected"
            case .malformedResponse: return "malformed_response"
            case .responseTooLarge: return "response_too_large"
            case .emptyOutput: return "empty_output"
            case .badDimensions: return "bad_dimensions"
            case .cancelled: return "cancelled"
            case .streamCut: return "stream_cut"
            }
        }

        public var description: String { shortDescription }
    }

    public var code: Code
    public var message: String
    public var retryable: Bool
    public var attempts: Int
    public var rateLimited: Int
    /// Seconds the endpoint asked us to wait (`Retry-After`), if it said.
    var retryAfter: Double?

    public init(code: Code, message: String, retryable: Bool, attempts: Int, rateLimited: Int, retryAfter: Double? = nil) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.attempts = attempts
        self.rateLimited = rateLimited
        self.retryAfter = retryAfter
    }

    /// The code's stable text, as reports and metrics show it.
    public var kind: String { code.shortDescription }

    public var description: String { "\(kind): \(message)" }
}
