"""``AssignStoriesAcrossWindows``: story ids in a streaming job, as batch gives them.

The steps of :mod:`transforms.stories.windows` in Beam, each keyed, none global::

    originals -> StoryFeatures -> SplitByShard -> GroupShards -> CountFrequencies (state per shard)
      -> JoinFrequencies (by article id) -> VectorizeAndRoute (block keys, the batch code)
      -> GroupBlocks -> RememberStoryBlocks (state per block key: proposals)
      -> JoinProposals (by article id) -> ChooseRoots
      -> GroupRoots -> ResolveRoots (state per root id: the root's own choice)
      duplicates -> by their original ---------^
      -> JoinStories (by article id) -> articles with story_id
    prior (--state memory records) -> RoutePrior -> into CountFrequencies and RememberStoryBlocks

Each stateful step runs in the global window on what a window's ``GroupByKey``
delivered (so the window's articles are decided together, in an order that does
not depend on arrival within the window), and its outputs go back into the
articles' windows. State is cleared by event-time timers ``retention_seconds``
after it was stored. Late articles (within the allowed lateness) come through in
a late pane of their window and meet the state as it is then.

Counters (namespace ``newsbeam.streamstories``): ``articles`` (originals
assigned), ``unblocked`` (no feature rare enough to pair by), ``joined`` (joined
a remembered or concurrent story), ``started`` (started a story),
``resolved_through_alias`` (a root that had itself joined a story),
``block_members`` (members stored under block keys), ``blocks_expired``,
``frequency_articles_expired``, ``incomplete_joins`` (parts flushed by timer; 0 when all is well).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.common.stage import namespace
from transforms.stories.blocks import member_payload
from transforms.state.memory import prior_story_features, story_root
from transforms.stories.features import article_features, features_payload
from transforms.stories.params import StoryParams
from transforms.stories.records import story_id_for
from transforms.stories.windows import (
    DEFAULT_SHARDS,
    FrequencyMemory,
    RootMemory,
    Stored,
    block_step,
    bucket_of,
    choose_root,
    expire_block,
    expired_before,
    feature_names,
    resolve_root,
    route,
    split_names,
)

STAGE = "streamstories"
SELF, MEMBER = "self", "member"


def _is_copy(article: dict) -> bool:
    return bool((article.get("dedup") or {}).get("duplicate_of"))


class _SplitByShard(beam.DoFn):
    def process(self, payload: tuple, shards: int) -> Iterator[tuple[int, tuple[str, list[str]]]]:
        for shard, names in enumerate(split_names(feature_names(payload), shards)):
            yield shard, (payload[0], names)


class CountFrequencies(beam.DoFn):
    """Stateful per shard (global window): adds a window's articles to the shard's
    document frequencies, then answers each article with the frequencies of its
    names and the number of documents; old time buckets go by timer."""

    MEMORY = userstate.ReadModifyWriteStateSpec("frequencies", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, retention_seconds: float, buckets: int = 8) -> None:
        self._retention = float(retention_seconds)
        self._bucket = self._retention / buckets
        self._expired = Metrics.counter(namespace(STAGE), "frequency_articles_expired")

    def process(
        self,
        keyed: tuple[int, Iterable[tuple[str, list[str]]]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[dict, int]]]:
        _, items = keyed
        items = list(items)
        state: FrequencyMemory = memory.read() or FrequencyMemory()
        bucket = bucket_of(float(timestamp), self._bucket)
        for item in items:  # (id, names), or (id, names, first seen) for a remembered batch article
            state.add(item[0], item[1], bucket if len(item) == 2 else bucket_of(item[2], self._bucket))
        memory.write(state)
        self._arm(expiry, state)
        for item in items:
            if len(item) == 2:
                yield item[0], (state.frequencies(item[1]), state.n)

    def _arm(self, expiry, state: FrequencyMemory) -> None:
        oldest = state.oldest()
        if oldest is not None:
            expiry.set(Timestamp.of((oldest + 1) * self._bucket) + Duration.of(self._retention))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, fired=beam.DoFn.TimestampParam, memory=beam.DoFn.StateParam(MEMORY),
                  expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterator[Any]:
        state: FrequencyMemory | None = memory.read()
        if state is not None:
            keep_from = expired_before(float(fired), self._retention, self._bucket)
            self._expired.inc(state.expire(keep_from))
            if state.n:
                memory.write(state)
                self._arm(expiry, state)
            else:
                memory.clear()
        return iter(())


class JoinParts(beam.DoFn):
    """Stateful per article id (global window): gathers the parts of one article that
    come through different steps, ``(kind, value)``, and emits ``(id, parts)`` once
    ``complete(parts)``; what came is emitted anyway when the watermark passes
    ``grace_seconds`` after the last part (counter ``incomplete_joins``). A
    CoGroupByKey would split the parts of a late article over several panes."""

    PARTS = userstate.BagStateSpec("parts", PickleCoder())
    FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)

    def __init__(self, complete: Callable[[list], bool], grace_seconds: float) -> None:
        self._complete = complete
        self._grace = float(grace_seconds)
        self._incomplete = Metrics.counter(namespace(STAGE), "incomplete_joins")

    def process(self, keyed: tuple[str, tuple[str, Any]], timestamp=beam.DoFn.TimestampParam,
                parts=beam.DoFn.StateParam(PARTS), flush=beam.DoFn.TimerParam(FLUSH)) -> Iterator[tuple[str, list]]:
        key, part = keyed
        parts.add(part)
        got = list(parts.read())
        if self._complete(got):
            parts.clear()
            yield key, got
        else:
            flush.set(timestamp + Duration.of(self._grace))

    @userstate.on_timer(FLUSH)
    def on_flush(self, key=beam.DoFn.KeyParam, parts=beam.DoFn.StateParam(PARTS)) -> Iterator[tuple[str, list]]:
        got = list(parts.read())
        if got:
            parts.clear()
            self._incomplete.inc()
            yield key, got


def _count(parts: list, kind: str) -> int:
    return sum(1 for k, _ in parts if k == kind)


def frequencies_complete(shards: int, parts: list) -> bool:
    """The article's features and the answer of every frequency shard."""
    return _count(parts, PAYLOAD) >= 1 and _count(parts, FREQUENCIES) >= shards


def proposals_complete(parts: list) -> bool:
    """The article and a proposal from each block key it was sent to."""
    expected = [v for k, v in parts if k == ARTICLE]
    return bool(expected) and _count(parts, PROPOSAL) >= expected[0]


def story_complete(parts: list) -> bool:
    """The article and its story id."""
    return _count(parts, ARTICLE) >= 1 and _count(parts, STORY) >= 1


PAYLOAD, FREQUENCIES, ARTICLE, PROPOSAL, STORY = "payload", "df", "article", "proposal", "story"


class _VectorizeAndRoute(beam.DoFn):
    """Article features and their frequencies -> ``(block key, member)`` per block key,
    and ``(article id, None)`` so that every article reaches the choice."""

    def __init__(self, params: StoryParams) -> None:
        self._params = params
        self._unblocked = Metrics.counter(namespace(STAGE), "unblocked")

    def process(self, joined: tuple[str, list]) -> Iterator[Any]:
        article_id, parts = joined
        payloads = [v for k, v in parts if k == PAYLOAD]
        if not payloads:
            return
        df: dict[str, int] = {}
        n = 0
        for part, count in (v for k, v in parts if k == FREQUENCIES):
            df.update(part)
            n = max(n, count)
        keys, member = route(payloads[0], df, max(n, 1), self._params)
        yield beam.pvalue.TaggedOutput(ARTICLES, (article_id, (ARTICLE, len(keys))))
        if not keys:
            self._unblocked.inc()
        payload = member_payload(member)
        for key in keys:
            yield key, payload


ARTICLES = "articles"


class RememberStoryBlocks(beam.DoFn):
    """Stateful per block key (global window): a window's new members against the
    remembered ones (:func:`block_step`); emits ``(article id, Proposal)``."""

    MEMORY = userstate.ReadModifyWriteStateSpec("members", PickleCoder())
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
    ) -> Iterator[tuple[str, Any]]:
        key, values = keyed
        stored = read = memory.read() or []
        new, remembered = [], []
        for value in values:
            (remembered if isinstance(value, Stored) else new).append(value)
        if remembered:  # batch articles (--state): stored with their story, proposing nothing
            held = {s.id for s in stored}
            stored = sorted([*stored, *(r for r in remembered if r.id not in held)], key=lambda r: (r.published_at, r.id))
        proposals, updated = block_step(key, stored, new, float(timestamp), self._params)
        if len(updated) != len(read) or updated != read:
            self._stored.inc(max(0, len(updated) - len(read)))
            memory.write(updated)
            expiry.set(Timestamp.of(min(s.stored_at for s in updated)) + Duration.of(self._retention))
        for proposal in proposals:
            yield proposal.article_id, (PROPOSAL, proposal)

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, fired=beam.DoFn.TimestampParam, memory=beam.DoFn.StateParam(MEMORY),
                  expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterator[Any]:
        kept = expire_block(memory.read() or [], float(fired), self._retention)
        if kept:
            memory.write(kept)
            expiry.set(Timestamp.of(min(s.stored_at for s in kept)) + Duration.of(self._retention))
        else:
            memory.clear()
            self._expired.inc()
        return iter(())


class _RoutePrior(beam.DoFn):
    """A remembered batch original (``--state`` memory record) -> its names for the
    frequency shards and ``(block key, Stored)`` under its story root. Routed by its
    own features alone (no frequencies: a combine over the memory would be a
    grouping of a bounded input, which the streaming DirectRunner cannot run), so
    its vector weighs features by their counts only."""

    def __init__(self, params: StoryParams, shards: int) -> None:
        self._params = params
        self._shards = shards

    def process(self, record: dict) -> Iterator[Any]:
        features = prior_story_features(record)
        root = story_root(record)
        if features is None or root is None:
            return
        payload = features_payload(features)
        first_seen = epoch_seconds(record["first_seen"])
        for shard, names in enumerate(split_names(feature_names(payload), self._shards)):
            yield beam.pvalue.TaggedOutput(FREQUENCIES, (shard, [(payload[0], names, first_seen)]))
        keys, member = route(payload, {}, 1, self._params)
        entry = Stored(payload[0], payload[1], root, first_seen, member_payload(member))
        for key in keys:
            yield key, [entry]


def epoch_seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class _ChooseRoot(beam.DoFn):
    """An article's proposals -> its own record under its id and a member record under
    the chosen root (the same key when it starts a story)."""

    def __init__(self) -> None:
        ns = namespace(STAGE)
        self._articles = Metrics.counter(ns, "articles")
        self._joined = Metrics.counter(ns, "joined")
        self._started = Metrics.counter(ns, "started")

    def process(self, joined: tuple[str, list]) -> Iterator[tuple[str, tuple[str, str]]]:
        article_id, parts = joined
        if _count(parts, ARTICLE):  # else: proposals of an article delivered twice, already decided
            root = choose_root(article_id, [v for k, v in parts if k == PROPOSAL])
            self._articles.inc()
            (self._started if root == article_id else self._joined).inc()
            yield article_id, (SELF, root)
            yield root, (MEMBER, article_id)


class ResolveRoots(beam.DoFn):
    """Stateful per root id (global window): remembers the story that article chose
    and gives every member naming this root that story (one hop)."""

    MEMORY = userstate.ReadModifyWriteStateSpec("root", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, retention_seconds: float) -> None:
        self._retention = float(retention_seconds)
        self._aliased = Metrics.counter(namespace(STAGE), "resolved_through_alias")

    def process(
        self,
        keyed: tuple[str, Iterable[tuple[str, str]]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, str]]:
        root, records = keyed
        records = list(records)
        known: RootMemory | None = memory.read()
        own = [value for kind, value in records if kind == SELF]
        if own and (known is None or known.story_root is None):
            known = RootMemory(min(own), float(timestamp))
            memory.write(known)
            expiry.set(Timestamp.of(float(timestamp)) + Duration.of(self._retention))
        story_root = resolve_root(root, known)
        for kind, member in records:
            if kind == MEMBER:
                if story_root != root:
                    self._aliased.inc()
                yield member, (STORY, story_id_for(story_root))

    @userstate.on_timer(EXPIRY)
    def on_expiry(self, memory=beam.DoFn.StateParam(MEMORY)) -> Iterator[Any]:
        memory.clear()
        return iter(())


def _with_story(joined: tuple[str, list]) -> Iterator[dict]:
    _, parts = joined
    stories = sorted({v for k, v in parts if k == STORY})
    for article in (v for k, v in parts if k == ARTICLE):
        out = dict(article)
        if stories:
            out["story_id"] = stories[0]
        yield out


class AssignStoriesAcrossWindows(beam.PTransform):
    """Windowed articles with ``dedup`` set -> the same articles with ``story_id`` from
    the story memory of earlier windows (originals) or their original's story
    (duplicates). None is dropped: an article whose story could not be resolved
    keeps the ``story_id`` it came with."""

    def __init__(self, windowfn: Any, params: StoryParams | None = None, *, retention_seconds: float = 7 * 86400.0,
                 allowed_lateness: float = 0.0, shards: int = DEFAULT_SHARDS,
                 prior: beam.PCollection | None = None) -> None:
        super().__init__()
        self._prior = prior  # memory records of a batch run's --state: its stories, continued
        self._windowfn = windowfn
        self._params = params or StoryParams()
        self._retention = retention_seconds
        self._lateness = allowed_lateness
        self._shards = shards

    def _back(self, label: str) -> beam.WindowInto:
        return label >> beam.WindowInto(self._windowfn, allowed_lateness=self._lateness)

    def _join(self, label: str, parts: list, complete: Callable[[list], bool]) -> beam.PCollection:
        grace = getattr(self._windowfn, "size", 60) + self._lateness
        global_parts = [
            part | f"{label}Part{i}InGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
            for i, part in enumerate(parts)
        ]
        return (
            global_parts
            | f"{label}Parts" >> beam.Flatten()
            | label >> beam.ParDo(JoinParts(complete, float(grace)))
        )

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        params = self._params
        originals = articles | "KeepOriginals" >> beam.Filter(lambda a: not _is_copy(a))
        payloads = originals | "StoryFeatures" >> beam.Map(article_features, params)
        shard_groups = (
            payloads
            | "SplitByShard" >> beam.ParDo(_SplitByShard(), self._shards)
            | "GroupShards" >> beam.GroupByKey()
            | "ShardsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
        )
        prior_blocks = None
        if self._prior is not None:
            routed_prior = self._prior | "RoutePrior" >> beam.ParDo(
                _RoutePrior(params, self._shards)
            ).with_outputs(FREQUENCIES, main="blocks")
            shard_groups = [
                shard_groups,
                routed_prior[FREQUENCIES] | "PriorShardsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows()),
            ] | "WithPriorShards" >> beam.Flatten()
            prior_blocks = routed_prior.blocks | "PriorBlocksInGlobalWindow" >> beam.WindowInto(
                beam.window.GlobalWindows()
            )
        frequencies = (
            shard_groups
            | "CountFrequencies" >> beam.ParDo(CountFrequencies(self._retention))
            | "TagFrequencies" >> beam.Map(lambda kv: (kv[0], (FREQUENCIES, kv[1])))
        )
        keyed_payloads = payloads | "KeyPayloads" >> beam.Map(lambda p: (p[0], (PAYLOAD, p)))
        routed = (
            self._join("JoinFrequencies", [keyed_payloads, frequencies],
                       functools.partial(frequencies_complete, self._shards))
            | self._back("FeaturesIntoWindows")
            | "VectorizeAndRoute" >> beam.ParDo(_VectorizeAndRoute(params)).with_outputs(ARTICLES, main="blocks")
        )
        blocks = (
            routed.blocks
            | "GroupBlocks" >> beam.GroupByKey()
            | "BlocksInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
        )
        if prior_blocks is not None:
            blocks = (blocks, prior_blocks) | "WithPriorBlocks" >> beam.Flatten()
        proposals = (
            blocks
            | "RememberStoryBlocks" >> beam.ParDo(RememberStoryBlocks(params, self._retention))
        )
        chosen = (
            self._join("JoinProposals", [routed[ARTICLES], proposals], proposals_complete)
            | "ChooseRoots" >> beam.ParDo(_ChooseRoot())
            | self._back("ChoicesIntoWindows")
        )
        copies = (
            articles
            | "KeepCopies" >> beam.Filter(_is_copy)
            | "ByOriginal" >> beam.Map(lambda a: (a["dedup"]["duplicate_of"], (MEMBER, a["id"])))
        )
        stories = (
            (chosen, copies)
            | "WithCopies" >> beam.Flatten()
            | "GroupRoots" >> beam.GroupByKey()
            | "RootsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
            | "ResolveRoots" >> beam.ParDo(ResolveRoots(self._retention))
        )
        keyed_articles = articles | "KeyArticles" >> beam.Map(lambda a: (a["id"], (ARTICLE, a)))
        return (
            self._join("JoinStories", [keyed_articles, stories], story_complete)
            | self._back("ArticlesIntoWindows")
            | "SetStoryIds" >> beam.FlatMap(_with_story)
        )
