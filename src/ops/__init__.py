"""Operating the pipeline: status, reconciliation, replay, quarantine inspection and the
warehouse report. Used by the ``totes`` CLI against the local stack or a real account;
never shipped to Lambda."""
