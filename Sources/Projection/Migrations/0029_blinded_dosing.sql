-- Issue 16, blinded dosing: a dose.administered v3 names the participant's kit and the protocol's blinded label
-- ("study drug, level 2"), never the substance or amount; the randomization schedule states per arm what each label
-- holds (`contents`). Monitors keep the kit and label (adherence by label; neither tells the arm); what was really
-- given is resolved here, in the unblinded schema only.
ALTER TABLE monitoring.doses ADD COLUMN kit_number text, ADD COLUMN blinded_label text;

ALTER TABLE unblinded.dose_products ALTER COLUMN substance DROP NOT NULL, ALTER COLUMN amount DROP NOT NULL,
    ALTER COLUMN unit DROP NOT NULL, ADD COLUMN kit_number text, ADD COLUMN blinded_label text;
ALTER TABLE unblinded.dose_products ADD CONSTRAINT dose_products_open_or_blinded
    CHECK ((substance IS NOT NULL AND amount IS NOT NULL AND unit IS NOT NULL) OR (kit_number IS NOT NULL AND blinded_label IS NOT NULL));

-- What each blinded label holds in each arm, from the study's schedules (the first schedule stating an arm and label
-- decides; RandomizationWriter).
CREATE TABLE unblinded.blinded_contents (
    study_id          text NOT NULL,
    arm               text NOT NULL,
    blinded_label     text NOT NULL,
    substance         text NOT NULL,
    amount            numeric NOT NULL,
    unit              text NOT NULL,
    schedule_event_id uuid NOT NULL,
    PRIMARY KEY (study_id, arm, blinded_label)
);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON unblinded.blinded_contents TO trial_projector;
GRANT SELECT ON unblinded.blinded_contents TO trial_unblinded;

-- Every dose with what was really given: an open (v1/v2) dose as recorded; a blinded one as treated, from the arm of
-- the kit actually used (`treated_arm`; `arm` is the participant's randomized arm) and its label. A dose from another
-- kit than the assigned one is resolved by that kit (review finding: it was refused, though it happened).
-- `content_resolved` is false for a blinded dose whose kit the study's schedules do not hold, or whose label they do
-- not state: counted, never summed as if known.
CREATE VIEW unblinded.dose_exposure AS
SELECT d.event_id, d.participant_id, d.site_id, d.kit_number, d.blinded_label, a.arm, k.arm AS treated_arm,
       coalesce(d.substance, c.substance) AS substance, coalesce(d.amount, c.amount) AS amount, coalesce(d.unit, c.unit) AS unit,
       d.route, d.lot, d.administered_at, d.administered_on,
       d.kit_number IS NOT NULL AS blinded, d.substance IS NOT NULL OR c.substance IS NOT NULL AS content_resolved
FROM unblinded.dose_products d
LEFT JOIN unblinded.participant_arms a ON a.participant_id = d.participant_id
LEFT JOIN unblinded.randomization_kits k ON k.kit_number = d.kit_number AND k.study_id = a.study_id
LEFT JOIN unblinded.blinded_contents c ON c.study_id = k.study_id AND c.arm = k.arm AND c.blinded_label = d.blinded_label;
GRANT SELECT ON unblinded.dose_exposure TO trial_unblinded, trial_projector;

-- The DSMB's exposure from the resolved contents (a blinded dose not resolved shows with no substance).
DROP VIEW unblinded.dsmb_exposure;
CREATE VIEW unblinded.dsmb_exposure AS
SELECT a.arm, d.participant_id, d.substance, d.unit, count(*)::int AS doses, sum(d.amount)::float8 AS amount
FROM unblinded.dose_exposure d JOIN unblinded.participant_arms a ON a.participant_id = d.participant_id
GROUP BY a.arm, d.participant_id, d.substance, d.unit;
GRANT SELECT ON unblinded.dsmb_exposure TO trial_unblinded;

-- A blinded dose is accounted by its kit (the dispensing of the kit books the lot), so it is not "unaccounted" for
-- naming no lot; only an open v1 dose without a lot is.
CREATE OR REPLACE VIEW unblinded.site_custody AS
SELECT site_id, count(*) AS doses, count(*) FILTER (WHERE lot IS NULL AND kit_number IS NULL) AS unaccounted_doses,
       count(DISTINCT participant_id) FILTER (WHERE lot IS NULL AND kit_number IS NULL) AS participants_with_unaccounted_doses
FROM unblinded.dose_products GROUP BY site_id;

-- A blinded dose from a kit that is not the participant's assigned kit (monitors see kits, never arms): read at read
-- time from two read models, so it is a function of the log whatever the arrival order.
CREATE VIEW monitoring.dose_kit_mismatches AS
SELECT d.event_id, d.participant_id, d.site_id, d.kit_number, r.kit_number AS assigned_kit_number, d.administered_at
FROM monitoring.doses d
LEFT JOIN monitoring.randomizations r ON r.participant_id = d.participant_id AND r.kit_number IS NOT NULL
WHERE d.kit_number IS NOT NULL AND r.kit_number IS DISTINCT FROM d.kit_number;
GRANT SELECT ON monitoring.dose_kit_mismatches TO trial_monitor, trial_auditor;

-- For ingest (trial_ingest): each randomized participant's kit, to refuse a blinded dose from another kit. Kits only.
CREATE VIEW audit.assigned_kits AS
SELECT study_id, participant_id, kit_number FROM monitoring.randomizations WHERE kit_number IS NOT NULL;
REVOKE ALL ON audit.assigned_kits FROM PUBLIC;
GRANT SELECT ON audit.assigned_kits TO trial_ingest, trial_auditor;

-- For ingest (trial_ingest): the blinded labels each study's schedules state, to refuse a dose with another label.
-- Every label is stated for every arm (the schedule's decoder requires it), so a label tells nothing of the arm.
CREATE VIEW audit.blinded_labels AS
SELECT DISTINCT e.study_id, c ->> 'blinded_label' AS blinded_label
FROM audit.events e CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.data -> 'contents', '[]'::jsonb)) c
WHERE e.type = 'randomization.schedule_loaded' AND e.site_id IS NULL;
REVOKE ALL ON audit.blinded_labels FROM PUBLIC;
GRANT SELECT ON audit.blinded_labels TO trial_ingest, trial_auditor;

-- For ingest (trial_ingest): participants a site randomized itself (participant.randomized) before the study's first
-- schedule was loaded. They have no kit, so their doses stay open (v2) and their v2 doses may be corrected with v2
-- content. Participants only, never an arm or kit.
CREATE VIEW audit.pre_schedule_allocations AS
SELECT DISTINCT r.study_id, r.participant_id
FROM audit.events r JOIN audit.randomization_schedules s ON s.study_id = r.study_id
WHERE r.type = 'participant.randomized' AND r.participant_id IS NOT NULL AND r.recorded_at < s.loaded_at;
REVOKE ALL ON audit.pre_schedule_allocations FROM PUBLIC;
GRANT SELECT ON audit.pre_schedule_allocations TO trial_ingest, trial_auditor;

-- A later randomization schedule that contradicts the study's first one (other arms, another control arm) is ignored
-- whole; why shows here (and as a randomization_refused warning). Filled by the recompute below.
ALTER TABLE monitoring.randomization_schedules ADD COLUMN refusal text;

-- For ingest (trial_ingest): a digest of each study's design (its first schedule's arms, sorted, and control arm), to
-- refuse a contradicting schedule; never the arms themselves.
CREATE VIEW audit.randomization_designs AS
SELECT DISTINCT ON (study_id) study_id,
       encode(sha256(convert_to((SELECT string_agg(a, E'\n' ORDER BY a COLLATE "C") FROM jsonb_array_elements_text(data -> 'arms') a)
                                || E'\n\n' || (data ->> 'control_arm'), 'UTF8')), 'hex') AS design_sha256
FROM audit.events WHERE type = 'randomization.schedule_loaded' AND site_id IS NULL
ORDER BY study_id, chain_seq;
REVOKE ALL ON audit.randomization_designs FROM PUBLIC;
GRANT SELECT ON audit.randomization_designs TO trial_ingest, trial_auditor;

INSERT INTO projection.recompute_requests (reason) VALUES ('0029_blinded_dosing: schedule refusals, blinded contents');

-- Review finding: site_api.emergency_unblinding wrote its access record in the caller's transaction, so a caller that
-- rolled back had read the arm and left no record. Now the record is written first, by its own statement in its own
-- transaction (ingest commits it), and the arm is returned only against a record that another, committed transaction
-- wrote: one written by the reading transaction itself (BEGIN; record; read; ROLLBACK) is refused.
ALTER TABLE audit.unblinded_access ADD COLUMN recorded_txid bigint;
DROP FUNCTION site_api.emergency_unblinding(text, text);

-- What an emergency unblinding may show (the conditions in one place): the requester's own unblinding.requested for a
-- participant of the transaction's site, and that participant's arm. Not granted to anyone: the two functions below
-- call it with their owner's rights.
CREATE FUNCTION site_api.unblinding_target(p_participant text, p_requester text)
RETURNS TABLE (kit_number text, arm text, requested_at timestamptz, request_event_id uuid, reason text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.kit_number::text, a.arm::text, r.recorded_at, r.event_id, r.data ->> 'reason'
    FROM (SELECT e.event_id, e.recorded_at, e.data FROM audit.events e
          WHERE e.type = 'unblinding.requested' AND e.participant_id = p_participant
            AND e.site_id = current_setting('trial.site', true) AND e.recorded_by = p_requester
            AND split_part(p_participant, '-', 1) = current_setting('trial.site', true)
          ORDER BY e.chain_seq LIMIT 1) r
    CROSS JOIN LATERAL (SELECT u.kit_number, u.arm FROM unblinded.participant_arms u WHERE u.participant_id = p_participant LIMIT 1) a
$$;
REVOKE ALL ON FUNCTION site_api.unblinding_target(text, text) FROM PUBLIC;

-- Step 1 (its own transaction): records the read about to happen; returns the record's access_id, NULL when nothing
-- may be shown.
CREATE FUNCTION site_api.record_emergency_unblinding(p_participant text, p_requester text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_target record;
    v_access bigint;
BEGIN
    SELECT * INTO v_target FROM site_api.unblinding_target(p_participant, p_requester);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO audit.unblinded_access (accessed_by, participant_id, command, reason, recorded_txid)
    VALUES (p_requester, p_participant,
            'GET /v1/participants/' || p_participant || '/unblinding (ingest login ' || session_user || ', request '
                || v_target.request_event_id || ')',
            v_target.reason, txid_current())
    RETURNING access_id INTO v_access;
    RETURN v_access;
END $$;
REVOKE ALL ON FUNCTION site_api.record_emergency_unblinding(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION site_api.record_emergency_unblinding(text, text) TO trial_site;

-- Step 2 (a later transaction): the arm, only against a committed record of this requester and participant from the
-- last five minutes. A record visible here and written by another transaction is committed.
CREATE FUNCTION site_api.emergency_unblinding(p_participant text, p_requester text, p_access_id bigint)
RETURNS TABLE (participant_id text, kit_number text, arm text, requested_at timestamptz, request_event_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit.unblinded_access x
                   WHERE x.access_id = p_access_id AND x.participant_id = p_participant AND x.accessed_by = p_requester
                     AND x.recorded_txid IS DISTINCT FROM txid_current() AND x.accessed_at > now() - interval '5 minutes') THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT p_participant, t.kit_number, t.arm, t.requested_at, t.request_event_id
                 FROM site_api.unblinding_target(p_participant, p_requester) t;
END $$;
REVOKE ALL ON FUNCTION site_api.emergency_unblinding(text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION site_api.emergency_unblinding(text, text, bigint) TO trial_site;

-- Review finding: guesses made after the participant's emergency unblinding counted in the blinding indices, and the
-- DSMB mixed the week-4 and week-8 guesses. Each guess now carries its time point (whole weeks since the first dose,
-- rounded) and whether the participant's arm had been revealed by then (monitoring.participants.unblinded_at); the
-- DSMB report leaves those out and computes the indices per time point.
CREATE OR REPLACE VIEW unblinded.blinding_guesses AS
SELECT b.event_id, b.participant_id, b.site_id, b.assessor, b.guess, b.certainty, b.assessed_at, a.arm, a.control,
       CASE WHEN b.guess = 'dont_know' OR a.control IS NULL THEN NULL ELSE (b.guess = 'placebo') = a.control END AS correct,
       round(extract(epoch FROM b.assessed_at - p.first_dose_at) / 604800)::int AS week,
       coalesce(b.assessed_at >= p.unblinded_at, false) AS after_unblinding
FROM monitoring.blinding_assessments b JOIN unblinded.participant_arms a ON a.participant_id = b.participant_id
LEFT JOIN monitoring.participants p ON p.participant_id = b.participant_id;

-- Review finding: the DSMB trajectories left out the baseline. Week 0 is now the baseline (the last score on or before
-- the first dose, as monitoring.participants.baseline_* counts it; earlier screening scores are left out), and week N
-- the scores from (N - 1) * 7 to N * 7 days after the first dose.
CREATE OR REPLACE VIEW unblinded.dsmb_scores AS
SELECT a.arm, s.participant_id, s.instrument, s.total_score AS total,
       CASE WHEN s.assessed_at <= p.first_dose_at THEN 0
            ELSE greatest(1, ceil(extract(epoch FROM s.assessed_at - p.first_dose_at) / 604800))::int END AS week
FROM monitoring.assessments s
JOIN unblinded.participant_arms a ON a.participant_id = s.participant_id
JOIN monitoring.participants p ON p.participant_id = s.participant_id
WHERE s.instrument IN ('phq9', 'madrs') AND s.total_score IS NOT NULL AND p.first_dose_at IS NOT NULL
  AND (s.assessed_at > p.first_dose_at
       OR (s.assessed_at, s.event_id) = (SELECT x.assessed_at, x.event_id FROM monitoring.assessments x
                                         WHERE x.participant_id = s.participant_id AND x.instrument = s.instrument
                                           AND x.total_score IS NOT NULL AND x.assessed_at <= p.first_dose_at
                                         ORDER BY x.assessed_at DESC, x.event_id DESC LIMIT 1));

-- Review finding: a participant not enrolled, or withdrawn or completed, could be randomized. The randomization fold
-- reads the participation records with the randomization records (RandomizationWriter.participationPredicate), and
-- ingest reads each participant's status (never anything else of them).
CREATE INDEX events_participation_idx ON audit.events (chain_seq)
    WHERE type IN ('participant.enrolled', 'participant.withdrawn', 'participant.completed');
CREATE VIEW audit.participant_statuses AS SELECT participant_id, status FROM monitoring.participants;
REVOKE ALL ON audit.participant_statuses FROM PUBLIC;
GRANT SELECT ON audit.participant_statuses TO trial_ingest, trial_auditor;
