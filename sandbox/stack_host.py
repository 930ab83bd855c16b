"""The host name a component of the local stack reports (``[core] hostname_callable``).

On one machine every process has the same host name; compose and Kubernetes give each worker its
own. `make stack` sets ``PLATFORM_OPS_STACK_HOSTNAME`` per Celery worker, so a task instance's
``hostname`` tells which worker ran it, as it would in production.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("PLATFORM_OPS_STACK_HOSTNAME") or socket.getfqdn()
