-- Drug accountability is kept up to date by adding each batch's movements and doses to the lot's row
-- (`LotAccountability`, pure domain code) instead of summing the whole site again: the row also keeps what that
-- needs, the units recorded for the lot and its latest movement.
ALTER TABLE unblinded.drug_accountability
    ADD COLUMN movement_units         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN dose_units             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN last_movement_at       timestamptz,
    ADD COLUMN last_movement_event_id uuid;
INSERT INTO projection.recompute_requests (reason) VALUES ('0012_accountability_state: accountability rows keep their units and latest movement');
