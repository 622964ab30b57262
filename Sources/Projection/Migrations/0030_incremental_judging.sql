-- Issue 13: judging in proportion to what changed. The randomization read models: blinded doses are judged per participant as
-- their rows are refreshed (no longer by a recompute of the whole study per batch), so what the judging reads is found
-- by index: an acknowledgement by the signal it names, a participant's kit by its holder, and the voids the allocation
-- reads (with events_randomization_idx and events_participation_idx, migration 0029) without a scan of the archive.
CREATE INDEX IF NOT EXISTS events_acknowledgement_idx ON audit.events ((data ->> 'signal_id')) WHERE type = 'signal.acknowledged';
CREATE INDEX IF NOT EXISTS events_void_idx ON audit.events (chain_seq) WHERE type = 'event.voided';
CREATE INDEX IF NOT EXISTS randomization_kits_holder_idx ON unblinded.randomization_kits (assigned_to) WHERE assigned_to IS NOT NULL;

-- A catch-up defers what the randomization read models owe like the rest (migration 0006): the allocation, the blinding
-- assessments, and the doses of a participant whose dose signal was acknowledged (key: the signal).
ALTER TABLE projection.pending_refresh DROP CONSTRAINT pending_refresh_kind_check;
ALTER TABLE projection.pending_refresh ADD CONSTRAINT pending_refresh_kind_check
    CHECK (kind IN ('participant', 'site', 'protocols', 'randomization', 'blinding', 'dose_signal'));

-- Custody judging reads a batch's participants' movements and a lot's receipts by index (not every movement of the lot),
-- and a participant folded again has their movements deleted by index.
CREATE INDEX IF NOT EXISTS drug_movements_participant_idx ON unblinded.drug_movements (participant_id);
CREATE INDEX IF NOT EXISTS drug_movements_receipts_idx ON unblinded.drug_movements (site_id, lot) WHERE kind = 'received';

-- A catch-up an older projector left unfinished owes its 'randomization' refresh, which then also meant the blinding
-- assessments and the acknowledgements of dose signals (its participants' doses are judged with their owed refresh).
INSERT INTO projection.pending_refresh (kind, key)
SELECT 'blinding', '' FROM projection.pending_refresh WHERE kind = 'randomization' ON CONFLICT DO NOTHING;
INSERT INTO projection.pending_refresh (kind, key)
SELECT DISTINCT 'dose_signal', data ->> 'signal_id' FROM audit.events
WHERE type = 'signal.acknowledged'
  AND (data ->> 'signal_id' LIKE 'dose_kit_mismatch:%' OR data ->> 'signal_id' LIKE 'blinded_label_unknown:%')
  AND EXISTS (SELECT 1 FROM projection.pending_refresh WHERE kind = 'randomization')
ON CONFLICT DO NOTHING;
