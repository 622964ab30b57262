/// Why an authenticated person may not submit an event.
public struct AuthorizationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var pointer: String
    public var reason: String
    public var description: String { "\(pointer): \(reason)" }
}

/// The one place that decides who may submit what: the role table in `EventType.submitters`, applied to a
/// correction or void as to the event it changes; for site roles, only their own site and its participants;
/// for people assigned to some sites (a `site`/`sites` claim), only those sites.
public enum Authorization {
    public static func check(_ principal: Principal, mayRecord event: RecordedEvent) -> AuthorizationFailure? {
        if let refusal = checkRole(principal, event) { return refusal }
        if case .signatureApplied(let s) = event.payload, case .casebook = s.signed {
            // ICH E6(R3) 2.12: the investigator signs off the participant's case report form, no one else.
            if principal.role != .investigator {
                return AuthorizationFailure(pointer: "/data/casebook",
                                            reason: "only the site's investigator signs off a participant's casebook; role '\(principal.role.rawValue)' may sign events")
            }
        }
        if principal.role.isSiteBound, principal.site == nil {
            return AuthorizationFailure(pointer: "/site_id", reason: "the token names no site; site roles need a token for their site")
        }
        guard let scope = principal.siteScope else { return nil }
        let sites = scope.sorted().joined(separator: ", ")
        guard let eventSite = event.siteID else {
            return AuthorizationFailure(pointer: "/site_id",
                                        reason: "the token is for site \(sites) and may submit only events naming that site; add site_id")
        }
        if !scope.contains(eventSite) {
            return AuthorizationFailure(pointer: "/site_id", reason: "the token is for site \(sites) and may submit only that site's events")
        }
        if let participant = event.participantID, let site = Identifiers.site(ofParticipant: participant), !scope.contains(site) {
            return AuthorizationFailure(pointer: "/participant_id", reason: "the token is for site \(sites) and may submit only that site's participants")
        }
        return nil
    }

    /// The role table: a correction or void is allowed to whoever may submit the type of the event it changes.
    private static func checkRole(_ principal: Principal, _ event: RecordedEvent) -> AuthorizationFailure? {
        guard event.type.changesAnotherEvent else {
            guard event.type.submitters.contains(principal.role) else {
                return AuthorizationFailure(pointer: "/type", reason: "role '\(principal.role.rawValue)' may not submit '\(event.type.rawValue)'; allowed: \(roles(event.type))")
            }
            return nil
        }
        let key = event.type == .eventCorrected ? "corrected_type" : "voided_type"
        guard let target = event.payload.changedEventType else {
            return AuthorizationFailure(pointer: "/data/\(key)", reason: "the type of the changed event is required to authorize the change")
        }
        guard target.submitters.contains(principal.role) else {
            return AuthorizationFailure(
                pointer: "/data/\(key)",
                reason: "role '\(principal.role.rawValue)' may not change '\(target.rawValue)' events: a correction or void is allowed to those who submit the event it changes (\(roles(target)))")
        }
        return nil
    }

    private static func roles(_ type: EventType) -> String { type.submitters.map(\.rawValue).sorted().joined(separator: ", ") }
}
