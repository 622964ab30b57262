import Kafka
import Logging
import Postgres
import TrialDomain

/// Rebuilds every read model from the archive and swaps the result in atomically.
///
/// It runs as one transaction: projectors pause on the locked checkpoints and chain head (taken in the order of
/// `Locks`, as projectors take them), readers keep seeing the
/// previous rows (PostgreSQL's MVCC) until the commit makes the rebuilt ones visible all at once, so
/// nobody ever sees a half-built table. Checksums of every table before and after show whether the
/// live read models were exactly what the archive implies.
public enum Rebuild {
    /// Every derived table (`ReadModelTable.all`), in the order they are checksummed.
    public static let tables = ReadModelTable.all.map(\.description)

    public struct TableResult: Sendable {
        public var table: String
        public var rows: Int
        public var before: String
        public var after: String
        public var identical: Bool { before == after }
    }

    public struct Report: Sendable {
        public var tables: [TableResult]
        public var committed: Bool
        public var identical: Bool { tables.allSatisfy(\.identical) }

        public var text: String {
            var out = "table                               rows  checksum (md5 of the ordered rows)  live\n"
            for t in tables {
                out += t.table.padding(34) + String(t.rows).leftPadding(6) + "  " + t.after + "  "
                    + (t.identical ? "identical" : "DIFFERED (was \(t.before))") + "\n"
            }
            out += identical ? "rebuilt tables equal the live ones\n" : "the live tables differed from the archive; the rebuilt ones replace them\n"
            if !committed { out += "dry run: nothing was changed\n" }
            return out
        }
    }

    /// Checksums of every derived table: md5 over its rows as text, ordered.
    public static func checksums(_ db: PostgresConnection) throws -> [(String, Int, String)] {
        try tables.map { table in
            let (rows, checksum) = try db.query(PostgresQuery(unsafeSQL: """
                SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), md5(''))
                FROM \(table) t
                """)).decodeFirst((Int, String).self)
            return (table, rows, checksum)
        }
    }

    /// Rebuilds from the archive. With `dryRun` it compares and rolls back.
    public static func run(_ db: PostgresConnection, dryRun: Bool = false, logger: Logger) throws -> Report {
        let report = try db.transaction(rollingBack: dryRun) { db in
            // Pause projectors: they lock these rows for every batch. In the order every locker keeps (see Locks).
            try Locks.allCheckpoints(db)
            try Locks.chainHead(db)
            // Only now, with every writer paused, are the live tables one state to compare with (taken before the
            // locks, a batch committing between two checksums would show as a difference that never existed).
            let before = try checksums(db)
            // A rebuild is what a recompute request (after a migration) asks for, done at once: it serves them, or the
            // next projector to start would recompute everything again.
            let requests = try Recompute.pendingRequests(db)
            try EventDigests.fillMissing(db)
            for table in tables { try db.enqueue(PostgresQuery(unsafeSQL: "DELETE FROM \(table)")) }
            try MonitoringWriter.recomputeAll(db)
            try Recompute.markServed(requests, db)
            let after = try checksums(db)
            return Report(tables: zip(before, after).map { b, a in
                TableResult(table: a.0, rows: a.1, before: b.2, after: a.2)
            }, committed: !dryRun)
        }
        logger.info("rebuild finished", metadata: ["committed": "\(!dryRun)"])
        return report
    }
}

/// Compares the archive with what the Kafka log still holds, both ways: every record in the log must be an archived
/// envelope (or a repeat of one), and every archived row's topic, partition and offset must name a log record with
/// exactly its envelope's bytes, wherever the log still holds that offset. The second direction catches a row
/// inserted straight into the archive (well linked into the chain, but never in the log).
public enum LogCrossCheck {
    public struct Report: Sendable {
        public var recordsRead = 0
        public var matched = 0
        /// Records that repeat an archived event_id (retries, or reused ids kept in audit.rejected).
        public var repeats = 0
        /// Archived rows checked against the log record their coordinates name.
        public var archivedChecked = 0
        /// Archived rows whose offsets the log no longer holds (trimmed): the archive alone vouches for them.
        public var archivedTrimmed = 0
        public var problems: [String] = []
        public var partitionsTrimmed: [Int32] = []

        public var text: String {
            var out = "log cross-check: \(recordsRead) records read, \(matched) identical to their archived envelope, \(repeats) repeats of archived events\n"
            out += "archive cross-check: \(archivedChecked) archived rows point at a log record with their exact bytes"
                + (archivedTrimmed > 0 ? ", \(archivedTrimmed) point at offsets the log no longer holds" : "") + "\n"
            if !partitionsTrimmed.isEmpty {
                out += "the log no longer starts at offset 0 in partitions \(partitionsTrimmed.map(String.init).joined(separator: ", ")); the archive alone holds the rest\n"
            }
            out += problems.isEmpty ? "archive and log agree\n" : "MISMATCH: \(problems.count) problem(s); first: \(problems[0])\n"
            return out
        }
    }

    struct Place: Hashable {
        var partition: Int32
        var offset: Int64
    }

    /// Reads every partition from its first available offset to its end and checks each record against the archive,
    /// then every archived row against the log.
    public static func run(_ db: PostgresConnection, bootstrapServers: String, topic: String, properties: [String: String] = [:],
                           logger: Logger, timeoutSeconds: Double = 120) throws -> Report {
        var report = Report()
        let admin = try KafkaAdmin(KafkaClientSettings(bootstrapServers: bootstrapServers, additionalProperties: properties))
        let count = try admin.partitionCount(topic: topic)
        var watermarks: [Int32: (low: Int64, high: Int64)] = [:]
        var ends: [Int32: Int64] = [:]
        var starts: [Int32: Int64] = [:]
        for p in 0..<Int32(count) {
            let w = try admin.watermarks(topic: topic, partition: p)
            watermarks[p] = w
            if w.high > w.low { ends[p] = w.high; starts[p] = w.low }
            if w.low > 0 { report.partitionsTrimmed.append(p) }
        }
        var matchedPlaces = Set<Place>()
        if !ends.isEmpty {
            var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, topic: topic,
                                                           groupID: "audit-cross-check-" + String(UInt64.random(in: 0...UInt64.max), radix: 36))
            configuration.sessionTimeoutMs = 6_000
            configuration.additionalProperties = properties
            let startOffsets = starts
            let consumer = try KafkaConsumer(configuration: configuration,
                                             rebalance: RebalanceHandler(assigned: { ps in
                                                 Dictionary(uniqueKeysWithValues: ps.map { ($0, startOffsets[$0] ?? 0) })
                                             }), logger: logger)
            defer { consumer.close() }
            var position = starts
            let parser = JSONParser(maxDepth: 64)
            let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
            while position.contains(where: { $0.value < ends[$0.key]! }), ContinuousClock.now < deadline {
                let records = try consumer.poll(maxRecords: 5_000, timeoutMs: 200).filter { r in r.offset < (ends[r.partition] ?? 0) }
                guard !records.isEmpty else { continue }
                report.recordsRead += records.count
                for r in records { position[r.partition] = max(position[r.partition] ?? 0, r.offset + 1) }
                let archived = try db.query("""
                    SELECT kafka_partition, kafka_offset, envelope FROM audit.events
                    WHERE kafka_topic = \(topic)
                      AND (kafka_partition, kafka_offset) IN (SELECT * FROM unnest(\(array: records.map(\.partition))::integer[],
                                                                                    \(array: records.map(\.offset))::bigint[]))
                    """)
                var envelopes: [String: String] = [:]
                for (partition, offset, envelope) in try archived.decode((Int32, Int64, String).self) {
                    envelopes["\(partition)/\(offset)"] = envelope
                }
                var unarchived: [(KafkaRecord, String)] = []
                for r in records {
                    if let envelope = envelopes["\(r.partition)/\(r.offset)"] {
                        if Array(envelope.utf8) == r.value {
                            report.matched += 1
                            matchedPlaces.insert(Place(partition: r.partition, offset: r.offset))
                        } else {
                            report.problems.append("partition \(r.partition) offset \(r.offset): the archived envelope differs from the log")
                        }
                    } else if let id = (try? parser.parse(r.value))?["event_id"]?.stringValue {
                        unarchived.append((r, id.lowercased()))
                    } else {
                        report.problems.append("partition \(r.partition) offset \(r.offset): not in the archive and not a readable event")
                    }
                }
                if !unarchived.isEmpty {
                    let known = Set(try db.query("""
                        SELECT event_id::text FROM audit.events WHERE event_id = ANY(\(array: unarchived.map(\.1))::uuid[])
                        """).decode(String.self))
                    for (r, id) in unarchived {
                        if known.contains(id) { report.repeats += 1 } else {
                            report.problems.append("partition \(r.partition) offset \(r.offset): event \(id) is in the log but not in the archive")
                        }
                    }
                }
            }
            if position.contains(where: { $0.value < ends[$0.key]! }) {
                report.problems.append("could not read the whole log within \(Int(timeoutSeconds)) s; the archive was not checked against it")
                return report
            }
        }
        try checkArchiveAgainstLog(db, topic: topic, watermarks: watermarks, matched: matchedPlaces, into: &report)
        return report
    }

    /// Archive → log: every archived row must name this topic and a log record that was read above with its bytes.
    static func checkArchiveAgainstLog(_ db: PostgresConnection, topic: String, watermarks: [Int32: (low: Int64, high: Int64)],
                                       matched: Set<Place>, into report: inout Report) throws {
        var after: Int64 = 0
        while true {
            let rows = try db.query("""
                SELECT chain_seq, event_id::text, kafka_topic, kafka_partition, kafka_offset FROM audit.events
                WHERE chain_seq > \(after) ORDER BY chain_seq LIMIT 10000
                """)
            let archived = try rows.decode((Int64, String, String, Int32, Int64).self)
            guard let last = archived.last else { return }
            after = last.0
            for (seq, id, rowTopic, partition, offset) in archived {
                let place = Place(partition: partition, offset: offset)
                let name = "chain_seq \(seq), event \(id) (topic \(rowTopic), partition \(place.partition), offset \(place.offset))"
                guard rowTopic == topic else {
                    report.problems.append("\(name): the archived row names topic \(rowTopic), not the log \(topic) being checked")
                    continue
                }
                guard let w = watermarks[place.partition] else {
                    report.problems.append("\(name): the log has no such partition; the row was never a log record")
                    continue
                }
                if place.offset < w.low {
                    report.archivedTrimmed += 1
                } else if place.offset >= w.high {
                    report.problems.append("\(name): the log ends at offset \(w.high) in that partition; the row was never a log record")
                } else if matched.contains(place) {
                    report.archivedChecked += 1
                } else {
                    report.problems.append("\(name): the log record at those coordinates is not this envelope; the row was not archived from the log")
                }
            }
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
