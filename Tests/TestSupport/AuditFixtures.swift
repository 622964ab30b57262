import Postgres
import Simulator
import TrialDomain

/// A small archive to verify, and tampering with it as a superuser would: shared by the audit suites.
public enum AuditFixtures {
    /// A migrated database holding one participant's story: doses, a PHQ-9, a correction.
    public static func archive() throws -> (PostgresConnection, [RecordedEvent]) {
        let db = try TestStack.migratedDatabase()
        var story = ParticipantStory.standard()
        let dose = story.dose(day: 0, 8)
        story.phq9(day: 1, items: [1, 1, 1, 1, 1, 1, 1, 1, 0])
        story.add(.eventCorrected, day: 2, ["corrected_event_id": .string(dose), "corrected_type": "dose.administered",
                                            "reason": "source says 9 ug", "data": ["substance": "lsd", "amount": 9, "unit": "ug",
                                                                                   "route": "sublingual", "supervised": true, "lot": "L1",
                                                                                   "administered_by": "nurse"]])
        story.dose(day: 4, 9)
        try TestStack.apply(story.events, to: db)
        return (db, story.events)
    }

    /// Changes a row as a superuser would, past the append-only trigger.
    public static func tamper(_ db: PostgresConnection, _ statement: String) throws {
        try db.query("ALTER TABLE audit.events DISABLE TRIGGER events_append_only")
        try db.execute(unsafeSQL: statement)
        try db.query("ALTER TABLE audit.events ENABLE TRIGGER events_append_only")
    }
}
