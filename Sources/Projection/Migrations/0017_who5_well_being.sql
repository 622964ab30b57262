-- WHO-5 Well-Being Index (issue 19): baseline, latest and change of the raw score (0-25; the percentage score is
-- raw × 4; higher is better, so a positive change is an improvement, unlike the symptom scales). The fold code
-- changed (ParticipantFold.codeVersion), so saved states are folded again; every participant's rows are recomputed.
ALTER TABLE monitoring.participants
    ADD COLUMN baseline_who5 integer,
    ADD COLUMN latest_who5 integer,
    ADD COLUMN change_who5 integer;
INSERT INTO projection.recompute_requests (reason) VALUES ('0017_who5_well_being: WHO-5 scores in monitoring.participants');
