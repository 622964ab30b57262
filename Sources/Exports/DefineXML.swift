/// Define-XML 2.1 (CDISC) describing the exported datasets: the standards (SDTMIG 3.4, CDISC CT), one `ItemGroupDef`
/// per dataset (class, structure, keys, the file it is in), one `ItemDef` per variable (type, length, label, origin),
/// the codelists with exactly the terms the data uses (NCI codes where known), and the derivations.
public enum DefineXML {
    public static func itemGroupOID(_ dataset: String) -> String { "IG.\(dataset)" }
    public static func itemOID(_ dataset: String, _ variable: String) -> String { "IT.\(dataset).\(variable)" }

    /// Define-XML's DataType of a variable.
    static func dataType(_ v: SDTMDataset.Variable) -> String {
        switch DatasetJSON.dataType(v) {
        case "integer": "integer"
        case "double": "float"
        case "datetime": "datetime"
        default: "text"
        }
    }

    /// How a variable came to be (define.xml's `def:Origin`), and the method of a derived one.
    static func origin(_ dataset: String, _ v: String) -> (type: String, source: String?, method: String?) {
        if dataset == "TS" && !["STUDYID", "DOMAIN", "TSSEQ"].contains(v) { return ("Protocol", nil, nil) }
        switch v {
        case "STUDYID", "DOMAIN", "RDOMAIN", "IDVAR", "QNAM", "QLABEL", "QORIG", "QEVAL": return ("Assigned", nil, nil)
        case "USUBJID": return ("Derived", nil, "MT.USUBJID")
        case _ where v.hasSuffix("SEQ"): return ("Derived", nil, "MT.SEQ")
        case _ where v.hasSuffix("DY"): return ("Derived", nil, "MT.DY")
        case "QSBLFL", "VSBLFL": return ("Derived", nil, "MT.BLFL")
        case "RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC", "ARMNRS", "ACTARMCD", "ACTARM": return ("Derived", nil, "MT.REF")
        default: return ("Collected", "Investigator", nil)
        }
    }

    static let methods: [(oid: String, name: String, description: String)] = [
        ("MT.USUBJID", "Algorithm to derive USUBJID", "STUDYID, a hyphen, and the participant identifier (SUBJID), which begins with the site."),
        ("MT.SEQ", "Algorithm to derive --SEQ", "1, 2, 3 ... within each subject, in the order of the records sorted by date/time and event identifier."),
        ("MT.DY", "Algorithm to derive --DY", "Date of the record minus the date of RFSTDTC, plus 1 when on or after RFSTDTC (no day 0); dates in UTC."),
        ("MT.BLFL", "Algorithm to derive baseline flags", "Y on the subject's last record of the test (or instrument) on or before the first dose (RFSTDTC)."),
        ("MT.REF", "Algorithm to derive reference dates and actual arm", "RFSTDTC/RFXSTDTC: first dose; RFENDTC/RFXENDTC: last dose; RFPENDTC: withdrawal or completion; actual arm: the planned arm once a dose was given."),
    ]

    /// The document.
    /// - Parameters:
    ///   - created: `CreationDateTime` (ISO 8601), the caller's choice (reproducible output).
    ///   - fileExtension: `xpt` or `json`: the files `def:leaf` names (`dm.xpt`).
    public static func document(_ datasets: [SDTMDataset], studyID: String, created: String, fileExtension: String,
                                sourceVersion: String, unblinded: Bool) -> [UInt8] {
        var x = XMLText()
        x.open("ODM", [("xmlns", "http://www.cdisc.org/ns/odm/v1.3"), ("xmlns:xlink", "http://www.w3.org/1999/xlink"),
                       ("xmlns:def", "http://www.cdisc.org/ns/def/v2.1"), ("ODMVersion", "1.3.2"), ("FileType", "Snapshot"),
                       ("FileOID", "DEFINE.\(studyID)"), ("CreationDateTime", created), ("Originator", "microdose-trials reporter"),
                       ("SourceSystem", "microdose-trials"), ("SourceSystemVersion", sourceVersion), ("def:Context", "Submission")])
        x.open("Study", [("OID", "STUDY.\(studyID)")])
        x.open("GlobalVariables")
        x.element("StudyName", text: studyID)
        x.element("StudyDescription", text: "Supervised psychedelic microdosing study \(studyID)")
        x.element("ProtocolName", text: studyID)
        x.close("GlobalVariables")
        x.open("MetaDataVersion", [("OID", "MDV.\(studyID).SDTMIG.3.4"), ("Name", "SDTM \(unblinded ? "unblinded" : "blinded") export"),
                                   ("Description", unblinded ? "Unblinded: EX with products, DM with arms, DA" : "Blinded: EXTRT masked, no arm, no DA"),
                                   ("def:DefineVersion", "2.1.0")])
        x.open("def:Standards")
        x.empty("def:Standard", [("OID", "STD.SDTMIG"), ("Name", "SDTMIG"), ("Type", "IG"), ("Version", "3.4"), ("Status", "Final")])
        x.empty("def:Standard", [("OID", "STD.CT"), ("Name", "CDISC/NCI"), ("Type", "CT"), ("PublishingSet", "SDTM"),
                                 ("Version", "2024-03-29"), ("Status", "Final")])
        x.close("def:Standards")

        for d in datasets {
            let keys = Dictionary(uniqueKeysWithValues: d.keys.enumerated().map { ($1, $0 + 1) })
            let isSupp = d.name.hasPrefix("SUPP")
            x.open("ItemGroupDef", [("OID", itemGroupOID(d.name)), ("Name", d.name), ("Repeating", d.name == "DM" ? "No" : "Yes"),
                                    ("IsReferenceData", d.name == "TS" ? "Yes" : "No"), ("SASDatasetName", d.name),
                                    ("Domain", isSupp ? String(d.name.dropFirst(4)) : d.name), ("Purpose", "Tabulation"),
                                    ("def:Structure", d.structure), ("def:StandardOID", "STD.SDTMIG"),
                                    ("def:ArchiveLocationID", "LF.\(d.name)")])
            description(&x, d.label)
            for (index, v) in d.variables.enumerated() {
                let o = origin(d.name, v.name)
                x.empty("ItemRef", [("ItemOID", itemOID(d.name, v.name)), ("OrderNumber", String(index + 1)),
                                    ("Mandatory", v.core == .req ? "Yes" : "No"), ("KeySequence", keys[v.name].map(String.init)),
                                    ("MethodOID", o.method)])
            }
            x.empty("def:Class", [("Name", d.sdtmClass)])
            x.open("def:leaf", [("ID", "LF.\(d.name)"), ("xlink:href", "\(d.name.lowercased()).\(fileExtension)")])
            x.element("def:title", text: "\(d.name.lowercased()).\(fileExtension)")
            x.close("def:leaf")
            x.close("ItemGroupDef")
        }

        var codelists: [String: (list: SDTMDataset.Codelist, terms: Set<String>)] = [:]
        for d in datasets {
            for v in d.variables {
                let o = origin(d.name, v.name)
                let terms = d.terms(v.name)
                let listOID = v.codelist.flatMap { $0.nciCode != nil && !terms.isEmpty ? codelistOID($0) : nil }
                if let list = v.codelist, let oid = listOID {
                    codelists[oid, default: (list, [])].terms.formUnion(terms)
                }
                x.open("ItemDef", [("OID", itemOID(d.name, v.name)), ("Name", v.name), ("DataType", dataType(v)),
                                   ("Length", dataType(v) == "datetime" ? nil : String(v.length)), ("SASFieldName", v.name)])
                description(&x, v.label)
                if let listOID { x.empty("CodeListRef", [("CodeListOID", listOID)]) }
                if let source = o.source {
                    x.empty("def:Origin", [("Type", o.type), ("Source", source)])
                } else {
                    x.empty("def:Origin", [("Type", o.type)])
                }
                x.close("ItemDef")
            }
        }
        for oid in codelists.keys.sorted() {
            let (list, terms) = codelists[oid]!
            x.open("CodeList", [("OID", oid), ("Name", list.name), ("DataType", "text"), ("def:StandardOID", "STD.CT")])
            for (index, term) in terms.sorted().enumerated() {
                x.empty("EnumeratedItem", [("CodedValue", term), ("OrderNumber", String(index + 1))])
            }
            if let code = list.nciCode { x.empty("Alias", [("Context", "nci:ExtCodeID"), ("Name", code)]) }
            x.close("CodeList")
        }
        for m in methods {
            x.open("MethodDef", [("OID", m.oid), ("Name", m.name), ("Type", "Computation")])
            description(&x, m.description)
            x.close("MethodDef")
        }
        x.close("MetaDataVersion")
        x.close("Study")
        x.close("ODM")
        return Array(x.text.utf8)
    }

    static func codelistOID(_ list: SDTMDataset.Codelist) -> String {
        "CL." + list.name.filter { $0.isLetter || $0.isNumber }
    }

    static func description(_ x: inout XMLText, _ text: String) {
        x.open("Description")
        x.element("TranslatedText", [("xml:lang", "en")], text: text)
        x.close("Description")
    }
}
