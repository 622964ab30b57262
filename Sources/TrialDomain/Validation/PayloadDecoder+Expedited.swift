/// Decoding of the expedited (SUSAR) reporting events (issue 14).
extension PayloadDecoder {
    static func safetyAssessment(_ r: inout ObjectReader) -> SafetyAssessed? {
        let id = r.uuid("adverse_event_id")
        let causality = r.enumeration("causality", Causality.self)
        let expected = r.bool("expected")
        let susar = r.bool("susar")
        let rationale = r.string("rationale", required: false, maxLength: 2_000)
        var consistent = true
        if susar == true, expected == true {
            r.report("susar", "a SUSAR is unexpected: 'expected' must be false when 'susar' is true")
            consistent = false
        }
        if susar == true, causality == .unlikely {
            r.report("susar", "a SUSAR is a suspected reaction: causality 'unlikely' rules that out")
            consistent = false
        }
        guard let id, let causality, let expected, let susar, consistent else { return nil }
        return SafetyAssessed(adverseEventID: id, causality: causality, expected: expected, susar: susar, rationale: rationale)
    }

    static func regulatoryReport(_ r: inout ObjectReader) -> RegulatoryReportSubmitted? {
        let id = r.uuid("adverse_event_id")
        let report = r.enumeration("report", ExpeditedReporting.Report.self)
        let recipient = r.string("recipient", maxLength: 200)
        let reference = r.string("reference", required: false, maxLength: 128)
        guard let id, let report, let recipient else { return nil }
        return RegulatoryReportSubmitted(adverseEventID: id, report: report, recipient: recipient, reference: reference)
    }
}
