"""The feeds configuration (``configs/feeds.yaml``): which feeds, and how to fetch them.

:func:`load_feeds_config` reads the YAML (local or ``gs://``), appends the
feeds of the OPML files it names (a reader's export, paths relative to the
YAML), drops repeated URLs (the first mention and its name win) and turns the
fetch settings into :class:`~transforms.io.http.FetchOptions`. Every error is
a :class:`FeedsConfigError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from transforms.common.records import RejectedInput
from transforms.io.http import FetchOptions

__all__ = ["FeedSpec", "FeedsConfig", "FeedsConfigError", "feeds_config_from_dict", "load_feeds_config"]


class FeedsConfigError(ValueError):
    """A bad feeds configuration; the message names the key."""


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class FeedsConfig:
    feeds: tuple[FeedSpec, ...] = ()
    options: FetchOptions = FetchOptions()

    @property
    def urls(self) -> list[str]:
        return [f.url for f in self.feeds]


_YAML_TO_OPTION = {
    "fetch_full_text": "fetch_full_text",
    "max_bytes": "max_bytes",
    "page_max_bytes": "page_max_bytes",
    "max_redirects": "max_redirects",
    "max_retries": "max_retries",
    "per_host_concurrency": "per_host_concurrency",
    "min_delay_seconds": "min_delay_seconds",
    "retry_after_cap_seconds": "retry_after_cap",
    "full_text_min_chars": "full_text_min_chars",
    "full_text_max_pages": "full_text_max_pages",
    "user_agent": "user_agent",
    "allowed_networks": "allowed_networks",
}


def feeds_config_from_dict(raw: Any, source: str = "feeds config", *, read_file: Callable[[str], bytes] | None = None) -> FeedsConfig:
    """Validate the parsed ``configs/feeds.yaml``. ``opml:`` files are read with
    ``read_file`` (paths as written in the config) and their feeds appended."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FeedsConfigError(f"{source}: expected a mapping at the top level")
    known = {"version", "feeds", "opml", "timeouts", *_YAML_TO_OPTION}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise FeedsConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    specs: list[FeedSpec] = []
    feeds = raw.get("feeds") or []
    if not isinstance(feeds, list):
        raise FeedsConfigError(f"{source}: 'feeds' must be a list of {{url, name}}")
    for i, item in enumerate(feeds):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"].strip():
            raise FeedsConfigError(f"{source}: feeds[{i}] needs a 'url' string")
        extra = set(item) - {"url", "name"}
        if extra:
            raise FeedsConfigError(f"{source}: feeds[{i}] has unknown key(s) {', '.join(sorted(extra))}")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise FeedsConfigError(f"{source}: feeds[{i}].name must be a string")
        specs.append(FeedSpec(item["url"].strip(), name))
    opml = raw.get("opml") or []
    if isinstance(opml, str):
        opml = [opml]
    if not isinstance(opml, list) or not all(isinstance(p, str) for p in opml):
        raise FeedsConfigError(f"{source}: 'opml' must be a path or a list of paths")
    if opml:
        from transforms.io.opml import read_opml

        if read_file is None:
            raise FeedsConfigError(f"{source}: 'opml' given but no way to read files")
        for path in opml:
            try:
                urls = read_opml(read_file(path))
            except (OSError, RejectedInput) as exc:
                raise FeedsConfigError(f"{source}: opml {path}: {exc}") from None
            specs.extend(FeedSpec(u) for u in urls)
    settings: dict[str, Any] = {}
    for key, field in _YAML_TO_OPTION.items():
        if key in raw:
            settings[field] = tuple(raw[key]) if key == "allowed_networks" and isinstance(raw[key], list) else raw[key]
    timeouts = raw.get("timeouts") or {}
    if not isinstance(timeouts, dict) or set(timeouts) - {"connect_seconds", "total_seconds"}:
        raise FeedsConfigError(f"{source}: 'timeouts' takes connect_seconds and total_seconds")
    if "connect_seconds" in timeouts:
        settings["connect_timeout"] = timeouts["connect_seconds"]
    if "total_seconds" in timeouts:
        settings["total_timeout"] = timeouts["total_seconds"]
    try:
        options = FetchOptions(**settings)
    except (TypeError, ValueError) as exc:
        raise FeedsConfigError(f"{source}: {exc}") from None
    unique: dict[str, FeedSpec] = {}
    for spec in specs:  # order kept; the first mention (and its name) wins
        unique.setdefault(spec.url, spec)
    return FeedsConfig(tuple(unique.values()), options)


def load_feeds_config(path: str) -> FeedsConfig:
    """Read and validate a feeds YAML file (local or gs://); OPML paths in it
    are relative to the file."""
    import posixpath

    import yaml
    from apache_beam.io.filesystems import FileSystems

    def read_exact(p: str) -> bytes:
        with FileSystems.open(p, compression_type="uncompressed") as fh:
            return fh.read()

    def read(p: str) -> bytes:
        if not FileSystems.get_scheme(p) and not posixpath.isabs(p):
            p = FileSystems.join(posixpath.dirname(path) or ".", p)
        return read_exact(p)

    try:
        raw = yaml.safe_load(read_exact(path))
    except yaml.YAMLError as exc:
        raise FeedsConfigError(f"{path}: not valid YAML: {exc}") from None
    return feeds_config_from_dict(raw, path, read_file=read)
