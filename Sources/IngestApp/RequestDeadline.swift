import NIOCore
import NIOHTTPTypes

/// When a connection's request deadline runs, as a state machine over what has been read and written: pure, so
/// it is tested without I/O.
///
/// The clock runs whenever the connection owes us something: while it is idle (ready for a request) and while a
/// request's last part has not arrived. It stops only while every request has fully arrived and an answer is
/// still being prepared. An early answer (401, 405, 413, 415, 503 before the body ended) does not stop it: the
/// client still owes the rest of its request, and a client trickling that body is closed like any other.
struct RequestDeadlineState: Sendable, Equatable {
    enum Action: Sendable, Equatable {
        /// Start a fresh deadline (the connection became ready for a new request).
        case arm
        /// Stop the clock (everything sent has arrived; the server is working on the answer).
        case cancel
        /// Leave the clock as it is.
        case none
    }

    private(set) var requestsStarted = 0
    private(set) var requestsEnded = 0
    private(set) var answersEnded = 0
    /// Whether a deadline is scheduled (one is from the moment the connection is active).
    private(set) var clockRunning = true

    /// The connection is ready and waiting for a request.
    var isIdle: Bool { requestsStarted == requestsEnded && answersEnded >= requestsEnded }

    mutating func requestHeadRead() -> Action {
        requestsStarted += 1
        return .none  // the time since the connection became ready keeps counting
    }

    mutating func requestEndRead() -> Action {
        requestsEnded += 1
        guard requestsStarted == requestsEnded else { return .none }
        // Answered before the body ended: the connection is ready for the next request from now on.
        return answersEnded >= requestsEnded ? run() : stop()
    }

    mutating func answerEndWritten() -> Action {
        answersEnded += 1
        if isIdle { return run() }
        // A pipelined request is arriving and its clock was stopped while this answer was prepared: it starts now.
        if requestsStarted > requestsEnded, !clockRunning { return run() }
        return .none
    }

    private mutating func run() -> Action {
        clockRunning = true
        return .arm
    }

    private mutating func stop() -> Action {
        clockRunning = false
        return .cancel
    }
}

/// Closes a connection that does not deliver a complete request within `timeout` of becoming ready for one
/// (opened, or its previous answer sent). Covers clients that trickle headers or a body (also after an early
/// answer), and idle keep-alive connections, so slow or stuck clients cannot hold every connection.
/// Handlers still running are not affected (see `RequestDeadlineState`).
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var state = RequestDeadlineState()

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: perform(state.requestHeadRead(), context)
        case .end: perform(state.requestEndRead(), context)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { perform(state.answerEndWritten(), context) }
        context.write(data, promise: promise)
    }

    private func perform(_ action: RequestDeadlineState.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .arm: arm(context)
        case .cancel:
            deadline?.cancel()
            deadline = nil
        case .none: break
        }
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
