import Postgres
import TrialDomain
import TrialDomainPostgres

/// `reporter export sdtm`: the SDTM datasets of a study written to a directory, one file per dataset (`dm.xpt` … or
/// `dm.json` …) and `define.xml` describing them.
///
/// Deterministic: the same log gives the same bytes. The only times written that are not data (XPORT's created and
/// modified stamps, Dataset-JSON's `datasetJSONCreationDateTime`, define.xml's `CreationDateTime`) are `created`: by
/// default the time the last event was recorded (`monitoring.site_activity`), or what the caller passes.
public struct SDTMExport: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case xpt, json
    }

    public var datasets: [SDTMDataset]
    public var studyID: String
    public var created: Timestamp
    public var unblinded: Bool

    /// The version the files name as their source (`SourceSystemVersion`).
    public static let sourceVersion = "1.0"

    public init(source: SDTMSource, created: Timestamp) {
        datasets = SDTMMapping.datasets(source)
        studyID = source.studyID
        self.created = created
        unblinded = source.unblinded != nil
    }

    /// The latest `recorded_at` of any event (what the export's data is as of), read as `trial_monitor`.
    public static func lastRecorded(monitor db: PostgresConnection) throws -> Timestamp? {
        try db.query("SELECT max(last_event_recorded_at) FROM monitoring.site_activity").decodeFirst(Timestamp?.self)
    }

    /// Every file of the export: name → bytes.
    public func files(_ format: Format) -> [(name: String, bytes: [UInt8])] {
        let stamp = created.utc(.second)
        var out: [(String, [UInt8])] = []
        for dataset in datasets {
            let name = dataset.name.lowercased() + "." + format.rawValue
            switch format {
            case .xpt:
                out.append((name, SASTransport.file([dataset], created: Self.components(created))))
            case .json:
                out.append((name, DatasetJSON.document(dataset, created: String(stamp.dropLast()), studyOID: "STUDY.\(studyID)",
                                                       metaDataVersionOID: "MDV.\(studyID).SDTMIG.3.4", sourceVersion: Self.sourceVersion)))
            }
        }
        out.append(("define.xml", DefineXML.document(datasets, studyID: studyID, created: String(stamp.dropLast()), fileExtension: format.rawValue,
                                                     sourceVersion: Self.sourceVersion, unblinded: unblinded)))
        return out
    }

    static func components(_ t: Timestamp) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let s = Array(t.utc(.second).utf8)
        func n(_ from: Int, _ count: Int) -> Int { Int(String(decoding: s[from..<(from + count)], as: UTF8.self)) ?? 0 }
        return (n(0, 4), n(5, 2), n(8, 2), n(11, 2), n(14, 2), n(17, 2))
    }
}
