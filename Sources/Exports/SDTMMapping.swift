import TrialDomain

/// Study days (`--DY`) from each subject's reference start (`RFSTDTC`, the first dose): the day of the reference start
/// is day 1, the day before it day -1; there is no day 0. Days are calendar dates in UTC (the read models keep UTC).
struct StudyDay {
    let reference: [String: Timestamp]

    func day(_ participantID: String, _ at: Timestamp) -> Double? {
        guard let start = reference[participantID] else { return nil }
        let days = Self.dayNumber(at) - Self.dayNumber(start)
        return Double(days >= 0 ? days + 1 : days)
    }

    static func dayNumber(_ t: Timestamp) -> Int64 {
        t.microsecondsSinceEpoch >= 0 ? t.microsecondsSinceEpoch / 86_400_000_000 : (t.microsecondsSinceEpoch + 1) / 86_400_000_000 - 1
    }
}

/// The SDTM IG 3.4 datasets of a study, from the read models (`SDTMSource`): DM, EX, AE, QS, VS, DS, DV, TS, SUPPAE,
/// and DA when unblinded. Pure and deterministic: rows sorted by subject, time and event id, `--SEQ` numbered after
/// sorting; no clock is read.
public enum SDTMMapping {
    typealias Column = (name: String, label: String, type: SDTMDataset.VariableType, core: SDTMDataset.Variable.Core,
                        codelist: SDTMDataset.Codelist?)

    /// Every dataset, in the order define.xml lists them.
    public static func datasets(_ source: SDTMSource) -> [SDTMDataset] {
        let study = StudyDay(reference: Dictionary(uniqueKeysWithValues: source.participants.compactMap { p in
            p.firstDoseAt.map { (p.participantID, $0) }
        }))
        var out = [dm(source), ex(source, study), ae(source, study), qs(source, study), vs(source, study), ds(source, study),
                   dv(source, study)]
        if source.unblinded != nil { out.append(da(source, study)) }
        out.append(ts(source))
        out.append(suppae(source))
        return out
    }

    /// USUBJID: the study and the participant, so it is unique across studies.
    static func usubjid(_ study: String, _ participant: String) -> String { "\(study)-\(participant)" }

    /// ISO 8601 date-time in UTC to the second, without a zone designator (SDTM --DTC; the export's README states UTC).
    public static func dtc(_ t: Timestamp) -> String { String(t.utc(.second).dropLast()) }

    static func dtc(_ t: Timestamp?) -> String? { t.map { dtc($0) } }

    static let identifiers: [Column] = [
        ("STUDYID", "Study Identifier", .text, .req, nil),
        ("DOMAIN", "Domain Abbreviation", .text, .req, nil),
        ("USUBJID", "Unique Subject Identifier", .text, .req, nil),
    ]

    static func sequenced(_ domain: String, _ study: String, _ rows: [(participant: String, values: [SDTMDataset.Value])])
        -> [[SDTMDataset.Value]]
    {
        var seq: [String: Int] = [:]
        return rows.map { row in
            seq[row.participant, default: 0] += 1
            return [.text(study), .text(domain), .text(usubjid(study, row.participant)), .number(Double(seq[row.participant]!))]
                + row.values
        }
    }

    static let yesNo = SDTMDataset.Codelist(name: "NY", nciCode: "C66742")

    // MARK: DM

    static func dm(_ s: SDTMSource) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("SUBJID", "Subject Identifier for the Study", .text, .req, nil),
            ("RFSTDTC", "Subject Reference Start Date/Time", .text, .exp, nil),
            ("RFENDTC", "Subject Reference End Date/Time", .text, .exp, nil),
            ("RFXSTDTC", "Date/Time of First Study Treatment", .text, .exp, nil),
            ("RFXENDTC", "Date/Time of Last Study Treatment", .text, .exp, nil),
            ("RFICDTC", "Date/Time of Informed Consent", .text, .exp, nil),
            ("RFPENDTC", "Date/Time of End of Participation", .text, .exp, nil),
            ("SITEID", "Study Site Identifier", .text, .req, nil),
            ("AGE", "Age", .number, .exp, nil),
            ("AGEU", "Age Units", .text, .exp, .init(name: "AGEU", nciCode: "C66781")),
            ("SEX", "Sex", .text, .req, .init(name: "SEX", nciCode: "C66731")),
            ("ARMCD", "Planned Arm Code", .text, .exp, nil),
            ("ARM", "Description of Planned Arm", .text, .exp, nil),
            ("ACTARMCD", "Actual Arm Code", .text, .exp, nil),
            ("ACTARM", "Description of Actual Arm", .text, .exp, nil),
            ("ARMNRS", "Reason Arm and/or Actual Arm is Null", .text, .exp, .init(name: "ARMNULRS", nciCode: "C142179")),
            ("COUNTRY", "Country", .text, .req, nil),
        ]
        let rows: [[SDTMDataset.Value]] = s.participants.map { p in
            let end = p.withdrawnAt ?? p.completedAt
            let arm = armValues(p, s)
            return [.text(s.studyID), .text("DM"), .text(usubjid(s.studyID, p.participantID)), .text(p.participantID),
                    .text(dtc(p.firstDoseAt)), .text(dtc(p.lastDoseAt)), .text(dtc(p.firstDoseAt)), .text(dtc(p.lastDoseAt)),
                    .text(dtc(p.consentedAt)), .text(dtc(end)), .text(p.siteID), .number(p.age.map(Double.init)),
                    .text(p.age == nil ? nil : "YEARS"), .text(sex(p.sex))] + arm + [.text(nil)]
        }
        return SDTMDataset(name: "DM", label: "Demographics", sdtmClass: "SPECIAL PURPOSE", structure: "One record per subject",
                           keys: ["STUDYID", "USUBJID"], columns: columns, rows: rows)
    }

    /// ARMCD, ARM, ACTARMCD, ACTARM, ARMNRS. Blinded: `BLINDED` for every randomized subject (the arm is not in the read
    /// models monitors read); unblinded: the allocation. Screen failures and subjects never randomized: null with ARMNRS.
    static func armValues(_ p: SDTMSource.Participant, _ s: SDTMSource) -> [SDTMDataset.Value] {
        if p.status == "screen_failed" || p.status == "screened" {
            return [.text(nil), .text(nil), .text(nil), .text(nil), .text(p.status == "screen_failed" ? "SCREEN FAILURE" : "NOT ASSIGNED")]
        }
        guard let unblinded = s.unblinded else {
            return [.text("BLINDED"), .text("Blinded"), .text("BLINDED"), .text("Blinded"), .text(nil)]
        }
        guard let allocation = unblinded.allocations[p.participantID] else {
            return [.text(nil), .text(nil), .text(nil), .text(nil), .text("NOT ASSIGNED")]
        }
        let code = String(allocation.arm.uppercased().filter { $0.isLetter || $0.isNumber }.prefix(20))
        let treated = p.firstDoseAt != nil
        return [.text(code), .text(allocation.arm), .text(treated ? code : nil), .text(treated ? allocation.arm : nil),
                .text(treated ? nil : "ASSIGNED, NOT TREATED")]
    }

    static func sex(_ sex: String?) -> String {
        switch sex {
        case "female": "F"
        case "male": "M"
        default: "U"
        }
    }

    // MARK: EX

    static func ex(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let rows = s.doses.map { dose in
            (dose.participantID, ExposureMapping.values(dose, product: s.unblinded?.products[dose.eventID], study: study))
        }
        return SDTMDataset(name: "EX", label: "Exposure", sdtmClass: "INTERVENTIONS",
                           structure: "One record per constant dosing interval per subject",
                           keys: ["STUDYID", "USUBJID", "EXTRT", "EXSTDTC"],
                           columns: ExposureMapping.columns, rows: sequenced("EX", s.studyID, rows.map { ($0.0, Array($0.1)) }))
    }

    // MARK: AE

    static func ae(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("AESEQ", "Sequence Number", .number, .req, nil),
            ("AESPID", "Sponsor-Defined Identifier", .text, .perm, nil),
            ("AETERM", "Reported Term for the Adverse Event", .text, .req, nil),
            ("AEDECOD", "Dictionary-Derived Term", .text, .req, nil),
            ("AESER", "Serious Event", .text, .exp, yesNo),
            ("AEACN", "Action Taken with Study Treatment", .text, .exp, .init(name: "ACN", nciCode: "C66767")),
            ("AEREL", "Causality", .text, .exp, .init(name: "AEREL (WHO-UMC, sponsor-defined)")),
            ("AEOUT", "Outcome of Adverse Event", .text, .perm, .init(name: "OUT", nciCode: "C66768")),
            ("AESCONG", "Congenital Anomaly or Birth Defect", .text, .perm, yesNo),
            ("AESDISAB", "Persist or Signif Disability/Incapacity", .text, .perm, yesNo),
            ("AESDTH", "Results in Death", .text, .perm, yesNo),
            ("AESHOSP", "Requires or Prolongs Hospitalization", .text, .perm, yesNo),
            ("AESLIFE", "Is Life Threatening", .text, .perm, yesNo),
            ("AESMIE", "Other Medically Important Serious Event", .text, .perm, yesNo),
            ("AETOXGR", "Standard Toxicity Grade", .text, .perm, nil),
            ("AESTDTC", "Start Date/Time of Adverse Event", .text, .exp, nil),
            ("AEENDTC", "End Date/Time of Adverse Event", .text, .exp, nil),
            ("AESTDY", "Study Day of Start of Adverse Event", .number, .perm, nil),
            ("AEENDY", "Study Day of End of Adverse Event", .number, .perm, nil),
        ]
        let rows = s.adverseEvents.map { a -> (String, [SDTMDataset.Value]) in
            func flag(_ criterion: String) -> SDTMDataset.Value { .text(a.serious ? (a.criteria.contains(criterion) ? "Y" : "N") : nil) }
            let values: [SDTMDataset.Value] = [
                .text(a.eventID), .text(a.term), .text(nil), .text(a.serious ? "Y" : "N"), .text(action(a.actionTaken)),
                .text(a.causality.uppercased()), .text(outcome(a.outcome)),
                flag("congenital_anomaly"), flag("disability"), flag("death"), flag("hospitalisation"), flag("life_threatening"),
                flag("important_medical_event"), .text(String(a.grade)), .text(dtc(a.onsetAt)), .text(dtc(a.resolvedAt)),
                .number(study.day(a.participantID, a.onsetAt)), .number(a.resolvedAt.flatMap { study.day(a.participantID, $0) }),
            ]
            return (a.participantID, values)
        }
        return SDTMDataset(name: "AE", label: "Adverse Events", sdtmClass: "EVENTS", structure: "One record per adverse event per subject",
                           keys: ["STUDYID", "USUBJID", "AETERM", "AESTDTC"], columns: columns,
                           rows: sequenced("AE", s.studyID, rows.map { ($0.0, $0.1) }))
    }

    static func action(_ a: String) -> String {
        switch a {
        case "none": "DOSE NOT CHANGED"
        case "dose_reduced": "DOSE REDUCED"
        case "dose_interrupted": "DRUG INTERRUPTED"
        case "drug_withdrawn": "DRUG WITHDRAWN"
        case "not_applicable": "NOT APPLICABLE"
        default: "UNKNOWN"
        }
    }

    static func outcome(_ o: String) -> String {
        switch o {
        case "recovered": "RECOVERED/RESOLVED"
        case "recovering": "RECOVERING/RESOLVING"
        case "not_recovered": "NOT RECOVERED/NOT RESOLVED"
        case "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE"
        case "fatal": "FATAL"
        default: "UNKNOWN"
        }
    }

    // MARK: QS

    static func qs(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("QSSEQ", "Sequence Number", .number, .req, nil),
            ("QSSPID", "Sponsor-Defined Identifier", .text, .perm, nil),
            ("QSTESTCD", "Question Short Name", .text, .req, .init(name: "QSTESTCD (per instrument, see README)")),
            ("QSTEST", "Question Name", .text, .req, nil),
            ("QSCAT", "Category of Question", .text, .req, .init(name: "QSCAT (per instrument, see README)")),
            ("QSORRES", "Finding in Original Units", .text, .exp, nil),
            ("QSSTRESC", "Character Result/Finding in Std Format", .text, .exp, nil),
            ("QSSTRESN", "Numeric Finding in Standard Units", .number, .exp, nil),
            ("QSSTAT", "Completion Status", .text, .perm, .init(name: "ND", nciCode: "C66789")),
            ("QSBLFL", "Baseline Flag", .text, .exp, .init(name: "NY", nciCode: "C66742")),
            ("QSDTC", "Date/Time of Finding", .text, .exp, nil),
            ("QSDY", "Study Day of Finding", .number, .perm, nil),
        ]
        // Baseline: per subject and instrument, the last assessment on or before the first dose (docs/domain.md).
        var baseline: [String: String] = [:]
        let reference = study.reference
        for a in s.assessments {
            let key = a.participantID + "/" + a.instrument
            if reference[a.participantID].map({ a.assessedAt <= $0 }) ?? false { baseline[key] = a.eventID }
        }
        var rows: [(String, [SDTMDataset.Value])] = []
        for a in s.assessments {
            guard let terms = QuestionnaireTerminology.of(a.instrument, answers: a.items.count) else { continue }
            let isBaseline = baseline[a.participantID + "/" + a.instrument] == a.eventID
            let when: [SDTMDataset.Value] = [.text(isBaseline ? "Y" : nil), .text(dtc(a.assessedAt)),
                                             .number(study.day(a.participantID, a.assessedAt))]
            for (index, answer) in a.items.enumerated() where index < terms.items.count {
                let item = terms.items[index]
                let result: String? = answer.map { terms.yesNo ? ($0 == 0 ? "N" : "Y") : String($0) }
                rows.append((a.participantID, [.text(a.eventID), .text(item.code), .text(item.test), .text(terms.category),
                                               .text(result), .text(result), .number(terms.yesNo ? nil : answer.map(Double.init)),
                                               .text(answer == nil ? "NOT DONE" : nil)] + when))
            }
            if let total = terms.total, let score = a.total {
                rows.append((a.participantID, [.text(a.eventID), .text(total.code), .text(total.test), .text(terms.category),
                                               .text(String(score)), .text(String(score)), .number(Double(score)), .text(nil)] + when))
            }
        }
        return SDTMDataset(name: "QS", label: "Questionnaires", sdtmClass: "FINDINGS",
                           structure: "One record per questionnaire per question per time point per visit per subject",
                           keys: ["STUDYID", "USUBJID", "QSCAT", "QSTESTCD", "QSDTC"], columns: columns,
                           rows: sequenced("QS", s.studyID, rows))
    }

    // MARK: VS

    static func vs(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("VSSEQ", "Sequence Number", .number, .req, nil),
            ("VSSPID", "Sponsor-Defined Identifier", .text, .perm, nil),
            ("VSTESTCD", "Vital Signs Test Short Name", .text, .req, .init(name: "VSTESTCD", nciCode: "C66741")),
            ("VSTEST", "Vital Signs Test Name", .text, .req, .init(name: "VSTEST", nciCode: "C67153")),
            ("VSORRES", "Result or Finding in Original Units", .text, .exp, nil),
            ("VSORRESU", "Original Units", .text, .exp, .init(name: "VSRESU", nciCode: "C66770")),
            ("VSSTRESC", "Character Result/Finding in Std Format", .text, .exp, nil),
            ("VSSTRESN", "Numeric Result/Finding in Standard Units", .number, .exp, nil),
            ("VSSTRESU", "Standard Units", .text, .exp, .init(name: "VSRESU", nciCode: "C66770")),
            ("VSBLFL", "Baseline Flag", .text, .exp, .init(name: "NY", nciCode: "C66742")),
            ("VSDTC", "Date/Time of Measurements", .text, .exp, nil),
            ("VSDY", "Study Day of Vital Signs", .number, .perm, nil),
            ("VSTPT", "Planned Time Point Name", .text, .perm, nil),
        ]
        var baseline: [String: String] = [:]
        for v in s.vitals where study.reference[v.participantID].map({ v.measuredAt <= $0 }) ?? false {
            baseline[v.participantID] = v.eventID
        }
        var rows: [(String, [SDTMDataset.Value])] = []
        for v in s.vitals {
            var tests: [(String, String, Double, String)] = [
                ("SYSBP", "Systolic Blood Pressure", Double(v.systolic), "mmHg"),
                ("DIABP", "Diastolic Blood Pressure", Double(v.diastolic), "mmHg"),
                ("PULSE", "Pulse Rate", Double(v.heartRate), "beats/min"),
            ]
            if let t = v.temperature { tests.append(("TEMP", "Temperature", t, "C")) }
            for (code, name, value, unit) in tests {
                let text = number(value)
                rows.append((v.participantID, [.text(v.eventID), .text(code), .text(name), .text(text), .text(unit), .text(text),
                                               .number(value), .text(unit), .text(baseline[v.participantID] == v.eventID ? "Y" : nil),
                                               .text(dtc(v.measuredAt)), .number(study.day(v.participantID, v.measuredAt)),
                                               .text(v.timePoint.underscoresAsSpaces.uppercased())]))
            }
        }
        return SDTMDataset(name: "VS", label: "Vital Signs", sdtmClass: "FINDINGS",
                           structure: "One record per vital sign measurement per time point per visit per subject",
                           keys: ["STUDYID", "USUBJID", "VSTESTCD", "VSDTC"], columns: columns, rows: sequenced("VS", s.studyID, rows))
    }

    /// A number as text without a needless fraction (`120`, `36.8`).
    static func number(_ value: Double) -> String {
        value == value.rounded() && Swift.abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    // MARK: DS

    static func ds(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("DSSEQ", "Sequence Number", .number, .req, nil),
            ("DSTERM", "Reported Term for the Disposition Event", .text, .req, nil),
            ("DSDECOD", "Standardized Disposition Term", .text, .req, .init(name: "NCOMPLT / PROTMLST", nciCode: "C66727")),
            ("DSCAT", "Category for Disposition Event", .text, .exp, .init(name: "DSCAT", nciCode: "C74558")),
            ("DSSTDTC", "Start Date/Time of Disposition Event", .text, .exp, nil),
            ("DSSTDY", "Study Day of Start of Disposition Event", .number, .perm, nil),
        ]
        var rows: [(String, [SDTMDataset.Value])] = []
        for p in s.participants {
            func add(_ term: String, _ decod: String, _ cat: String, _ at: Timestamp) {
                rows.append((p.participantID, [.text(term), .text(decod), .text(cat), .text(dtc(at)), .number(study.day(p.participantID, at))]))
            }
            var events: [(Timestamp, () -> Void)] = []
            if let at = p.consentedAt {
                events.append((at, { add("INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", at) }))
            }
            if p.status == "screen_failed", let at = p.screenedAt {
                events.append((at, { add("SCREEN FAILURE", "SCREEN FAILURE", "DISPOSITION EVENT", at) }))
            }
            if let allocation = s.unblinded?.allocations[p.participantID] {
                let at = allocation.randomizedAt
                events.append((at, { add("RANDOMIZED", "RANDOMIZED", "PROTOCOL MILESTONE", at) }))
            }
            if let at = p.withdrawnAt, p.status == "withdrawn" {
                let (term, decod) = withdrawal(p.withdrawalReason)
                events.append((at, { add(term, decod, "DISPOSITION EVENT", at) }))
            } else if let at = p.completedAt {
                events.append((at, { add("COMPLETED", "COMPLETED", "DISPOSITION EVENT", at) }))
            }
            for (_, emit) in events.sorted(by: { $0.0 < $1.0 }) { emit() }
        }
        return SDTMDataset(name: "DS", label: "Disposition", sdtmClass: "EVENTS", structure: "One record per disposition status or protocol milestone per subject",
                           keys: ["STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"], columns: columns, rows: sequenced("DS", s.studyID, rows))
    }

    static func withdrawal(_ reason: String?) -> (String, String) {
        switch reason {
        case "adverse_event": ("ADVERSE EVENT", "ADVERSE EVENT")
        case "lack_of_efficacy": ("LACK OF EFFICACY", "LACK OF EFFICACY")
        case "withdrew_consent": ("WITHDREW CONSENT", "WITHDRAWAL BY SUBJECT")
        case "lost_to_follow_up": ("LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP")
        case "protocol_deviation": ("PROTOCOL DEVIATION", "PROTOCOL DEVIATION")
        case "investigator_decision": ("INVESTIGATOR DECISION", "PHYSICIAN DECISION")
        default: ("OTHER", "OTHER")
        }
    }

    // MARK: DV

    static func dv(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("DVSEQ", "Sequence Number", .number, .req, nil),
            ("DVSPID", "Sponsor-Defined Identifier", .text, .perm, nil),
            ("DVTERM", "Protocol Deviation Term", .text, .req, nil),
            ("DVCAT", "Category for Protocol Deviation", .text, .perm, nil),
            ("DVSCAT", "Subcategory for Protocol Deviation", .text, .perm, nil),
            ("DVSTDTC", "Start Date/Time of Deviation", .text, .exp, nil),
            ("DVSTDY", "Study Day of Start of Deviation", .number, .perm, nil),
        ]
        let rows = s.deviations.map { d -> (String, [SDTMDataset.Value]) in
            (d.participantID, [.text(d.eventID), .text(d.description), .text(d.category.underscoresAsSpaces.uppercased()),
                               .text(d.severity.uppercased()), .text(dtc(d.occurredAt)), .number(study.day(d.participantID, d.occurredAt))])
        }
        return SDTMDataset(name: "DV", label: "Protocol Deviations", sdtmClass: "EVENTS", structure: "One record per protocol deviation",
                           keys: ["STUDYID", "USUBJID", "DVTERM", "DVSTDTC"], columns: columns, rows: sequenced("DV", s.studyID, rows))
    }

    // MARK: DA (unblinded only)

    static func da(_ s: SDTMSource, _ study: StudyDay) -> SDTMDataset {
        let columns: [Column] = identifiers + [
            ("DASEQ", "Sequence Number", .number, .req, nil),
            ("DASPID", "Sponsor-Defined Identifier", .text, .perm, nil),
            ("DAREFID", "Reference ID", .text, .perm, nil),
            ("DATESTCD", "Short Name of Accountability Assessment", .text, .req, .init(name: "DATESTCD", nciCode: "C78732")),
            ("DATEST", "Name of Accountability Assessment", .text, .req, .init(name: "DATEST", nciCode: "C78731")),
            ("DAORRES", "Result or Finding in Original Units", .text, .exp, nil),
            ("DAORRESU", "Original Units", .text, .perm, .init(name: "UNIT", nciCode: "C71620")),
            ("DASTRESC", "Character Result/Finding in Std Format", .text, .exp, nil),
            ("DASTRESN", "Numeric Result/Finding in Standard Units", .number, .exp, nil),
            ("DASTRESU", "Standard Units", .text, .perm, .init(name: "UNIT", nciCode: "C71620")),
            ("DADTC", "Date/Time of Collection", .text, .exp, nil),
            ("DADY", "Study Day of Collection", .number, .perm, nil),
        ]
        let rows = (s.unblinded?.movements ?? []).map { m -> (String, [SDTMDataset.Value]) in
            let dispensed = m.kind == "dispensed"
            let text = number(m.quantity)
            let unit = ExposureMapping.unit(m.unit)
            return (m.participantID, [.text(m.eventID), .text(m.lot), .text(dispensed ? "DISPAMT" : "RETAMT"),
                                      .text(dispensed ? "Dispensed Amount" : "Returned Amount"), .text(text), .text(unit), .text(text),
                                      .number(m.quantity), .text(unit), .text(dtc(m.occurredAt)), .number(study.day(m.participantID, m.occurredAt))])
        }
        return SDTMDataset(name: "DA", label: "Drug Accountability", sdtmClass: "FINDINGS",
                           structure: "One record per drug accountability finding per subject",
                           keys: ["STUDYID", "USUBJID", "DATESTCD", "DADTC"], columns: columns, rows: sequenced("DA", s.studyID, rows))
    }

    // MARK: TS

    static func ts(_ s: SDTMSource) -> SDTMDataset {
        let columns: [Column] = [
            ("STUDYID", "Study Identifier", .text, .req, nil),
            ("DOMAIN", "Domain Abbreviation", .text, .req, nil),
            ("TSSEQ", "Sequence Number", .number, .req, nil),
            ("TSPARMCD", "Trial Summary Parameter Short Name", .text, .req, .init(name: "TSPARMCD", nciCode: "C66738")),
            ("TSPARM", "Trial Summary Parameter", .text, .req, .init(name: "TSPARM", nciCode: "C67152")),
            ("TSVAL", "Parameter Value", .text, .exp, nil),
            ("TSVALNF", "Parameter Null Flavor", .text, .perm, nil),
        ]
        let firstConsent = s.participants.compactMap(\.consentedAt).min()
        let enrolled = s.participants.filter { $0.enrolledAt != nil }.count
        let parameters: [(String, String, String?, String?)] = [
            ("SDTIGVER", "SDTM IG Version", "3.4", nil),
            ("SDTMVER", "SDTM Version", "2.0", nil),
            ("STYPE", "Study Type", "INTERVENTIONAL", nil),
            ("SSTDTC", "Study Start Date", firstConsent.map { $0.utcDate }, firstConsent == nil ? "NI" : nil),
            ("ACTSUB", "Actual Number of Subjects", String(enrolled), nil),
            ("TBLIND", "Trial Blinding Schema", "DOUBLE BLIND", nil),
            ("PCLAS", "Pharmacologic Class", nil, "NI"),
            ("PROTVER", "Protocol Version", s.protocolVersion, s.protocolVersion == nil ? "NI" : nil),
        ]
        let rows: [[SDTMDataset.Value]] = parameters.map { p in
            [.text(s.studyID), .text("TS"), .number(1), .text(p.0), .text(p.1), .text(p.2), .text(p.3)]
        }
        return SDTMDataset(name: "TS", label: "Trial Summary", sdtmClass: "TRIAL DESIGN", structure: "One record per trial summary parameter value",
                           keys: ["STUDYID", "TSPARMCD", "TSSEQ"], columns: columns, rows: rows)
    }

    // MARK: SUPPAE

    /// Supplemental qualifiers of AE: the site's expectedness against the reference safety information (no standard AE
    /// variable holds it), keyed by AESEQ.
    static func suppae(_ s: SDTMSource) -> SDTMDataset {
        let columns: [Column] = [
            ("STUDYID", "Study Identifier", .text, .req, nil),
            ("RDOMAIN", "Related Domain Abbreviation", .text, .req, nil),
            ("USUBJID", "Unique Subject Identifier", .text, .req, nil),
            ("IDVAR", "Identifying Variable", .text, .exp, nil),
            ("IDVARVAL", "Identifying Variable Value", .text, .exp, nil),
            ("QNAM", "Qualifier Variable Name", .text, .req, nil),
            ("QLABEL", "Qualifier Variable Label", .text, .req, nil),
            ("QVAL", "Data Value", .text, .req, nil),
            ("QORIG", "Origin", .text, .req, nil),
            ("QEVAL", "Evaluator", .text, .exp, nil),
        ]
        var seq: [String: Int] = [:]
        var rows: [[SDTMDataset.Value]] = []
        for a in s.adverseEvents {
            seq[a.participantID, default: 0] += 1
            guard let expected = a.expected else { continue }
            rows.append([.text(s.studyID), .text("AE"), .text(usubjid(s.studyID, a.participantID)), .text("AESEQ"),
                         .text(String(seq[a.participantID]!)), .text("AEEXPECT"), .text("Expected per Reference Safety Info"),
                         .text(expected ? "Y" : "N"), .text("CRF"), .text("INVESTIGATOR")])
        }
        return SDTMDataset(name: "SUPPAE", label: "Supplemental Qualifiers for AE", sdtmClass: "RELATIONSHIP",
                           structure: "One record per IDVAR, IDVARVAL, and QNAM value per subject",
                           keys: ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"], columns: columns, rows: rows)
    }
}

extension String {
    /// `pre_dose` → `pre dose`: an event's enumeration value as a CDISC-style term (upper-cased by the caller).
    var underscoresAsSpaces: String { String(map { $0 == "_" ? " " : $0 }) }
}
