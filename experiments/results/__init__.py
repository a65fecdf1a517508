"""Experiment results: computing them (compute), refreshing them (services), showing them
(present), as stored JSON (payload). docs/results.md."""
