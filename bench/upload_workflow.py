"""What an upload's workflow costs: from the upload's 202 to ``processed``, by kind of file.

    python -m bench.upload_workflow [--uploads 20]

One process serves the app on loopback (hypercorn, a real SQLite file) with its TaskWorker; each
upload is sent, then polled every 5 ms until it is no longer pending. A 2 KB text file is the
baseline (inspect, a text excerpt, a thumbnail step that skips, finish: four jobs, two of them
in the process pool); the others are printed as ratios against it. The first upload of each kind
is a warm-up (it also starts the pool's processes) and is not counted.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import trio
from PIL import Image

from service.runtime import WebService, make_worker, open_state
from service.settings import load

BOUNDARY = "benchBoundary"


def image(size: tuple[int, int], fmt: str) -> bytes:
    """A photo-like image: noise, so it neither compresses to nothing nor decodes for free."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def pdf(pages: int) -> bytes:
    """A PDF of ``pages`` pages of text, written by hand (see tests/support/uploads.py)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(f"{4 + 2 * i} 0 R".encode()
                                                      for i in range(pages))
               + f"] /Count {pages} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i in range(pages):
        stream = f"BT /F1 12 Tf 72 720 Td (Page {i} of the report) Tj ET".encode()
        objects += [f"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R >> >>"
                    f" /Contents {5 + 2 * i} 0 R >>".encode(),
                    f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode())
    return bytes(out)


def form(data: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
            f"\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


async def latency(client: httpx.AsyncClient, data: bytes) -> float:
    """Seconds from sending the upload to seeing it processed."""
    started = time.perf_counter()
    answer = await client.post("/api/uploads", content=form(data), headers={
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    answer.raise_for_status()
    url = f"/api/uploads/{answer.json()['id']}"
    while (await client.get(url)).json()["status"] == "pending":  # noqa: ASYNC110 - a client polls
        await trio.sleep(0.005)
    return time.perf_counter() - started


async def measure(uploads: int) -> None:
    kinds = {
        "text 2 KB (baseline)": b"hello world\n" * 170,
        "PNG 1200x900 noise": image((1200, 900), "PNG"),
        "JPEG 4000x3000 noise": image((4000, 3000), "JPEG"),
        "PDF 20 pages": pdf(20),
    }
    with tempfile.TemporaryDirectory() as tmp:
        settings = load(overrides={"data_dir": str(Path(tmp) / "data"), "bind": "127.0.0.1:0",
                                   "log_level": "WARNING"}, environ={})
        async with open_state(settings) as state, trio.open_nursery() as nursery:
            web = WebService(state)
            [address] = await nursery.start(web.run)
            worker = make_worker(state)
            await nursery.start(worker.run)
            async with httpx.AsyncClient(base_url=address, timeout=60) as client:
                medians: dict[str, float] = {}
                for kind, data in kinds.items():
                    await latency(client, data)  # warm-up
                    times = [await latency(client, data) for _ in range(uploads)]
                    medians[kind] = median = statistics.median(times)
                    ratio = median / next(iter(medians.values()))
                    print(f"{kind:24} {len(data) / 1e6:6.2f} MB  median {median * 1e3:7.1f} ms"
                          f"  max {max(times) * 1e3:7.1f} ms  x{ratio:.1f}")
            await worker.shutdown()
            await web.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    trio.run(measure, args.uploads)


if __name__ == "__main__":
    main()
