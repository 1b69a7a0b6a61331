"""Run tags the automation sets, so alerts and the UI can say what started a run."""

TRIGGER_TAG = "finance/trigger"
"""What started a run: ``landing``, ``schedule``, ``cli``."""
BATCH_TAG = "finance/batch"
"""The landing sensor's batch: every run requested for one set of changed drop folders."""
