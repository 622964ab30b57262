-- A reused event_id with different content is refused by ingest (409) instead of being parked silently in
-- audit.rejected. Ingest needs to know, for the event_ids of a request, whether the archive holds them and with which
-- content, and nothing else: a digest per event, readable by a role of its own.
--
--   audit.event_digests  event_id and the SHA-256 of the event's content (AuditChain.EventDigest: canonical JSON of
--                        type, schema_version, study_id, site_id, participant_id, occurred_at as an instant, data;
--                        not recorded_at/recorded_by). The projector inserts it in the transaction that archives the
--                        event; events archived before this migration get theirs when the projector recomputes (below).
--   trial_ingest         SELECT on audit.event_digests only: not the events, not the read models.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trial_ingest') THEN
        BEGIN
            CREATE ROLE trial_ingest NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- roles are cluster-wide: another database's migration created it at the same moment
        END;
    END IF;
END $$;

-- No foreign key to audit.events: a derived table must not change how the archive itself refuses or reports changes
-- (the append-only trigger's answer, the verifier's view of a deleted row).
CREATE TABLE audit.event_digests (
    event_id       uuid PRIMARY KEY,
    content_sha256 bytea NOT NULL CHECK (length(content_sha256) = 32)
);

REVOKE ALL ON audit.event_digests FROM PUBLIC;
GRANT USAGE ON SCHEMA audit TO trial_ingest;
GRANT SELECT ON audit.event_digests TO trial_ingest;
GRANT SELECT, INSERT ON audit.event_digests TO trial_projector;
GRANT SELECT ON audit.event_digests TO trial_auditor;

-- Fill the digests of events archived so far, and derive the event_id_reused signals from audit.rejected.
INSERT INTO projection.recompute_requests (reason) VALUES ('0008_ingest_conflicts: event digests and event_id_reused signals');
