import Foundation

/// A request to stop, for blocking work on a thread of its own: checked between units of work, and waited on
/// instead of sleeping, so that a stop ends a backoff at once instead of after it.
///
/// `@unchecked Sendable`: its only state, `requested`, is read and written with `condition` locked.
public final class StopToken: @unchecked Sendable {
    private let condition = NSCondition()
    private var requested = false

    public init() {}

    /// True once `requestStop()` was called.
    public var isStopRequested: Bool {
        condition.lock()
        defer { condition.unlock() }
        return requested
    }

    /// Asks the work to stop, and wakes every `wait` at once. Calling it again does nothing more.
    public func requestStop() {
        condition.lock()
        requested = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits `seconds`, or less when a stop is requested meanwhile.
    /// - Returns: true when a stop was requested (before or during the wait).
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !requested, condition.wait(until: deadline) {}
        return requested
    }
}
