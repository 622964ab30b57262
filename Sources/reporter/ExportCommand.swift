import ArgumentParser
import Exports
import Foundation
import Reporting
import ServiceRuntime
import TrialDomain

/// `reporter export sdtm|odm` (issue 17): CDISC exports for statisticians, regulators and other EDCs.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CDISC exports: SDTM (SAS XPORT v5 or Dataset-JSON 1.1, with define.xml 2.1) and ODM 1.3.2 with audit records.",
        subcommands: [SDTM.self, ODM.self])

    struct SDTM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sdtm",
            abstract: "SDTM IG 3.4 datasets (DM EX AE QS VS DS DV TS SUPPAE; DA when unblinded) and define.xml, blinded unless --unblinded.")

        @OptionGroup var connection: Connection

        @Option(help: "Directory to write the files to (created if missing; files of the same names are replaced).")
        var out: String

        @Option(help: "xpt (SAS XPORT v5, one dataset per file) or json (CDISC Dataset-JSON 1.1).")
        var format: SDTMFormat = .xpt

        @Flag(help: "Unblinded export: EX with product, dose, unit, route and lot, DM with arms, and DA. Needs trial_unblinded; recorded in the access log auditors read, per participant.")
        var unblinded = false

        @Option(help: "With --unblinded: why (recorded with the access).")
        var reason: String?

        @Option(help: "The creation time written in the files (RFC 3339); default: when the last event was recorded, so the same log gives the same bytes.")
        var created: String?

        func validate() throws {
            if let created, Timestamp(rfc3339: created) == nil {
                throw ValidationError("--created '\(created)' is not an RFC 3339 time with a zone, e.g. 2026-10-01T12:00:00Z")
            }
            if reason != nil && !unblinded { throw ValidationError("--reason goes with --unblinded") }
        }

        func run() throws {
            let monitor = try connection.open(as: .monitor)
            var source = try SDTMSource.load(monitor: monitor)
            if unblinded {
                let db = try connection.open(as: .unblinded)
                // Each participant's access is recorded (one transaction) before any unblinded row is read.
                try db.transaction { db in
                    for participant in source.participants {
                        try UnblindedAccessLog.record(db, participantID: participant.participantID,
                                                      command: "reporter export sdtm --unblinded", reason: reason)
                    }
                }
                try source.addUnblinded(db)
            }
            let stamp = try created.map { Timestamp(rfc3339: $0)! } ?? SDTMExport.lastRecorded(monitor: monitor)
                ?? Timestamp(microsecondsSinceEpoch: 946_684_800_000_000)
            let export = SDTMExport(source: source, created: stamp)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for file in export.files(format.exportFormat) {
                let path = (out as NSString).appendingPathComponent(file.name)
                try Data(file.bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
                print(path)
            }
        }
    }

    struct ODM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "odm",
            abstract: "CDISC ODM 1.3.2 ClinicalData (blinded) with the audit records (who, when, why) of every correction and void; reads the archive as trial_auditor.")

        @OptionGroup var connection: Connection

        @Option(help: "The file to write.")
        var out: String

        @Option(help: "The creation time written in the file (RFC 3339); default: when the last exported event was recorded.")
        var created: String?

        func validate() throws {
            if let created, Timestamp(rfc3339: created) == nil {
                throw ValidationError("--created '\(created)' is not an RFC 3339 time with a zone, e.g. 2026-10-01T12:00:00Z")
            }
        }

        func run() throws {
            let export = try ODMExport.load(auditor: try connection.open(as: .auditor))
            let bytes = export.document(created: created.map { Timestamp(rfc3339: $0)!.utc(.second) }, sourceVersion: SDTMExport.sourceVersion)
            try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)
            print(out)
        }
    }
}

enum SDTMFormat: String, ExpressibleByArgument, CaseIterable {
    case xpt, json

    var exportFormat: SDTMExport.Format { self == .xpt ? .xpt : .json }
}
