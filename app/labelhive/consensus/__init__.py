"""Consensus: a project's answers aggregated into labels, confidence, annotator quality and
agreement (pure), stored a batch at a time, recomputed by one job per project; gold tasks and
adaptive redundancy. Below the web layer: no view and nothing of the API is imported here."""
