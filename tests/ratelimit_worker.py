"""One OS process of the cross-process rate-limit tests (tests/test_net_ratelimit_processes.py).

    python tests/ratelimit_worker.py send N READY GO    N requests to the NASDAQ calendar
    python tests/ratelimit_worker.py paused             print the seconds the NASDAQ host is paused

Settings come from the environment the test gives it (simulator, database or
Redis, rates). Like every job, it connects to the database before fetching,
which is what makes the limiter share its state there. `send` touches READY
when set up, and starts when GO exists, so all senders overlap.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CALENDAR = "https://api.nasdaq.com/api/calendar/dividends"


def main(argv: list[str]) -> int:
    from divpipe import net
    from divpipe.errors import FetchError
    from divpipe.net import ratelimit

    if os.environ.get("DATABASE_URL"):
        from divpipe.db.connect import connect

        connect().close()
    http = net.client("nasdaq")
    if argv[0] == "paused":
        print(json.dumps({"paused": ratelimit.bucket_for("api.nasdaq.com").paused_for()}))
        return 0
    count, ready, go = int(argv[1]), Path(argv[2]), Path(argv[3])
    ready.touch()
    while not go.exists():
        time.sleep(0.01)
    statuses = []
    for _ in range(count):
        try:
            statuses.append(http.get(CALENDAR, params={"date": "2024-01-02"}).status)
        except FetchError as err:
            statuses.append(err.status)
    print(json.dumps({"statuses": statuses, "store": ratelimit.bucket_for("api.nasdaq.com").store.name}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
