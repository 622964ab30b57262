-- Issue 17 (exports): the SDTM DM domain needs each participant's age and sex as screening recorded them (the latest
-- screening, corrections applied). Neither reveals the arm. Refilled from the archive by a recompute.
ALTER TABLE monitoring.participants ADD COLUMN age integer, ADD COLUMN sex text;

INSERT INTO projection.recompute_requests (reason) VALUES ('0027_demographics: age and sex for the SDTM DM domain');
