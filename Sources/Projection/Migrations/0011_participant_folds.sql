-- Each participant's fold state (`ParticipantFold.State`, JSON) as of their archived events up to `through_seq`
-- (an audit.events chain_seq), written in the transaction that writes their rows from it: a batch adds the
-- participant's new events to it instead of folding their whole history again. `code_version` is the fold code's
-- (`ParticipantFold.codeVersion`): a snapshot of another version is ignored and the participant folded from the archive.
CREATE TABLE projection.participant_folds (
    participant_id text PRIMARY KEY,
    code_version   integer NOT NULL,
    through_seq    bigint NOT NULL,
    state          text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON projection.participant_folds TO trial_projector;

-- The per-session history caches these versions guarded are gone: the snapshots replace them.
DROP TABLE projection.participant_versions;
DROP SEQUENCE projection.participant_version_seq;

