/// Turns a stored event (a log record's value, or `audit.events.envelope`) into a `RecordedEvent`: the one place
/// that does, for the projector, the archive's readers and the auditors' tools alike.
///
/// Only what an event carries is checked again, never the policies of the moment it was submitted (clock skew,
/// accepted versions): see `EventValidator.decodeStored`.
public struct StoredEventDecoder: Sendable {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        case notJSON(JSONParseError)
        case invalid(ValidationFailure)

        public var description: String {
            switch self {
            case .notJSON(let error): "not JSON: \(error)"
            case .invalid(let failure): failure.description
            }
        }
    }

    private let parser = JSONParser(maxDepth: 64)
    private let validator: EventValidator

    public init(validator: EventValidator = EventValidator()) {
        self.validator = validator
    }

    public func decode(_ bytes: some Collection<UInt8>) -> Result<RecordedEvent, Failure> {
        do {
            return decoded(try parser.parse(bytes))
        } catch {
            return .failure(.notJSON(error))
        }
    }

    public func decode(_ text: String) -> Result<RecordedEvent, Failure> {
        do {
            return decoded(try parser.parse(text))
        } catch {
            return .failure(.notJSON(error))
        }
    }

    private func decoded(_ json: JSONValue) -> Result<RecordedEvent, Failure> {
        validator.decodeStored(json).mapError(Failure.invalid)
    }
}
