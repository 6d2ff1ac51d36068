"""Encryption at rest: throughput of storing an upload (AES-256-GCM in 1 MiB chunks + SHA-256 of the plaintext
+ fsync) and of reading it back (decrypt), against writing and reading the same bytes in clear.

    .venv/bin/python bench/storage.py [--mb 50] [--runs 5]

Needs no database: the settings are loaded with placeholder service URLs (nothing connects).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emanet-bench-storage-"))
    os.environ.update(
        {
            "DATA_DIR": str(work),
            "MEDIA_ROOT": str(work / "uploads"),
            "DATABASE_URL": "postgresql://bench@127.0.0.1:1/none",  # never connected
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "MAX_UPLOAD_MB": str(args.mb + 1),
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from rag import storage

    payload = os.urandom(args.mb * 1024 * 1024)
    timings: dict[str, list[float]] = {
        "store (encrypt)": [],
        "read (decrypt)": [],
        "clear write": [],
        "clear read": [],
    }
    for run in range(args.runs):
        started = time.perf_counter()
        stored = storage.store(io.BytesIO(payload), suffix=".bin")
        timings["store (encrypt)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        back = storage.read(stored.relative_path, wrapped_key=stored.wrapped_key, key_id=stored.key_id)
        timings["read (decrypt)"].append(time.perf_counter() - started)
        assert back == payload
        clear = work / f"clear-{run}.bin"
        started = time.perf_counter()
        with clear.open("wb") as out:
            hashlib.sha256(payload).hexdigest()
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        timings["clear write"].append(time.perf_counter() - started)
        started = time.perf_counter()
        clear.read_bytes()
        timings["clear read"].append(time.perf_counter() - started)
        storage.delete(stored.relative_path)
        clear.unlink()
    print(f"{args.mb} MB random bytes, {args.runs} runs, median (page cache warm for reads)")
    for name, values in timings.items():
        seconds = statistics.median(values)
        print(f"  {name:<16} {seconds * 1000:8.1f} ms  {args.mb / seconds:8.1f} MB/s")


if __name__ == "__main__":
    main()
