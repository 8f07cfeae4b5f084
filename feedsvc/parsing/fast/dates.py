"""Dates (feedparser/datetimes/): feedparser tries W3C-DTF (w3dtf.py), then RFC 822 (rfc822.py),
then formats nobody sends. Ports of the first two, a fast path for their canonical shapes, and
"not clean" when neither reads a non-empty date."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from feedsvc.parsing.fast.exceptions import _NotClean

_W3DTF_TZ = {"ut": 0, "gmt": 0, "z": 0, "adt": -3, "ast": -4, "at": -4, "edt": -4, "est": -5, "et": -5,
             "cdt": -5, "cst": -6, "ct": -6, "mdt": -6, "mst": -7, "mt": -7, "pdt": -7, "pst": -8,
             "pt": -8, "a": -1, "n": 1, "m": -12, "y": 12}
_RFC822_TZ = dict(_W3DTF_TZ, met=1, mest=2)
_DAY_NAMES = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "oct": 10, "nov": 11, "dec": 12}


def _parse_date_w3dtf(datestr: str) -> Any:
    if not datestr.strip():
        return None
    parts = datestr.lower().split("t")
    if len(parts) == 1:
        parts = parts[0].split()
        if len(parts) == 1:
            parts.append("00:00:00z")
    elif len(parts) > 2:
        return None
    date = parts[0].split("-", 2)
    if not date or len(date[0]) != 4:
        return None
    date.extend(["1"] * (3 - len(date)))
    try:
        year, month, day = [int(i) for i in date]
    except ValueError:
        return None
    if parts[1].endswith("z"):
        parts[1] = parts[1][:-1]
        parts.append("z")
    loc = parts[1].find("-") + 1 or parts[1].find("+") + 1 or len(parts[1]) + 1
    loc = loc - 1
    parts.append(parts[1][loc:])
    parts[1] = parts[1][:loc]
    time = parts[1].split(":", 2)
    time.extend(["0"] * (3 - len(time)))
    if parts[2][:1] in ("-", "+"):
        try:
            tzhour = int(parts[2][1:3])
            tzmin = int(parts[2][4:])
        except ValueError:
            return None
        if parts[2].startswith("-"):
            tzhour = tzhour * -1
            tzmin = tzmin * -1
    else:
        tzhour = _W3DTF_TZ.get(parts[2], 0)
        tzmin = 0
    try:
        hour, minute, second = [int(float(i)) for i in time]
    except ValueError:
        return None
    try:
        stamp = _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    delta = _dt.timedelta(0, 0, 0, 0, tzmin, tzhour)
    try:
        return (stamp - delta).utctimetuple()
    except (OverflowError, ValueError):
        return None


def _parse_date_rfc822(date: str) -> Any:
    parts = date.lower().split()
    if len(parts) < 5:
        parts.extend(("00:00:00", "0000"))
    if parts[0][:3] in _DAY_NAMES:
        parts = parts[1:]
    if len(parts) < 5:
        return None
    month = _MONTHS.get(parts[1][:3])
    try:
        day = int(parts[0])
    except ValueError:
        if _MONTHS.get(parts[0][:3]):
            try:
                day = int(parts[1])
            except ValueError:
                return None
            month = _MONTHS.get(parts[0][:3])
        else:
            return None
    if not month:
        return None
    try:
        year = int(parts[2])
    except ValueError:
        return None
    if len(parts[2]) <= 2:
        year += (1900, 2000)[year < 90]
    time_parts = parts[3].split(":")
    time_parts.extend(("0",) * (3 - len(time_parts)))
    try:
        (hour, minute, second) = [int(i) for i in time_parts]
    except ValueError:
        return None
    if parts[4].startswith("etc/"):
        parts[4] = parts[4][4:]
    if parts[4].startswith("gmt"):
        parts[4] = "".join(parts[4][3:].split(":")) or "gmt"
    if parts[4] and parts[4][0] in ("-", "+"):
        try:
            if ":" in parts[4]:
                timezone_hours = int(parts[4][1:3])
                timezone_minutes = int(parts[4][4:])
            else:
                timezone_hours = int(parts[4][1:3])
                timezone_minutes = int(parts[4][3:])
        except ValueError:
            return None
        if parts[4].startswith("-"):
            timezone_hours *= -1
            timezone_minutes *= -1
    else:
        timezone_hours = _RFC822_TZ.get(parts[4], 0)
        timezone_minutes = 0
    try:
        stamp = _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    delta = _dt.timedelta(0, 0, 0, 0, timezone_minutes, timezone_hours)
    try:
        return (stamp - delta).utctimetuple()
    except (OverflowError, ValueError):
        return None


_W3DTF_FAST = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?"
                         r"(?:[Zz]|([+-])(\d\d):(\d\d))\Z")
_RFC822_FAST = re.compile(r"(?:(?:mon|tue|wed|thu|fri|sat|sun),? )?(\d\d?) ([a-z]{3}) (\d{4}) "
                          r"(\d\d):(\d\d):(\d\d) (?:([+-])(\d\d)(\d\d)|gmt|ut|utc|z)\Z", re.I)


def _fast_date(value: str, offsets: dict[str, _dt.timedelta]) -> Any:
    """The canonical RFC 3339 and RFC 822 shapes, computed as the ports compute them (W3C-DTF
    rejects every RFC 822 string of this shape, so the order of the parsers does not matter).
    Returns the first six fields of the UTC time tuple (all that convert._date reads), padded to 9."""
    m = _W3DTF_FAST.match(value) if value[4:5] == "-" else None
    if m is not None:
        y, mo, d, h, mi, sec, sign, tzh, tzm = m.groups()
        stamp = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec))
    else:
        m = _RFC822_FAST.match(value)
        if m is None:
            return None
        d, mo, y, h, mi, sec, sign, tzh, tzm = m.groups()
        month = _MONTHS.get(mo.lower())
        if month is None:
            return None
        stamp = _dt.datetime(int(y), month, int(d), int(h), int(mi), int(sec))
    if sign is not None and (tzh != "00" or tzm != "00"):
        key = sign + tzh + tzm
        delta = offsets.get(key)
        if delta is None:
            delta = offsets[key] = _dt.timedelta(hours=int(tzh), minutes=int(tzm))
        stamp = stamp + delta if sign == "-" else stamp - delta
    return (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second, 0, 0, 0)


def _parse_date(value: str | None, offsets: dict[str, _dt.timedelta] | None = None) -> Any:
    if not value:
        return None
    try:
        parsed = _fast_date(value, {} if offsets is None else offsets)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is not None:
        return parsed
    for handler in (_parse_date_w3dtf, _parse_date_rfc822):
        try:
            parsed = handler(value)
        except (KeyError, OverflowError, ValueError, AttributeError):
            continue
        if parsed and len(parsed) == 9:
            return parsed
    raise _NotClean(f"date {value!r}")
