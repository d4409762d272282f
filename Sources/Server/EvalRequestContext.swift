import Hummingbird

/// The service's request context: Hummingbird's core storage plus who is asking, set by
/// `BearerAuthMiddleware` (the token's name, never the token) for the audit trail.
public struct EvalRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The name of the bearer token the request carried; nil when the service has no tokens.
    public var caller: String?

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// What the audit trail records as the asker.
    public var callerName: String { caller ?? "anonymous" }
}
