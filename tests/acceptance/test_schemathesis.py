"""schemathesis against a live ``python -m service`` on loopback, with the bearer token: every
operation of the OpenAPI document is called with generated valid and invalid input; no answer
may be a 5xx, and every answer must conform to the document (status, content type, headers,
body schema), invalid input must be refused with a 4xx, operator routes without the token
with 401. Its stateful phase follows the document's links (a push, then its job's retry and
cancel). Bounded: a few examples per operation, a fixed seed; about 30 s.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import trio
from support.processes import ADMIN_TOKEN, service_env, service_process

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",  # an operator route answers 401 without the token
    "unsupported_method",  # 405 with an Allow header for methods a route does not take
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
])


#: Per-operation settings (see the file).
CONFIG = Path(__file__).with_name("schemathesis.toml")


def schemathesis_command() -> list[str]:
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    assert found is not None, "schemathesis is in the test extra: pip install -e '.[test]'"
    return [found]


async def test_every_answer_of_the_live_service_conforms_to_its_openapi_document(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path)
    async with service_process(env, module="service") as service:
        await service.wait_for("web.started")
        assert service.url is not None
        # The hooks shorten ``?wait=`` long-polls (see schemathesis_hooks.py).
        st_env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                  "PYTHONPATH": os.pathsep.join(
                      [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
        with trio.fail_after(120):
            run = await trio.run_process(
                [*schemathesis_command(), "--config-file", str(CONFIG),
                 "run", f"{service.url}/openapi.json",
                 "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
                 "--checks", CHECKS, "--max-examples", "5", "--seed", "20261203",
                 "--phases", "examples,coverage,fuzzing,stateful", "--workers", "1",
                 "--request-timeout", "10"],
                env=st_env, cwd=tmp_path, capture_stdout=True, capture_stderr=True,
                check=False,
            )
    output = run.stdout.decode(errors="replace") + run.stderr.decode(errors="replace")
    assert run.returncode == 0, output[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts is not None, output[-3000:]
    assert counts.group(1) == counts.group(2), output[-3000:]
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None, output[-3000:]
    assert int(tested.group(1)) >= 15, output[-3000:]  # every operation of the document
