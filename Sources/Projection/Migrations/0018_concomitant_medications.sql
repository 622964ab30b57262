-- Concomitant medications (issue 19): each medication as it stands (medication.started, its latest
-- medication.changed, its stop), current and past, per participant. Dates are calendar dates as the site records
-- them. `classes` says what the protocol in force at the start makes of it (contraindicated, serotonergic,
-- antidepressant). Nothing here reveals the study arm.
CREATE TABLE monitoring.concomitant_medications (
    medication_id   uuid PRIMARY KEY,
    participant_id  text NOT NULL,
    site_id         text NOT NULL,
    name            text NOT NULL,
    atc_code        text NOT NULL,
    dose            numeric NOT NULL,
    unit            text NOT NULL,
    frequency       text NOT NULL,
    indication      text NOT NULL,
    started_on      date NOT NULL,
    stopped_on      date,
    stop_reason     text,
    status          text NOT NULL GENERATED ALWAYS AS (CASE WHEN stopped_on IS NULL THEN 'current' ELSE 'stopped' END) STORED,
    changes         integer NOT NULL,
    classes         text[] NOT NULL,
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX concomitant_medications_participant_idx ON monitoring.concomitant_medications (participant_id);

-- A deviation a rule found in the record (antidepressant_change when the protocol requires a stable dose) names the
-- rule; a deviation a site reported has none.
ALTER TABLE monitoring.deviations ADD COLUMN detected_by text;

INSERT INTO projection.recompute_requests (reason)
VALUES ('0018_concomitant_medications: concomitant medications, their rules and the deviations they detect');
