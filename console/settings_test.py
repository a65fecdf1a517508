"""Test settings: only speed and isolation knobs differ from console.settings."""

import os

from .settings import *  # noqa: F403
from .settings import CACHES, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# One Redis logical DB per xdist worker (no xdist -> base, gw0 -> base + 1, ...), so flushing
# is private. TEST_REDIS_DB_BASE lets runs side by side on one machine use separate DBs.
_base = int(os.environ.get("TEST_REDIS_DB_BASE", "1"))
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1").removeprefix("gw")
_redis_db = _base + int(_worker) + 1 if _worker.lstrip("-").isdigit() else _base
TEST_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + f"/{_redis_db}"
CACHES = {"default": {**CACHES["default"], "LOCATION": TEST_REDIS_URL}}
CELERY_BROKER_URL = TEST_REDIS_URL
GATEHOUSE_SPEC_REDIS_URL = TEST_REDIS_URL
GATEHOUSE_SPEC_FRAGMENT_REDIS_URL = TEST_REDIS_URL
