-- The full event catalogue: study-wide events have no site; the C-SSRS screener has no total.
ALTER TABLE audit.events ALTER COLUMN site_id DROP NOT NULL;
ALTER TABLE monitoring.assessments ALTER COLUMN total_score DROP NOT NULL;
