-- Read models the projector still owes a refresh. While it catches up on a backlog (full batches), it appends
-- to the archive and records here which participants, sites and the protocol need recomputing, in the same
-- transaction; the first batch that is not full (or an idle poll) refreshes them all at once. Recomputing a
-- participant once for a whole backlog, instead of once per batch, keeps catching up linear in the log.
CREATE TABLE projection.pending_refresh (
    kind text NOT NULL CHECK (kind IN ('participant', 'site', 'protocols')),
    key  text NOT NULL,
    PRIMARY KEY (kind, key)
);
