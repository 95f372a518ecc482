"""Helpers for tests that drive Workloads (and the gateway) on an event loop in a thread.

As in the sandbox, the Workloads run on an event loop in a background thread; the
tests call into it synchronously, wait on the statuses it reports and on process
exits, with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kn_walk.sandbox.node.workloads import RevisionWorkload, RuntimeStatus

T = TypeVar("T")
HELLOWORLD = "gcr.io/knative-samples/helloworld-go"


class LoopThread:
    """An event loop in a thread, like the sandbox's, driven from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def call() -> T:
            return fn(*args)

        return self.run(call())

    def close(self) -> None:
        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class StatusLog:
    """Collects on_status reports; tests wait for one that matches."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: list[tuple[str, str, RuntimeStatus]] = []

    def __call__(self, namespace: str, name: str, status: RuntimeStatus) -> None:
        with self.cond:
            self.events.append((namespace, name, status))
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.events)

    def wait(
        self,
        name: str,
        match: Callable[[RuntimeStatus], bool],
        since: int = 0,
        timeout: float = 20.0,
    ) -> RuntimeStatus:
        """The first status of ``name`` reported after ``since`` that ``match`` accepts."""
        found: list[RuntimeStatus] = []

        def check() -> bool:
            for _, n, status in self.events[since:]:
                if n == name and match(status):
                    found.append(status)
                    return True
            return False

        with self.cond:
            if not self.cond.wait_for(check, timeout):
                seen = [(n, s) for _, n, s in self.events if n == name]
                raise AssertionError(f"no matching status for {name}; reported: {seen}")
        return found[0]


def ready(status: RuntimeStatus) -> bool:
    return status.ready is True and status.reason == "" and status.actual_replicas == 1


def wait_pid_gone(pid: int, timeout: float = 15.0) -> bool:
    """Wait (on a pidfd) until ``pid`` has exited; it need not be our child."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def revision(
    name: str, target: str, image: str = HELLOWORLD, container_port: int | None = 8080
) -> RevisionWorkload:
    """A Revision of the walkthrough's helloworld-go Service, in ``default``."""
    return RevisionWorkload(
        namespace="default",
        name=name,
        uid=f"uid-{name}",
        image=image,
        env=(("TARGET", target),),
        container_port=container_port,
        timeout_seconds=30,
        configuration="helloworld-go",
        service="helloworld-go",
    )
