/// A run that cannot start, be resumed, or go on as asked.
public struct RunError: Error, CustomStringConvertible {
    /// Why, as a value (the `ModelCallError.Code` pattern): callers decide by it whether the
    /// request was wrong (don't retry, fix the input) or an endpoint failed (a retry may pass).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case unknownRun, inputsChanged, needsEmbeddings, embeddingFailed, noChunks, writeFailed }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// `--resume` named a run the store does not have.
        public static let unknownRun = Code(.unknownRun)
        /// `--resume` named a run made from other inputs.
        public static let inputsChanged = Code(.inputsChanged)
        /// The stage needs an embedding endpoint and has none.
        public static let needsEmbeddings = Code(.needsEmbeddings)
        /// The embedding endpoint failed or answered vectors that do not fit.
        public static let embeddingFailed = Code(.embeddingFailed)
        /// A RAG config chunked the corpus into nothing.
        public static let noChunks = Code(.noChunks)
        /// A result file could not be written.
        public static let writeFailed = Code(.writeFailed)

        /// A retry of the same request may succeed (an endpoint's or the disk's trouble, not the request's).
        public var retryable: Bool { base == .embeddingFailed || base == .writeFailed }

        public var shortDescription: String {
            switch base {
            case .unknownRun: return "unknown_run"
            case .inputsChanged: return "inputs_changed"
            case .needsEmbeddings: return "needs_embeddings"
            case .embeddingFailed: return "embedding_failed"
            case .noChunks: return "no_chunks"
            case .writeFailed: return "write_failed"
            }
        }

        public var description: String { shortDescription }
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
