-- The chain_seq a participant's rows were last written at (issue 13: a projector saves a participant's fold state only
-- every few batches and keeps the newer one in memory). A saved state stands for the rows only while
-- through_seq = rows_seq; otherwise the projector that wrote them uses its own newer state, and anyone else folds
-- the participant from the archive.
ALTER TABLE projection.participant_folds ADD COLUMN rows_seq bigint;
UPDATE projection.participant_folds SET rows_seq = through_seq;
ALTER TABLE projection.participant_folds ALTER COLUMN rows_seq SET NOT NULL;
