"""The keyed states of the streaming story blocks (:mod:`transforms.stories.streaming`).

A block key remembers the ids and times of its members (:class:`RememberStoryBlocks`)
and the root it gave each; each member's vector is held once, keyed by its article
id (:class:`HoldVectors`), and travels to a block only for the windows whose new
members it is compared with. Two stateful steps per block key, because Beam graphs
have no cycles: the members a window needs are known before their vectors are
fetched, the roots only after they are scored. A window that needs no remembered
vector (most keys of a window: a key new to the stream, or nobody near in time) is
scored in the first step, which keeps the roots it gave; the rest in
:class:`ScoreStoryBlocks`, which keeps those it gave and gets the first step's with
the window's new members: a member's root is in one of the two, and the block's
roots are the two merged in storage order (:func:`merge_roots`). Until 2026-12-07
(eighth round) every window went through both steps: an element, a state and a
timer more per key.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.coders import BytesCoder, PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transforms.common.stage import namespace
from transforms.stories.params import StoryParams
from transforms.stories.windows import (
    Held,
    Proposal,
    Rooted,
    Stored,
    all_expired,
    block_candidates,
    block_step,
    expire_block,
    pack_block,
    pack_held,
    pack_roots,
    unpack_block,
    unpack_held,
    unpack_roots,
)

STAGE = "streamstories"
NEW, HELD, WANT, VECTOR, PRIOR, PROPOSAL = "new", "held", "want", "vector", "prior", "proposal"
PROPOSED = "proposed"  # an article's proposals from the block keys of one bundle, as one element
HELD_MANY = "held_many"  # the store's answers to one block's join from one bundle, as one element
WANTED, PROPOSALS = "wanted", "proposals"  # tagged outputs of RememberStoryBlocks


def merge_roots(first: Sequence[Rooted], second: Sequence[Rooted], max_size: int) -> list[Rooted]:
    """The roots two steps keep for one block key, as one list in storage order (stable:
    ``first`` before ``second`` at the same storage time), the newest ``max_size``
    (what one list capped in storage order keeps: entries are only ever added newer)."""
    merged = sorted([*first, *second], key=lambda r: r.stored_at)
    return merged[-max_size:] if len(merged) > max_size else merged


def _by_bundle(kind: str, values: dict[str, list], earliest: Timestamp | None) -> Iterator[WindowedValue]:
    """A bundle's values per key as one element each, ``(key, (kind, (value, ...)))``, in
    the global window at the bundle's earliest timestamp: each element through a join
    costs the streaming runner a state copy, a read and a write."""
    for key, found in values.items():
        yield WindowedValue((key, (kind, tuple(found))), earliest, [GlobalWindow()])


class RememberStoryBlocks(beam.DoFn):
    """Stateful per block key (global window): which articles the key remembers (ids and
    times, :func:`block_candidates`), and which of them a window's new members are
    compared with. Emits ``(remembered id, (WANT, (join key, ...)))`` to the vector store
    (the join keys of one bundle that want it) and
    ``(join key, (NEW, (members, number wanted, the roots this step keeps)))`` to the
    scoring; or, when it wants none (most keys of a window: nobody near in time, or a
    key new to the stream), scores the new members itself (:func:`block_step` with no
    remembered vector), keeps the roots it gave them (``ROOTS``) and sends an article's
    proposals from the keys of one bundle as one element (``PROPOSALS``)."""

    MEMORY = userstate.ReadModifyWriteStateSpec("members", BytesCoder())
    ROOTS = userstate.ReadModifyWriteStateSpec("roots", BytesCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, params: StoryParams, retention_seconds: float) -> None:
        self._params = params
        self._retention = float(retention_seconds)
        ns = namespace(STAGE)
        self._stored = Metrics.counter(ns, "block_members")
        self._expired = Metrics.counter(ns, "blocks_expired")

    def start_bundle(self) -> None:
        self._proposed: dict[str, list[Proposal]] = {}
        self._wants: dict[str, list[str]] = {}  # remembered id -> the join keys that want it, this bundle
        self._earliest: Timestamp | None = None

    def finish_bundle(self) -> Iterator[Any]:
        for proposed in _by_bundle(PROPOSED, self._proposed, self._earliest):
            yield beam.pvalue.TaggedOutput(PROPOSALS, proposed)
        for wants in _by_bundle(WANT, self._wants, self._earliest):
            yield beam.pvalue.TaggedOutput(WANTED, wants)
        self._proposed, self._wants = {}, {}

    def process(
        self,
        keyed: tuple[str, Iterable[tuple]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        roots=beam.DoFn.StateParam(ROOTS),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[Any]:
        key, values = keyed
        read = memory.read()
        stored = unpack_block(read) if read else []
        new, remembered = [], []
        for value in values:  # a batch's members (a list), or a remembered batch article (--state)
            if isinstance(value, Stored):
                remembered.append(value)
            else:
                new.extend(value)
        if remembered:  # batch articles (--state): stored, proposing nothing
            held = {s.id for s in stored}
            stored = [*stored, *(r for r in remembered if r.id not in held)]
        wanted, again, updated = block_candidates(stored, [(p[0], p[1]) for p in new], float(timestamp), self._params)
        fresh = [p for p in new if p[0] not in again]
        packed_roots = roots.read() if fresh or remembered else None  # what memory.write arms the timer by
        mine = unpack_roots(packed_roots) if packed_roots else []
        if fresh and not wanted:  # nothing to fetch (a new key, or none near in time): scored here, now
            proposals, scored = block_step(key, mine, [], fresh, float(timestamp), self._params)
            if scored != mine:
                mine = scored
                roots.write(pack_roots(mine))
            for proposal in proposals:
                self._proposed.setdefault(proposal.article_id, []).append(proposal)
        if fresh and (self._earliest is None or timestamp < self._earliest):
            self._earliest = timestamp
        if updated and (remembered or updated != stored or not read):
            self._stored.inc(max(0, len(updated) - len(stored)))
            memory.write(pack_block(updated))
            self._arm(expiry, updated, mine)
        for article_id in sorted(again):  # delivered again: decided already, only completes its join
            yield beam.pvalue.TaggedOutput(PROPOSALS, (article_id, (PROPOSAL, Proposal(article_id, article_id, ()))))
        if fresh and wanted:
            join_key = f"{key}\0{float(timestamp)}\0{min(p[0] for p in fresh)}"
            for article_id in wanted:  # to the store at the end of the bundle, one element per member
                self._wants.setdefault(article_id, []).append(join_key)
            yield join_key, (NEW, (fresh, len(wanted), packed_roots or b""))

    def _arm(self, expiry, stored: list[Stored], rooted: list[Rooted]) -> None:
        first = min([s.stored_at for s in stored] + [r.stored_at for r in rooted])
        expiry.set(Timestamp.of(first) + Duration.of(self._retention))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, fired=beam.DoFn.TimestampParam, memory=beam.DoFn.StateParam(MEMORY),
                  roots=beam.DoFn.StateParam(ROOTS), expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterator[Any]:
        read, packed_roots = memory.read(), roots.read()
        now = float(fired)
        if read and all_expired(read, now, self._retention):  # the members need not be read
            kept = []
        else:
            kept = expire_block(unpack_block(read) if read else [], now, self._retention)
        kept_roots = _expire_roots(roots, packed_roots, now, self._retention)
        if kept:
            memory.write(pack_block(kept))
        else:
            memory.clear()
            self._expired.inc()
        if kept or kept_roots:
            self._arm(expiry, kept, kept_roots)
        return iter(())


PROPOSALS = "proposals"


class HoldVectors(beam.DoFn):
    """Stateful per article id (global window): the article's member, held once (not
    under each of its block keys). Answers every join key a ``WANT`` names with ``(join
    key, (HELD_MANY, (Held or None, ...)))``, the answers of one bundle to one join key
    as one element (eighth round: one element per member and join key before); forgets
    by timer after the retention (counter ``wanted_but_forgotten``: a block asked for a
    member the store no longer holds)."""

    MEMORY = userstate.ReadModifyWriteStateSpec("held", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, retention_seconds: float) -> None:
        self._retention = float(retention_seconds)
        self._missing = Metrics.counter(namespace(STAGE), "wanted_but_forgotten")

    def start_bundle(self) -> None:
        self._answers: dict[str, list[Held | None]] = {}
        self._earliest: Timestamp | None = None

    def finish_bundle(self) -> Iterator[WindowedValue]:
        yield from _by_bundle(HELD_MANY, self._answers, self._earliest)
        self._answers = {}

    def process(
        self,
        keyed: tuple[str, tuple[str, Any]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> None:
        article_id, (kind, value) = keyed
        if kind == WANT:
            held = unpack_held(memory.read())
            if held is None:
                self._missing.inc(len(value))
            for join_key in value:
                self._answers.setdefault(join_key, []).append(held)
            if self._earliest is None or timestamp < self._earliest:
                self._earliest = timestamp
        elif memory.read() is None:  # else delivered again: the first member stays
            held = Held(article_id, value[1], float(timestamp), value) if kind == VECTOR else value  # else: --state
            memory.write(pack_held(held))
            expiry.set(Timestamp.of(held.stored_at) + Duration.of(self._retention))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, memory=beam.DoFn.StateParam(MEMORY)) -> Iterator[Any]:
        memory.clear()
        return iter(())


def _expire_roots(roots, packed: bytes | None, now: float, retention_seconds: float) -> list[Rooted]:
    """The roots kept after an expiry at ``now``, the ``roots`` state rewritten or
    cleared when some went (:func:`all_expired`: none unpacked when all go)."""
    if not packed:
        return []
    if all_expired(packed, now, retention_seconds):
        roots.clear()
        return []
    rooted = unpack_roots(packed)
    kept = [r for r in rooted if r.stored_at + retention_seconds > now + 1e-3]
    if len(kept) != len(rooted):
        if kept:
            roots.write(pack_roots(kept))
        else:
            roots.clear()
    return kept


class ScoreStoryBlocks(beam.DoFn):
    """Stateful per block key (global window): a block's new members and the remembered
    members they wanted (from the store) -> proposals (:func:`block_step`, against the
    roots of the block: the ones kept here and the ones ``RememberStoryBlocks`` kept,
    which come with the new members, :func:`merge_roots`); remembers the root it gave
    each of these members. An article's proposals from the keys of one bundle
    go out as one element, ``(article id, (PROPOSED, (Proposal, ...)))``, when the bundle
    finishes: an article has 15-20 block keys, and each element through the join by
    article id costs the streaming runner a state copy, a read and a write."""

    MEMORY = userstate.ReadModifyWriteStateSpec("roots", BytesCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, params: StoryParams, retention_seconds: float) -> None:
        self._params = params
        self._retention = float(retention_seconds)

    def start_bundle(self) -> None:
        self._proposed: dict[str, list[Proposal]] = {}
        self._earliest: Timestamp | None = None

    def process(
        self,
        keyed: tuple[str, Any],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[str, Any]]]:
        key, value = keyed
        read = memory.read()
        rooted = unpack_roots(read) if read else []
        if isinstance(value, Rooted):  # a remembered batch article (--state) in its story
            if all(r.id != value.id for r in rooted):
                self._write(memory, expiry, [*rooted, value])
            return
        news = [v for k, v in value if k == NEW]
        if not news:
            return
        held = [h for k, v in value if k == HELD_MANY for h in v if h is not None]
        held += [v for k, v in value if k == HELD and v is not None]
        fresh, _, packed_theirs = news[0]
        theirs = unpack_roots(packed_theirs) if packed_theirs else []
        block = merge_roots(theirs, rooted, self._params.max_block_size) if theirs else rooted
        proposals, updated = block_step(key, block, held, fresh, float(timestamp), self._params)
        if updated != block:
            their_ids = {r.id for r in theirs}
            self._write(memory, expiry, [r for r in updated if r.id not in their_ids])
        for proposal in proposals:
            self._proposed.setdefault(proposal.article_id, []).append(proposal)
        if proposals and (self._earliest is None or timestamp < self._earliest):
            self._earliest = timestamp

    def finish_bundle(self) -> Iterator[WindowedValue]:
        yield from _by_bundle(PROPOSED, self._proposed, self._earliest)
        self._proposed = {}

    def _write(self, memory, expiry, rooted: list[Rooted]) -> None:
        if not rooted:
            memory.clear()
            return
        memory.write(pack_roots(rooted))
        expiry.set(Timestamp.of(min(r.stored_at for r in rooted)) + Duration.of(self._retention))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, fired=beam.DoFn.TimestampParam, memory=beam.DoFn.StateParam(MEMORY),
                  expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterator[Any]:
        read = memory.read()
        if read and all_expired(read, float(fired), self._retention):  # none kept: nothing to unpack
            memory.clear()
            return iter(())
        kept = [r for r in (unpack_roots(read) if read else []) if r.stored_at + self._retention > float(fired) + 1e-3]
        if kept:
            self._write(memory, expiry, kept)
        else:
            memory.clear()
        return iter(())
