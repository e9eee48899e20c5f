"""The experiment readout: config (experiments.yml), queries (pushed-down aggregates from the
marts), validation, the readout itself (estimates and decisions) and its report (text, JSON,
HTML). It reads the warehouse and runs stats; nothing below it imports it."""
