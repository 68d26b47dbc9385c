"""Exit 0 when this container's service answers ``GET /healthz`` with 200, else 1.

The image's HEALTHCHECK runs it. It probes the worker's metrics port when
``SERVICE_METRICS_BIND`` is set (a worker-only container), else the HTTP server's
``SERVICE_BIND``. Standard library only: it runs beside the service, not inside it.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def probe_url(environ: dict[str, str]) -> str:
    bind = environ.get("SERVICE_METRICS_BIND") or environ.get("SERVICE_BIND") or "127.0.0.1:8000"
    host, _, port = bind.rpartition(":")
    host = "127.0.0.1" if host in WILDCARDS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    url = probe_url(dict(os.environ))
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            status = response.status
    except (OSError, urllib.error.URLError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
