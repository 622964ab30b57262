// MARK: Expedited (SUSAR) reporting — issue 14

/// `safety.assessed`: the sponsor's own assessment of one adverse event (participant scope). Whether it is a SUSAR
/// (serious, unexpected, suspected reaction) is the sponsor's call; once there is one, the sponsor's latest assessment
/// decides over the site's report (`ExpeditedReporting`).
public struct SafetyAssessed: Sendable, Hashable {
    /// The `event_id` of the `adverse_event.reported` assessed.
    public var adverseEventID: String
    /// The sponsor's causality (WHO-UMC).
    public var causality: Causality
    /// Expected against the reference safety information.
    public var expected: Bool
    /// A suspected unexpected serious adverse reaction: never `expected`, never `unlikely` to be related.
    public var susar: Bool
    public var rationale: String?
}

/// `regulatory_report.submitted`: the sponsor sent one expedited report about an adverse event to a regulator. It
/// closes that report's clock (the first submission, to any recipient).
public struct RegulatoryReportSubmitted: Sendable, Hashable {
    /// The `event_id` of the `adverse_event.reported` reported on.
    public var adverseEventID: String
    public var report: ExpeditedReporting.Report
    /// To whom (e.g. FDA, EMA, MHRA, an ethics committee).
    public var recipient: String
    /// The recipient's or the sponsor's reference of the report (e.g. a safety report id), if any.
    public var reference: String?
}
