"""config.yaml → Config: the contract shape, paths relative to the file, durations, and one clear
error naming the key (and line) for every kind of mistake — in-process and through the CLI (exit 2,
no traceback)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from feedsvc.config import load_config, parse_duration
from feedsvc.errors import ConfigError

from conftest import write_config
from helpers_feedsvc import cli

GOOD = """\
site:
  title: "Example Planet"
  url: "http://127.0.0.1:8080"
  description: "d"
output:
  dir: "out/public"
  max_items: 7
state_dir: "var/state"
schedule:
  interval: "15m"
sources:
  - name: "articles"
    path: "articles"
  - name: "python-blog"
    url: "https://blog.python.org/feeds/posts/default"
    interval: "1h"
  - name: "saved"
    url: "file:samples/feed.xml"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_contract_shape_loads_with_paths_relative_to_the_config_file(tmp_path, monkeypatch):
    sub = tmp_path / "etc"
    sub.mkdir()
    path = write(sub, GOOD)
    monkeypatch.chdir(tmp_path)          # not the config's directory: paths must not follow the cwd
    cfg = load_config(Path("etc/config.yaml"))
    assert cfg.site.title == "Example Planet"
    assert cfg.site.url == "http://127.0.0.1:8080/"        # a trailing slash is added
    assert cfg.site.id == cfg.site.url                     # id defaults to url
    assert cfg.output.dir == sub.resolve() / "out" / "public"
    assert cfg.output.max_items == 7
    assert cfg.state_dir == sub.resolve() / "var" / "state"
    assert cfg.interval == 900
    assert [s.name for s in cfg.sources] == ["articles", "python-blog", "saved"]
    arts, blog, saved = cfg.sources
    assert arts.kind == "local" and arts.path == sub.resolve() / "articles"
    assert arts.interval == 900                            # inherits schedule.interval
    assert blog.kind == "feed" and blog.interval == 3600   # per-source override
    assert saved.kind == "feed" and saved.url == "file:samples/feed.xml"
    assert cfg.path == path.resolve()


def test_site_id_kept_when_given(tmp_path):
    p = write_config(tmp_path, [{"name": "a", "path": "a"}],
                     site={"id": "tag:example.org,2024:planet", "author": "Ed", "language": "en"})
    cfg = load_config(p)
    assert cfg.site.id == "tag:example.org,2024:planet"
    assert cfg.site.author == "Ed" and cfg.site.language == "en"


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("15m", 900), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), ("2 h", 7200), ("0.5s", 0.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "15 minutes", "", "0s", -5, 0, 45, 1.5, True, "1.5h", "h"])
def test_bad_durations_rejected(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


# Every mistake: (yaml text, the key the message must name, the line it is on)
BAD = {
    "unknown top-level key": ("""\
        site: {title: T, url: "http://x.org/"}
        sources: []
        colour: red
        """, "colour", 3),
    "unknown source key": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: a
            urll: "https://x.org/feed"
        """, "sources[0].urll", 4),
    "unknown site key": ("""\
        site:
          title: T
          url: "http://x.org/"
          tittle: oops
        sources: []
        """, "site.tittle", 4),
    "wrong type for max_items": ("""\
        site: {title: T, url: "http://x.org/"}
        output:
          max_items: "lots"
        sources: []
        """, "output.max_items", 3),
    "wrong type for site": ("""\
        site: "Example"
        sources: []
        """, "site", 1),
    "sources not a list": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          name: a
        """, "sources", 2),
    "title is a list": ("""\
        site:
          title: [a, b]
          url: "http://x.org/"
        sources: []
        """, "site.title", 2),
    "both path and url": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: ok
            path: articles
          - name: both
            path: articles
            url: "https://x.org/feed"
        """, "sources[1]", 5),
    "neither path nor url": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: lonely
        """, "sources[0]", 3),
    "duplicate source names": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: blog
            url: "https://a.org/feed"
          - name: blog
            url: "https://b.org/feed"
        """, "sources[1].name", 5),
    "ftp url": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: old
            url: "ftp://x.org/feed.xml"
        """, "sources[0].url", 4),
    "bad source interval": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: a
            url: "https://x.org/feed"
            interval: "every now and then"
        """, "sources[0].interval", 5),
    "bad schedule interval": ("""\
        site: {title: T, url: "http://x.org/"}
        schedule:
          interval: 15 minutes
        sources: []
        """, "schedule.interval", 3),
    "bad source name": ("""\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: "my blog"
            url: "https://x.org/feed"
        """, "sources[0].name", 3),
    "site url not http": ("""\
        site: {title: T, url: "ftp://x.org/"}
        sources: []
        """, "site.url", 1),
    "missing site title": ("""\
        site: {url: "http://x.org/"}
        sources: []
        """, "site.title", 1),
    "missing sources": ("""\
        site: {title: T, url: "http://x.org/"}
        """, "sources", None),
}


@pytest.mark.parametrize("case", list(BAD))
def test_config_error_names_the_key_and_line(tmp_path, case):
    text, key, line = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    err = ei.value
    assert err.key == key
    assert key in str(err)
    if line is not None:
        assert err.line == line
        assert f"config.yaml:{line}:" in str(err)


def test_both_path_and_url_message_mentions_both(tmp_path):
    path = write(tmp_path, BAD["both path and url"][0])
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    assert "'path'" in str(ei.value) and "'url'" in str(ei.value)


def test_yaml_syntax_error_gives_line(tmp_path):
    path = write(tmp_path, """\
        site: {title: T, url: "http://x.org/"}
        sources:
          - name: a
           url: [unclosed
        """)
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    assert ei.value.line is not None and "YAML" in str(ei.value)


# The same mistakes through the real command: exit 2, one message naming the key, no traceback.
CLI_CASES = ["unknown top-level key", "unknown source key", "wrong type for max_items",
             "both path and url", "duplicate source names", "ftp url", "bad source interval"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_bad_config_exit_2_names_the_key(tmp_path, case):
    text, key, line = BAD[case]
    write(tmp_path, text)
    for command in ("check", "refresh"):
        r = cli(command, cwd=tmp_path)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert key in r.stderr
        assert f":{line}:" in r.stderr
        assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
        assert r.stderr.strip().count("\n") == 0          # one clear message
    assert not (tmp_path / "public").exists()             # nothing ran
    assert not (tmp_path / "state").exists()


def test_cli_missing_config_is_exit_2(tmp_path):
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2
    assert "config.yaml" in r.stderr and "Traceback" not in r.stderr


def test_config_location_flag_env_and_default(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "a").mkdir()
    write_config(good, [{"name": "a", "path": "a"}])
    bad = tmp_path / "bad"
    bad.mkdir()
    write(bad, BAD["ftp url"][0])
    # default: ./config.yaml in the working directory
    assert cli("check", cwd=good).returncode == 0
    assert cli("check", cwd=bad).returncode == 2
    # $FEEDSVC_CONFIG beats the default
    r = cli("check", cwd=bad, env={"FEEDSVC_CONFIG": str(good / "config.yaml")})
    assert r.returncode == 0 and str(good / "config.yaml") in r.stdout
    # --config beats both
    r = cli("--config", str(bad / "config.yaml"), "check", cwd=good,
            env={"FEEDSVC_CONFIG": str(good / "config.yaml")})
    assert r.returncode == 2 and "sources[0].url" in r.stderr


# ---- curation (issue 7): filters, per-source options, outputs ---------------------------------

CURATION = """\
site: {title: T, url: "http://x.org/"}
filters:                       # global
  drop:
    - field: title
      pattern: "(?i)sponsored"
sources:
  - name: "alpha"
    url: "https://alpha.example.org/feed.xml"
    max_items: 5
    max_age: "30d"
    priority: 10
    title: "Alpha's blog"
    author: "Alpha Person"
    categories: [python, planet]
    keep:
      - field: category
        pattern: "python"
  - name: "beta"
    url: "https://beta.example.org/feed.xml"
outputs:
  - path: "releases"
    title: "Releases"
    categories: [release]
  - path: "topics/alpha"
    title: "Only alpha"
    description: "Alpha's posts"
    sources: [alpha]
    max_items: 3
    drop:
      - field: link
        pattern: "/drafts/"
"""


def test_curation_contract_shape_loads(tmp_path):
    cfg = load_config(write(tmp_path, CURATION))
    (rule,) = cfg.filters.drop
    assert rule.field == "title" and rule.pattern.search("SPONSORED: buy") and not cfg.filters.keep
    alpha, beta = cfg.sources
    assert (alpha.max_items, alpha.max_age, alpha.priority) == (5, 30 * 86400, 10)
    assert alpha.title == "Alpha's blog" and alpha.author == "Alpha Person"
    assert alpha.categories == ("python", "planet")
    assert [r.field for r in alpha.filters.keep] == ["category"] and not alpha.filters.drop
    assert (beta.max_items, beta.max_age, beta.priority, beta.categories) == (None, None, 0, ())
    assert not beta.filters and not beta.curated and alpha.curated and cfg.curated
    rel, only = cfg.outputs
    assert (rel.path, rel.title, rel.description, rel.categories, rel.max_items) == \
        ("releases", "Releases", "Releases", ("release",), 50)
    assert (only.path, only.sources, only.max_items, only.description) == \
        ("topics/alpha", ("alpha",), 3, "Alpha's posts")
    assert only.filters.drop[0].field == "link"


def test_no_curation_options_means_nothing_to_curate(tmp_path):
    cfg = load_config(write_config(tmp_path, [{"name": "a", "url": "https://a.org/feed"}]))
    assert not cfg.curated and cfg.outputs == () and not cfg.filters


def _curation_with(tmp_path, old: str, new: str):
    assert old in CURATION
    return write(tmp_path, CURATION.replace(old, new, 1))


CURATION_BAD = {
    # (replace this, with this) in CURATION → the key named, its line
    "invalid regex in a source rule": ('pattern: "python"', 'pattern: "(python"', "sources[0].keep[0].pattern", 17),
    "invalid regex in a global rule": ('pattern: "(?i)sponsored"', 'pattern: "[a-"', "filters.drop[0].pattern", 5),
    "invalid regex in an output rule": ('pattern: "/drafts/"', 'pattern: "*drafts"', "outputs[1].drop[0].pattern", 31),
    "unknown rule field": ("- field: category", "- field: summary", "sources[0].keep[0].field", 16),
    "rule without pattern": ('      - field: link\n        pattern: "/drafts/"', "      - field: link",
                             "outputs[1].drop[0].pattern", 30),
    "unknown filters key": ("  drop:\n    - field: title", "  dorp:\n    - field: title", "filters.dorp", 3),
    "keep not a list": ("    keep:\n      - field: category\n        pattern: \"python\"", "    keep: python",
                        "sources[0].keep", 15),
    "max_items zero": ("max_items: 5", "max_items: 0", "sources[0].max_items", 9),
    "bad max_age": ('max_age: "30d"', 'max_age: "a month"', "sources[0].max_age", 10),
    "priority not a number": ("priority: 10", "priority: high", "sources[0].priority", 11),
    "categories not strings": ("categories: [python, planet]", "categories: [python, {a: b}]",
                               "sources[0].categories[1]", 14),
    "output of an unknown source": ("sources: [alpha]", "sources: [gamma]", "outputs[1].sources[0]", 27),
    "output path with ..": ('path: "releases"', 'path: "../etc"', "outputs[0].path", 21),
    "output path articles": ('path: "releases"', 'path: "articles"', "outputs[0].path", 21),
    "duplicate output path": ('path: "topics/alpha"', 'path: "releases"', "outputs[1].path", 24),
    "output without title": ('    title: "Releases"\n', "", "outputs[0].title", 21),
    "unknown output key": ('    categories: [release]', '    category: [release]', "outputs[0].category", 23),
}


@pytest.mark.parametrize("case", list(CURATION_BAD))
def test_curation_config_errors_name_the_key_and_line(tmp_path, case):
    old, new, key, line = CURATION_BAD[case]
    with pytest.raises(ConfigError) as ei:
        load_config(_curation_with(tmp_path, old, new))
    assert ei.value.key == key, str(ei.value)
    assert ei.value.line == line, str(ei.value)
    assert f"config.yaml:{line}: {key}:" in str(ei.value)


def test_cli_invalid_regex_exits_2_naming_the_key(tmp_path):
    _curation_with(tmp_path, 'pattern: "python"', 'pattern: "(python"')
    for command in ("check", "publish", "refresh"):
        r = cli(command, cwd=tmp_path)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert "config.yaml:17: sources[0].keep[0].pattern: invalid regular expression '(python'" in r.stderr
        assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "state").exists()


# ---- the schema drives the loader: keys, defaults and kinds are declared once, on the dataclasses ----

import dataclasses  # noqa: E402
import re  # noqa: E402

import feedsvc.config as config_pkg  # noqa: E402
from feedsvc.config import Config, Fetch, Filters, Output, Retention, Rule, Site, Source, Topic  # noqa: E402
from feedsvc.config.loader import _READERS  # noqa: E402
from feedsvc.config.schema import KINDS  # noqa: E402

CONFIG_CLASSES = (Config, Site, Output, Retention, Fetch, Rule, Filters, Source, Topic)
NOT_YAML = {(Config, "path"), (Source, "from_opml")}       # set by the loader, not keys of the file


def yaml_keys(cls) -> set[str]:
    """The keys a mapping read as ``cls`` allows, straight from the dataclass's field metadata."""
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        if "kind" not in f.metadata:
            continue
        if f.metadata["kind"] == "inline":
            keys |= yaml_keys(f.default_factory)
        else:
            keys.add((f.metadata["key"] or f.name).partition(".")[0])
    return keys


def test_every_config_field_declares_its_key_kind_and_comment():
    for cls in CONFIG_CLASSES:
        for f in dataclasses.fields(cls):
            if (cls, f.name) in NOT_YAML:
                assert "kind" not in f.metadata
                continue
            meta = f.metadata
            assert meta["kind"] in KINDS and meta["kind"] in _READERS, (cls.__name__, f.name)
            assert meta["doc"].strip() and "\n" not in meta["doc"], (cls.__name__, f.name)


SECTION_CASES = {
    # where an unknown key is put → (the schema class its allowed keys come from, the key path named)
    "top level": ("colour: red\n", Config, "colour"),
    "site": ("site: {title: T, url: 'http://x.org/', colour: red}\nsources: []\n", Site, "site.colour"),
    "output": ("output: {colour: red}\n", Output, "output.colour"),
    "retention": ("retention: {colour: red}\n", Retention, "retention.colour"),
    "fetch": ("fetch: {colour: red}\n", Fetch, "fetch.colour"),
    "filters": ("filters: {colour: red}\n", Filters, "filters.colour"),
    "source": ("sources: [{name: a, url: 'https://a.org/f', colour: red}]\n", Source, "sources[0].colour"),
    "rule": ("filters: {keep: [{field: title, colour: red}]}\n", Rule, "filters.keep[0].colour"),
    "output feed": ("outputs: [{path: p, title: P, colour: red}]\n", Topic, "outputs[0].colour"),
}


@pytest.mark.parametrize("case", list(SECTION_CASES))
def test_unknown_key_lists_the_dataclass_keys(tmp_path, case):
    extra, cls, key = SECTION_CASES[case]
    text = extra if extra.startswith("site:") else 'site: {title: T, url: "http://x.org/"}\n' + extra
    if "sources:" not in text:
        text += "sources: []\n"
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text))
    assert ei.value.key == key
    assert ei.value.message == "unknown key (allowed: " + ", ".join(sorted(yaml_keys(cls))) + ")"


def test_fetch_unknown_key_message_is_the_fetch_fields(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, 'site: {title: T, url: "http://x.org/"}\nfetch: {colour: 1}\n'
                                    'sources: []\n'))
    keys = sorted(f.name for f in dataclasses.fields(Fetch))
    assert keys == ["connect_timeout", "hosts", "max_bytes", "max_entries", "per_host", "timeout", "user_agent", "workers"]
    assert str(ei.value).endswith("fetch.colour: unknown key (allowed: " + ", ".join(keys) + ")")


def test_schedule_keys_are_the_dotted_config_fields(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, 'site: {title: T, url: "http://x.org/"}\nschedule: {every: 1h}\n'
                                    'sources: []\n'))
    dotted = sorted(f.metadata["key"].partition(".")[2] for f in dataclasses.fields(Config)
                    if (f.metadata.get("key") or "").startswith("schedule."))
    assert dotted == ["interval", "jitter", "lease", "min_interval"]
    assert ei.value.key == "schedule.every" and ei.value.line == 2
    assert ei.value.message == "unknown key (allowed: interval, jitter, lease, min_interval)"


def _default(f: dataclasses.Field, base: Path):
    value = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return base / value if f.metadata["kind"] == "path" and value is not None else value


def test_every_key_omitted_gives_the_dataclass_defaults(tmp_path):
    cfg = load_config(write(tmp_path, """\
        site: {title: T, url: "http://x.org"}
        sources:
          - {name: a, url: "https://a.org/feed"}
          - {name: b, path: "articles"}
        outputs:
          - {path: p, title: P}
        """))
    base = tmp_path.resolve()
    checked = 0
    for obj in (cfg, cfg.output, cfg.retention, cfg.fetch, cfg.filters, cfg.site, *cfg.sources,
                cfg.outputs[0]):
        for f in dataclasses.fields(obj):
            given = {"title", "url", "id", "description", "name", "path", "sources", "outputs"}
            # (a section's own fields are checked in its turn)
            if "kind" in f.metadata and f.metadata["kind"] != "section" and f.name not in given:
                assert getattr(obj, f.name) == _default(f, base), (type(obj).__name__, f.name)
                checked += 1
    assert checked >= 37
    # and those the loader derives from other keys
    assert cfg.site == Site(title="T", url="http://x.org/", id="http://x.org/", description="T: combined feed")
    assert cfg.output == Output(dir=base / "public") and cfg.retention == Retention() and cfg.fetch == Fetch()
    assert cfg.state_dir == base / "state" and not cfg.filters
    assert cfg.sources[0] == Source(name="a", url="https://a.org/feed")
    assert cfg.sources[1] == Source(name="b", path=base / "articles")
    assert cfg.outputs[0] == Topic(path="p", title="P", description="P")


def test_inherited_defaults_follow_schedule_interval_and_output_max_items(tmp_path):
    cfg = load_config(write(tmp_path, """\
        site: {title: T, url: "http://x.org/"}
        output: {max_items: 7}
        schedule: {interval: 1h}
        sources: [{name: a, url: "https://a.org/feed"}, {name: b, url: "https://b.org/feed", interval: 5m}]
        outputs: [{path: p, title: P}, {path: q, title: Q, max_items: 2}]
        """))
    assert [s.interval for s in cfg.sources] == [3600, 300]
    assert [t.max_items for t in cfg.outputs] == [7, 2]


def test_of_two_mistakes_in_one_mapping_the_same_one_is_reported(tmp_path):
    # the order keys are checked in is kept from before the schema: fetch.max_bytes first, a
    # source's max_age before its interval, an output's sources before its description
    cases = [("fetch: {workers: 0, max_bytes: lots}\nsources: []\n", "fetch.max_bytes"),
             ("sources: [{name: a, url: 'https://a.org/f', interval: soon, max_age: old}]\n",
              "sources[0].max_age"),
             ("sources: [{name: a, url: 'https://a.org/f'}]\n"
              "outputs: [{path: p, title: P, description: [x], sources: [zz]}]\n", "outputs[0].sources[0]")]
    for extra, key in cases:
        with pytest.raises(ConfigError) as ei:
            load_config(write(tmp_path, 'site: {title: T, url: "http://x.org/"}\n' + extra))
        assert ei.value.key == key, str(ei.value)


PACKAGE_DIR = Path(config_pkg.__file__).parent


def test_each_default_is_written_once():
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(PACKAGE_DIR.glob("*.py")))
    for literal in ("900.0", "10 * 1024", "365 * 86400", "= setting(500,", "= setting(1000,",
                    "DEFAULT_MAX_ITEMS = 50"):
        assert text.count(literal) == 1, literal
    loader = (PACKAGE_DIR / "loader.py").read_text(encoding="utf-8")
    assert not re.search(r"\b(50|500|1000|365|900|1024)\b", loader)      # no default in the loader


def test_config_modules_are_at_most_600_lines():
    modules = sorted(PACKAGE_DIR.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "schema.py", "values.py", "loader.py", "opml.py"}
    for p in modules:
        assert len(p.read_text(encoding="utf-8").splitlines()) <= 600, p.name


def test_public_names_still_importable_from_the_package():
    for name in ("Config", "Site", "Output", "Retention", "Fetch", "Rule", "Filters", "Source", "Topic",
                 "FORMATS", "FORMAT_FILES", "RULE_FIELDS", "NAME_RE", "DEFAULT_MAX_BYTES", "load_config",
                 "parse_config", "parse_duration", "parse_size", "file_url_path", "default_config_path"):
        assert hasattr(config_pkg, name), name
    assert Fetch().max_bytes == config_pkg.DEFAULT_MAX_BYTES == config_pkg.parse_size("10MiB")
