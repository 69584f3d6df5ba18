"""Stories across streaming windows: the batch story method, one window at a time.

In batch every original is blocked, scored and grouped at once
(:mod:`transforms.stories.find`). In streaming, each window's originals meet what
earlier windows left in *keyed state*, keyed the way batch blocks are:

1. document frequencies (:class:`FrequencyMemory`) come from the originals of the
   retention period, the current window included, as the batch counts its run;
   the state is split into ``shards`` by feature hash, so no step sees it all;
2. each original is vectorized and blocked with them (:func:`route`: the batch
   block keys, and the features a later write-up may find it by) and sent to each
   of its block keys;
3. per block key (:func:`block_step`), the window's new members and the
   remembered ones are scored (:func:`score_block`) and grouped by average link
   with the remembered members fixed to their stories (:func:`cluster_edges` with
   ``fixed``: exactly how a batch run with ``--state`` treats remembered
   articles); each new member gets a *proposal*: the root of its group there, and
   the members of that group it scored with;
4. per article (:func:`choose_root`), the proposal with the most support (sum of
   its distinct links) wins; none: the article starts a story, rooted in itself
   (so its ``story_id`` is the batch rule, ``s-<root id>``);
5. per root (:class:`RootMemory`), an article's story is the chosen root's own
   choice (one hop): a block key that saw no story for an article remembered it
   as a root of its own, while the article joined a story elsewhere; whoever later
   picks that root lands in the story it joined. Duplicates resolve the same way
   through their original.

A block key keeps up to ``max_block_size`` members (batch: a feature shared by
more is no blocking key) for the retention period after they were stored.
:func:`stream_story_roots` runs the five steps in memory over articles given in
arrival order: the plain twin of the Beam composite
(:mod:`transforms.stories.streaming`) and what ``eval/streamstories.py`` compares
with batch.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import xxhash

from transforms.stories.blocks import Member, block_keys, block_payload, member_of, member_payload, score_block
from transforms.stories.features import FeaturesPayload, article_features, features_of
from transforms.stories.grouping import cluster_edges
from transforms.stories.params import StoryParams
from transforms.stories.vectors import compact, feature_hash, vectorize

DEFAULT_SHARDS = 8  # document-frequency state is split into this many keys


# --------------------------------------------------------------------------- document frequencies


def shard_of(feature: str, shards: int) -> int:
    """The document-frequency shard a feature is counted in (xxh3: the same everywhere)."""
    return xxhash.xxh3_64_intdigest(feature.encode("utf-8")) % shards


def feature_names(payload: FeaturesPayload) -> list[str]:
    """The distinct feature names of a :func:`article_features` payload."""
    return payload[2].split("\0") if payload[2] else []


def split_names(names: Sequence[str], shards: int) -> list[list[str]]:
    """``names`` in their shards: one list per shard (empty ones included, so every
    shard counts every article and knows the number of documents)."""
    out: list[list[str]] = [[] for _ in range(shards)]
    for name in names:
        out[shard_of(name, shards)].append(name)
    return out


class FrequencyMemory:
    """One shard's document frequencies over the retention period, in time buckets
    (``bucket_seconds`` wide) so that old counts can be dropped whole.

    ``seen`` holds the article ids counted (id -> bucket), so an article delivered
    twice counts once. Held as plain dicts: Beam state pickles it."""

    def __init__(self) -> None:
        self.buckets: dict[int, Counter] = {}
        self.docs: dict[int, int] = {}
        self.seen: dict[str, int] = {}
        self.total: Counter = Counter()
        self.n = 0

    def add(self, article_id: str, names: Iterable[str], bucket: int) -> None:
        if article_id in self.seen:
            return
        self.seen[article_id] = bucket
        names = list(names)
        self.buckets.setdefault(bucket, Counter()).update(names)
        self.total.update(names)
        self.docs[bucket] = self.docs.get(bucket, 0) + 1
        self.n += 1

    def frequencies(self, names: Iterable[str]) -> dict[str, int]:
        total = self.total
        return {name: total[name] for name in names}

    def expire(self, oldest_kept: int) -> int:
        """Drop the buckets before ``oldest_kept``; return how many articles went."""
        gone = [b for b in self.buckets if b < oldest_kept]
        dropped = 0
        for bucket in gone:
            counts = self.buckets.pop(bucket)
            self.total.subtract(counts)
            dropped += self.docs.pop(bucket, 0)
        if gone:
            self.total = +self.total  # drop zero counts
            self.seen = {k: b for k, b in self.seen.items() if b >= oldest_kept}
            self.n -= dropped
        return dropped

    def oldest(self) -> int | None:
        return min(self.buckets) if self.buckets else None


def bucket_of(seconds: float, bucket_seconds: float) -> int:
    return int(math.floor(seconds / bucket_seconds))


# --------------------------------------------------------------------------- block keys


class _SharedLater(Mapping):
    """Document frequencies where a feature no other article has yet counts as shared
    by one: the features an article may later be found by."""

    def __init__(self, df: Mapping[str, int]) -> None:
        self._df = df

    def __getitem__(self, feature: str) -> int:
        return max(2, self._df.get(feature, 1))

    def get(self, feature: str, default: int | None = None) -> int:  # type: ignore[override]
        return max(2, self._df.get(feature, 1))

    def __iter__(self):
        return iter(self._df)

    def __len__(self) -> int:
        return len(self._df)


def route(
    payload: FeaturesPayload, df: Mapping[str, int], n_docs: int, params: StoryParams = StoryParams(),
    remember_keys: int | None = None,
) -> tuple[tuple[str, ...], Member]:
    """The block keys an article is sent to and the member the blocks hold of it.

    The keys are its batch block keys (:func:`block_payload`: the rarest features
    it shares with the articles counted so far) and its ``remember_keys`` (default:
    ``block_keys_per_article``) most specific features, shared or not yet
    (:func:`block_keys` with unseen features counted as shared by one): a later
    write-up finds it under the features they turn out to share. The member keeps
    every feature (its vector weighted with the frequencies of now), since the
    articles it will be compared with are not known yet."""
    keys, _ = block_payload(payload, df, n_docs, params)
    vector = vectorize(features_of(payload), df, n_docs)
    count = params.block_keys_per_article if remember_keys is None else remember_keys
    more = block_keys(vector, _SharedLater(df), dataclasses.replace(params, block_keys_per_article=count))
    return tuple(sorted(set(keys) | set(more))), Member(compact(vector), b"", False)


class Stored(NamedTuple):
    """What a block key remembers of one article."""

    id: str
    published_at: str
    root: str  # the story root this key grouped it with
    stored_at: float  # event time (seconds) it was stored: retention counts from here
    member: tuple  # member_payload (the compact vector)


class Proposal(NamedTuple):
    """What one block key says about one new article: the root of its group there and
    the members of that group it scored with (``(member id, score)``)."""

    article_id: str
    root: str
    links: tuple[tuple[str, float], ...]


def _in_block(member: Member, key_hash: bytes, prior: bool) -> Member:
    """``member`` as this block alone sees it: its only key is the block's (so every
    window pair is scored here, not only in the tightest block, which batch uses to
    score a pair once over all blocks; here each block decides on its own)."""
    return member._replace(keys=key_hash, prior=prior)


def _order(entry: Stored) -> tuple[str, str]:
    return (entry.published_at or "~", entry.id)


def block_step(
    key: str,
    stored: Sequence[Stored],
    new: Iterable[tuple],
    now: float,
    params: StoryParams = StoryParams(),
) -> tuple[list[Proposal], list[Stored]]:
    """One window's new members (``member_payload`` tuples) of the block ``key``
    against the members it remembers: the proposals and the block's new memory
    (the new members added, the oldest dropped beyond ``max_block_size``).

    An article the block already holds (delivered again) keeps its root."""
    key_hash = np.array([feature_hash(key)], dtype="<u8").tobytes()
    known = {s.id: s for s in stored}
    fresh: dict[str, Member] = {}
    for payload in new:
        member = member_of(payload)
        if member.vector.id not in known:
            fresh.setdefault(member.vector.id, member)
    proposals = [Proposal(i, known[i].root, ()) for i in sorted({member_of(p).vector.id for p in new} & set(known))]
    if not fresh:
        return proposals, list(stored)
    members = [_in_block(member_of(s.member), key_hash, True) for s in stored]
    members += [_in_block(m, key_hash, False) for m in fresh.values()]
    edges = list(score_block(key, members, params))
    roots = cluster_edges(edges, params.threshold, {s.id: s.root for s in stored})
    links: dict[str, list[tuple[str, float]]] = {i: [] for i in fresh}
    for a, b, score in edges:
        ra, rb = roots.get(a.id, a.id), roots.get(b.id, b.id)
        if ra != rb:
            continue
        if a.id in links:
            links[a.id].append((b.id, score))
        if b.id in links:
            links[b.id].append((a.id, score))
    memory = list(stored)
    for article_id, member in fresh.items():
        root = roots.get(article_id, article_id)
        proposals.append(Proposal(article_id, root, tuple(sorted(links[article_id]))))
        plain = member._replace(prior=False)
        memory.append(Stored(article_id, member.vector.published_at, root, now, member_payload(plain)))
    memory.sort(key=_order)
    if len(memory) > params.max_block_size:
        memory = sorted(memory, key=lambda s: (s.stored_at, _order(s)))[-params.max_block_size :]
        memory.sort(key=_order)
    return proposals, memory


_SLACK = 1e-3  # seconds: event times pass through microsecond timestamps; a timer never re-arms at its own time


def expire_block(stored: Sequence[Stored], now: float, retention_seconds: float) -> list[Stored]:
    """The members stored less than ``retention_seconds`` before ``now``."""
    return [s for s in stored if s.stored_at + retention_seconds > now + _SLACK]


def expired_before(now: float, retention_seconds: float, bucket_seconds: float) -> int:
    """The first time bucket still inside the retention at ``now``: every bucket before
    it ended ``retention_seconds`` ago or more."""
    return bucket_of(now + _SLACK - retention_seconds, bucket_seconds)


# --------------------------------------------------------------------------- per article


def choose_root(article_id: str, proposals: Iterable[Proposal]) -> str:
    """The story root of an article from its block keys' proposals: the root whose
    distinct linked members sum to the most (ties: the smaller root id); the article
    itself when no block linked it to anyone."""
    support: dict[str, dict[str, float]] = {}
    for proposal in proposals:
        if not proposal.links:
            continue
        got = support.setdefault(proposal.root, {})
        for member, score in proposal.links:
            got[member] = max(got.get(member, 0.0), score)
    if not support:
        return article_id
    return min(support, key=lambda root: (-round(sum(support[root].values()), 9), root))


class RootMemory(NamedTuple):
    """What the resolving step remembers under a root id: the story that article's
    own choice put it in (None until that article has been seen)."""

    story_root: str | None
    stored_at: float


def resolve_root(root: str, memory: RootMemory | None) -> str:
    """The story root an article choosing ``root`` ends in: ``root``'s own choice when
    it is known (one hop), else ``root`` itself."""
    if memory is not None and memory.story_root is not None:
        return memory.story_root
    return root


# --------------------------------------------------------------------------- in memory


def stream_story_roots(
    windows: Iterable[Sequence[Mapping]],
    params: StoryParams = StoryParams(),
    shards: int = DEFAULT_SHARDS,
) -> dict[str, str]:
    """``{article id: story root}`` for articles arriving in ``windows`` (lists of
    articles, in arrival order), by the same steps as the Beam composite.

    Duplicates (``dedup.duplicate_of``) take their original's story. No expiry:
    everything stays remembered (the eval streams are shorter than the retention)."""
    memories = [FrequencyMemory() for _ in range(shards)]
    blocks: dict[str, list[Stored]] = {}
    chosen: dict[str, str] = {}
    out: dict[str, str] = {}
    for number, articles in enumerate(windows):
        now = float(number)
        originals, copies = [], []
        for article in articles:
            (copies if (article.get("dedup") or {}).get("duplicate_of") else originals).append(article)
        payloads = [article_features(a, params) for a in originals]
        for payload in payloads:
            for shard, names in enumerate(split_names(feature_names(payload), shards)):
                memories[shard].add(payload[0], names, 0)
        n = memories[0].n
        routed: dict[str, list[tuple]] = {}
        for payload in payloads:
            df: dict[str, int] = {}
            for shard, names in enumerate(split_names(feature_names(payload), shards)):
                df.update(memories[shard].frequencies(names))
            keys, member = route(payload, df, n, params)
            for key in keys:
                routed.setdefault(key, []).append(member_payload(member))
        proposals: dict[str, list[Proposal]] = {}
        for key in sorted(routed):
            found, blocks[key] = block_step(key, blocks.get(key, []), routed[key], now, params)
            for proposal in found:
                proposals.setdefault(proposal.article_id, []).append(proposal)
        window_roots = {p[0]: choose_root(p[0], proposals.get(p[0], ())) for p in payloads}
        for article_id, root in window_roots.items():
            chosen.setdefault(article_id, root)
        for article_id, root in window_roots.items():
            out[article_id] = chosen[root] if root != article_id and root in chosen else root
        for article in copies:
            original = article["dedup"]["duplicate_of"]
            out[article["id"]] = out.get(original, original)
    return out


def in_windows(articles: Sequence[Mapping], size: int) -> Iterator[list[Mapping]]:
    """``articles`` cut into windows of ``size`` in the order given."""
    for start in range(0, len(articles), max(1, size)):
        yield list(articles[start : start + size])
