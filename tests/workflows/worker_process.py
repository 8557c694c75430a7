"""The q2c worker as a separate OS process (`python worker.py`), for tests that kill it.

A worker killed with SIGKILL gets no chance to finish anything: the HTTP requests it has sent
stay in flight at the vendor, its activity attempts stay "started" on the Temporal server, and
the workflows it cached stay sticky to its task queue. `WorkerProcess` starts and kills such a
process; `tell_server_worker_died` then does what Temporal would otherwise only do after the
activity's start-to-close timeout (60 s) and the sticky queue's schedule-to-start timeout
(10 s): fail the attempts the dead worker held, so they are retried at once on a new worker,
and send the workflow's next task to the shared task queue.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

REPO = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = REPO / "worker.py"
STOP_TIMEOUT = 5.0


@dataclass
class WorkerProcess:
    """`python worker.py` with a given environment; each `start` is a new process and log."""

    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def identity(self) -> str:
        """The worker identity Temporal records on what this process started (SDK default)."""
        assert self.process is not None, "the worker is not running"
        return f"{self.process.pid}@{socket.gethostname()}"

    def start(self) -> None:
        """Start a new worker process, in the log directory (so no developer `.env` leaks in)."""
        assert self.process is None or self.process.poll() is not None, "a worker is running"
        log = self.log_dir / f"worker-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT)],
                cwd=self.log_dir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> str:
        """SIGKILL the running worker (no shutdown at all) and return its identity."""
        assert self.process is not None and self.process.poll() is None, "no worker to kill"
        identity = self.identity
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        return identity

    def stop(self) -> None:
        """Leave no process behind: SIGTERM (a clean stop), then SIGKILL if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def check_alive(self) -> None:
        """Fail with the worker's log when it exited on its own (bad settings, a crash)."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"the worker exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        if not self.logs or not self.logs[-1].exists():
            return "(no worker log)"
        text = self.logs[-1].read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def started_by(
    description: WorkflowExecutionDescription, identity: str
) -> list[PendingActivityInfo]:
    """The workflow's activity attempts running on the worker with this identity."""
    return [
        pending
        for pending in description.raw_description.pending_activities
        if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        and pending.last_worker_identity == identity
    ]


async def tell_server_worker_died(
    client: Client, workflow_id: str, run_id: str, held: list[PendingActivityInfo]
) -> None:
    """Fail the attempts a killed worker held and unstick the workflow from its task queue.

    An attempt that finished meanwhile (not found) needs nothing. The failure is retryable, so
    the workflow's retry policy schedules the next attempt as if a heartbeat had timed out.
    """
    for pending in held:
        handle = client.get_async_activity_handle(
            workflow_id=workflow_id, run_id=run_id, activity_id=pending.activity_id
        )
        try:
            await handle.fail(
                ApplicationError(
                    f"worker {pending.last_worker_identity} was killed during attempt "
                    f"{pending.attempt}",
                    type="WorkerKilled",
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    await client.workflow_service.reset_sticky_task_queue(
        ResetStickyTaskQueueRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )
