-- The safety gauges `reporter watch` computes at each scrape of its admin port (trial_sae_report_due_seconds,
-- trial_signal_unacknowledged_seconds) read only open signals: partial indexes keep those queries proportional to the
-- open signals, however many acknowledged and resolved ones the table holds.
CREATE INDEX safety_signals_open_deadline_idx ON monitoring.safety_signals (rule, deadline) WHERE status = 'open';
CREATE INDEX safety_signals_open_age_idx ON monitoring.safety_signals (severity, trigger_occurred_at) WHERE status = 'open';
