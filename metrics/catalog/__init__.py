"""The metrics catalog: the metrics of a project (custom ones, and the auto metrics of
every event name), what each computes per unit, and their pages and console API
(docs/metrics.md). `services` writes, `selectors` and `series` read, `validation` holds
the rules of a metric, `documents` its Console API shape."""
