import TrialDomain

/// CDISC Dataset-JSON 1.1: one JSON document per dataset, with the dataset's metadata (`columns`: OID, name, label,
/// data type, length, key sequence) and its rows as arrays in column order, `null` for a missing value. Written as
/// canonical JSON (keys sorted, no insignificant whitespace), so the same data gives the same bytes.
public enum DatasetJSON {
    /// Dataset-JSON's `dataType` of a variable: `integer` for sequence numbers, study days and age, `double` for other
    /// numbers, `datetime` for ISO 8601 --DTC text, else `string`.
    public static func dataType(_ v: SDTMDataset.Variable) -> String {
        switch v.type {
        case .number: v.name.hasSuffix("SEQ") || v.name.hasSuffix("DY") || v.name == "AGE" ? "integer" : "double"
        case .text: v.isDateTime ? "datetime" : "string"
        }
    }

    /// The document of one dataset.
    /// - Parameters:
    ///   - created: `datasetJSONCreationDateTime` (ISO 8601): the caller's choice, so the output is reproducible.
    ///   - studyOID, metaDataVersionOID: as define.xml names them (`metaDataRef` points at `define.xml`).
    public static func document(_ dataset: SDTMDataset, created: String, studyOID: String, metaDataVersionOID: String,
                                sourceVersion: String) -> [UInt8] {
        let keys = Dictionary(uniqueKeysWithValues: dataset.keys.enumerated().map { ($1, $0 + 1) })
        let columns: [JSONValue] = dataset.variables.map { v in
            var column: [String: JSONValue] = [
                "itemOID": .string(DefineXML.itemOID(dataset.name, v.name)), "name": .string(v.name), "label": .string(v.label),
                "dataType": .string(dataType(v)),
            ]
            if v.type == .text { column["length"] = .number(Double(v.length)) }
            if let key = keys[v.name] { column["keySequence"] = .number(Double(key)) }
            return .object(column)
        }
        let rows: [JSONValue] = dataset.rows.map { row in
            .array(row.map { value in
                switch value {
                case .text(let s): s.map(JSONValue.string) ?? .null
                case .number(let n): n.map(JSONValue.number) ?? .null
                }
            })
        }
        let document: JSONValue = .object([
            "datasetJSONCreationDateTime": .string(created),
            "datasetJSONVersion": "1.1.0",
            "fileOID": .string("\(studyOID).\(dataset.name)"),
            "originator": "microdose-trials reporter",
            "sourceSystem": .object(["name": "microdose-trials", "version": .string(sourceVersion)]),
            "studyOID": .string(studyOID),
            "metaDataVersionOID": .string(metaDataVersionOID),
            "metaDataRef": "define.xml",
            "itemGroupOID": .string(DefineXML.itemGroupOID(dataset.name)),
            "records": .number(Double(dataset.rows.count)),
            "name": .string(dataset.name),
            "label": .string(dataset.label),
            "columns": .array(columns),
            "rows": .array(rows),
        ])
        return CanonicalJSON.encode(document) + [0x0A]
    }
}
