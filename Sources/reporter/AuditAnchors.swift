import Anchoring
import ArgumentParser
import Foundation
import Kafka
import Logging
import Postgres
import Projection
import Reporting
import ServiceRuntime
import TrialDomain

/// Where the log and its anchors are, read from the same variables the projector uses, plus the auditor's copy of the
/// projector's public key (`AUDIT_ANCHOR_PUBLIC_KEY` or `_FILE`).
struct LogSettings {
    var bootstrapServers: String
    var topic: String
    var anchorTopic: String
    var properties: [String: String]
    var verifier: AnchorVerifier?
    let logger: Logger = {
        var logger = Logger(label: "reporter")
        logger.logLevel = .warning
        return logger
    }()

    static func fromEnvironment() throws -> LogSettings {
        let env = EnvironmentReader(ProcessInfo.processInfo.environment)
        let verifier = try env.secret("AUDIT_ANCHOR_PUBLIC_KEY").map { pem -> AnchorVerifier in
            do { return try AnchorVerifier(pem: pem) } catch {
                throw EnvironmentReader.Failure(variable: "AUDIT_ANCHOR_PUBLIC_KEY", reason: "(or its _FILE) holds \(error)")
            }
        }
        return LogSettings(bootstrapServers: try env.string("KAFKA_BOOTSTRAP_SERVERS", default: "127.0.0.1:9092"),
                           topic: try env.string("KAFKA_TOPIC", default: "trial.events"),
                           anchorTopic: try env.string("PROJECTOR_ANCHOR_TOPIC", default: "trial.audit-anchors"),
                           properties: try env.properties("KAFKA_PROPERTIES"), verifier: verifier)
    }

    func readAnchors() throws -> [AnchorLog.Entry] {
        try AnchorLog.read(bootstrapServers: bootstrapServers, topic: anchorTopic, properties: properties, verifier: verifier, logger: logger)
    }
}

extension Audit {
    struct Anchors: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every anchor in the anchor topic (chain_seq, chain_hash, time, signature valid or not), for auditors to keep elsewhere.")

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() throws {
            let settings = try LogSettings.fromEnvironment()
            let entries = try settings.readAnchors()
            func verdict(_ e: AnchorLog.Entry) -> String {
                e.anchor == nil ? "not an anchor" : settings.verifier == nil ? "unchecked" : e.signatureValid ? "valid" : "INVALID"
            }
            switch format {
            case .table:
                print("anchors in \(settings.anchorTopic)"
                      + (settings.verifier.map { " (signatures checked against key \($0.keyID))" } ?? " (signatures NOT checked: set AUDIT_ANCHOR_PUBLIC_KEY or AUDIT_ANCHOR_PUBLIC_KEY_FILE)"))
                print(TextTable(header: ["partition", "offset", "log topic", "chain_seq", "chain_hash", "anchored at (UTC)", "key", "signature"],
                                rows: entries.map { e in
                                    [String(e.partition), String(e.offset), e.anchor?.logTopic ?? "", e.anchor.map { String($0.chainSeq) } ?? "",
                                     e.anchor?.chainHash ?? "", e.anchor?.anchoredAt ?? "", e.anchor?.keyID ?? "", verdict(e)]
                                }).render(), terminator: "")
            case .json:
                print(CanonicalJSON.string(.array(entries.map { e in
                    var o = e.anchor?.json.objectValue ?? [:]
                    o["partition"] = .number(Double(e.partition))
                    o["offset"] = .number(Double(e.offset))
                    o["signature_valid"] = e.anchor != nil && settings.verifier != nil ? .bool(e.signatureValid) : JSONValue.null
                    return .object(o)
                })))
            }
        }
    }
}

/// The anchor and log parts of `reporter audit verify`. Returns the problems that make verification fail.
func verifyAgainstLog(_ db: PostgresConnection, noAnchors: Bool, skipLogCheck: Bool, chain: inout AuditVerification?,
                      run: ([AuditAnchor]) throws -> AuditVerification) throws -> [String] {
    var problems: [String] = []
    var anchors: [AuditAnchor] = []
    let settings = try LogSettings.fromEnvironment()
    if !noAnchors {
        if let verifier = settings.verifier {
            do {
                let entries = try settings.readAnchors().filter { $0.anchor?.logTopic == settings.topic }
                anchors = entries.filter(\.signatureValid).compactMap(\.anchor)
                let invalid = entries.count - anchors.count
                if invalid > 0 {
                    print("warning: \(invalid) anchor(s) for \(settings.topic) in \(settings.anchorTopic) are not signed by key \(verifier.keyID) "
                          + "and were ignored; see `reporter audit anchors`")
                }
            } catch {
                problems.append("\(error)")
            }
        } else {
            problems.append("AUDIT_ANCHOR_PUBLIC_KEY (or AUDIT_ANCHOR_PUBLIC_KEY_FILE) is not set: anchors cannot be checked; "
                            + "give the projector's public key, or verify without anchors with --no-anchors")
        }
    }
    let verification = try run(anchors)
    chain = verification
    print(verification.text, terminator: "")
    if !noAnchors, problems.isEmpty, anchors.isEmpty, verification.events > 0 {
        problems.append("no validly signed anchor for \(settings.topic) in \(settings.anchorTopic): nothing outside the database vouches "
                        + "for the chain (is the projector running with PROJECTOR_ANCHORS=off?); --no-anchors verifies without them")
    }
    if !skipLogCheck {
        do {
            let check = try LogCrossCheck.run(db, bootstrapServers: settings.bootstrapServers, topic: settings.topic,
                                              properties: settings.properties, logger: settings.logger)
            print(check.text, terminator: "")
            problems += check.problems.prefix(1).map { "the archive disagrees with the log: \($0)" }
        } catch {
            problems.append("the log \(settings.topic) cannot be read (\(error)); --skip-log-check verifies without it")
        }
    }
    return problems
}
