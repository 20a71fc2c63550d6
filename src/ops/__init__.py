"""Operating a deployed or local pipeline: status, reconciliation, replay, quarantine
inspection, the warehouse report, and the handler invoker (``ops.runner``) that plays the
schedule and S3 notifications. Used by the ``totes`` CLI against the local stack or a
real account; never shipped to Lambda; never imports ``local``."""
