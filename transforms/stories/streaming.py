"""``AssignStoriesAcrossWindows``: story ids in a streaming job, as batch gives them.

The steps of :mod:`transforms.stories.windows` in Beam, each keyed, none global::

    articles -> SplitByShard (features of originals, a batch a bundle; every article by id; copies by original)
      -> GroupShards -> CountFrequencies (state per shard)
      -> JoinFrequencies (by batch id) -> VectorizeAndRoute (block keys, the batch code; a batch's members per key)
           |-- each member once, by article id ------------------------> HoldVectors (state per article id)
      -> GroupBlocks -> RememberStoryBlocks (state per block key: ids and times; a window that wants
           |   no remembered member is scored here, its roots kept here)  ^         |
           |-- the remembered members a new one meets: WANT (by member id) -------/          |
      -> JoinHeld (by block key and window) <-- HELD (their members) --------------------------/
      -> ScoreStoryBlocks (state per block key: the root it gave each member it scored; proposals)
      -> JoinProposals (by article id; chooses the root; a bundle's records per root as one element)
      -> GroupRoots -> ResolveRoots (state per root id: the root's own choice)
      duplicates -> by their original ---------^
      -> JoinStories (by article id) -> articles with story_id
    prior (--state memory records) -> RoutePrior -> into CountFrequencies, RememberStoryBlocks,
      HoldVectors and ScoreStoryBlocks

An article's vector is held once, by its id; block keys hold ids, times and roots
only (tens of bytes a member), so the state per remembered article stays near 2 KB
however many keys it is blocked by (``docs/streaming.md``).

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
``wanted_but_forgotten`` (a block asked the store for a member it no longer holds),
``frequency_articles_expired``, ``incomplete_joins`` (parts flushed by timer; 0 when all is well).
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from transforms import runtime
from transforms.common.stage import namespace
from transforms.stories.blockstate import (
    HELD,
    HELD_MANY,
    NEW,
    PRIOR,
    PROPOSAL,
    PROPOSALS,
    PROPOSED,
    STAGE,
    VECTOR,
    WANTED,
    HoldVectors,
    RememberStoryBlocks,
    ScoreStoryBlocks,
)
from transforms.stories.blocks import member_payload
from transforms.state.memory import prior_story_features, story_root
from transforms.stories.features import article_features, features_payload
from transforms.stories.gazetteer import gazetteer
from transforms.stories.params import StoryParams
from transforms.stories.records import story_id_for
from transforms.stories.windows import (
    DEFAULT_SHARDS,
    FrequencyMemory,
    Held,
    RootMemory,
    Stored,
    bucket_of,
    choose_root,
    expired_before,
    feature_names,
    Rooted,
    resolve_root,
    route,
    split_names,
)
from transforms.stories.vectors import epoch_hours

SELF, MEMBER = "self", "member"
# what the stateful steps read: pairs keyed by a str (article id, block key, root id; the frequency
# shards by an int). Beam takes a stateful step's key coder from its input's type: with these types on
# the steps that feed them, a deterministic coder, instead of a warning per step at start-up that the
# fallback coder may not be
_KEYED = Tuple[str, Any]
_GROUPED = Tuple[str, Iterable[Any]]


def _is_copy(article: dict) -> bool:
    return bool((article.get("dedup") or {}).get("duplicate_of"))


def block_key_of(join_key: str) -> str:
    """The block key of a ``JoinHeld`` key (``block key NUL window NUL first member``)."""
    return join_key.split("\0", 1)[0]


class _SplitByShard(beam.DoFn):
    """An article -> itself under its id for the last join (``KEYED``: ``(id, (ARTICLE,
    article))``); a copy -> ``(its original's id, [(MEMBER, its id)])`` (``COPIES``: it takes
    the original's story); an original -> its story features (:func:`article_features`)
    into one *batch* per window a bundle: ``(shard, (batch id, [(article id, its names in
    that shard), ...]))`` to each shard and ``(batch id, (PAYLOAD, [payloads]))`` to the
    join (``PAYLOADS``), not one element per article and shard (an element through a
    grouping or a join costs the streaming runner more than counting its names). Every
    batch goes to every shard, so its join waits for ``shards`` answers. One step, not
    four (features, keying, copies, batches: eighth round), since each step an article
    passes costs the runner an element."""

    def __init__(self, params: StoryParams, shards: int) -> None:
        self._params = params
        self._shards = shards
        self._tuning = runtime.active()  # the launcher's switches, carried to the workers

    def setup(self) -> None:
        runtime.activate(self._tuning)
        gazetteer()  # the places the features look up (loaded once per process), before the heap settles
        runtime.settle_worker(self._tuning)

    def start_bundle(self) -> None:
        self._batches: dict[Any, list] = {}

    def process(self, article: dict, window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        yield beam.pvalue.TaggedOutput(KEYED, (article["id"], (ARTICLE, article)))
        if _is_copy(article):
            yield beam.pvalue.TaggedOutput(COPIES, (article["dedup"]["duplicate_of"], [(MEMBER, article["id"])]))
        else:
            self._add(article_features(article, self._params), window, timestamp)

    def _add(self, payload: tuple, window: Any, timestamp: Timestamp) -> None:
        batch = self._batches.setdefault(window, [timestamp, [], [[] for _ in range(self._shards)]])
        batch[0] = min(batch[0], timestamp)  # the earliest: never behind what the bundle's elements were
        batch[1].append(payload)
        for shard, names in enumerate(split_names(feature_names(payload), self._shards)):
            batch[2][shard].append((payload[0], names))

    def finish_bundle(self) -> Iterator[Any]:
        for window, (timestamp, payloads, shards) in self._batches.items():
            batch_id = uuid.uuid4().hex  # a retried bundle's outputs replace the failed attempt's
            yield beam.pvalue.TaggedOutput(PAYLOADS, WindowedValue((batch_id, (PAYLOAD, payloads)), timestamp, [window]))
            for shard, items in enumerate(shards):
                yield WindowedValue((shard, (batch_id, items)), timestamp, [window])
        self._batches = {}


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
        keyed: tuple[int, Iterable[tuple[str | None, list[tuple]]]],
        timestamp=beam.DoFn.TimestampParam,
        memory=beam.DoFn.StateParam(MEMORY),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[str, tuple[dict, int]]]]:
        _, batches = keyed
        batches = list(batches)
        state: FrequencyMemory = memory.read() or FrequencyMemory()
        bucket = bucket_of(float(timestamp), self._bucket)
        for _, items in batches:  # (id, names), or (id, names, first seen) for a remembered batch article
            for item in items:
                state.add(item[0], item[1], bucket if len(item) == 2 else bucket_of(item[2], self._bucket))
        memory.write(state)
        self._arm(expiry, state)
        for batch_id, items in batches:  # every article of the window counted first, as batch counts its run
            if batch_id is not None:  # else: remembered articles, which ask for nothing
                answer = {item[0]: state.frequencies(item[1]) for item in items}
                yield batch_id, (FREQUENCIES, (answer, state.n))

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
    """Stateful per key (global window): gathers the parts of one article (or block)
    that come through different steps, ``(kind, value)``, and emits ``(key, parts)``
    once ``complete(tally)``; what came is emitted anyway when the watermark passes
    ``grace_seconds`` after the last part (counter ``incomplete_joins``). A
    CoGroupByKey would split the parts of a late article over several panes.

    The tally (:func:`tally_part`: parts per kind, and the number of parts to expect
    when a part says it) is kept beside the parts, so a part costs one small read, not
    a decoding of every part that came before it."""

    PARTS = userstate.BagStateSpec("parts", PickleCoder())
    TALLY = userstate.ReadModifyWriteStateSpec("tally", PickleCoder())
    FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)

    def __init__(self, complete: Callable[[dict], bool], grace_seconds: float,
                 output_key: Callable[[str], str] | None = None,
                 emit: Callable[[tuple[str, list]], Iterable[tuple[str, Any]]] | None = None,
                 batched: bool = False) -> None:
        self._complete = complete
        self._grace = float(grace_seconds)
        self._output_key = output_key  # what the joined element is keyed by downstream (default: the join key)
        self._emit = emit  # what a joined element becomes, in the join's step (one runner step less than a Map)
        self._batched = batched  # emit's outputs as (key, [values]) per bundle and timestamp, not one by one
        self._incomplete = Metrics.counter(namespace(STAGE), "incomplete_joins")

    def start_bundle(self) -> None:
        self._batches: dict[Timestamp, dict[str, list]] = {}

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for timestamp, by_key in self._batches.items():
            for key, values in by_key.items():
                yield WindowedValue((key, values), timestamp, [GlobalWindow()])
        self._batches = {}

    def _out(self, key: str, got: list, timestamp: Timestamp) -> Iterator[Any]:
        joined = (self._output_key(key) if self._output_key else key), got
        if self._emit is None:
            yield joined
        elif not self._batched:
            yield from self._emit(joined)
        else:  # per timestamp: the batch lands in the window its values would have
            by_key = self._batches.setdefault(timestamp, {})
            for out_key, value in self._emit(joined):
                by_key.setdefault(out_key, []).append(value)

    def process(self, keyed: tuple[str, tuple[str, Any]], timestamp=beam.DoFn.TimestampParam,
                parts=beam.DoFn.StateParam(PARTS), tally=beam.DoFn.StateParam(TALLY),
                flush=beam.DoFn.TimerParam(FLUSH)) -> Iterator[tuple[str, list]]:
        key, part = keyed
        counts = tally_part(tally.read() or {}, part)
        if self._complete(counts):
            got = [*parts.read(), part] if counts != {part[0]: 1} else [part]  # the first part: nothing to read
            parts.clear()
            tally.clear()
            flush.clear()  # else it fires for nothing later: a timer costs the runner a state copy
            yield from self._out(key, got, timestamp)
        else:
            parts.add(part)
            tally.write(counts)
            flush.set(timestamp + Duration.of(self._grace))

    @userstate.on_timer(FLUSH)
    def on_flush(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam, parts=beam.DoFn.StateParam(PARTS),
                 tally=beam.DoFn.StateParam(TALLY)) -> Iterator[tuple[str, list]]:
        got = list(parts.read())
        tally.clear()
        if got:
            parts.clear()
            self._incomplete.inc()
            yield from self._out(key, got, fired)


EXPECTING = "expect"  # the tally's entry for the number of parts a part said to expect


def tally_part(counts: dict, part: tuple[str, Any]) -> dict:
    """``counts`` with ``part`` added: parts per kind (a ``PROPOSED`` part counts as the
    ``PROPOSAL`` parts it holds, a ``HELD_MANY`` part as its ``HELD`` answers) and, from an article's routing (``ARTICLE`` with its
    number of block keys) or a block's new members (``NEW`` with the number of members
    it wanted), the number of proposals or answers to expect."""
    kind, value = part
    out = dict(counts)
    if kind in (PROPOSED, HELD_MANY):  # several proposals or answers in one part: each counts
        kind, value = (PROPOSAL if kind == PROPOSED else HELD), len(value)
        out[kind] = out.get(kind, 0) + value
    else:
        out[kind] = out.get(kind, 0) + 1
    if kind == ARTICLE and isinstance(value, int):
        out[EXPECTING] = value
    elif kind == NEW:
        out[EXPECTING] = value[1]
    return out


def _count(parts: list, kind: str) -> int:
    return sum(1 for k, _ in parts if k == kind)


def frequencies_complete(shards: int, tally: dict) -> bool:
    """A batch's features and the answer of every frequency shard."""
    return tally.get(PAYLOAD, 0) >= 1 and tally.get(FREQUENCIES, 0) >= shards


def proposals_complete(tally: dict) -> bool:
    """The article and a proposal from each block key it was sent to."""
    return tally.get(ARTICLE, 0) >= 1 and tally.get(PROPOSAL, 0) >= tally.get(EXPECTING, 0)


def held_complete(tally: dict) -> bool:
    """A block's new members and an answer of the store for each remembered member it wanted."""
    return tally.get(NEW, 0) >= 1 and tally.get(HELD, 0) >= tally.get(EXPECTING, 0)


def story_complete(tally: dict) -> bool:
    """The article and its story id."""
    return tally.get(ARTICLE, 0) >= 1 and tally.get(STORY, 0) >= 1


PAYLOAD, FREQUENCIES, ARTICLE, STORY = "payload", "df", "article", "story"


class _VectorizeAndRoute(beam.DoFn):
    """A batch's article features and their frequencies -> ``(block key, [member, ...])``
    once per block key of the batch (the batch's members under that key: one element
    through the grouping, not one per member), ``(article id, (ARTICLE, number of keys))``
    so that every article reaches the choice, and its member once to the vector store
    (``(article id, (VECTOR, member))``)."""

    def __init__(self, params: StoryParams) -> None:
        self._params = params
        self._unblocked = Metrics.counter(namespace(STAGE), "unblocked")

    def process(self, joined: tuple[str, list]) -> Iterator[Any]:
        _, parts = joined
        answers = [v for k, v in parts if k == FREQUENCIES]
        n = max([count for _, count in answers], default=0)
        by_key: dict[str, list[tuple]] = {}
        for payloads in (v for k, v in parts if k == PAYLOAD):
            for payload in payloads:
                df: dict[str, int] = {}
                for answer, _ in answers:
                    df.update(answer.get(payload[0], {}))
                yield from self._route(payload, df, max(n, 1), by_key)
        yield from by_key.items()

    def _route(self, payload: tuple, df: dict, n: int, by_key: dict[str, list[tuple]]) -> Iterator[Any]:
        article_id = payload[0]
        keys, member = route(payload, df, n, self._params)
        yield beam.pvalue.TaggedOutput(ARTICLES, (article_id, (ARTICLE, len(keys))))
        if not keys:
            self._unblocked.inc()
            return
        member_tuple = member_payload(member)
        yield beam.pvalue.TaggedOutput(VECTORS, (article_id, (VECTOR, member_tuple)))
        for key in keys:
            by_key.setdefault(key, []).append(member_tuple)


ARTICLES, VECTORS, ROOTS, PAYLOADS = "articles", "vectors", "roots", "payloads"
KEYED, COPIES = "keyed", "copies"  # tagged outputs of _SplitByShard: every article under its id, copies by original


class _RoutePrior(beam.DoFn):
    """A remembered batch original (``--state`` memory record) -> its names for the
    frequency shards, ``(block key, Stored)`` and ``(block key, Rooted)`` (its story)
    per block key, and its member for the vector store. Routed by its own features alone (no frequencies: a combine
    over the memory would be a grouping of a bounded input, which the streaming
    DirectRunner cannot run), so its vector weighs features by their counts only."""

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
            yield beam.pvalue.TaggedOutput(FREQUENCIES, (shard, [(None, [(payload[0], names, first_seen)])]))
        keys, member = route(payload, {}, 1, self._params)
        yield beam.pvalue.TaggedOutput(VECTORS, (payload[0], (PRIOR, Held(payload[0], payload[1], first_seen,
                                                                          member_payload(member)))))
        entry = Stored(payload[0], epoch_hours(payload[1]), first_seen)
        rooted = Rooted(payload[0], root, first_seen)
        for key in keys:
            yield key, [entry]
            yield beam.pvalue.TaggedOutput(ROOTS, (key, rooted))


def epoch_seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class _ChooseRoot:
    """An article's proposals -> its own record under its id and a member record under
    the chosen root (the same key when it starts a story). Called by the join of its
    proposals (``JoinParts(emit=...)``), which sends a bundle's records per key as one
    element to ``GroupRoots``."""

    def __init__(self) -> None:
        ns = namespace(STAGE)
        self._articles = Metrics.counter(ns, "articles")
        self._joined = Metrics.counter(ns, "joined")
        self._started = Metrics.counter(ns, "started")

    def __call__(self, joined: tuple[str, list]) -> Iterator[tuple[str, tuple[str, str]]]:
        article_id, parts = joined
        if _count(parts, ARTICLE):  # else: proposals of an article delivered twice, already decided
            proposals = [v for k, v in parts if k == PROPOSAL]
            proposals += [p for k, v in parts if k == PROPOSED for p in v]
            root = choose_root(article_id, proposals)
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
        root, batches = keyed  # lists of records: a bundle's records under this root each
        records = [record for batch in batches for record in batch]
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

    def _join(self, label: str, parts: list, complete: Callable[[dict], bool],
              output_key: Callable[[str], str] | None = None, emit: Callable | None = None,
              batched: bool = False) -> beam.PCollection:
        """The parts joined per key in the global window (:class:`JoinParts`); keyed output
        (``output_key``) is typed as such for the stateful step that reads it."""
        grace = getattr(self._windowfn, "size", 60) + self._lateness
        global_parts = [
            part | f"{label}Part{i}InGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
            for i, part in enumerate(parts)
        ]
        return (
            global_parts
            | f"{label}Parts" >> beam.Flatten().with_output_types(_KEYED)
            | label >> beam.ParDo(JoinParts(complete, float(grace), output_key, emit, batched)).with_output_types(
                _KEYED if output_key is not None else Any)
        )

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        params = self._params
        split = articles | "SplitByShard" >> beam.ParDo(_SplitByShard(params, self._shards)).with_outputs(
            PAYLOADS, KEYED, COPIES, main="shards")
        shard_groups = (
            split.shards
            | "GroupShards" >> beam.GroupByKey().with_output_types(Tuple[int, Iterable[Any]])
            | "ShardsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
        )
        prior_blocks = prior_vectors = prior_roots = None
        if self._prior is not None:
            routed_prior = self._prior | "RoutePrior" >> beam.ParDo(
                _RoutePrior(params, self._shards)
            ).with_outputs(FREQUENCIES, VECTORS, ROOTS, main="blocks")
            shard_groups = [
                shard_groups,
                routed_prior[FREQUENCIES] | "PriorShardsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows()),
            ] | "WithPriorShards" >> beam.Flatten().with_output_types(Tuple[int, Any])
            prior_blocks = routed_prior.blocks | "PriorBlocksInGlobalWindow" >> beam.WindowInto(
                beam.window.GlobalWindows()
            )
            prior_vectors = routed_prior[VECTORS] | "PriorVectorsInGlobalWindow" >> beam.WindowInto(
                beam.window.GlobalWindows()
            )
            prior_roots = routed_prior[ROOTS] | "PriorRootsInGlobalWindow" >> beam.WindowInto(
                beam.window.GlobalWindows()
            )
        frequencies = shard_groups | "CountFrequencies" >> beam.ParDo(CountFrequencies(self._retention))
        routed = (
            self._join("JoinFrequencies", [split[PAYLOADS], frequencies],
                       functools.partial(frequencies_complete, self._shards))
            | self._back("FeaturesIntoWindows")
            | "VectorizeAndRoute" >> beam.ParDo(_VectorizeAndRoute(params)).with_outputs(
                ARTICLES, VECTORS, main="blocks")
        )
        blocks = (
            routed.blocks
            | "GroupBlocks" >> beam.GroupByKey().with_output_types(_GROUPED)
            | "BlocksInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
        )
        vectors = routed[VECTORS] | "VectorsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
        if prior_blocks is not None:
            blocks = (blocks, prior_blocks) | "WithPriorBlocks" >> beam.Flatten().with_output_types(_KEYED)
            vectors = (vectors, prior_vectors) | "WithPriorVectors" >> beam.Flatten()
        candidates = blocks | "RememberStoryBlocks" >> beam.ParDo(
            RememberStoryBlocks(params, self._retention)
        ).with_outputs(WANTED, PROPOSALS, main="new")
        held = (
            (vectors, candidates[WANTED])
            | "WithWanted" >> beam.Flatten().with_output_types(_KEYED)
            | "HoldVectors" >> beam.ParDo(HoldVectors(self._retention))
        )
        scored = self._join("JoinHeld", [candidates.new, held], held_complete, output_key=block_key_of)
        if prior_roots is not None:
            scored = (scored, prior_roots) | "WithPriorRoots" >> beam.Flatten().with_output_types(_KEYED)
        proposals = scored | "ScoreStoryBlocks" >> beam.ParDo(ScoreStoryBlocks(params, self._retention))
        chosen = (
            self._join("JoinProposals", [routed[ARTICLES], proposals, candidates[PROPOSALS]], proposals_complete,
                       emit=_ChooseRoot(), batched=True)
            | self._back("ChoicesIntoWindows")
        )
        stories = (
            (chosen, split[COPIES])
            | "WithCopies" >> beam.Flatten()
            | "GroupRoots" >> beam.GroupByKey().with_output_types(_GROUPED)
            | "RootsInGlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
            | "ResolveRoots" >> beam.ParDo(ResolveRoots(self._retention))
        )
        return (
            self._join("JoinStories", [split[KEYED], stories], story_complete, emit=_with_story)
            | self._back("ArticlesIntoWindows")
        )
