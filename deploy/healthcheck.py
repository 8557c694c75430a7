"""Container health checks for the q2c image: `python healthcheck.py worker|webhook`.

`worker`: this container's worker is polling its task queue. Temporal lists the pollers it has
seen on a task queue with their identities; the SDK's default identity is `<pid>@<hostname>`,
and a container's hostname is its own, so a poller of this host seen recently means this
container's worker holds a live connection to Temporal and is asking for work (a worker whose
connection broke, or that hangs, stops polling). Settings as the worker reads them
(`temporalio.envconfig`, Q2C_TASK_QUEUE).

`webhook`: the receiver answers `GET /healthz` on Q2C_WEBHOOK_PORT.

Exit status 0 when healthy, 1 otherwise (with one line saying why), as Docker expects.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sys
import urllib.request
from collections.abc import Iterable

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

# Workers long-poll for about a minute when the queue is idle; a poll is recorded when it starts.
POLLER_FRESHNESS = dt.timedelta(seconds=150)
QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def pollers(client: Client, task_queue: str) -> list[PollerInfo]:
    """Every poller Temporal has seen recently on the task queue (workflow and activity)."""
    found: list[PollerInfo] = []
    for queue_type in QUEUE_TYPES:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=queue_type,
            )
        )
        found.extend(response.pollers)
    return found


def polling_hosts(
    found: Iterable[PollerInfo], now: dt.datetime, freshness: dt.timedelta = POLLER_FRESHNESS
) -> dict[str, set[str]]:
    """Identity host (after the `@`) → the identities of that host seen within `freshness`."""
    hosts: dict[str, set[str]] = {}
    for poller in found:
        seen = poller.last_access_time.ToDatetime(tzinfo=dt.UTC)
        if now - seen <= freshness and "@" in poller.identity:
            hosts.setdefault(poller.identity.rsplit("@", 1)[1], set()).add(poller.identity)
    return hosts


async def worker_healthy(host: str) -> str | None:
    """None when a worker of `host` polls the task queue, else the reason it is not healthy."""
    from adapters import temporal_client
    from adapters.settings import ConfigError, get_settings

    try:
        settings = get_settings()
        client = await temporal_client.connect()
        found = await pollers(client, settings.task_queue)
    except (ConfigError, RuntimeError) as exc:
        return str(exc)
    hosts = polling_hosts(found, dt.datetime.now(dt.UTC))
    if host not in hosts:
        return f"no worker of {host} polls task queue {settings.task_queue!r}"
    return None


def webhook_healthy(timeout: float = 3.0) -> str | None:
    """None when the receiver answers /healthz with 200, else why not."""
    from adapters.settings import get_settings

    url = f"http://127.0.0.1:{get_settings().webhook_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except OSError as exc:
        return f"{url}: {exc}"
    return None if status == 200 else f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else ""
    if role == "worker":
        problem = asyncio.run(worker_healthy(socket.gethostname()))
    elif role == "webhook":
        problem = webhook_healthy()
    else:
        print("usage: healthcheck.py worker|webhook", file=sys.stderr)
        return 2
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
