-- Tamper evidence: every archived event carries a link of a SHA-256 hash chain (see README, "Hash chain").
-- link(0) = 32 zero bytes; link(n) = sha256(link(n-1) || convert_to(envelope, 'UTF8')) in chain_seq order.

ALTER TABLE audit.events ADD COLUMN chain_seq bigint, ADD COLUMN chain_hash bytea;

-- Existing rows are chained in archive order. The append-only trigger is lifted for this one backfill only.
ALTER TABLE audit.events DISABLE TRIGGER events_append_only;
DO $$
DECLARE
    previous bytea := decode(repeat('00', 32), 'hex');
    n bigint := 0;
    r record;
BEGIN
    FOR r IN SELECT event_id, envelope FROM audit.events ORDER BY archive_seq LOOP
        n := n + 1;
        previous := sha256(previous || convert_to(r.envelope, 'UTF8'));
        UPDATE audit.events SET chain_seq = n, chain_hash = previous WHERE event_id = r.event_id;
    END LOOP;
END $$;
ALTER TABLE audit.events ENABLE TRIGGER events_append_only;

ALTER TABLE audit.events ALTER COLUMN chain_seq SET NOT NULL, ALTER COLUMN chain_hash SET NOT NULL,
    ADD CONSTRAINT events_chain_seq_key UNIQUE (chain_seq);

-- The end of the chain; the projector locks this row while it appends, so links never interleave.
CREATE TABLE audit.chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chain_seq  bigint NOT NULL,
    chain_hash bytea NOT NULL
);
INSERT INTO audit.chain_head (chain_seq, chain_hash)
SELECT coalesce(max(chain_seq), 0),
       coalesce((SELECT chain_hash FROM audit.events ORDER BY chain_seq DESC LIMIT 1), decode(repeat('00', 32), 'hex'))
FROM audit.events;
