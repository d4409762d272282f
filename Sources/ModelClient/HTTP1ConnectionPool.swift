import DequeModule
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Why an exchange ended without an answer, beside NIO's own errors.
enum HTTPExchangeError: Error, Sendable {
    /// The request's deadline passed (head and body together).
    case deadline
    /// The server closed the connection before the answer was complete.
    case closedEarly
    /// The pool was shut down.
    case poolClosed
}

/// Keep-alive HTTP/1.1 connections to one origin, at most `maxConnections` open, for the runner's
/// hot path. A request arrives as its bytes (head and body, written by the caller) and goes out in
/// one write; its answer is parsed from the connection's reads (`HTTP1ResponseParser`) on the
/// connection's event loop, and the caller's promise completed there: no task, timer, codec
/// pipeline or object of a general-purpose client per request. Connections are kept per event loop and a request takes
/// one on the loop it runs on (with Swift Concurrency on NIO's loops, that is the case's own
/// thread), so a request and its answer never cross threads. The deadline lives on the connection
/// (`HTTPExchangeHandler`); TLS is NIOSSL with the system's roots or the endpoint's CA file.
final class HTTP1ConnectionPool: Sendable {
    let origin: HTTPOrigin
    private let group: any EventLoopGroup
    private let maxConnections: Int
    private let connectTimeout: TimeAmount
    private let sslContext: NIOSSLContext?
    private let maxBodyBytes: Int
    private let state = NIOLockedValueBox(State())

    private struct Waiter {
        var loop: any EventLoop
        var promise: EventLoopPromise<Connection>
    }

    private struct State {
        /// Idle connections by the event loop they live on.
        var idle: [ObjectIdentifier: [Connection]] = [:]
        var idleCount = 0
        /// Open or being opened.
        var total = 0
        var waiters = Deque<Waiter>()
        var open: [ObjectIdentifier: Connection] = [:]
        var closed = false
    }

    /// One connection: its channel and the handler that runs its exchanges. The handler is touched
    /// only on the channel's event loop.
    final class Connection: @unchecked Sendable {
        let channel: any Channel
        let handler: HTTPExchangeHandler
        init(channel: any Channel, handler: HTTPExchangeHandler) {
            self.channel = channel
            self.handler = handler
        }
    }

    init(origin: HTTPOrigin, group: any EventLoopGroup, maxConnections: Int, connectTimeout: TimeAmount, tlsCAFile: String?, maxBodyBytes: Int) throws {
        self.origin = origin
        self.group = group
        self.maxConnections = max(1, maxConnections)
        self.connectTimeout = connectTimeout
        self.maxBodyBytes = maxBodyBytes
        if origin.tls {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let tlsCAFile { tls.trustRoots = .file(tlsCAFile) }
            tls.applicationProtocols = ["http/1.1"]
            sslContext = try NIOSSLContext(configuration: tls)
        } else {
            sslContext = nil
        }
    }

    /// Sends one request and completes `promise` with the whole answer (or the reason there is
    /// none) by `deadline`. Completing `promise` from outside (a cancelled caller) is allowed: the
    /// exchange then finishes on its own and its connection is reused.
    func execute(_ request: ByteBuffer, deadline: NIODeadline, promise: EventLoopPromise<HTTPAnswer>) {
        let loop = promise.futureResult.eventLoop
        switch take(preferring: loop) {
        case .ready(let connection):
            start(connection, request, deadline, promise)
        case .open:
            connect(on: loop).whenComplete { result in
                switch result {
                case .success(let connection): self.start(connection, request, deadline, promise)
                case .failure(let error): promise.fail(error)
                }
            }
        case .wait(let waiting):
            waiting.futureResult.whenComplete { result in
                switch result {
                case .success(let connection): self.start(connection, request, deadline, promise)
                case .failure(let error): promise.fail(error)
                }
            }
        case .closed:
            promise.fail(HTTPExchangeError.poolClosed)
        }
    }

    private enum Take {
        case ready(Connection)
        case open
        case wait(EventLoopPromise<Connection>)
        case closed
    }

    private func take(preferring loop: any EventLoop) -> Take {
        state.withLockedValue { s in
            if s.closed { return .closed }
            let key = ObjectIdentifier(loop)
            if let c = s.idle[key]?.popLast() {
                s.idleCount -= 1
                return .ready(c)
            }
            // An idle connection on another loop before a new one: the pool stays as small as the
            // peak of requests in flight (a loop hop costs less than a connection and its sockets).
            if s.idleCount > 0, let other = s.idle.first(where: { !$0.value.isEmpty })?.key, let c = s.idle[other]?.popLast() {
                s.idleCount -= 1
                return .ready(c)
            }
            if s.total < maxConnections {
                s.total += 1
                return .open
            }
            let p = loop.makePromise(of: Connection.self)
            s.waiters.append(Waiter(loop: loop, promise: p))
            return .wait(p)
        }
    }

    private func start(_ c: Connection, _ request: ByteBuffer, _ deadline: NIODeadline, _ promise: EventLoopPromise<HTTPAnswer>) {
        if c.channel.eventLoop.inEventLoop {
            c.handler.start(request, deadline: deadline, promise: promise)
        } else {
            c.channel.eventLoop.execute { c.handler.start(request, deadline: deadline, promise: promise) }
        }
    }

    /// An exchange ended with the connection fit for another (on its event loop).
    fileprivate func release(_ c: Connection) {
        enum Next {
            case idle
            case handTo(Waiter)
            case close
        }
        let next = state.withLockedValue { s -> Next in
            if s.closed { return .close }
            if let w = s.waiters.popFirst() { return .handTo(w) }
            s.idle[ObjectIdentifier(c.channel.eventLoop), default: []].append(c)
            s.idleCount += 1
            return .idle
        }
        switch next {
        case .idle: break
        case .handTo(let waiter): waiter.promise.succeed(c)
        case .close: c.channel.close(promise: nil)
        }
    }

    /// A connection closed (by either side, idle or not): it leaves the pool, and a waiter gets a new one.
    private func closed(_ c: Connection) {
        let waiter = state.withLockedValue { s -> Waiter? in
            s.total -= 1
            s.open[ObjectIdentifier(c)] = nil
            let key = ObjectIdentifier(c.channel.eventLoop)
            if let i = s.idle[key]?.firstIndex(where: { $0 === c }) {
                s.idle[key]!.remove(at: i)
                s.idleCount -= 1
            }
            guard !s.closed, let w = s.waiters.popFirst() else { return nil }
            s.total += 1
            return w
        }
        if let waiter { connect(on: waiter.loop).cascade(to: waiter.promise) }
    }

    private func connect(on loop: any EventLoop) -> EventLoopFuture<Connection> {
        let ssl = sslContext
        let serverName = origin.hostIsIPAddress ? nil : origin.host
        let maxBody = maxBodyBytes
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let ssl { try sync.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName)) }
                    try sync.addHandler(HTTPExchangeHandler(maxBodyBytes: maxBody))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        return bootstrap.connect(host: origin.host, port: origin.port).flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: HTTPExchangeHandler.self)
            let c = Connection(channel: channel, handler: handler)
            handler.onReusable = { [weak self, weak c] in
                if let self, let c { self.release(c) }
            }
            let shutDown = self.state.withLockedValue { s -> Bool in
                s.open[ObjectIdentifier(c)] = c
                return s.closed
            }
            channel.closeFuture.whenComplete { [weak self] _ in self?.closed(c) }
            if shutDown { channel.close(promise: nil) }
            return c
        }.flatMapErrorThrowing { error in
            // Never opened: the slot is free again, and a waiter may try its own.
            let waiter = self.state.withLockedValue { s -> Waiter? in
                s.total -= 1
                guard !s.closed, let w = s.waiters.popFirst() else { return nil }
                s.total += 1
                return w
            }
            if let waiter { self.connect(on: waiter.loop).cascade(to: waiter.promise) }
            throw error
        }
    }

    /// Closes every connection and fails whoever waits for one.
    func shutdown() async {
        let (connections, waiters) = state.withLockedValue { s -> ([Connection], Deque<Waiter>) in
            s.closed = true
            let w = s.waiters
            s.waiters.removeAll()
            return (Array(s.open.values), w)
        }
        for w in waiters { w.promise.fail(HTTPExchangeError.poolClosed) }
        for c in connections { try? await c.channel.close() }
    }
}

/// Runs one exchange at a time on its connection: writes the request, parses the answer (at most
/// `maxBodyBytes`), and ends it at its deadline. The deadline is one timer per connection, not per
/// request: it is re-armed only when it fires while a later deadline is pending, so a connection
/// busy with short requests sets a timer about once per request timeout.
final class HTTPExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var parser: HTTP1ResponseParser
    private var context: ChannelHandlerContext?
    private var promise: EventLoopPromise<HTTPAnswer>?
    private var deadline = NIODeadline.distantFuture
    private var timerDue: NIODeadline?
    /// Told (on the loop) when an exchange ended with the connection fit for the next.
    var onReusable: (() -> Void)?

    init(maxBodyBytes: Int) { parser = HTTP1ResponseParser(maxBodyBytes: maxBodyBytes) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func start(_ request: ByteBuffer, deadline: NIODeadline, promise: EventLoopPromise<HTTPAnswer>) {
        guard let context, context.channel.isActive else {
            promise.fail(HTTPExchangeError.closedEarly)
            return
        }
        self.promise = promise
        self.deadline = deadline
        armTimer(context)
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        // A timer due no later than this deadline will look again when it fires.
        if let due = timerDue, due <= deadline { return }
        timerDue = deadline
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: deadline) { bound.value.timerFired() }
    }

    private func timerFired() {
        timerDue = nil
        guard promise != nil, let context else { return }
        if NIODeadline.now() >= deadline {
            fail(HTTPExchangeError.deadline)
        } else {
            armTimer(context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard promise != nil else {
            // Bytes nobody asked for: this connection's framing can no longer be trusted.
            context.close(promise: nil)
            return
        }
        do {
            if let answer = try parser.feed(unwrapInboundIn(data)) { complete(answer, context) }
        } catch {
            fail(error)
        }
    }

    private func complete(_ answer: HTTPAnswer, _ context: ChannelHandlerContext) {
        guard let p = promise else { return }
        promise = nil
        if answer.keepAlive {
            onReusable?()
        } else {
            context.close(promise: nil)
        }
        p.succeed(answer)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS peer that closes without close_notify ends a body read to the end of the connection.
        if let tls = error as? NIOSSLError, case .uncleanShutdown = tls, promise != nil, let answer = try? parser.finishAtEOF() {
            var closing = answer
            closing.keepAlive = false
            complete(closing, context)
            return
        }
        if promise != nil { fail(error) } else { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if promise != nil {
            do {
                if var answer = try parser.finishAtEOF() {
                    answer.keepAlive = false
                    complete(answer, context)
                } else {
                    fail(HTTPExchangeError.closedEarly)
                }
            } catch {
                fail(error)
            }
        }
        context.fireChannelInactive()
    }

    /// Ends the exchange without an answer; the connection is not reused.
    private func fail(_ error: any Error) {
        guard let p = promise else { return }
        promise = nil
        context?.close(promise: nil)
        p.fail(error)
    }
}
