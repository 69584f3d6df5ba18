"""The keyed states of the streaming story blocks (:mod:`transforms.stories.streaming`).

A block key remembers the ids and times of its members (:class:`RememberStoryBlocks`)
and the root it gave each (:class:`ScoreStoryBlocks`); each member's vector is held
once, keyed by its article id (:class:`HoldVectors`), and travels to a block only
for the windows whose new members it is compared with. Two stateful steps per
block key, because Beam graphs have no cycles: the members a window needs are
known before their vectors are fetched, the roots only after they are scored.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

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
WANTED, PROPOSALS, UNJOINED = "wanted", "proposals", "unjoined"  # tagged outputs of RememberStoryBlocks


class RememberStoryBlocks(beam.DoFn):
    """Stateful per block key (global window): which articles the key remembers (ids and
    times only, :func:`block_candidates`), and which of them a window's new members are
    compared with. Emits ``(remembered id, (WANT, join key))`` to the vector store and
    ``(join key, (NEW, (members, number wanted)))`` to the scoring, or, when it wants
    none (most keys of a window: nobody near in time, or a key new to the stream),
    ``(block key, [(NEW, (members, 0))])`` straight to the scoring (``UNJOINED``)."""

    MEMORY = userstate.ReadModifyWriteStateSpec("members", BytesCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, params: StoryParams, retention_seconds: float) -> None:
        self._params = params
        self._retention = float(retention_seconds)
        ns = namespace(STAGE)
        self._stored = Metrics.counter(ns, "block_members")
        self._expired = Metrics.counter(ns, "blocks_expired")

    def process(
        self,
        keyed: tuple[str, Iterable[tuple]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
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
        if updated and (remembered or updated != stored or not read):
            self._stored.inc(max(0, len(updated) - len(stored)))
            memory.write(pack_block(updated))
            expiry.set(Timestamp.of(min(s.stored_at for s in updated)) + Duration.of(self._retention))
        fresh = [p for p in new if p[0] not in again]
        for article_id in sorted(again):  # delivered again: decided already, only completes its join
            yield beam.pvalue.TaggedOutput(PROPOSALS, (article_id, (PROPOSAL, Proposal(article_id, article_id, ()))))
        if fresh and not wanted:  # nothing to fetch (a new key, or none near in time): scored at once
            yield beam.pvalue.TaggedOutput(UNJOINED, (key, [(NEW, (fresh, 0))]))
        elif fresh:
            join_key = f"{key}\0{float(timestamp)}\0{min(p[0] for p in fresh)}"
            for article_id in wanted:
                yield beam.pvalue.TaggedOutput(WANTED, (article_id, (WANT, join_key)))
            yield join_key, (NEW, (fresh, len(wanted)))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, fired=beam.DoFn.TimestampParam, memory=beam.DoFn.StateParam(MEMORY),
                  expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterator[Any]:
        read = memory.read()
        kept = expire_block(unpack_block(read) if read else [], float(fired), self._retention)
        if kept:
            memory.write(pack_block(kept))
            expiry.set(Timestamp.of(min(s.stored_at for s in kept)) + Duration.of(self._retention))
        else:
            memory.clear()
            self._expired.inc()
        return iter(())


PROPOSALS = "proposals"


class HoldVectors(beam.DoFn):
    """Stateful per article id (global window): the article's member, held once (not
    under each of its block keys). Answers every ``WANT`` of a block with ``(join key,
    (HELD, Held or None))``; forgets by timer after the retention (counter
    ``wanted_but_forgotten``: a block asked for a member the store no longer holds)."""

    MEMORY = userstate.ReadModifyWriteStateSpec("held", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, retention_seconds: float) -> None:
        self._retention = float(retention_seconds)
        self._missing = Metrics.counter(namespace(STAGE), "wanted_but_forgotten")

    def process(
        self,
        keyed: tuple[str, tuple[str, Any]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[str, Any]]]:
        article_id, (kind, value) = keyed
        if kind == WANT:
            held = unpack_held(memory.read())
            if held is None:
                self._missing.inc()
            yield value, (HELD, held)
            return
        if memory.read() is not None:
            return  # delivered again: the first member stays
        held = Held(article_id, value[1], float(timestamp), value) if kind == VECTOR else value  # else: --state
        memory.write(pack_held(held))
        expiry.set(Timestamp.of(held.stored_at) + Duration.of(self._retention))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, memory=beam.DoFn.StateParam(MEMORY)) -> Iterator[Any]:
        memory.clear()
        return iter(())


class ScoreStoryBlocks(beam.DoFn):
    """Stateful per block key (global window): a block's new members and the remembered
    members they wanted (from the store) -> proposals (:func:`block_step`); remembers the
    root this block gave each member. An article's proposals from the keys of one bundle
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
        held = [v for k, v in value if k == HELD and v is not None]
        proposals, updated = block_step(key, rooted, held, news[0][0], float(timestamp), self._params)
        if updated != rooted:
            self._write(memory, expiry, updated)
        for proposal in proposals:
            self._proposed.setdefault(proposal.article_id, []).append(proposal)
        if proposals and (self._earliest is None or timestamp < self._earliest):
            self._earliest = timestamp

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for article_id, proposals in self._proposed.items():
            yield WindowedValue((article_id, (PROPOSED, tuple(proposals))), self._earliest, [GlobalWindow()])
        self._proposed = {}

    def _write(self, memory, expiry, rooted: list[Rooted]) -> None:
        memory.write(pack_roots(rooted))
        expiry.set(Timestamp.of(min(r.stored_at for r in rooted)) + Duration.of(self._retention))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, fired=beam.DoFn.TimestampParam, memory=beam.DoFn.StateParam(MEMORY),
                  expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterator[Any]:
        read = memory.read()
        kept = [r for r in (unpack_roots(read) if read else []) if r.stored_at + self._retention > float(fired) + 1e-3]
        if kept:
            self._write(memory, expiry, kept)
        else:
            memory.clear()
        return iter(())
