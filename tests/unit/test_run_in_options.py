"""``TaskOptions(run_in=...)``: what registration refuses, and ``run_task`` on a sync task."""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest
from support.run_in_tasks import Digest, Spin, Square

from service.jobs import (
    InvalidTask,
    JobContext,
    ServiceError,
    SQLiteStore,
    SyncJobContext,
    Task,
    TaskOptions,
    TaskRegistry,
    TaskWorker,
)
from service.jobs.testing import run_task


def test_tasks_run_on_the_event_loop_by_default() -> None:
    assert TaskOptions(name="x").run_in == "loop"


def test_sync_tasks_in_importable_modules_are_registered() -> None:
    registry = TaskRegistry([Digest, Square])
    assert registry.names() == ["digest", "square"]


@attrs.frozen(kw_only=True)
class OnAGpu(Task):
    options = TaskOptions(name="on_a_gpu", run_in="gpu")  # type: ignore[arg-type]

    def run_sync(self, ctx: SyncJobContext) -> None: ...


@attrs.frozen(kw_only=True)
class ThreadWithoutRunSync(Task):
    options = TaskOptions(name="thread_without_run_sync", run_in="thread")

    async def run(self, ctx: JobContext) -> None: ...


@attrs.frozen(kw_only=True)
class RunSyncOnTheLoop(Task):
    options = TaskOptions(name="run_sync_on_the_loop")

    def run_sync(self, ctx: SyncJobContext) -> None: ...


@attrs.frozen(kw_only=True)
class Both(Task):
    options = TaskOptions(name="both", run_in="process")

    async def run(self, ctx: JobContext) -> None: ...

    def run_sync(self, ctx: SyncJobContext) -> None: ...


@pytest.mark.parametrize(("cls", "says"), [
    (OnAGpu, "run_in must be one of 'loop', 'thread', 'process', got 'gpu'"),
    (ThreadWithoutRunSync, "run_in='thread' calls a method run_sync(self, ctx)"),
    (RunSyncOnTheLoop, 'it defines run_sync but runs on the event loop: set'
                       ' TaskOptions(run_in="thread")'),
    (Both, "its async run would never run"),
], ids=["unknown-value", "no-run_sync", "run_sync-on-the-loop", "both"])
def test_registration_refuses_a_run_in_that_does_not_fit_the_class(cls: type[Task], says: str
                                                                  ) -> None:
    with pytest.raises(InvalidTask, match=f"^task '{cls.options.name}': ") as caught:
        TaskRegistry([cls])
    assert says in str(caught.value)
    assert caught.value.task == cls.options.name


def test_a_process_task_defined_in_a_function_is_refused_the_child_could_not_import_it(
) -> None:
    @attrs.frozen(kw_only=True)
    class Local(Task):
        options = TaskOptions(name="local", run_in="process")

        def run_sync(self, ctx: SyncJobContext) -> None: ...

    with pytest.raises(InvalidTask, match="define it at the top level of an importable module"):
        TaskRegistry().register(Local)


async def test_a_worker_refuses_such_a_task_before_it_starts(tmp_path: Any) -> None:
    async with SQLiteStore(tmp_path / "jobs.db") as store:
        with pytest.raises(InvalidTask, match="'thread_without_run_sync'"):
            TaskWorker(store, [Digest, ThreadWithoutRunSync])


def test_invalid_task_is_a_service_error_and_both_builtins_a_caller_may_expect() -> None:
    assert issubclass(InvalidTask, ServiceError)
    assert issubclass(InvalidTask, TypeError)
    assert issubclass(InvalidTask, ValueError)


def test_the_sync_context_survives_pickling_to_a_child() -> None:
    ctx = SyncJobContext(job_id=7, task="square", attempt=2, max_attempts=2,
                         dependency_results={3: {"n": 1}}, failed_dependencies=(4,),
                         checkpoint={"page": 4})
    again = pickle.loads(pickle.dumps(ctx))
    assert again == ctx
    assert again.last_attempt


async def test_run_task_calls_run_sync_of_a_thread_task_with_the_app_state() -> None:
    result = await run_task(Digest(text="abc"), state="app", job_id=5)
    assert result.outcome == "completed"
    assert result.value["job"] == 5
    assert result.value["in_main_thread"] is False


async def test_run_task_gives_a_process_task_no_app_state_as_the_worker_does() -> None:
    result = await run_task(Square(n=3), state="app")
    assert result.outcome == "completed"
    assert result.value["square"] == 9
    assert result.value["state"] is None


async def test_run_task_reports_a_process_task_timeout_as_the_worker_records_it(
    tmp_path: Any,
) -> None:
    # Just past the timeout: the abandoned thread returns soon after.
    result = await run_task(Spin(pid_file=str(tmp_path / "pid"), seconds=1.7))
    assert result.outcome == "timed_out"
    assert str(result.error) == "timed out after 1.5 s (killed)"
