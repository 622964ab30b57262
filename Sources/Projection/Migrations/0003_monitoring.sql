-- What monitors watch: the full read models, safety signals and drug accountability, recomputed per
-- participant from the archive. The arm lives apart, in `unblinded`. Derived tables are recreated and
-- refilled from the archive (projection.recompute_requests).

DROP TABLE monitoring.participants, monitoring.doses, monitoring.assessments;

CREATE SCHEMA unblinded;

CREATE INDEX events_site_idx ON audit.events (site_id) WHERE participant_id IS NULL;
CREATE INDEX events_study_idx ON audit.events (type) WHERE site_id IS NULL;

CREATE TABLE monitoring.participants (
    participant_id       text PRIMARY KEY,
    site_id              text NOT NULL,
    study_id             text NOT NULL,
    status               text NOT NULL CHECK (status IN ('screened', 'screen_failed', 'enrolled', 'withdrawn', 'completed')),
    protocol_version     text,
    screened_at          timestamptz,
    consented_at         timestamptz,
    enrolled_at          timestamptz,
    withdrawn_at         timestamptz,
    withdrawal_reason    text,
    completed_at         timestamptz,
    doses_administered   integer NOT NULL,
    doses_missed         integer NOT NULL,
    adherence_pct        numeric(5,1),
    current_dose         numeric,
    current_dose_unit    text,
    last_dose_at         timestamptz,
    baseline_phq9        integer, latest_phq9 integer, change_phq9 integer,
    baseline_madrs       integer, latest_madrs integer, change_madrs integer,
    baseline_gad7        integer, latest_gad7 integer, change_gad7 integer,
    baseline_qids_sr16   integer, latest_qids_sr16 integer, change_qids_sr16 integer,
    response             boolean,
    remission            boolean,
    unblinded_at         timestamptz,
    open_signals         integer NOT NULL
);
CREATE INDEX participants_site_idx ON monitoring.participants (site_id);

CREATE TABLE monitoring.doses (
    event_id         uuid PRIMARY KEY,
    participant_id   text NOT NULL,
    site_id          text NOT NULL,
    substance        text NOT NULL,
    amount           numeric NOT NULL,
    unit             text NOT NULL,
    route            text NOT NULL,
    supervised       boolean NOT NULL,
    lot              text,
    administered_by  text,
    witness          text,
    administered_at  timestamptz NOT NULL,
    protocol_version text,
    corrected        boolean NOT NULL,
    recorded_at      timestamptz NOT NULL,
    recorded_by      text NOT NULL
);
CREATE INDEX doses_participant_idx ON monitoring.doses (participant_id, administered_at);
CREATE INDEX doses_site_lot_idx ON monitoring.doses (site_id, lot);

CREATE TABLE monitoring.assessments (
    event_id        uuid PRIMARY KEY,
    participant_id  text NOT NULL,
    site_id         text NOT NULL,
    instrument      text NOT NULL,
    items           integer[] NOT NULL,
    total_score     integer,
    rater           text,
    assessed_at     timestamptz NOT NULL,
    corrected       boolean NOT NULL,
    recorded_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL
);
CREATE INDEX assessments_participant_idx ON monitoring.assessments (participant_id, instrument, assessed_at);

CREATE TABLE monitoring.vitals (
    event_id        uuid PRIMARY KEY,
    participant_id  text NOT NULL,
    site_id         text NOT NULL,
    systolic_mmhg   integer NOT NULL,
    diastolic_mmhg  integer NOT NULL,
    heart_rate_bpm  integer NOT NULL,
    temperature_c   numeric,
    time_point      text NOT NULL,
    measured_at     timestamptz NOT NULL,
    corrected       boolean NOT NULL,
    recorded_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL
);
CREATE INDEX vitals_participant_idx ON monitoring.vitals (participant_id, measured_at);

-- Current state after updates; the full history is in audit.events.
CREATE TABLE monitoring.adverse_events (
    event_id                 uuid PRIMARY KEY,
    participant_id           text NOT NULL,
    site_id                  text NOT NULL,
    term                     text NOT NULL,
    onset_at                 timestamptz NOT NULL,
    grade                    integer NOT NULL,
    serious                  boolean NOT NULL,
    seriousness_criteria     text[] NOT NULL,
    causality                text NOT NULL,
    action_taken             text NOT NULL,
    outcome                  text NOT NULL,
    resolved_at              timestamptz,
    reported_at              timestamptz NOT NULL,
    recorded_at              timestamptz NOT NULL,
    updates                  integer NOT NULL,
    sponsor_notification_due timestamptz
);
CREATE INDEX adverse_events_participant_idx ON monitoring.adverse_events (participant_id);

CREATE TABLE monitoring.deviations (
    event_id        uuid PRIMARY KEY,
    site_id         text NOT NULL,
    participant_id  text,
    category        text NOT NULL,
    severity        text NOT NULL,
    description     text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL
);
CREATE INDEX deviations_site_idx ON monitoring.deviations (site_id, participant_id);

-- Every movement of product, for accountability; administered amounts come from monitoring.doses.
CREATE TABLE monitoring.drug_movements (
    event_id        uuid PRIMARY KEY,
    site_id         text NOT NULL,
    participant_id  text,
    lot             text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('received', 'dispensed', 'returned', 'destroyed')),
    quantity        numeric NOT NULL,
    unit            text NOT NULL,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX drug_movements_site_idx ON monitoring.drug_movements (site_id, lot);

-- Per site and lot. balance = received - dispensed - destroyed - returned to the sponsor
-- + returned by participants; discrepancy when the balance is negative, more was administered than
-- dispensed, or a lot moves in more than one unit.
CREATE TABLE monitoring.drug_accountability (
    site_id                   text NOT NULL,
    lot                       text NOT NULL,
    unit                      text NOT NULL,
    received                  numeric NOT NULL,
    dispensed                 numeric NOT NULL,
    administered              numeric NOT NULL,
    returned_by_participants  numeric NOT NULL,
    returned_to_sponsor       numeric NOT NULL,
    destroyed                 numeric NOT NULL,
    balance                   numeric NOT NULL,
    discrepancy               boolean NOT NULL,
    discrepancy_reason        text,
    PRIMARY KEY (site_id, lot)
);

CREATE TABLE monitoring.safety_signals (
    signal_id          text PRIMARY KEY,
    participant_id     text,
    site_id            text NOT NULL,
    rule               text NOT NULL,
    severity           text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    trigger_event_id   text NOT NULL,
    trigger_occurred_at timestamptz NOT NULL,
    details            text NOT NULL,
    status             text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    acknowledged_by    text,
    acknowledged_at    timestamptz,
    deadline           timestamptz,
    resolution         text
);
CREATE INDEX safety_signals_participant_idx ON monitoring.safety_signals (participant_id);
CREATE INDEX safety_signals_site_idx ON monitoring.safety_signals (site_id, rule);

-- Last event received per site (the largest recorded_at: independent of arrival order).
CREATE TABLE monitoring.site_activity (
    site_id                text PRIMARY KEY,
    last_event_recorded_at timestamptz NOT NULL,
    events                 bigint NOT NULL
);

-- Protocol versions and their assessment schedules, for the read-time views.
CREATE TABLE monitoring.protocol_versions (
    protocol_version text NOT NULL,
    effective_from   timestamptz NOT NULL,
    event_id         uuid PRIMARY KEY,
    rules            jsonb NOT NULL
);

-- Corrections and voids of participant events, for the clinician's timeline (originals stay in audit.events).
CREATE TABLE monitoring.corrections (
    event_id         uuid PRIMARY KEY,
    participant_id   text NOT NULL,
    site_id          text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('corrected', 'voided')),
    target_event_id  uuid NOT NULL,
    target_type      text,
    reason           text NOT NULL,
    in_effect        boolean NOT NULL,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    recorded_by      text NOT NULL
);
CREATE INDEX corrections_participant_idx ON monitoring.corrections (participant_id);

CREATE TABLE unblinded.allocations (
    participant_id  text PRIMARY KEY,
    site_id         text NOT NULL,
    kit_number      text NOT NULL,
    arm             text NOT NULL,
    randomized_at   timestamptz NOT NULL,
    event_id        uuid NOT NULL
);

-- Read-time views: anything that depends on "now" is computed here, never stored.
CREATE VIEW monitoring.sites AS
SELECT s.site_id,
       count(p.*) FILTER (WHERE p.status = 'screened')      AS screened,
       count(p.*) FILTER (WHERE p.status = 'screen_failed') AS screen_failed,
       count(p.*) FILTER (WHERE p.status = 'enrolled')      AS enrolled,
       count(p.*) FILTER (WHERE p.status = 'withdrawn')     AS withdrawn,
       count(p.*) FILTER (WHERE p.status = 'completed')     AS completed,
       coalesce(sum(p.doses_administered), 0)               AS doses,
       (SELECT count(*) FROM monitoring.adverse_events a WHERE a.site_id = s.site_id AND a.resolved_at IS NULL
            AND a.outcome NOT IN ('recovered', 'recovered_with_sequelae', 'fatal')) AS open_adverse_events,
       (SELECT count(*) FROM monitoring.safety_signals g WHERE g.site_id = s.site_id AND g.status = 'open') AS open_signals,
       s.last_event_recorded_at
FROM monitoring.site_activity s
LEFT JOIN monitoring.participants p ON p.site_id = s.site_id
GROUP BY s.site_id, s.last_event_recorded_at;

CREATE VIEW monitoring.participant_activity AS
SELECT participant_id, site_id, status, last_dose_at,
       floor(extract(epoch FROM now() - last_dose_at) / 86400)::integer AS days_since_last_dose
FROM monitoring.participants;

-- Serious adverse events and their 24 h sponsor-notification deadline, as of now.
CREATE VIEW monitoring.sae_deadlines AS
SELECT g.signal_id, g.participant_id, g.site_id, g.trigger_event_id AS adverse_event_id, g.deadline, g.status,
       g.status = 'open' AND now() > g.deadline AS past_deadline,
       round(extract(epoch FROM g.deadline - now()) / 3600, 1) AS hours_left
FROM monitoring.safety_signals g
WHERE g.rule = 'serious_adverse_event' AND g.status <> 'resolved';

-- Assessments due under the participant's protocol version and not done within the window, as of now.
CREATE VIEW monitoring.overdue_assessments AS
WITH schedule AS (
    SELECT DISTINCT ON (v.protocol_version, s.instrument) v.protocol_version, s.instrument,
           (s.item ->> 'every_days')::integer AS every_days, (s.item ->> 'window_days')::integer AS window_days
    FROM monitoring.protocol_versions v
    CROSS JOIN LATERAL (SELECT e AS item, e ->> 'instrument' AS instrument
                        FROM jsonb_array_elements(v.rules -> 'assessment_schedule') e) s
    ORDER BY v.protocol_version, s.instrument, v.effective_from DESC
)
SELECT p.participant_id, p.site_id, sc.instrument, last.assessed_at AS last_assessed_at,
       coalesce(last.assessed_at, p.enrolled_at) + make_interval(days => sc.every_days) AS due_at,
       floor(extract(epoch FROM now() - (coalesce(last.assessed_at, p.enrolled_at)
             + make_interval(days => sc.every_days + sc.window_days))) / 86400)::integer + 1 AS days_overdue
FROM monitoring.participants p
JOIN schedule sc ON sc.protocol_version = p.protocol_version
LEFT JOIN LATERAL (SELECT max(a.assessed_at) AS assessed_at FROM monitoring.assessments a
                   WHERE a.participant_id = p.participant_id AND a.instrument = sc.instrument) last ON true
WHERE p.status = 'enrolled'
  AND now() > coalesce(last.assessed_at, p.enrolled_at) + make_interval(days => sc.every_days + sc.window_days);

-- Ask the projector to recompute every read model from the archive.
CREATE TABLE projection.recompute_requests (requested_at timestamptz NOT NULL DEFAULT now(), reason text NOT NULL);
INSERT INTO projection.recompute_requests (reason) VALUES ('0003_monitoring: new read models');

-- Monitors' acknowledgements of site signals (accountability), from signal.acknowledged without a participant.
CREATE TABLE monitoring.site_acknowledgements (
    site_id         text NOT NULL,
    signal_id       text NOT NULL,
    acknowledged_by text NOT NULL,
    acknowledged_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, signal_id)
);
