-- Saved fold states in the compact binary form (`CompactCoding`) instead of JSON text: encoding every touched
-- participant's state as JSON was the largest cost of a batch while streaming, and a 4 KB text was compressed on
-- every save. States are a cache of the archive: the JSON ones are dropped, and each participant is folded from the
-- archive once, on their next event.
DELETE FROM projection.participant_folds;
ALTER TABLE projection.participant_folds ALTER COLUMN state TYPE bytea USING NULL;
-- Rewritten with every batch that touches the participant: compressed with lz4 where the server has it (much
-- cheaper than the default pglz), so most states stay in the row instead of going to the TOAST table.
DO $$
BEGIN
    ALTER TABLE projection.participant_folds ALTER COLUMN state SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not built into this server; fold states keep the default compression';
END $$;
