"""WebSub (https://www.w3.org/TR/websub/): tell the hub when a published feed changed.

After a publish that rewrote a feed, ``notify`` POSTs ``hub.mode=publish&hub.url=<feed URL>``
to ``site.websub_hub`` for each changed feed, with a short timeout. A ping that fails (network
error, timeout, non-2xx answer) is remembered in ``state_dir/websub-pending.json`` and sent
again at the next publish, whether or not that publish changes anything; a failed ping is a
warning, never a failed publish. Called under the publish lock, so the daemon and a forced
refresh never race on the pending file.

This is the one HTTP request outside fetch.py: fetch.py is about GETting sources, this is a
fire-and-forget POST to one configured URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import requests

from feedsvc import __version__
from feedsvc.errors import PublishError
from feedsvc.output.write import write_if_changed

log = logging.getLogger(__name__)

PENDING_FILE = "websub-pending.json"
TIMEOUT = (3.0, 5.0)             # connect, read (seconds): a slow hub must not hold the publish lock


def pending_path(state_dir: Path) -> Path:
    return state_dir / PENDING_FILE


def load_pending(state_dir: Path) -> list[str]:
    """Feed URLs whose ping has not reached the hub yet (oldest first)."""
    try:
        data = json.loads(pending_path(state_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("websub: ignoring unreadable %s: %s", pending_path(state_dir), exc)
        return []
    urls = data.get("urls") if isinstance(data, dict) else None
    return [u for u in urls if isinstance(u, str)] if isinstance(urls, list) else []


def _save_pending(state_dir: Path, urls: list[str]) -> None:
    path = pending_path(state_dir)
    if not urls:
        path.unlink(missing_ok=True)
        return
    write_if_changed(path, (json.dumps({"urls": urls}, indent=1) + "\n").encode("utf-8"))


def ping(session: requests.Session, hub: str, url: str) -> str | None:
    """One publish ping; None when the hub accepted it, else why not."""
    try:
        resp = session.post(hub, data={"hub.mode": "publish", "hub.url": url}, timeout=TIMEOUT,
                            allow_redirects=False)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    finally:
        resp.close()


def notify(hub: str, changed: Iterable[str], state_dir: Path) -> list[str]:
    """Ping ``hub`` for every changed feed URL and every ping still pending. Returns warnings
    (one per failed ping); failures stay pending for the next call."""
    todo = list(dict.fromkeys([*load_pending(state_dir), *changed]))
    if not todo:
        return []
    warnings = []
    failed = []
    with requests.Session() as session:
        session.headers["User-Agent"] = f"feedsvc/{__version__}"
        for url in todo:
            problem = ping(session, hub, url)
            if problem is None:
                log.info("websub: notified %s of %s", hub, url)
                continue
            failed.append(url)
            msg = f"WebSub ping to {hub} for {url} failed ({problem}); retrying at the next publish"
            log.warning("%s", msg)
            warnings.append(msg)
    try:
        _save_pending(state_dir, failed)
    except (PublishError, OSError) as exc:
        warnings.append(f"cannot remember pending WebSub pings: {exc}")
        log.warning("websub: cannot remember pending pings: %s", exc)
    return warnings
