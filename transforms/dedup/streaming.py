"""Duplicate and story memory that lives across streaming windows.

In batch, :class:`transforms.dedup.resolve.ResolveArticles` sees every article at once.
In streaming, an article is compared with what earlier windows left in
*per-key state*: the pipeline fans each article out under its copy keys, a
stateful DoFn keyed by copy key remembers the first article seen under it, and
each article's verdicts are joined back to it in its window.

Copy keys (:func:`copy_keys`)
    ``url:<canonical url>`` and ``content:<content hash>`` (exact copies, the
    same keys as batch), and for near-duplicates one ``band:<band>:<hash>`` key
    per MinHash LSH band (``transforms.dedup.minhash``: ``shingles``, ``minhash``,
    ``band_keys``); a band match counts only when ``verify`` (estimated
    Jaccard) reaches the threshold.

Memory per key (:func:`remember`, pure)
    Exact keys keep the first article seen (the original); band keys keep up
    to ``max_per_band`` earlier articles with their signatures. An entry is
    forgotten ``retention_seconds`` of event time after it was stored: an
    event-time timer clears it, so a copy arriving later is unique again.

Verdicts (:func:`resolve`, pure)
    An article with an exact match is an ``exact_duplicate`` of the earliest
    (by ``published_at``, then id) matched original; else with a verified band
    match a ``near_duplicate``; else ``unique``. Its ``story_id`` is the
    original's story id (the original's own id for a unique article), so a
    duplicate group shares one story across windows.

What streaming does not do that batch does: the original is the first copy
*to arrive* (batch: the earliest published); within one window two copies that
arrive together are ordered by arrival, not by date; ``duplicate_of`` names the
remembered original of the matching key and chains are not re-resolved
transitively; stories are duplicate groups only (no cross-outlet clustering by
content, which needs the whole corpus's feature frequencies).

Counters (namespace ``newsbeam.streamdedup``): ``keys_remembered``,
``keys_expired``, ``matches_exact``, ``matches_near``, ``near_rejected``.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Iterator, NamedTuple, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.common.stage import namespace
from transforms.dedup.exact import EXACT, NEAR, UNIQUE, exact_keys, node_of
from transforms.common.records import make_excerpt
from transforms.dedup.minhash import Sketcher, band_keys, choose_bands, signature_bytes, signature_of, verify
from transforms.stories.records import story_id_for

STAGE = "streamdedup"
EXACT_KIND = "exact"
NEAR_KIND = "near"


class Entry(NamedTuple):
    """What a key remembers of one article."""

    node: tuple[str, str]  # (published_at or sentinel, id): the batch sort key
    story_id: str
    signature: bytes | None  # MinHash signature bytes (band keys only)
    stored_at: float  # event time (seconds) when it was remembered


class Verdict(NamedTuple):
    """What one key says about one article: ``original`` is None when nothing matched."""

    article_id: str
    kind: str  # exact | near
    original: Entry | None
    similarity: float = 1.0


def copy_keys(
    article: dict,
    *,
    by_url: bool = True,
    by_content: bool = True,
    sketcher: Sketcher | None = None,
    bands: int = 0,
    rows: int = 0,
) -> list[tuple[str, str, bytes | None]]:
    """``(key, kind, signature bytes)`` for every key an article is remembered under."""
    keys: list[tuple[str, str, bytes | None]] = [
        (k, EXACT_KIND, None) for k in exact_keys(article, by_url=by_url, by_content=by_content)
    ]
    if sketcher is not None and bands and rows:
        sig = sketcher(article.get("text"))
        if sig is not None:
            raw = signature_bytes(sig)
            keys.extend(("band:" + k, NEAR_KIND, raw) for k in band_keys(sig, bands, rows))
    return keys


def remember(
    stored: list[Entry],
    new: Entry,
    kind: str,
    *,
    threshold: float = 0.5,
    max_per_band: int = 20,
) -> tuple[Verdict, list[Entry]]:
    """Compare ``new`` with a key's remembered entries; return its verdict and the new memory.

    Exact keys: the first entry is the original, nothing else is kept. Band
    keys: the earliest stored entry whose signature verifies at ``threshold``
    is the match; ``new`` is remembered when it matched nothing (a later copy
    of a remembered article adds nothing new to match against), up to
    ``max_per_band`` entries.
    """
    article_id = new.node[1]
    same = [e for e in stored if e.node[1] == article_id]
    # The same article again (a re-delivered message) gets the verdict it got the first time.
    stored_before = [e for e in stored if e.node[1] != article_id and e.stored_at <= same[0].stored_at] if same else stored
    if kind == EXACT_KIND:
        if stored_before:
            return Verdict(article_id, kind, stored_before[0]), stored
        return Verdict(article_id, kind, None), stored if same else [new]
    best: tuple[Entry, float] | None = None
    if new.signature is not None:
        for entry in sorted(stored_before, key=lambda e: (e.stored_at, e.node)):
            if entry.signature is None:
                continue
            similarity = verify(signature_of(new.signature), signature_of(entry.signature))
            if similarity >= threshold:
                best = (entry, similarity)
                break
    if best is not None:
        return Verdict(article_id, kind, best[0], best[1]), stored
    if same or len(stored) >= max_per_band:
        return Verdict(article_id, kind, None, 0.0), stored
    return Verdict(article_id, kind, None, 0.0), stored + [new]


def expire(stored: list[Entry], now: float, retention_seconds: float) -> list[Entry]:
    """The entries still inside the retention window at event time ``now``."""
    return [e for e in stored if e.stored_at + retention_seconds > now]


def resolve(article: dict, verdicts: Iterable[Verdict]) -> dict:
    """A copy of ``article`` with ``dedup`` and ``story_id`` set from its keys' verdicts."""
    verdicts = list(verdicts)
    exact = [v.original for v in verdicts if v.kind == EXACT_KIND and v.original is not None]
    near = [v for v in verdicts if v.kind == NEAR_KIND and v.original is not None]
    out = dict(article)
    if exact:
        original = min(exact, key=lambda e: e.node)
        out["dedup"] = {"status": EXACT, "duplicate_of": original.node[1]}
        out["story_id"] = original.story_id
    elif near:
        best = min(near, key=lambda v: (v.original.node, -v.similarity))
        out["dedup"] = {"status": NEAR, "duplicate_of": best.original.node[1], "similarity": round(best.similarity, 3)}
        out["story_id"] = best.original.story_id
    else:
        out["dedup"] = {"status": UNIQUE, "duplicate_of": None}
        out["story_id"] = story_id_for(article["id"])
    return out


# ---------------------------------------------------------------------------
# Beam
# ---------------------------------------------------------------------------


class _FanOutKeys(beam.DoFn):
    """article -> ``(key, (kind, Entry))`` per copy key (MinHash built in setup)."""

    def __init__(self, by_url: bool, by_content: bool, near: Any) -> None:
        self._by_url, self._by_content = by_url, by_content
        self._near = near
        self._sketcher: Sketcher | None = None
        self._bands = self._rows = 0

    def setup(self) -> None:
        near = self._near
        if near is not None and near.enabled:
            self._sketcher = Sketcher(near.num_perm, k=near.shingle_k, min_shingles=near.min_shingles)
            self._bands, self._rows = (near.bands, near.rows) if near.bands and near.rows else choose_bands(
                min(near.threshold, 0.999), near.num_perm
            )

    def process(self, article: dict, timestamp=beam.DoFn.TimestampParam) -> Iterator[tuple[str, tuple]]:
        node = tuple(node_of(article))
        for key, kind, sig in copy_keys(
            article,
            by_url=self._by_url,
            by_content=self._by_content,
            sketcher=self._sketcher,
            bands=self._bands,
            rows=self._rows,
        ):
            yield key, (kind, Entry(node, story_id_for(article["id"]), sig, float(timestamp)))


class RememberCopies(beam.DoFn):
    """Stateful, keyed by copy key, in the global window: one :class:`Verdict` per
    (article, key), memory cleared by an event-time timer after the retention."""

    MEMORY = userstate.ReadModifyWriteStateSpec("memory", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, retention_seconds: float, threshold: float, max_per_band: int = 20) -> None:
        self._retention = float(retention_seconds)
        self._threshold = threshold
        self._max_per_band = max_per_band
        ns = namespace(STAGE)
        self._remembered = Metrics.counter(ns, "keys_remembered")
        self._expired = Metrics.counter(ns, "keys_expired")
        self._exact = Metrics.counter(ns, "matches_exact")
        self._near = Metrics.counter(ns, "matches_near")

    def process(
        self,
        keyed: tuple[str, tuple[str, Entry]],
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, Verdict]]:
        _, (kind, entry) = keyed
        stored = memory.read() or []
        verdict, updated = remember(stored, entry, kind, threshold=self._threshold, max_per_band=self._max_per_band)
        if updated is not stored:
            memory.write(updated)
            if not stored:
                self._remembered.inc()
            oldest = min(e.stored_at for e in updated)
            expiry.set(Timestamp.of(oldest) + Duration.of(self._retention))
        if verdict.original is not None:
            (self._exact if kind == EXACT_KIND else self._near).inc()
        yield verdict.article_id, verdict

    @userstate.on_timer(EXPIRY)
    def on_expiry(
        self,
        fired=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[Any]:
        kept = expire(memory.read() or [], float(fired), self._retention)
        if kept:
            memory.write(kept)
            expiry.set(Timestamp.of(min(e.stored_at for e in kept)) + Duration.of(self._retention))
        else:
            memory.clear()
            self._expired.inc()
        return iter(())


class _Resolve(beam.DoFn):
    def __init__(self) -> None:
        ns = namespace(STAGE)
        self._counters = {s: Metrics.counter(ns, s) for s in (UNIQUE, EXACT, NEAR)}

    def process(self, joined: tuple[str, dict]) -> Iterator[dict]:
        _, groups = joined
        verdicts = list(groups["verdicts"])
        for article in groups["articles"]:  # one, unless the same input was delivered twice
            out = resolve(article, verdicts)
            self._counters[out["dedup"]["status"]].inc()
            yield out


class MarkDuplicatesAcrossWindows(beam.PTransform):
    """Windowed articles -> the same articles with ``dedup`` and ``story_id`` set,
    remembering originals across windows for ``retention_seconds`` of event time.

    FanOutKeys -> GlobalWindow -> RememberCopies (stateful per copy key) ->
    back into the articles' windows -> JoinVerdicts (CoGroupByKey by id) ->
    Resolve. Every article comes out once per delivery; none is dropped.
    """

    def __init__(self, windowfn: Any, *, by_url: bool = True, by_content: bool = True, near: Any = None,
                 retention_seconds: float = 86400.0, allowed_lateness: float = 0.0) -> None:
        super().__init__()
        self._windowfn = windowfn
        self._by_url, self._by_content, self._near = by_url, by_content, near
        self._retention = retention_seconds
        self._lateness = allowed_lateness

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        threshold = self._near.threshold if self._near is not None else 1.0
        verdicts = (
            articles
            | "FanOutKeys" >> beam.ParDo(_FanOutKeys(self._by_url, self._by_content, self._near)).with_output_types(
                Tuple[str, Any]  # RememberCopies' state key coder comes from this type: a str coder, deterministic
            )
            | "GlobalMemory" >> beam.WindowInto(beam.window.GlobalWindows())
            | "RememberCopies" >> beam.ParDo(RememberCopies(self._retention, threshold))
            | "VerdictsIntoWindows" >> beam.WindowInto(self._windowfn, allowed_lateness=self._lateness)
        )
        keyed = articles | "KeyById" >> beam.Map(lambda a: (a["id"], a))
        return (
            {"articles": keyed, "verdicts": verdicts}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(_Resolve())
        )


# ---------------------------------------------------------------------------
# Lateness: an element behind the watermark is a dead letter, never a silent drop
# ---------------------------------------------------------------------------


def window_end(timestamp: float, window_seconds: float) -> float:
    """The end of the fixed window of ``window_seconds`` holding ``timestamp``."""
    return (timestamp // window_seconds + 1) * window_seconds


def is_too_late(timestamp: float, window_seconds: float, allowed_lateness: float, watermark_at_least: float) -> bool:
    """Whether the watermark is known to have passed the element's window plus the lateness."""
    return window_end(timestamp, window_seconds) + allowed_lateness <= watermark_at_least


class DivertLate(beam.DoFn):
    """Stateful, in the global window: elements whose window has closed (watermark
    past window end + allowed lateness) go to ``dead_letter``; others pass on.

    Beam does not show the watermark to a DoFn, so each key learns a lower bound
    of it from an event-time timer armed at the earliest pending window deadline
    (``window end + allowed lateness``). A GroupByKey would drop such elements
    without a trace; here they are counted (``newsbeam.streaming.late``) and kept.
    """

    KNOWN = userstate.ReadModifyWriteStateSpec("watermark_at_least", PickleCoder())
    PENDING = userstate.ReadModifyWriteStateSpec("pending_deadlines", PickleCoder())
    PROBE = userstate.TimerSpec("probe", TimeDomain.WATERMARK)

    def __init__(self, window_seconds: float, allowed_lateness: float, dead_letter_tag: str) -> None:
        self._window = float(window_seconds)
        self._lateness = float(allowed_lateness)
        self._tag = dead_letter_tag
        self._late = Metrics.counter(namespace("streaming"), "late")

    def process(
        self,
        keyed: tuple[Any, Any],
        timestamp=beam.DoFn.TimestampParam,
        known=beam.DoFn.StateParam(KNOWN),
        pending=beam.DoFn.StateParam(PENDING),
        probe=beam.DoFn.TimerParam(PROBE),
    ) -> Iterator[Any]:
        _, element = keyed
        ts = float(timestamp)
        watermark_at_least = known.read()
        if watermark_at_least is not None and is_too_late(ts, self._window, self._lateness, watermark_at_least):
            self._late.inc()
            origin = element.get("origin") if isinstance(element, dict) else None
            # Re-stamped so the dead letter itself is not behind the watermark: wall-clock
            # now (ahead of a live watermark), or the known watermark if that is later.
            restamp = Timestamp.of(max(time.time(), watermark_at_least))
            yield beam.pvalue.TaggedOutput(
                self._tag,
                beam.window.TimestampedValue({
                    "source": str(origin or element),
                    "stage": "streaming",
                    "error": (
                        f"late: event time {Timestamp.of(ts).to_rfc3339()} is in a window that closed "
                        f"(watermark passed its end + {self._lateness:g} s allowed lateness)"
                    ),
                    "excerpt": make_excerpt((element.get("text") or element.get("html") or element.get("title"))
                                            if isinstance(element, dict) else repr(element)),
                }, restamp),
            )
            return
        deadline = window_end(ts, self._window) + self._lateness
        deadlines = set(pending.read() or ())
        if deadline not in deadlines:
            deadlines.add(deadline)
            pending.write(sorted(deadlines))
            probe.set(Timestamp.of(min(deadlines)))
        yield element

    @userstate.on_timer(PROBE)
    def on_probe(
        self,
        fired=beam.DoFn.TimestampParam,
        known=beam.DoFn.StateParam(KNOWN),
        pending=beam.DoFn.StateParam(PENDING),
        probe=beam.DoFn.TimerParam(PROBE),
    ) -> Iterator[Any]:
        now = float(fired)
        known.write(max(now, known.read() or now))
        rest = [d for d in pending.read() or () if d > now]
        pending.write(rest)
        if rest:
            probe.set(Timestamp.of(rest[0]))
        return iter(())
