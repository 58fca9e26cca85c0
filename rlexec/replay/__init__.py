"""Replay of the audit trail: re-simulate stored episodes (``episode``), load logged decisions
in bulk (``log``) and score them under a candidate policy (``evaluate``)."""
