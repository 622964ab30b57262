-- Issue 13: the archive's wide columns out of ANALYZE. No statement filters or joins on the envelope, its JSON, its digest
-- or its chain hash by value (`data ->> ...` predicates use their expression indexes' own statistics), yet ANALYZE read
-- and measured them for every sampled row: an automatic analyze of a growing archive took ~0.4 s of CPU, half of it for
-- these columns, and stalled the projector's batches on a small machine while it ran.
ALTER TABLE audit.events
    ALTER COLUMN envelope SET STATISTICS 0,
    ALTER COLUMN data SET STATISTICS 0,
    ALTER COLUMN chain_hash SET STATISTICS 0,
    ALTER COLUMN envelope_sha256 SET STATISTICS 0;
