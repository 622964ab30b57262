-- Saved fold states in the compact binary form (`CompactCoding`) instead of JSON text: encoding every touched
-- participant's state as JSON was the largest cost of a batch while streaming, and a 4 KB text was compressed on
-- every save. States are a cache of the archive: the JSON ones are dropped, and each participant is folded from the
-- archive once, on their next event.
DELETE FROM projection.participant_folds;
ALTER TABLE projection.participant_folds ALTER COLUMN state TYPE bytea USING NULL;
-- Small and rewritten often: stored as written, never compressed (most fit in the row).
ALTER TABLE projection.participant_folds ALTER COLUMN state SET STORAGE EXTERNAL;
