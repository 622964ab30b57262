-- Issue 16: the blind by design. System-owned randomization (the unblinded statistician's sealed schedule, kits
-- assigned by the projector to the sites' requests) and emergency unblinding through the system.
--
--   unblinded.randomization_kits        every loaded kit with its arm, stratum, position, and whom it went to
--   unblinded.participant_arms          the arm of each randomized participant: the system's kit, else a site's
--                                       participant.randomized recorded before the study's first schedule (old logs)
--   monitoring.randomization_schedules  each schedule load: counts only (strata, kits, kits ignored), never an arm
--   monitoring.randomizations           each request and its answer: the kit, or why none; never an arm
--   monitoring.unblindings              every unblinding (performed at the site, or requested through the system)
--   monitoring.unblinded_reads          when and by whom a participant's arm was read (audit.unblinded_access without
--                                       the reason): monitors see that an unblinding happened, never what it showed
--   site_api.randomizations             a site's requests and kits (never an arm), for the site read API
--   site_api.emergency_unblinding(...)  the one way a site reads an arm: the requesting investigator, for a participant
--                                       of their site with their own unblinding.requested, each read recorded first
--   audit.randomization_schedules       which studies have a schedule (for ingest, which then refuses participant.randomized)

CREATE TABLE unblinded.randomization_kits (
    study_id             text NOT NULL,
    kit_number           text NOT NULL,
    stratum              text NOT NULL,
    position             integer NOT NULL CHECK (position > 0),
    block                integer NOT NULL CHECK (block > 0),
    arm                  text NOT NULL,
    control              boolean NOT NULL,
    schedule_event_id    uuid NOT NULL,
    schedule_id          text NOT NULL,
    assigned_to          text,
    assigned_by_event_id uuid,
    PRIMARY KEY (study_id, kit_number),
    UNIQUE (study_id, stratum, position),
    CHECK ((assigned_to IS NULL) = (assigned_by_event_id IS NULL))
);
-- Exactly one kit per participant, enforced by the database as well as by the fold.
CREATE UNIQUE INDEX randomization_kits_participant_idx ON unblinded.randomization_kits (study_id, assigned_to)
    WHERE assigned_to IS NOT NULL;

CREATE TABLE monitoring.randomization_schedules (
    event_id     uuid PRIMARY KEY,
    study_id     text NOT NULL,
    schedule_id  text NOT NULL,
    loaded_by    text NOT NULL,
    loaded_at    timestamptz NOT NULL,
    strata       integer NOT NULL,
    kits         integer NOT NULL,
    kits_ignored integer NOT NULL
);

CREATE TABLE monitoring.randomizations (
    event_id       uuid PRIMARY KEY,
    study_id       text NOT NULL,
    site_id        text NOT NULL,
    participant_id text NOT NULL,
    stratum        text NOT NULL,
    requested_by   text NOT NULL,
    requested_at   timestamptz NOT NULL,
    kit_number     text,
    refusal        text,
    CHECK ((kit_number IS NULL) <> (refusal IS NULL))
);
-- A kit is never assigned twice.
CREATE UNIQUE INDEX randomizations_kit_idx ON monitoring.randomizations (study_id, kit_number) WHERE kit_number IS NOT NULL;
CREATE INDEX randomizations_participant_idx ON monitoring.randomizations (participant_id);

CREATE TABLE monitoring.unblindings (
    event_id       uuid PRIMARY KEY,
    participant_id text NOT NULL,
    site_id        text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('performed', 'requested')),
    emergency      boolean NOT NULL,
    reason         text NOT NULL,
    recorded_by    text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX unblindings_participant_idx ON monitoring.unblindings (participant_id);

-- Schedules and requests are read in log order (chain_seq) by the projector's randomization writer.
CREATE INDEX events_randomization_idx ON audit.events (chain_seq)
    WHERE type IN ('randomization.schedule_loaded', 'participant.randomization_requested', 'participant.randomized',
                   'unblinding.performed', 'unblinding.requested');

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON unblinded.randomization_kits TO trial_projector;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE
    ON monitoring.randomization_schedules, monitoring.randomizations, monitoring.unblindings TO trial_projector;
GRANT SELECT ON unblinded.randomization_kits TO trial_unblinded;
GRANT SELECT ON monitoring.randomization_schedules, monitoring.randomizations, monitoring.unblindings
    TO trial_monitor, trial_auditor;

-- The arm of each randomized participant, for unblinded readers (the DSMB): the system's assignment; for a participant
-- the system never randomized, a site's participant.randomized recorded before the study's first schedule.
CREATE VIEW unblinded.participant_arms AS
SELECT k.assigned_to AS participant_id, r.site_id, k.study_id, k.kit_number, k.arm, k.control, k.stratum,
       r.requested_at AS randomized_at, 'system'::text AS source
FROM unblinded.randomization_kits k JOIN monitoring.randomizations r ON r.event_id = k.assigned_by_event_id
UNION ALL
-- A site's allocation names no control arm: control is unknown (NULL) unless a schedule of the study names its arm.
SELECT a.participant_id, a.site_id, e.study_id, a.kit_number, a.arm,
       (SELECT bool_or(k.control) FROM unblinded.randomization_kits k WHERE k.study_id = e.study_id AND k.arm = a.arm), NULL,
       a.randomized_at, 'site'
FROM unblinded.allocations a JOIN audit.events e ON e.event_id = a.event_id
WHERE NOT EXISTS (SELECT 1 FROM unblinded.randomization_kits k WHERE k.assigned_to = a.participant_id AND k.study_id = e.study_id)
  AND NOT EXISTS (SELECT 1 FROM audit.events s WHERE s.type = 'randomization.schedule_loaded' AND s.site_id IS NULL
                  AND s.study_id = e.study_id AND s.recorded_at <= e.recorded_at);
GRANT SELECT ON unblinded.participant_arms TO trial_unblinded, trial_projector;

-- Reads of arms (audit.unblinded_access) without the reason, which may describe the participant's condition: a view
-- runs with its owner's rights, so monitors see this much of the audit schema and nothing else of it.
CREATE VIEW monitoring.unblinded_reads AS
SELECT participant_id, accessed_at, accessed_by, command FROM audit.unblinded_access;
GRANT SELECT ON monitoring.unblinded_reads TO trial_monitor, trial_auditor;

-- For ingest (trial_ingest): which studies have a randomization schedule, and since when; never its content.
CREATE VIEW audit.randomization_schedules AS
SELECT study_id, min(recorded_at) AS loaded_at FROM audit.events
WHERE type = 'randomization.schedule_loaded' AND site_id IS NULL GROUP BY study_id;
REVOKE ALL ON audit.randomization_schedules FROM PUBLIC;
GRANT SELECT ON audit.randomization_schedules TO trial_ingest, trial_auditor, trial_projector;

-- The site read API's view of its randomizations: the kit the site was given, or why none; never an arm.
CREATE VIEW site_api.randomizations WITH (security_barrier) AS
SELECT participant_id, event_id AS request_event_id, stratum, requested_by, requested_at, kit_number, refusal
FROM monitoring.randomizations WHERE site_id = current_setting('trial.site', true);
GRANT SELECT ON site_api.randomizations TO trial_site;

-- Emergency unblinding through the system: the requesting investigator (authenticated by ingest, which passes the
-- token's subject) reads the arm of one participant of the site the transaction names, once they recorded an
-- unblinding.requested for that participant. The read is recorded in audit.unblinded_access before the arm is
-- returned, in the same transaction (ingest commits it): no record, no arm. SECURITY DEFINER: trial_site reads no arm
-- otherwise; the function's owner does, and it returns exactly one participant's arm to exactly that requester.
-- Returns no row when any condition fails (the caller answers 404 / 403 without saying which).
CREATE FUNCTION site_api.emergency_unblinding(p_participant text, p_requester text)
RETURNS TABLE (participant_id text, kit_number text, arm text, requested_at timestamptz, request_event_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_site text := current_setting('trial.site', true);
    v_request record;
    v_arm record;
BEGIN
    IF v_site IS NULL OR p_participant IS NULL OR p_requester IS NULL
       OR split_part(p_participant, '-', 1) <> v_site THEN
        RETURN;
    END IF;
    SELECT e.event_id, e.recorded_at, e.data ->> 'reason' AS reason INTO v_request
    FROM audit.events e
    WHERE e.type = 'unblinding.requested' AND e.participant_id = p_participant AND e.site_id = v_site
      AND e.recorded_by = p_requester
    ORDER BY e.chain_seq LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT a.kit_number, a.arm INTO v_arm FROM unblinded.participant_arms a WHERE a.participant_id = p_participant LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO audit.unblinded_access (accessed_by, participant_id, command, reason)
    VALUES (p_requester, p_participant,
            'GET /v1/participants/' || p_participant || '/unblinding (ingest login ' || session_user || ', request '
                || v_request.event_id || ')',
            v_request.reason);
    RETURN QUERY SELECT p_participant, v_arm.kit_number::text, v_arm.arm::text, v_request.recorded_at, v_request.event_id;
END $$;
REVOKE ALL ON FUNCTION site_api.emergency_unblinding(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION site_api.emergency_unblinding(text, text) TO trial_site;

-- A batch catching up on a backlog defers the randomization recompute like the others (migration 0006).
ALTER TABLE projection.pending_refresh DROP CONSTRAINT pending_refresh_kind_check;
ALTER TABLE projection.pending_refresh ADD CONSTRAINT pending_refresh_kind_check
    CHECK (kind IN ('participant', 'site', 'protocols', 'randomization'));

-- Blinding assessments (blinding.assessed, corrections applied): who guessed which arm. Blinded data (a guess is no
-- allocation), so monitors read it; the indices need the arms and are computed from unblinded.blinding_guesses only.
CREATE TABLE monitoring.blinding_assessments (
    event_id       uuid PRIMARY KEY,
    participant_id text NOT NULL,
    site_id        text NOT NULL,
    assessor       text NOT NULL CHECK (assessor IN ('participant', 'rater', 'investigator')),
    guess          text NOT NULL CHECK (guess IN ('active', 'placebo', 'dont_know')),
    certainty      integer CHECK (certainty BETWEEN 1 AND 5),
    assessed_at    timestamptz NOT NULL,
    recorded_by    text NOT NULL,
    corrected      boolean NOT NULL
);
CREATE INDEX blinding_assessments_participant_idx ON monitoring.blinding_assessments (participant_id, assessed_at);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON monitoring.blinding_assessments TO trial_projector;
GRANT SELECT ON monitoring.blinding_assessments TO trial_monitor, trial_auditor;

-- Each guess beside the participant's arm and whether it was right (NULL when the arm's control status is unknown).
CREATE VIEW unblinded.blinding_guesses AS
SELECT b.event_id, b.participant_id, b.site_id, b.assessor, b.guess, b.certainty, b.assessed_at, a.arm, a.control,
       CASE WHEN b.guess = 'dont_know' OR a.control IS NULL THEN NULL ELSE (b.guess = 'placebo') = a.control END AS correct
FROM monitoring.blinding_assessments b JOIN unblinded.participant_arms a ON a.participant_id = b.participant_id;
GRANT SELECT ON unblinded.blinding_guesses TO trial_unblinded;
CREATE INDEX events_blinding_idx ON audit.events (participant_id) WHERE type = 'blinding.assessed';

-- The DSMB's unblinded report (reporter dsmb --unblinded): the blinded read models beside each participant's arm, for
-- trial_unblinded only (a view runs with its owner's rights, so the role reads these and still no monitoring table).
CREATE VIEW unblinded.dsmb_participants AS
SELECT a.arm, a.control, p.participant_id, p.site_id, p.status, p.enrolled_at, p.withdrawn_at, p.withdrawal_reason,
       p.doses_administered, p.doses_missed, p.baseline_phq9, p.latest_phq9, p.baseline_madrs, p.latest_madrs, p.response,
       p.remission
FROM unblinded.participant_arms a JOIN monitoring.participants p ON p.participant_id = a.participant_id;

CREATE VIEW unblinded.dsmb_adverse_events AS
SELECT a.arm, e.participant_id, e.term, e.grade, e.serious,
       EXISTS (SELECT 1 FROM monitoring.expedited_report_clocks x WHERE x.adverse_event_id = e.event_id) AS expedited
FROM monitoring.adverse_events e JOIN unblinded.participant_arms a ON a.participant_id = e.participant_id;

CREATE VIEW unblinded.dsmb_exposure AS
SELECT a.arm, d.participant_id, d.substance, d.unit, count(*)::int AS doses, sum(d.amount)::float8 AS amount
FROM unblinded.dose_products d JOIN unblinded.participant_arms a ON a.participant_id = d.participant_id
GROUP BY a.arm, d.participant_id, d.substance, d.unit;

-- PHQ-9 and MADRS totals over time, for the trajectories by arm (weeks since the first dose).
CREATE VIEW unblinded.dsmb_scores AS
SELECT a.arm, s.participant_id, s.instrument, s.total_score AS total,
       floor(extract(epoch FROM s.assessed_at - p.first_dose_at) / 604800)::int AS week
FROM monitoring.assessments s
JOIN unblinded.participant_arms a ON a.participant_id = s.participant_id
JOIN monitoring.participants p ON p.participant_id = s.participant_id
WHERE s.instrument IN ('phq9', 'madrs') AND s.total_score IS NOT NULL AND p.first_dose_at IS NOT NULL;

GRANT SELECT ON unblinded.dsmb_participants, unblinded.dsmb_adverse_events, unblinded.dsmb_exposure, unblinded.dsmb_scores
    TO trial_unblinded;
