import Postgres
import TrialDomain
import TrialDomainPostgres

/// CDISC ODM 1.3.2 ClinicalData of a study, the format REDCap and OpenClinica import: every participant's forms as
/// they were recorded, then every change of them in the order the system learned it — a correction as an `Update` of
/// the form with an `AuditRecord` (who: `recorded_by`; when: `recorded_at`, the server's time; why: the correction's
/// reason, `ReasonForChange`; `SourceID`: the correction's event id), a void as a `Remove`. A `Transactional` file.
///
/// Read from the archive (`audit.events`) as `trial_auditor`, because the original values and their changes are only
/// there. The arm never enters it: randomizations and unblindings are not exported, and of a dose only the blinded
/// facts (when, supervised, by whom, witness) are, never the product, amount, unit, route or lot.
public struct ODMExport: Sendable {
    /// An archived event, as the export reads it.
    public struct Record: Sendable, Equatable {
        public var eventID, type: String
        public var siteID, participantID: String
        public var occurredAt: String
        public var recordedAt: Timestamp
        public var recordedBy: String
        public var data: JSONValue
    }

    public var studyID: String
    public var records: [Record]
    /// Corrections and voids the projector refused (`monitoring.corrections.refusal`): never applied, so not exported.
    public var refused: Set<String>

    /// A form: its OID suffix, the event type it comes from, and its items (data key, item name, ODM DataType).
    struct Form {
        var name: String
        var type: String
        var items: [(key: String, name: String, dataType: String)]
    }

    static let forms: [Form] = [
        Form(name: "SCREENING", type: "participant.screened",
             items: [("outcome", "OUTCOME", "text"), ("failure_reason", "FAILURE_REASON", "text"), ("age", "AGE", "integer"), ("sex", "SEX", "text")]),
        Form(name: "ENROLMENT", type: "participant.enrolled",
             items: [("consented_at", "CONSENTED_AT", "text"), ("protocol_version", "PROTOCOL_VERSION", "text")]),
        // Blinded facts only: never substance, amount, unit, route or lot.
        Form(name: "DOSE", type: "dose.administered",
             items: [("supervised", "SUPERVISED", "text"), ("administered_by", "ADMINISTERED_BY", "text"), ("witness", "WITNESS", "text")]),
        Form(name: "DOSE_MISSED", type: "dose.missed", items: [("reason", "REASON", "text"), ("detail", "DETAIL", "text")]),
        Form(name: "VITALS", type: "vitals.recorded",
             items: [("systolic_mmhg", "SYSBP", "integer"), ("diastolic_mmhg", "DIABP", "integer"), ("heart_rate_bpm", "PULSE", "integer"),
                     ("temperature_c", "TEMP", "float"), ("time_point", "TIME_POINT", "text")]),
        Form(name: "ASSESSMENT", type: "assessment.completed",
             items: [("instrument", "INSTRUMENT", "text")] + (1...16).map { ("items/\($0 - 1)", "ITEM\($0)", "text") }
                 + [("total", "TOTAL", "integer"), ("rater", "RATER", "text")]),
        Form(name: "AE", type: "adverse_event.reported",
             items: [("term", "TERM", "text"), ("onset_at", "ONSET_AT", "text"), ("grade", "GRADE", "integer"), ("serious", "SERIOUS", "text"),
                     ("seriousness_criteria", "CRITERIA", "text"), ("causality", "CAUSALITY", "text"), ("action_taken", "ACTION_TAKEN", "text"),
                     ("outcome", "OUTCOME", "text"), ("resolved_at", "RESOLVED_AT", "text"), ("expected", "EXPECTED", "text")]),
        Form(name: "DEVIATION", type: "deviation.reported",
             items: [("category", "CATEGORY", "text"), ("severity", "SEVERITY", "text"), ("description", "DESCRIPTION", "text")]),
        Form(name: "WITHDRAWAL", type: "participant.withdrawn",
             items: [("reason", "REASON", "text"), ("initiated_by", "INITIATED_BY", "text"), ("detail", "DETAIL", "text")]),
        Form(name: "COMPLETION", type: "participant.completed", items: [("note", "NOTE", "text")]),
    ]

    static func form(of type: String) -> Form? {
        forms.first { $0.type == type || (type == "adverse_event.updated" && $0.name == "AE") }
    }

    /// The types read from the archive: the forms, their updates, and corrections and voids (filtered to the forms'
    /// types when applied). `participant.randomized` and `unblinding.performed` are not among them.
    static var types: [String] { forms.map(\.type) + ["adverse_event.updated", "event.corrected", "event.voided"] }

    /// Reads the participants' events of the forms' types, and the refused changes, as `trial_auditor`.
    public static func load(auditor db: PostgresConnection) throws -> ODMExport {
        let parser = JSONParser()
        let records = try db.query("""
            SELECT event_id::text, type, study_id, site_id, participant_id, envelope::jsonb ->> 'occurred_at', recorded_at, recorded_by, data::text
            FROM audit.events
            WHERE participant_id IS NOT NULL AND type = ANY(\(array: types)::text[])
            ORDER BY participant_id, chain_seq
            """).map { row in
            let r = try row.decode((String, String, String, String, String, String, Timestamp, String, String).self)
            return (r.2, Record(eventID: r.0, type: r.1, siteID: r.3, participantID: r.4, occurredAt: r.5, recordedAt: r.6,
                                recordedBy: r.7, data: try parser.parse(r.8)))
        }
        let refused = Set(try db.query("SELECT event_id::text FROM monitoring.corrections WHERE refusal IS NOT NULL").decode(String.self))
        return ODMExport(studyID: records.first?.0 ?? "", records: records.map(\.1), refused: refused)
    }

    /// The value of an item in `data`: text as is, numbers canonical, booleans `Y`/`N`, arrays of text joined by `;`.
    static func value(_ data: JSONValue, _ key: String) -> String? {
        var node: JSONValue? = data
        for part in key.split(separator: "/") {
            if let index = Int(part), case .array(let a)? = node { node = index < a.count ? a[index] : nil } else { node = node?[String(part)] }
        }
        switch node {
        case .string(let s)?: return s
        case .number(let n)?: return CanonicalJSON.formatNumber(n)
        case .bool(let b)?: return b ? "Y" : "N"
        case .array(let a)?: return a.compactMap(\.stringValue).joined(separator: ";")
        default: return nil
        }
    }

    /// The ODM document.
    /// - Parameter created: `CreationDateTime`, the caller's choice (reproducible output); by default the latest
    ///   `recorded_at` of the exported events.
    public func document(created: String? = nil, sourceVersion: String) -> [UInt8] {
        let created = created ?? (records.map(\.recordedAt).max()?.utc(.second) ?? "2000-01-01T00:00:00Z")
        let studyOID = "STUDY.\(studyID)"
        let mdv = "MDV.\(studyID).ODM.1"
        var x = XMLText()
        x.open("ODM", [("xmlns", "http://www.cdisc.org/ns/odm/v1.3"), ("ODMVersion", "1.3.2"), ("FileType", "Transactional"),
                       ("FileOID", "ODM.\(studyID)"), ("CreationDateTime", created), ("Originator", "microdose-trials reporter"),
                       ("SourceSystem", "microdose-trials"), ("SourceSystemVersion", sourceVersion)])
        metadata(&x, studyOID: studyOID, mdv: mdv)
        admin(&x, studyOID: studyOID, mdv: mdv, created: created)
        x.open("ClinicalData", [("StudyOID", studyOID), ("MetaDataVersionOID", mdv)])
        let bySubject = Dictionary(grouping: records, by: \.participantID)
        for subject in bySubject.keys.sorted() {
            let events = bySubject[subject]!
            x.open("SubjectData", [("SubjectKey", subject), ("TransactionType", "Insert")])
            x.empty("SiteRef", [("LocationOID", "LOC.\(events[0].siteID)")])
            x.open("StudyEventData", [("StudyEventOID", "SE.TRIAL")])
            for e in events { formData(&x, e) }
            x.close("StudyEventData")
            x.close("SubjectData")
        }
        x.close("ClinicalData")
        x.close("ODM")
        return Array(x.text.utf8)
    }

    private func formData(_ x: inout XMLText, _ e: Record) {
        let audit = { (x: inout XMLText, reason: String?, source: String?) in
            x.open("AuditRecord")
            x.empty("UserRef", [("UserOID", Self.userOID(e.recordedBy))])
            x.empty("LocationRef", [("LocationOID", "LOC.\(e.siteID)")])
            x.element("DateTimeStamp", text: e.recordedAt.utc(.microsecond))
            if let reason { x.element("ReasonForChange", text: reason) }
            if let source { x.element("SourceID", text: source) }
            x.close("AuditRecord")
        }
        switch e.type {
        case "event.corrected", "event.voided":
            guard !refused.contains(e.eventID) else { return }
            let corrected = e.type == "event.corrected"
            guard let target = Self.value(e.data, corrected ? "corrected_event_id" : "voided_event_id"),
                  let targetType = Self.value(e.data, corrected ? "corrected_type" : "voided_type"), let form = Self.form(of: targetType),
                  targetType == form.type else { return }
            let reason = Self.value(e.data, "reason")
            let transaction = corrected ? "Update" : "Remove"
            x.open("FormData", [("FormOID", "F.\(form.name)"), ("FormRepeatKey", target), ("TransactionType", transaction)])
            x.open("ItemGroupData", [("ItemGroupOID", "IG.\(form.name)"), ("TransactionType", transaction)])
            audit(&x, reason, e.eventID)
            if corrected, let replacement = e.data["data"] { items(&x, form, replacement, occurredAt: nil) }
            x.close("ItemGroupData")
            x.close("FormData")
        default:
            guard let form = Self.form(of: e.type) else { return }
            let update = e.type == "adverse_event.updated"
            let key = update ? (Self.value(e.data, "adverse_event_id") ?? e.eventID) : e.eventID
            let transaction = update ? "Update" : "Insert"
            x.open("FormData", [("FormOID", "F.\(form.name)"), ("FormRepeatKey", key), ("TransactionType", transaction)])
            x.open("ItemGroupData", [("ItemGroupOID", "IG.\(form.name)"), ("TransactionType", transaction)])
            audit(&x, update ? "adverse event follow-up (adverse_event.updated)" : nil, e.eventID)
            items(&x, form, e.data, occurredAt: update ? nil : e.occurredAt)
            x.close("ItemGroupData")
            x.close("FormData")
        }
    }

    private func items(_ x: inout XMLText, _ form: Form, _ data: JSONValue, occurredAt: String?) {
        if let occurredAt { x.empty("ItemData", [("ItemOID", "IT.\(form.name).OCCURRED_AT"), ("Value", occurredAt)]) }
        for item in form.items {
            guard let value = Self.value(data, item.key) else { continue }
            x.empty("ItemData", [("ItemOID", "IT.\(form.name).\(item.name)"), ("Value", value)])
        }
    }

    static func userOID(_ user: String) -> String { "USR." + user }

    private func metadata(_ x: inout XMLText, studyOID: String, mdv: String) {
        x.open("Study", [("OID", studyOID)])
        x.open("GlobalVariables")
        x.element("StudyName", text: studyID)
        x.element("StudyDescription", text: "Supervised psychedelic microdosing study \(studyID) (blinded)")
        x.element("ProtocolName", text: studyID)
        x.close("GlobalVariables")
        x.open("MetaDataVersion", [("OID", mdv), ("Name", "Blinded clinical data with audit records")])
        x.open("Protocol")
        x.empty("StudyEventRef", [("StudyEventOID", "SE.TRIAL"), ("OrderNumber", "1"), ("Mandatory", "Yes")])
        x.close("Protocol")
        x.open("StudyEventDef", [("OID", "SE.TRIAL"), ("Name", "Trial"), ("Repeating", "No"), ("Type", "Common")])
        for (index, form) in Self.forms.enumerated() {
            x.empty("FormRef", [("FormOID", "F.\(form.name)"), ("OrderNumber", String(index + 1)), ("Mandatory", "No")])
        }
        x.close("StudyEventDef")
        for form in Self.forms {
            x.open("FormDef", [("OID", "F.\(form.name)"), ("Name", form.name), ("Repeating", "Yes")])
            x.empty("ItemGroupRef", [("ItemGroupOID", "IG.\(form.name)"), ("Mandatory", "Yes")])
            x.close("FormDef")
        }
        for form in Self.forms {
            x.open("ItemGroupDef", [("OID", "IG.\(form.name)"), ("Name", form.name), ("Repeating", "No")])
            x.empty("ItemRef", [("ItemOID", "IT.\(form.name).OCCURRED_AT"), ("Mandatory", "Yes")])
            for item in form.items { x.empty("ItemRef", [("ItemOID", "IT.\(form.name).\(item.name)"), ("Mandatory", "No")]) }
            x.close("ItemGroupDef")
        }
        for form in Self.forms {
            x.empty("ItemDef", [("OID", "IT.\(form.name).OCCURRED_AT"), ("Name", "OCCURRED_AT"), ("DataType", "text")])
            for item in form.items {
                x.empty("ItemDef", [("OID", "IT.\(form.name).\(item.name)"), ("Name", item.name), ("DataType", item.dataType)])
            }
        }
        x.close("MetaDataVersion")
        x.close("Study")
    }

    private func admin(_ x: inout XMLText, studyOID: String, mdv: String, created: String) {
        x.open("AdminData", [("StudyOID", studyOID)])
        for user in Set(records.map(\.recordedBy)).sorted() {
            x.open("User", [("OID", Self.userOID(user))])
            x.element("LoginName", text: user)
            x.close("User")
        }
        for site in Set(records.map(\.siteID)).sorted() {
            x.open("Location", [("OID", "LOC.\(site)"), ("Name", site), ("LocationType", "Site")])
            x.empty("MetaDataVersionRef", [("StudyOID", studyOID), ("MetaDataVersionOID", mdv), ("EffectiveDate", String(created.prefix(10)))])
            x.close("Location")
        }
        x.close("AdminData")
    }
}
