"""Publishing: ruleset versions, immutable config specs, the push to Redis for the SDKs'
data stores, and the read path of the SDK endpoints (console/sdk_views.py).

Write path: services.spec_publish (web, commands, later change-set apply) records the specs
and enqueues tasks.config_spec_push_task on commit; only Celery workers write to Redis
(store.push_spec); web processes only read (store.read_*), falling back to the database.
"""
