/// Data queries (issue 15): discrepancy management between a monitor and a site. A query is identified by the
/// `event_id` of its `query.raised` (its `query_id`); every later step names it.

/// `query.raised`: a monitor's (or sponsor's) question about one recorded event of the participant.
public struct QueryRaised: Sendable, Hashable {
    /// The participant's event the question is about.
    public var eventID: String
    /// A JSON Pointer (RFC 6901) into that event's `data` (`""` for the event as a whole).
    public var pointer: String
    public var question: String
}

/// `query.answered`: the site's answer, optionally naming the `event.corrected` (or `event.voided`) that resolves it.
public struct QueryAnswered: Sendable, Hashable {
    public var queryID: String
    public var text: String
    public var correctionEventID: String?
}

/// `query.closed`: the monitor accepts the answer.
public struct QueryClosed: Sendable, Hashable {
    public var queryID: String
    public var note: String?
}

/// `query.reopened`: the monitor does not accept the answer after all; the query is open again.
public struct QueryReopened: Sendable, Hashable {
    public var queryID: String
    public var reason: String
}

extension EventPayload {
    /// The query a step of a query's life belongs to (a raise is its own query).
    public func queryID(ofEvent eventID: String) -> String? {
        switch self {
        case .queryRaised: eventID
        case .queryAnswered(let a): a.queryID
        case .queryClosed(let c): c.queryID
        case .queryReopened(let r): r.queryID
        default: nil
        }
    }
}
