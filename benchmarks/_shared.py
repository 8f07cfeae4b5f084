"""Where ../shared (the benchmark harness and the corpus) is: FEEDSVC_SHARED, else beside the
checkout, else /work/shared (for a clone elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    for cand in (os.environ.get("FEEDSVC_SHARED"), REPO.parent / "shared", "/work/shared"):
        if cand and (Path(cand) / "bench").is_dir():
            return Path(cand)
    return REPO.parent / "shared"
