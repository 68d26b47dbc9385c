"""A task whose payload does not survive storage, registered by ``support.run_service``.

Its converter turns the declared ``int`` into a float, so the instance that the operator's
JSON args build is stored as ``12.0``: a push must refuse it (a worker could never decode it).
"""

from __future__ import annotations

import attrs

from service.jobs import JobContext, Task, TaskOptions


@attrs.frozen(kw_only=True)
class LossyCharge(Task):
    options = TaskOptions(name="lossy_charge")

    amount_cents: int = attrs.field(converter=float)

    async def run(self, ctx: JobContext) -> None:
        pass
