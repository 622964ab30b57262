-- Electronic signatures, second pass (issue 15 review).
--
--   audit.events.envelope_sha256   the SHA-256 of each archived envelope, computed once when it is archived (a generated
--                                  column), so reads no longer hash every signed envelope again; `reporter audit verify`
--                                  still recomputes them itself
--   audit.in_casebook(t)           whether a participant's event of type t is in their casebook: keyed by the participant
--   audit.casebook_digest(p, e)    a participant's casebook up to and including their event e: how many events, and the
--                                  SHA-256 over their envelope digests (see `CasebookDigest`) in offset order of e's
--                                  partition, the one all events keyed by the participant share; no other partition's
--                                  offsets are compared, so the digest is the same on every rebuild, restore or replay
--                                  (any partition count, topic or interleaving); a casebook sign-off is bound by it
--                                  instead of the archive's chain point, which a re-projection may move (a sign-off with
--                                  the chain point alone, from before 0028, is `unverifiable` once its point moved)
--   audit.blinded_refusal(t, c, r) why a record of type t (a correction or void of type c) may not be signed by role r,
--                                  whatever its hash (`SignatureRules.allocationRefusal`): one that holds or reveals an
--                                  arm by nobody, one that holds the product by no role but the site's; its hash is never
--                                  compared (a blinded signer would learn from a signature's validity whether a guessed
--                                  hash, so the arm, was right)
--   audit.witness_signatures       who witnessed which destruction (what ingest checks a second witness against)
--   monitoring.signed_records      status `refused` for a record its signer may not sign (its hash never compared), and the stored
--                                  digests compared (0025's view, renamed signed_record_changes, still finds the change
--                                  that invalidated each signed event; no role reads it directly any more)
--   monitoring.signatures          gains status `refused` with `refusal` (the rules ingest applies, applied to the log),
--                                  what authenticated the signer (`auth_time`, `auth_issuer`, `auth_token_id`,
--                                  `signed_as`: the envelope's `authentication`, absent on older signatures), the
--                                  casebook's `casebook_last_event_id` and `later_events` (recorded after the sign-off:
--                                  not covered by it, not breaking it)
--   site_api.casebooks             the casebook head an investigator signs: `last_event_id`, `events`, `events_sha256`

DROP VIEW site_api.signatures;
DROP VIEW site_api.casebooks;
DROP VIEW monitoring.signatures;
ALTER VIEW monitoring.signed_records RENAME TO signed_record_changes;
DROP VIEW audit.signable_events;

-- The envelope is hashed as the UTF-8 text it was received as; only a UTF8 database stores it as exactly those bytes
-- (and only there is convert_to(…, 'UTF8') the identity, so IMMUTABLE is honest).
DO $$ BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'migration 0028 needs a UTF8 database, this one is %: create it with ENCODING ''UTF8'' and restore into it',
            current_setting('server_encoding');
    END IF;
END $$;

CREATE FUNCTION audit.sha256_of_text(value text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT sha256(convert_to(value, 'UTF8')) $$;

ALTER TABLE audit.events ADD COLUMN envelope_sha256 bytea GENERATED ALWAYS AS (audit.sha256_of_text(envelope)) STORED;
CREATE INDEX events_casebook_idx ON audit.events (participant_id, kafka_partition, kafka_offset);

-- A person's name or user as people write it, compared without case or runs of white space (`PersonName`).
CREATE FUNCTION audit.person_name(name text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT btrim(regexp_replace(lower(name COLLATE "C"), '[ \t\n\r\f\v]+', ' ', 'g'), ' ') $$;

CREATE FUNCTION audit.blinded_refusal(type text, changed_type text, role text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE
    WHEN type IN ('participant.randomized', 'randomization.schedule_loaded', 'unblinding.performed', 'unblinding.requested')
      OR changed_type IN ('participant.randomized', 'randomization.schedule_loaded', 'unblinding.performed', 'unblinding.requested')
        THEN type || ' records hold or reveal a treatment allocation and are never signed'
    WHEN role NOT IN ('site_staff', 'investigator')
     AND (type IN ('dose.administered', 'drug.received', 'drug.dispensed', 'drug.returned', 'drug.destroyed', 'drug.counted', 'drug.lost')
          OR changed_type IN ('dose.administered', 'drug.received', 'drug.dispensed', 'drug.returned', 'drug.destroyed', 'drug.counted',
                              'drug.lost'))
        THEN type || ' records hold the product, which role ' || role || ' may not read, and are signed by the site only' END $$;

-- Whether a participant's event of this type is in their casebook: the events keyed by the participant (their one
-- partition, in its order: `EventType.inCasebook`); not signatures, nor randomization requests (keyed by the study).
CREATE FUNCTION audit.in_casebook(type text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT type NOT IN ('signature.applied', 'participant.randomization_requested') $$;

CREATE FUNCTION audit.casebook_digest(participant text, last_event uuid) RETURNS TABLE (events bigint, sha256 text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, audit
AS $$
    SELECT count(e.event_id),
           encode(sha256(convert_to(string_agg(encode(e.envelope_sha256, 'hex') || E'\n', '' ORDER BY e.kafka_offset), 'UTF8')), 'hex')
    FROM audit.events l
    JOIN audit.events e ON e.participant_id = l.participant_id AND audit.in_casebook(e.type)
                       AND e.kafka_topic = l.kafka_topic AND e.kafka_partition = l.kafka_partition AND e.kafka_offset <= l.kafka_offset
    WHERE l.event_id = last_event AND l.participant_id = participant AND audit.in_casebook(l.type)
      -- The site read API (trial.site set, as for its views) digests its own participants only.
      AND l.site_id = coalesce(nullif(current_setting('trial.site', true), ''), l.site_id)
$$;
REVOKE ALL ON FUNCTION audit.casebook_digest(text, uuid) FROM PUBLIC;
-- Called by the views as whoever reads them (site_api.casebooks as trial_site); it gives only a digest, never an event.
GRANT EXECUTE ON FUNCTION audit.casebook_digest(text, uuid) TO trial_ingest, trial_auditor, trial_projector, trial_monitor, trial_site;

CREATE VIEW audit.signable_events AS
SELECT event_id, participant_id, site_id, type, chain_seq, encode(chain_hash, 'hex') AS chain_hash,
       encode(envelope_sha256, 'hex') AS envelope_sha256, recorded_by,
       CASE type WHEN 'event.corrected' THEN data ->> 'corrected_type' WHEN 'event.voided' THEN data ->> 'voided_type' END AS changed_type,
       CASE type WHEN 'drug.destroyed' THEN data -> 'witnesses' END AS witnesses
FROM audit.events;
REVOKE ALL ON audit.signable_events FROM PUBLIC;
GRANT SELECT ON audit.signable_events TO trial_ingest, trial_auditor, trial_projector;

CREATE VIEW audit.witness_signatures AS
SELECT (i.item ->> 'event_id')::uuid AS destruction_event_id, s.recorded_by AS witness, s.event_id AS signature_id, s.recorded_at
FROM audit.events s CROSS JOIN LATERAL jsonb_array_elements(s.data -> 'events') AS i(item)
WHERE s.type = 'signature.applied' AND s.data ->> 'meaning' = 'witness';
REVOKE ALL ON audit.witness_signatures FROM PUBLIC;
GRANT SELECT ON audit.witness_signatures TO trial_ingest, trial_auditor, trial_projector;

-- Each signed event with the change that invalidated it stays 0025's view, renamed; its status compared hashes even of
-- allocation records, so nobody but the views below reads it any more (its unread columns are never computed).
REVOKE ALL ON monitoring.signed_record_changes FROM trial_monitor, trial_auditor;

CREATE VIEW monitoring.signed_records AS
SELECT c.signature_id, c.participant_id, c.site_id, c.position, c.event_id, c.event_type,
       CASE WHEN t.event_id IS NULL OR t.participant_id IS DISTINCT FROM c.participant_id OR t.site_id IS DISTINCT FROM c.site_id
                THEN 'pending'
            -- Before any hash is compared: whether an allocation record's hash matched is never shown.
            WHEN audit.blinded_refusal(t.type, t.changed_type, s.envelope::jsonb #>> '{authentication,role}') IS NOT NULL THEN 'refused'
            WHEN t.envelope_sha256 <> s.data -> 'events' -> c.position ->> 'sha256' THEN 'broken'
            WHEN c.changed_by_event_id IS NOT NULL THEN 'invalidated'
            ELSE 'valid' END AS status,
       c.changed_by_event_id, c.change, c.changed_by, c.changed_at, c.change_reason
FROM monitoring.signed_record_changes c
JOIN audit.events s ON s.event_id = c.signature_id
LEFT JOIN audit.signable_events t ON t.event_id = c.event_id;

-- A casebook signed up to the participant's event L (log order) holds their events up to L; it is invalidated by a
-- correction or void after L of one of those events (a change up to L is part of what was signed). Events after L are
-- not covered (`later_events`), and leave the sign-off standing. A sign-off made before the digest (no L) is judged by
-- its chain point, as migration 0025 did.
CREATE VIEW monitoring.signatures AS
WITH sig AS (
    SELECT s.event_id, s.participant_id, s.site_id, s.recorded_by, s.recorded_at, s.data,
           s.data ? 'casebook' AS is_casebook,
           (s.data #>> '{casebook,chain_seq}')::bigint AS book_seq,
           (s.data #>> '{casebook,last_event_id}')::uuid AS book_last,
           s.envelope::jsonb -> 'authentication' AS auth
    FROM audit.events s WHERE s.type = 'signature.applied'
)
SELECT sig.event_id AS signature_id, sig.participant_id, sig.site_id, sig.recorded_by AS signed_by,
       sig.data ->> 'printed_name' AS printed_name, sig.data ->> 'meaning' AS meaning, sig.recorded_at AS signed_at,
       CASE WHEN sig.is_casebook THEN 'casebook' ELSE 'events' END AS signs,
       CASE WHEN NOT sig.is_casebook THEN jsonb_array_length(sig.data -> 'events')
            WHEN sig.book_last IS NOT NULL THEN digest.events ELSE legacy.events END AS signed_events,
       sig.book_seq AS casebook_chain_seq,
       CASE WHEN refusal.reason IS NOT NULL THEN 'refused'
            WHEN NOT sig.is_casebook THEN
                CASE WHEN rec.broken THEN 'broken' WHEN rec.invalidated THEN 'invalidated' WHEN rec.pending THEN 'pending'
                     ELSE 'valid' END
            WHEN sig.book_last IS NOT NULL THEN
                CASE WHEN coalesce(digest.events, 0) = 0 THEN 'pending'
                     WHEN digest.sha256 <> sig.data #>> '{casebook,events_sha256}' THEN 'broken'
                     WHEN change.event_id IS NOT NULL THEN 'invalidated'
                     ELSE 'valid' END
            WHEN legacy.link IS NULL OR legacy.events = 0 THEN 'pending'
            -- A re-projection (rebuild, restore) may order the chain otherwise: the older binding cannot be checked then.
            WHEN legacy.link <> sig.data #>> '{casebook,chain_hash}' THEN 'unverifiable'
            WHEN change.event_id IS NOT NULL THEN 'invalidated'
            ELSE 'valid' END AS status,
       CASE WHEN refusal.reason IS NULL THEN coalesce(first_change.changed_by_event_id, change.event_id) END AS invalidated_by,
       CASE WHEN refusal.reason IS NULL THEN coalesce(first_change.change, change.kind) END AS invalidating_change,
       CASE WHEN refusal.reason IS NULL THEN coalesce(first_change.changed_at, change.recorded_at) END AS invalidated_at,
       CASE WHEN refusal.reason IS NULL THEN coalesce(first_change.event_id, change.target_event_id) END AS changed_event_id,
       refusal.reason AS refusal,
       (sig.auth ->> 'auth_time')::timestamptz AS auth_time, sig.auth ->> 'iss' AS auth_issuer, sig.auth ->> 'jti' AS auth_token_id,
       sig.auth ->> 'role' AS signed_as,
       sig.book_last AS casebook_last_event_id, later.events AS later_events
FROM sig
LEFT JOIN LATERAL (
    SELECT bool_or(r.status = 'broken') AS broken, bool_or(r.status = 'invalidated') AS invalidated,
           bool_or(r.status = 'pending') AS pending
    FROM monitoring.signed_records r WHERE r.signature_id = sig.event_id) rec ON NOT sig.is_casebook
-- The first change (by server time) that invalidated one of the signed events.
LEFT JOIN LATERAL (
    SELECT r.changed_by_event_id, r.change, r.changed_at, r.event_id FROM monitoring.signed_records r
    WHERE r.signature_id = sig.event_id AND r.status = 'invalidated'
    ORDER BY r.changed_at, r.changed_by_event_id LIMIT 1) first_change ON NOT sig.is_casebook
-- The rules ingest applies (`SignatureRules`), applied to what the log holds; the first that fails is named. The role is
-- the envelope's `authentication.role`: an older signature without it is not judged by role.
LEFT JOIN LATERAL (
    SELECT coalesce(
        (SELECT audit.blinded_refusal(t.type, t.changed_type, sig.auth ->> 'role')
         FROM jsonb_array_elements(sig.data -> 'events') WITH ORDINALITY AS i(item, ord)
         JOIN audit.signable_events t ON t.event_id = (i.item ->> 'event_id')::uuid
         WHERE audit.blinded_refusal(t.type, t.changed_type, sig.auth ->> 'role') IS NOT NULL ORDER BY i.ord LIMIT 1),
        CASE WHEN sig.is_casebook AND sig.data ->> 'meaning' NOT IN ('approval', 'responsibility')
                 THEN 'a casebook sign-off means approval or responsibility, not ' || (sig.data ->> 'meaning')
             WHEN sig.is_casebook AND sig.auth ->> 'role' <> 'investigator'
                 THEN 'only the site''s investigator signs off a casebook, not a ' || (sig.auth ->> 'role') END,
        (SELECT w.reason
         FROM jsonb_array_elements(sig.data -> 'events') WITH ORDINALITY AS i(item, ord)
         JOIN audit.signable_events t ON t.event_id = (i.item ->> 'event_id')::uuid
         CROSS JOIN LATERAL (SELECT CASE
             WHEN t.type <> 'drug.destroyed' THEN 'a witness signs a drug destruction only, not ' || t.type
             WHEN t.recorded_by = sig.recorded_by THEN 'the person who recorded the destruction cannot witness it'
             WHEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(t.witnesses) AS n(name)
                              WHERE audit.person_name(n.name) IN (audit.person_name(sig.recorded_by),
                                                                  audit.person_name(sig.data ->> 'printed_name')))
                 THEN 'only a witness the destruction names signs it as witness, not ' || sig.recorded_by
             WHEN EXISTS (SELECT 1 FROM audit.witness_signatures w
                          WHERE w.destruction_event_id = t.event_id AND w.witness = sig.recorded_by
                            AND (w.recorded_at, w.signature_id) < (sig.recorded_at, sig.event_id))
                 THEN 'already witnessed by the same person: the two witnesses of a destruction are two people' END AS reason) w
         WHERE sig.data ->> 'meaning' = 'witness' AND w.reason IS NOT NULL
         ORDER BY i.ord LIMIT 1),
        (SELECT 'only the investigator signs responsibility for an adverse event''s causality, not a ' || (sig.auth ->> 'role')
         FROM jsonb_array_elements(sig.data -> 'events') AS i(item)
         JOIN audit.signable_events t ON t.event_id = (i.item ->> 'event_id')::uuid
         WHERE sig.data ->> 'meaning' = 'responsibility' AND sig.auth ->> 'role' <> 'investigator'
           AND (t.type IN ('adverse_event.reported', 'adverse_event.updated')
                OR t.changed_type IN ('adverse_event.reported', 'adverse_event.updated'))
         LIMIT 1)) AS reason) refusal ON true
LEFT JOIN LATERAL audit.casebook_digest(sig.participant_id, sig.book_last) digest ON sig.book_last IS NOT NULL
LEFT JOIN LATERAL (
    SELECT (SELECT encode(p.chain_hash, 'hex') FROM audit.events p WHERE p.chain_seq = sig.book_seq) AS link,
           (SELECT count(*) FROM audit.events e WHERE e.participant_id = sig.participant_id AND e.chain_seq <= sig.book_seq
                AND e.type <> 'signature.applied') AS events) legacy ON sig.is_casebook AND sig.book_last IS NULL
-- Where the casebook ends: after its last event in the participant's log order, or (older sign-offs) after its chain point.
LEFT JOIN LATERAL (
    SELECT l.kafka_topic, l.kafka_partition, l.kafka_offset FROM audit.events l
    WHERE l.event_id = sig.book_last AND l.participant_id = sig.participant_id AND audit.in_casebook(l.type)) book_end
    ON sig.book_last IS NOT NULL
LEFT JOIN LATERAL (
    SELECT x.event_id, x.kind, x.recorded_at, x.target_event_id FROM monitoring.corrections x
    JOIN audit.events ce ON ce.event_id = x.event_id
    JOIN audit.events te ON te.event_id = x.target_event_id
    WHERE x.participant_id = sig.participant_id AND x.refusal IS NULL
      AND CASE WHEN sig.book_last IS NOT NULL
               THEN (ce.kafka_topic, ce.kafka_partition, te.kafka_topic, te.kafka_partition)
                        = (book_end.kafka_topic, book_end.kafka_partition, book_end.kafka_topic, book_end.kafka_partition)
                    AND ce.kafka_offset > book_end.kafka_offset AND te.kafka_offset <= book_end.kafka_offset AND audit.in_casebook(te.type)
               ELSE ce.chain_seq > sig.book_seq AND te.chain_seq <= sig.book_seq END
    ORDER BY ce.kafka_offset, ce.chain_seq LIMIT 1) change ON sig.is_casebook
LEFT JOIN LATERAL (
    SELECT count(*) AS events FROM audit.events e
    WHERE e.participant_id = sig.participant_id AND audit.in_casebook(e.type) AND e.kafka_topic = book_end.kafka_topic
      AND e.kafka_partition = book_end.kafka_partition AND e.kafka_offset > book_end.kafka_offset) later ON book_end.kafka_offset IS NOT NULL;

GRANT SELECT ON monitoring.signed_records, monitoring.signatures TO trial_monitor, trial_auditor;

CREATE VIEW site_api.casebooks WITH (security_barrier) AS
SELECT h.participant_id, h.chain_seq, encode(h.chain_hash, 'hex') AS chain_hash, h.event_id AS last_event_id, d.events,
       d.sha256 AS events_sha256
FROM (
    SELECT DISTINCT ON (e.participant_id) e.participant_id, e.chain_seq, e.chain_hash, e.event_id
    FROM audit.events e
    WHERE e.site_id = current_setting('trial.site', true) AND e.participant_id IS NOT NULL AND audit.in_casebook(e.type)
    -- The participant's keyed events are on one partition: its newest offset is the head (offsets of other partitions
    -- are never compared with it; topic and partition only break a tie no single-topic log has).
    ORDER BY e.participant_id, e.kafka_offset DESC, e.kafka_topic, e.kafka_partition) h
CROSS JOIN LATERAL audit.casebook_digest(h.participant_id, h.event_id) d;

CREATE VIEW site_api.signatures WITH (security_barrier) AS
SELECT signature_id, participant_id, signed_by, printed_name, meaning, signed_at, signs, signed_events, casebook_chain_seq,
       status, invalidated_by, invalidating_change, invalidated_at, changed_event_id, refusal, auth_time, signed_as,
       casebook_last_event_id, later_events
FROM monitoring.signatures WHERE site_id = current_setting('trial.site', true);

GRANT SELECT ON site_api.casebooks, site_api.signatures TO trial_site;
