import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_application = get_wsgi_application()

from console.sdk_poll import PollShortcut  # noqa: E402 (needs the apps loaded)

# SDK polls with a current sinceTime are answered ahead of Django (console/sdk_poll.py).
application = PollShortcut(django_application)

# The cyclic garbage collector, left at its defaults, walked the whole heap (Django, the
# user-agent parser's regexes, caches) every few event batches: pauses of 60 to 90 ms, all
# of the intake's p99 (1,000 events make some 20,000 containers). What the loaded
# application holds is frozen out of its passes, and a young pass runs per 20,000 new
# containers instead of 700 (docs/events.md, "Speed").
gc.collect()
gc.freeze()
gc.set_threshold(20_000, 50, 100)
