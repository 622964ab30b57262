-- A version per participant, taken from one sequence and bumped in the transaction that archives one of their
-- events or rewrites their rows, by whichever projector does it. A projector's in-memory history cache keeps the
-- version its entry was computed at and uses the entry only while the participant still has that version: so a
-- cache is correct by construction with several projectors (protocol refreshes rewrite every participant,
-- partitions move, refreshes deferred by one are done by another). Values are never reused (a sequence), so a
-- rebuild that rewrites everything can never make an old entry look current.
CREATE SEQUENCE projection.participant_version_seq;
CREATE TABLE projection.participant_versions (
    participant_id text PRIMARY KEY,
    version        bigint NOT NULL
);
GRANT USAGE, SELECT ON SEQUENCE projection.participant_version_seq TO trial_projector;
GRANT SELECT, INSERT, UPDATE, DELETE ON projection.participant_versions TO trial_projector;
