-- Electronic signatures (issue 15; 21 CFR 11.50, 11.70, 11.100, 11.200).
--
-- A signature.applied names what it signs by hash: events by the SHA-256 of their stored envelopes, or a participant's
-- casebook by a point of the hash chain. Everything here is a view over the archive and monitoring.corrections, so a
-- signature's state is a function of the stored facts alone, whatever order they arrived in; nothing depends on now.
--
--   audit.signable_events       what ingest may know of an archived event to check a signature: participant, site, type,
--                               chain point and link, and the SHA-256 of its envelope (never its data)
--   monitoring.signed_records   one row per signature and signed event: whether the archive holds that event for the
--                               signature's participant (or site), whether its envelope still hashes to what was signed,
--                               and the first correction or void that changed it since (11.70: the signature no longer
--                               stands for the current record)
--   monitoring.signatures       one row per signature: the manifestation (printed name, time in UTC, meaning, 11.50), what
--                               it signs, and its status: valid, invalidated (a signed record was corrected or voided; the
--                               change named), pending (a signed event not archived yet), broken (a hash that does not
--                               match the archive: signed records and signature are not bound)
--   site_api.casebooks          a participant's casebook head (the chain point and link of their latest archived event,
--                               and how many events it holds): what an investigator signs off
--   site_api.signatures         the signatures of the site's participants and site records

CREATE INDEX events_signatures_idx ON audit.events (participant_id) WHERE type = 'signature.applied';
CREATE INDEX corrections_target_idx ON monitoring.corrections (target_event_id);

CREATE VIEW audit.signable_events AS
SELECT event_id, participant_id, site_id, type, chain_seq, encode(chain_hash, 'hex') AS chain_hash,
       encode(sha256(convert_to(envelope, 'UTF8')), 'hex') AS envelope_sha256
FROM audit.events;
REVOKE ALL ON audit.signable_events FROM PUBLIC;
GRANT SELECT ON audit.signable_events TO trial_ingest, trial_auditor, trial_projector;

CREATE VIEW monitoring.signed_records AS
SELECT s.event_id AS signature_id, s.participant_id, s.site_id, (i.ord - 1)::integer AS position,
       (i.item ->> 'event_id')::uuid AS event_id, t.type AS event_type,
       CASE WHEN t.event_id IS NULL OR t.participant_id IS DISTINCT FROM s.participant_id OR t.site_id IS DISTINCT FROM s.site_id
                THEN 'pending'
            WHEN encode(sha256(convert_to(t.envelope, 'UTF8')), 'hex') <> i.item ->> 'sha256' THEN 'broken'
            WHEN c.event_id IS NOT NULL THEN 'invalidated'
            ELSE 'valid' END AS status,
       c.event_id AS changed_by_event_id, c.kind AS change, c.recorded_by AS changed_by, c.recorded_at AS changed_at,
       c.reason AS change_reason
FROM audit.events s
CROSS JOIN LATERAL jsonb_array_elements(s.data -> 'events') WITH ORDINALITY AS i(item, ord)
LEFT JOIN audit.events t ON t.event_id = (i.item ->> 'event_id')::uuid
-- A signed correction holds the current values of the record it corrects until a later change of that record (a
-- correction is never itself corrected: the next one names the original): archived after it, that change invalidates it.
LEFT JOIN LATERAL (
    SELECT x.event_id, x.kind, x.recorded_by, x.recorded_at, x.reason FROM monitoring.corrections x
    WHERE x.refusal IS NULL
      AND (x.target_event_id = t.event_id
           OR (t.type = 'event.corrected' AND x.target_event_id = (t.data ->> 'corrected_event_id')::uuid AND x.event_id <> t.event_id
               AND (SELECT xe.chain_seq FROM audit.events xe WHERE xe.event_id = x.event_id) > t.chain_seq))
    ORDER BY x.recorded_at, x.event_id LIMIT 1) c ON true
WHERE s.type = 'signature.applied';

-- A casebook signed as of chain point N holds the participant's events up to N; it is invalidated by a correction or
-- void archived after N of one of those events (a change archived before N is part of what was signed).
CREATE VIEW monitoring.signatures AS
WITH sig AS (
    SELECT s.event_id, s.participant_id, s.site_id, s.recorded_by, s.recorded_at, s.data,
           (s.data #>> '{casebook,chain_seq}')::bigint AS book_seq
    FROM audit.events s WHERE s.type = 'signature.applied'
)
SELECT sig.event_id AS signature_id, sig.participant_id, sig.site_id, sig.recorded_by AS signed_by,
       sig.data ->> 'printed_name' AS printed_name, sig.data ->> 'meaning' AS meaning, sig.recorded_at AS signed_at,
       CASE WHEN sig.book_seq IS NULL THEN 'events' ELSE 'casebook' END AS signs,
       CASE WHEN sig.book_seq IS NULL THEN jsonb_array_length(sig.data -> 'events') ELSE book.events END AS signed_events,
       sig.book_seq AS casebook_chain_seq,
       CASE WHEN sig.book_seq IS NULL THEN
                CASE WHEN rec.broken > 0 THEN 'broken' WHEN rec.invalidated > 0 THEN 'invalidated'
                     WHEN rec.pending > 0 THEN 'pending' ELSE 'valid' END
            WHEN book.link IS NULL OR book.events = 0 THEN 'pending'
            WHEN book.link <> sig.data #>> '{casebook,chain_hash}' THEN 'broken'
            WHEN change.event_id IS NOT NULL THEN 'invalidated'
            ELSE 'valid' END AS status,
       coalesce(rec.changed_by_event_id, change.event_id) AS invalidated_by,
       coalesce(rec.change, change.kind) AS invalidating_change,
       coalesce(rec.changed_at, change.recorded_at) AS invalidated_at,
       coalesce(rec.changed_event_id, change.target_event_id) AS changed_event_id
FROM sig
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE r.status = 'broken') AS broken, count(*) FILTER (WHERE r.status = 'invalidated') AS invalidated,
           count(*) FILTER (WHERE r.status = 'pending') AS pending,
           (array_agg(r.changed_by_event_id ORDER BY r.changed_at, r.changed_by_event_id) FILTER (WHERE r.status = 'invalidated'))[1]
               AS changed_by_event_id,
           (array_agg(r.change ORDER BY r.changed_at, r.changed_by_event_id) FILTER (WHERE r.status = 'invalidated'))[1] AS change,
           min(r.changed_at) FILTER (WHERE r.status = 'invalidated') AS changed_at,
           (array_agg(r.event_id ORDER BY r.changed_at, r.changed_by_event_id) FILTER (WHERE r.status = 'invalidated'))[1]
               AS changed_event_id
    FROM monitoring.signed_records r WHERE r.signature_id = sig.event_id AND sig.book_seq IS NULL) rec ON sig.book_seq IS NULL
LEFT JOIN LATERAL (
    SELECT (SELECT encode(p.chain_hash, 'hex') FROM audit.events p WHERE p.chain_seq = sig.book_seq) AS link,
           (SELECT count(*) FROM audit.events e WHERE e.participant_id = sig.participant_id AND e.chain_seq <= sig.book_seq
                AND e.type <> 'signature.applied') AS events) book ON sig.book_seq IS NOT NULL
LEFT JOIN LATERAL (
    SELECT x.event_id, x.kind, x.recorded_at, x.target_event_id FROM monitoring.corrections x
    JOIN audit.events ce ON ce.event_id = x.event_id
    JOIN audit.events te ON te.event_id = x.target_event_id
    WHERE x.participant_id = sig.participant_id AND x.refusal IS NULL AND ce.chain_seq > sig.book_seq AND te.chain_seq <= sig.book_seq
    ORDER BY ce.chain_seq LIMIT 1) change ON sig.book_seq IS NOT NULL;

GRANT SELECT ON monitoring.signed_records, monitoring.signatures TO trial_monitor, trial_auditor;

CREATE VIEW site_api.casebooks WITH (security_barrier) AS
SELECT h.participant_id, h.chain_seq, encode(h.chain_hash, 'hex') AS chain_hash, h.events
FROM (
    SELECT e.participant_id, max(e.chain_seq) AS chain_seq, count(*) AS events,
           (array_agg(e.chain_hash ORDER BY e.chain_seq DESC))[1] AS chain_hash
    FROM audit.events e
    WHERE e.site_id = current_setting('trial.site', true) AND e.participant_id IS NOT NULL AND e.type <> 'signature.applied'
    GROUP BY e.participant_id) h;

CREATE VIEW site_api.signatures WITH (security_barrier) AS
SELECT signature_id, participant_id, signed_by, printed_name, meaning, signed_at, signs, signed_events, casebook_chain_seq,
       status, invalidated_by, invalidating_change, invalidated_at, changed_event_id
FROM monitoring.signatures WHERE site_id = current_setting('trial.site', true);

GRANT SELECT ON site_api.casebooks, site_api.signatures TO trial_site;
