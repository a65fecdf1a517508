"""Statsig download_config_specs (DCS): hashing and an SDK-exact evaluator (no Django)."""
