-- Corrections and voids are applied only to an event with the same study, site and participant (and, when
-- they say, the same type). One that changes nothing is shown, never dropped: a row in monitoring.corrections
-- with its refusal, and an `invalid_correction` signal. Changes of a site's own events and of the study's
-- events are listed too, so their rows have no participant (site events) or no site either (study events);
-- a signal about the study's own events has no site.
ALTER TABLE monitoring.corrections ALTER COLUMN participant_id DROP NOT NULL;
ALTER TABLE monitoring.corrections ALTER COLUMN site_id DROP NOT NULL;
ALTER TABLE monitoring.corrections ADD COLUMN refusal text;
ALTER TABLE monitoring.safety_signals ALTER COLUMN site_id DROP NOT NULL;
CREATE INDEX corrections_site_idx ON monitoring.corrections (site_id) WHERE participant_id IS NULL;

INSERT INTO projection.recompute_requests (reason) VALUES ('0007_refused_changes: corrections are checked against their target');

-- Nothing a monitor reads may reveal the arm. With an active placebo (caffeine, in mg, beside LSD in µg) the
-- product given, its amount, unit, route and lot do, and so does which lot a participant was dispensed. They
-- move to the unblinded schema (the unblinded pharmacist and statistician); monitoring keeps that a dose was
-- given, when, by whom, supervised or not. Accountability, which reconciles lots and amounts, is kept by
-- the unblinded pharmacy monitor, as in any double-blind trial.
CREATE TABLE unblinded.dose_products (
    event_id        uuid PRIMARY KEY,
    participant_id  text NOT NULL,
    site_id         text NOT NULL,
    substance       text NOT NULL,
    amount          numeric NOT NULL,
    unit            text NOT NULL,
    route           text NOT NULL,
    lot             text,
    administered_at timestamptz NOT NULL
);
CREATE INDEX dose_products_participant_idx ON unblinded.dose_products (participant_id);
CREATE INDEX dose_products_site_lot_idx ON unblinded.dose_products (site_id, lot);
ALTER TABLE monitoring.doses DROP COLUMN substance, DROP COLUMN amount, DROP COLUMN unit, DROP COLUMN route, DROP COLUMN lot;
ALTER TABLE monitoring.participants DROP COLUMN current_dose, DROP COLUMN current_dose_unit;

ALTER TABLE monitoring.drug_movements SET SCHEMA unblinded;
ALTER TABLE monitoring.drug_accountability SET SCHEMA unblinded;
REVOKE ALL ON unblinded.drug_movements, unblinded.drug_accountability FROM trial_monitor, trial_auditor;
GRANT SELECT ON unblinded.drug_movements, unblinded.drug_accountability, unblinded.dose_products TO trial_unblinded;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON unblinded.dose_products TO trial_projector;
