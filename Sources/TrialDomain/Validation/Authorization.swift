/// Why an authenticated person may not submit an event.
public struct AuthorizationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var pointer: String
    public var reason: String
    public var description: String { "\(pointer): \(reason)" }
}

/// The one place that decides who may submit what: the role table in `EventType.submitters`,
/// and, for site-bound roles, only their own site and its participants.
public enum Authorization {
    public static func check(_ principal: Principal, mayRecord event: RecordedEvent) -> AuthorizationFailure? {
        guard event.type.submitters.contains(principal.role) else {
            let roles = event.type.submitters.map(\.rawValue).sorted().joined(separator: ", ")
            return AuthorizationFailure(pointer: "/type", reason: "role '\(principal.role.rawValue)' may not submit '\(event.type.rawValue)'; allowed: \(roles)")
        }
        guard principal.role.isSiteBound, let eventSite = event.siteID else { return nil }
        guard let site = principal.site else {
            return AuthorizationFailure(pointer: "/site_id", reason: "the token names no site; site roles need a token for their site")
        }
        if eventSite != site {
            return AuthorizationFailure(pointer: "/site_id", reason: "the token is for site \(site) and may submit only that site's events")
        }
        if let participant = event.participantID, Identifiers.site(ofParticipant: participant) != site {
            return AuthorizationFailure(pointer: "/participant_id", reason: "the token is for site \(site) and may submit only that site's participants")
        }
        return nil
    }
}
