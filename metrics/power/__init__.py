"""The power calculator: a metric's per-unit mean and variance over 1 to 4 weeks of a
population's units, and the minimum detectable effect those give (docs/metrics.md, "Power")."""
