/// Data queries of one participant (issue 15): a pure function of their query events and of what the archive holds
/// under the event ids those name. Steps are taken in the order the server recorded them (`recorded_at`, then
/// `event_id`), never a client's `occurred_at`: a site cannot answer a query before it was raised. A step that does not
/// fit the query's life (an answer to an unknown or closed query, a close of a query never answered, a reopening of an
/// open one, a correction that does not change the queried event) changes nothing and is shown with its refusal, as a
/// refused correction is. Nothing here reads the clock: a query's age is computed when it is read.
public enum DataQueries {
    /// What the archive holds under an event id a query step names.
    public struct Target: Sendable, Hashable {
        public var participantID: String?
        public var type: EventType
        /// For a correction or void, the event it changes.
        public var changedEventID: String?
        /// The event's `data` as recorded, where the reader may see it (the projector; never ingest): a query's pointer
        /// must name something in it.
        public var data: JSONValue?

        public init(participantID: String?, type: EventType, changedEventID: String? = nil, data: JSONValue? = nil) {
            self.participantID = participantID
            self.type = type
            self.changedEventID = changedEventID
            self.data = data
        }
    }

    public enum Status: String, Sendable {
        /// Waiting for the site (raised, or reopened by the monitor).
        case open
        /// The site answered; waiting for the monitor.
        case answered
        case closed
        /// Raised about something that is not an event of this participant: it never was a query.
        case refused
    }

    public enum Action: String, Sendable {
        case raised, answered, closed, reopened
    }

    public struct QueryRow: Sendable, Equatable {
        public var queryID: String
        public var siteID: String
        public var participantID: String
        public var eventID: String
        public var eventType: String?
        public var pointer: String
        public var question: String
        public var raisedBy: String
        public var raisedAt: Timestamp
        public var status: Status
        /// When it last became open: raised, or reopened.
        public var openedAt: Timestamp
        public var answer: String?
        public var answeredBy: String?
        public var answeredAt: Timestamp?
        public var correctionEventID: String?
        public var closedBy: String?
        public var closedAt: Timestamp?
        public var reopenings: Int
        public var reopenReason: String?
        public var refusal: String?

        public init(queryID: String, siteID: String, participantID: String, eventID: String, eventType: String?, pointer: String,
                    question: String, raisedBy: String, raisedAt: Timestamp, status: Status, openedAt: Timestamp, answer: String? = nil,
                    answeredBy: String? = nil, answeredAt: Timestamp? = nil, correctionEventID: String? = nil, closedBy: String? = nil,
                    closedAt: Timestamp? = nil, reopenings: Int, reopenReason: String? = nil, refusal: String?) {
            (self.queryID, self.siteID, self.participantID, self.eventID, self.eventType) = (queryID, siteID, participantID, eventID, eventType)
            (self.pointer, self.question, self.raisedBy, self.raisedAt, self.status) = (pointer, question, raisedBy, raisedAt, status)
            (self.openedAt, self.answer, self.answeredBy, self.answeredAt) = (openedAt, answer, answeredBy, answeredAt)
            (self.correctionEventID, self.closedBy, self.closedAt) = (correctionEventID, closedBy, closedAt)
            (self.reopenings, self.reopenReason, self.refusal) = (reopenings, reopenReason, refusal)
        }
    }

    /// One step of a query's life, applied or refused.
    public struct StepRow: Sendable, Equatable {
        public var eventID: String
        public var queryID: String
        public var siteID: String
        public var participantID: String
        public var action: Action
        public var text: String?
        public var correctionEventID: String?
        public var recordedBy: String
        public var recordedAt: Timestamp
        /// Why the step changed nothing; nil when it applied.
        public var refusal: String?
    }

    /// The queries and steps of one participant from their query events (`events` may hold others: they are skipped)
    /// and the archive's `targets` under the event ids the steps name.
    public static func rows(_ events: [RecordedEvent], targets: [String: Target]) -> (queries: [QueryRow], steps: [StepRow]) {
        var queries: [String: QueryRow] = [:]
        var steps: [StepRow] = []
        let ordered = events.filter { $0.type.isDataQueryStep && $0.participantID != nil && $0.siteID != nil }
            .sorted { ($0.recordedAt, $0.occurredAt, $0.eventID) < ($1.recordedAt, $1.occurredAt, $1.eventID) }
        for e in ordered {
            let participant = e.participantID!
            guard let queryID = e.payload.queryID(ofEvent: e.eventID) else { continue }
            var step = StepRow(eventID: e.eventID, queryID: queryID, siteID: e.siteID!, participantID: participant,
                               action: .raised, text: nil, correctionEventID: nil, recordedBy: e.recordedBy, recordedAt: e.recordedAt,
                               refusal: nil)
            /// A later step: recorded, and applied to the query only when it fits (`refusal(of:)`, then `check`).
            func follow(_ action: Action, _ text: String?, correction: String? = nil, check: (QueryRow) -> String? = { _ in nil },
                        _ change: (inout QueryRow) -> Void) {
                step.action = action
                step.text = text
                step.correctionEventID = correction
                step.refusal = refusal(of: action, queries[queryID], participant) ?? check(queries[queryID]!)
                if step.refusal == nil { change(&queries[queryID]!) }
            }
            switch e.payload {
            case .queryRaised(let r):
                step.text = r.question
                let target = targets[r.eventID]
                if target?.participantID != participant {
                    step.refusal = "event \(r.eventID) is not an event of participant \(participant)"
                } else if target?.type.isDataQueryStep == true {
                    step.refusal = "a query is about recorded data, not about another query's step"
                } else if let data = target?.data, JSONDiff.value(at: r.pointer, in: data) == nil {
                    step.refusal = "pointer \(r.pointer) names nothing in the data of event \(r.eventID) as recorded"
                }
                queries[queryID] = QueryRow(queryID: queryID, siteID: e.siteID!, participantID: participant, eventID: r.eventID,
                                            // Only the participant's own event's type: a row never depends on another
                                            // participant's events, which do not make this participant's rows refresh.
                                            eventType: target?.participantID == participant ? target?.type.rawValue : nil,
                                            pointer: r.pointer, question: r.question,
                                            raisedBy: e.recordedBy, raisedAt: e.recordedAt,
                                            status: step.refusal == nil ? .open : .refused, openedAt: e.recordedAt,
                                            reopenings: 0, refusal: step.refusal)
            case .queryAnswered(let a):
                follow(.answered, a.text, correction: a.correctionEventID, check: { query in
                    // The correction must change the queried event, and be the participant's.
                    guard let correction = a.correctionEventID else { return nil }
                    let t = targets[correction]
                    guard t?.participantID != participant || !(t?.type.changesAnotherEvent ?? false) || t?.changedEventID != query.eventID
                    else { return nil }
                    return "correction_event_id \(correction) is not a correction or void of the queried event \(query.eventID) of participant \(participant)"
                }) {
                    $0.status = .answered
                    ($0.answer, $0.answeredBy, $0.answeredAt, $0.correctionEventID) = (a.text, e.recordedBy, e.recordedAt, a.correctionEventID)
                }
            case .queryClosed(let c):
                follow(.closed, c.note) { ($0.status, $0.closedBy, $0.closedAt) = (.closed, e.recordedBy, e.recordedAt) }
            case .queryReopened(let r):
                follow(.reopened, r.reason) {
                    ($0.status, $0.openedAt, $0.closedBy, $0.closedAt) = (.open, e.recordedAt, nil, nil)
                    $0.reopenings += 1
                    $0.reopenReason = r.reason
                }
            default:
                continue
            }
            steps.append(step)
        }
        return (queries.values.sorted { $0.queryID < $1.queryID }, steps)
    }

    /// Why `action` does not fit the query's state; nil when it does.
    static func refusal(of action: Action, _ query: QueryRow?, _ participant: String) -> String? {
        guard let query else { return "no query of participant \(participant) has this query_id (yet)" }
        switch (action, query.status) {
        case (_, .refused): return "the query was refused: \(query.refusal ?? "")"
        case (.answered, .open), (.closed, .answered), (.reopened, .closed): return nil
        case (.answered, _): return "the query is \(query.status.rawValue); only an open query is answered"
        case (.closed, .open): return "the query was never answered since it was opened; a query is closed once the site has answered it"
        case (.closed, _): return "the query is already closed"
        case (.reopened, _): return "the query is \(query.status.rawValue); only a closed query is reopened"
        case (.raised, _): return nil
        }
    }
}
