/// Decoding of the data query events (issue 15).
extension PayloadDecoder {
    static func queryRaised(_ r: inout ObjectReader) -> QueryRaised? {
        let event = r.uuid("event_id")
        let pointer = jsonPointer(&r, "pointer")
        let question = r.string("question", maxLength: 2_000)
        guard let event, let pointer, let question else { return nil }
        return QueryRaised(eventID: event, pointer: pointer, question: question)
    }

    static func queryAnswered(_ r: inout ObjectReader) -> QueryAnswered? {
        let query = r.uuid("query_id")
        let text = r.string("text", maxLength: 2_000)
        let correction = r.uuid("correction_event_id", required: false)
        guard let query, let text, r.issues.isEmpty else { return nil }
        return QueryAnswered(queryID: query, text: text, correctionEventID: correction)
    }

    static func queryClosed(_ r: inout ObjectReader) -> QueryClosed? {
        let query = r.uuid("query_id")
        let note = r.string("note", required: false, maxLength: 2_000)
        guard let query, r.issues.isEmpty else { return nil }
        return QueryClosed(queryID: query, note: note)
    }

    static func queryReopened(_ r: inout ObjectReader) -> QueryReopened? {
        let query = r.uuid("query_id")
        let reason = r.string("reason", maxLength: 2_000)
        guard let query, let reason else { return nil }
        return QueryReopened(queryID: query, reason: reason)
    }

    /// A JSON Pointer (RFC 6901) into an event's `data`: empty (the whole data) or `/`-separated tokens in which `~` is
    /// only ever `~0` or `~1`. An empty string is the pointer to the whole data, so it is allowed here.
    private static func jsonPointer(_ r: inout ObjectReader, _ key: String) -> String? {
        guard let value = r.value(key) else { return nil }
        guard case .string(let text) = value else {
            r.report(key, "expected a string, got \(value.typeName)")
            return nil
        }
        guard text.unicodeScalars.count <= 200 else {
            r.report(key, "must be at most 200 characters")
            return nil
        }
        guard text.isEmpty || text.hasPrefix("/"),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }),
              text.split(separator: "~", omittingEmptySubsequences: false).dropFirst().allSatisfy({ $0.hasPrefix("0") || $0.hasPrefix("1") })
        else {
            r.report(key, "must be a JSON Pointer into the event's data: empty, or '/' followed by field names or indexes (e.g. /items/8); '~' only as ~0 or ~1")
            return nil
        }
        return text
    }
}
