-- Schedule I chain of custody per dose and per count (issue 14). Everything here that names a lot, a quantity or a
-- unit is in `unblinded` (they reveal the arm); monitors see only the signals, whose details name none of them.

-- drug.lost books a theft or loss at its discovery; a receipt keeps its expiry date (what a dose is judged against).
ALTER TABLE unblinded.drug_movements DROP CONSTRAINT drug_movements_kind_check;
ALTER TABLE unblinded.drug_movements
    ADD CONSTRAINT drug_movements_kind_check CHECK (kind IN ('received', 'dispensed', 'returned', 'destroyed', 'lost')),
    ADD COLUMN expires_on date;
ALTER TABLE unblinded.drug_accountability ADD COLUMN lost numeric NOT NULL DEFAULT 0;
-- The site's own calendar day of a dose (the date of its occurred_at as written), compared with a lot's expires_on.
ALTER TABLE unblinded.dose_products ADD COLUMN administered_on date;
CREATE INDEX dose_products_site_idx ON unblinded.dose_products (site_id);

-- drug.counted, with the lot's computed balance as of the count (written when the lot is judged, `LotCustody`).
CREATE TABLE unblinded.drug_counts (
    event_id          uuid PRIMARY KEY,
    site_id           text NOT NULL,
    lot               text NOT NULL,
    counted           numeric NOT NULL,
    unit              text NOT NULL,
    counted_by        text NOT NULL,
    witnessed_by      text NOT NULL,
    counted_at        timestamptz NOT NULL,
    expected_balance  numeric,
    discrepancy       text
);
CREATE INDEX drug_counts_site_lot_idx ON unblinded.drug_counts (site_id, lot);

-- Which lot each custody signal (expired_lot_used, undispensed_lot_used, inventory_discrepancy) was judged under, so
-- judging a lot again replaces exactly its signals; kept out of monitoring.safety_signals, which must not name a lot.
CREATE TABLE unblinded.custody_signals (
    signal_id  text PRIMARY KEY,
    site_id    text NOT NULL,
    lot        text NOT NULL
);
CREATE INDEX custody_signals_site_lot_idx ON unblinded.custody_signals (site_id, lot);

-- Per participant and lot: dispensed − administered − returned, next to the per-lot accountability. A dose in another
-- unit than the lot's is not summed here (unit_mismatch_doses counts it; accountability_discrepancy flags the lot).
CREATE VIEW unblinded.participant_accountability AS
WITH movements AS (
    -- One row per participant and lot (a lot in two units is an accountability_discrepancy already).
    SELECT site_id, participant_id, lot, min(unit) AS unit,
           coalesce(sum(quantity) FILTER (WHERE kind = 'dispensed'), 0) AS dispensed,
           coalesce(sum(quantity) FILTER (WHERE kind = 'returned'), 0) AS returned
    FROM unblinded.drug_movements WHERE participant_id IS NOT NULL
    GROUP BY site_id, participant_id, lot
), doses AS (
    SELECT site_id, participant_id, lot, unit, sum(amount) AS administered, count(*) AS doses
    FROM unblinded.dose_products WHERE lot IS NOT NULL
    GROUP BY site_id, participant_id, lot, unit
), keys AS (
    SELECT site_id, participant_id, lot FROM movements UNION SELECT site_id, participant_id, lot FROM doses
)
SELECT k.site_id, k.participant_id, k.lot,
       coalesce(m.unit, min(d.unit)) AS unit,
       coalesce(m.dispensed, 0) AS dispensed,
       coalesce(sum(d.administered) FILTER (WHERE m.unit IS NULL OR d.unit = m.unit), 0) AS administered,
       coalesce(m.returned, 0) AS returned,
       coalesce(m.dispensed, 0) - coalesce(sum(d.administered) FILTER (WHERE m.unit IS NULL OR d.unit = m.unit), 0)
           - coalesce(m.returned, 0) AS balance,
       coalesce(sum(d.doses), 0) AS doses,
       coalesce(sum(d.doses) FILTER (WHERE m.unit IS NOT NULL AND d.unit <> m.unit), 0) AS unit_mismatch_doses
FROM keys k
LEFT JOIN movements m USING (site_id, participant_id, lot)
LEFT JOIN doses d USING (site_id, participant_id, lot)
GROUP BY k.site_id, k.participant_id, k.lot, m.unit, m.dispensed, m.returned;

-- Per site: doses that name no lot (v1 allowed that) are unaccounted: no lot's balance can include them.
CREATE VIEW unblinded.site_custody AS
SELECT site_id, count(*) AS doses, count(*) FILTER (WHERE lot IS NULL) AS unaccounted_doses,
       count(DISTINCT participant_id) FILTER (WHERE lot IS NULL) AS participants_with_unaccounted_doses
FROM unblinded.dose_products GROUP BY site_id;

-- The DEA notification of each theft or loss (21 CFR 1301.76(b)), as of now: the deadline is a fact of the event (the
-- signal's), whether it has passed is decided here at read time. Names no lot, quantity or unit.
CREATE VIEW monitoring.drug_loss_notifications AS
SELECT s.signal_id, s.site_id, s.trigger_event_id AS event_id, s.trigger_occurred_at AS discovered_at,
       s.deadline AS notification_due, s.status, s.acknowledged_by, s.acknowledged_at,
       s.status = 'open' AND now() > s.deadline AS overdue,
       floor(extract(epoch FROM s.deadline - now()) / 3600)::integer AS hours_left
FROM monitoring.safety_signals s WHERE s.rule = 'drug_loss';

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON unblinded.drug_counts, unblinded.custody_signals TO trial_projector;
GRANT SELECT ON unblinded.drug_counts, unblinded.custody_signals, unblinded.participant_accountability, unblinded.site_custody
    TO trial_unblinded;
REVOKE ALL ON unblinded.drug_counts, unblinded.custody_signals, unblinded.participant_accountability, unblinded.site_custody
    FROM trial_monitor, trial_auditor;
GRANT SELECT ON monitoring.drug_loss_notifications TO trial_monitor, trial_auditor;

INSERT INTO projection.recompute_requests (reason) VALUES ('0022_chain_of_custody: lot expiry, losses, counts and custody signals');
