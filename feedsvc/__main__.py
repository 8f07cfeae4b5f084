"""``python -m feedsvc``."""

from feedsvc.app.cli import main

raise SystemExit(main())
