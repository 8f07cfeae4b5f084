"""The operator's report, written with every publish when ``report.dir`` is set: report.html,
report.json and problems.xml (output/render/report.py), and the history problems.xml is made of
(``.problems-history.json``). Never inside the public output.dir unless pointed there."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from feedsvc.config import Config
from feedsvc.errors import FeedsvcError
from feedsvc.storage import Storage

log = logging.getLogger(__name__)
HISTORY = ".problems-history.json"


def write_report(config: Config, storage: Storage, now: datetime) -> list[str]:
    """Write the report files that changed; returns their names. A failure is logged, never
    raised: the report must not stop a publish."""
    from feedsvc.app.status import collect
    from feedsvc.output.render import report
    from feedsvc.output.write import write_if_changed

    out = config.report.dir
    if out is None:
        return []
    try:
        data = collect(config, storage, now)
        hist_path = out / HISTORY
        try:
            history = json.loads(hist_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            history = {}
        history = report.track(history, data["problems"], now)
        self_url = (config.report.url.rstrip("/") + "/problems.xml" if config.report.url
                    else (out / "problems.xml").resolve().as_uri())
        files = {"report.html": report.render_html(data, config.site.title),
                 "report.json": report.render_json(data),
                 "problems.xml": report.render_problems(history, config.site.title, config.site.id, self_url),
                 HISTORY: (json.dumps(history, indent=1, sort_keys=True) + "\n").encode()}
        return [name for name, body in files.items() if write_if_changed(out / name, body)]
    except (FeedsvcError, OSError) as exc:
        log.warning("could not write the report in %s: %s", out, exc)
        return []
