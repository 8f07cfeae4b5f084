"""Items as stored: one JSON document per item (field by field, no pickles), the same for every
store. Pinned by tests/test_store.py's round trip."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from feedsvc import compact_json
from feedsvc.model import Enclosure, Item, Origin, Person

_ITEM_FIELDS = [f.name for f in fields(Item)]


def item_to_json(item: Item) -> str:
    # field by field: dataclasses.asdict deep-copies every value and cost more than the insert
    d = {f: getattr(item, f) for f in _ITEM_FIELDS}
    d["authors"] = [{"name": p.name, "email": p.email, "uri": p.uri} for p in item.authors]
    d["enclosures"] = [{"url": e.url, "type": e.type, "length": e.length} for e in item.enclosures]
    o = item.origin
    d["origin"] = {"title": o.title, "link": o.link, "id": o.id, "home": o.home}
    d["categories"] = list(item.categories)
    d["dedup_keys"] = list(item.dedup_keys)
    for k in ("published", "updated"):
        d[k] = d[k].isoformat() if d[k] else None
    return compact_json.dumps(d).decode("utf-8", "surrogatepass")


def item_from_json(text: str) -> Item:
    d: dict[str, Any] = compact_json.loads(text)
    d["authors"] = tuple(Person(**a) for a in d["authors"])
    d["enclosures"] = tuple(Enclosure(**e) for e in d["enclosures"])
    d["origin"] = Origin(**d["origin"])
    d["categories"] = tuple(d["categories"])
    d["dedup_keys"] = tuple(d["dedup_keys"])
    for k in ("published", "updated"):
        d[k] = datetime.fromisoformat(d[k]) if d[k] else None
    return Item(**d)
