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
import functools
import math
import struct
from collections import Counter
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import xxhash

from transforms.stories.blocks import Member, block_keys, block_payload_keys, member_of, member_payload, score_block
from transforms.stories.features import FeaturesPayload, article_features, feature_key, features_of
from transforms.stories.grouping import cluster_edges
from transforms.stories.params import StoryParams
from transforms.stories.vectors import compact, epoch_hours, feature_hash, vectorize

DEFAULT_SHARDS = 8  # document-frequency state is split into this many keys


# --------------------------------------------------------------------------- document frequencies


def shard_of(feature: str, shards: int) -> int:
    """The document-frequency shard a feature is counted in (xxh3: the same everywhere)."""
    return xxhash.xxh3_64_intdigest(feature.encode("utf-8")) % shards


def feature_names(payload: FeaturesPayload) -> list[str]:
    """The features of a :func:`article_features` payload as comparisons know them
    (:func:`feature_key`: a name ``W:x`` is the word ``w:x``), counted as batch
    counts them (:func:`~transforms.stories.vectors.document_frequencies`)."""
    return [feature_key(name) for name in payload[2].split("\0")] if payload[2] else []


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

    def __getstate__(self) -> tuple:
        """Encoded without ``total`` (the sum of the buckets, rebuilt when read): the
        state is about half as large."""
        return self.buckets, self.docs, self.seen, self.n

    def __setstate__(self, state: tuple) -> None:
        self.buckets, self.docs, self.seen, self.n = state
        self.total = Counter()
        for counts in self.buckets.values():
            self.total.update(counts)


def bucket_of(seconds: float, bucket_seconds: float) -> int:
    return int(math.floor(seconds / bucket_seconds))


# --------------------------------------------------------------------------- block keys


@functools.lru_cache(maxsize=64)
def _with_keys(params: StoryParams, count: int) -> StoryParams:
    """``params`` with ``block_keys_per_article=count`` (made once, not per article)."""
    return dataclasses.replace(params, block_keys_per_article=count)


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
    keys = block_payload_keys(payload, df, n_docs, params)
    vector = vectorize(features_of(payload), df, n_docs)
    count = params.block_keys_per_article if remember_keys is None else remember_keys
    more = block_keys(vector, df, _with_keys(params, count), unseen_shared=True)
    return tuple(sorted(set(keys) | set(more))), Member(compact(vector), b"", False)


class Stored(NamedTuple):
    """What a block key remembers of one article: who and when, a few dozen bytes
    (its vector is held once, by article id: :class:`Held`)."""

    id: str
    hours: float | None  # published_at in hours since the epoch (None: undated): its place in time order
    stored_at: float  # event time (seconds) it was stored: retention counts from here


class Held(NamedTuple):
    """What the vector store holds of one article, once, keyed by its id: its member
    (``member_payload``: the compact vector)."""

    id: str
    published_at: str
    stored_at: float
    member: tuple


class Rooted(NamedTuple):
    """What the scoring step of a block key remembers of one member: the root of the
    group this block put it in (its story as this block knows it)."""

    id: str
    root: str
    stored_at: float


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


def _slot(article_id: str, hours: float | None) -> tuple[int, float, int]:
    """An article's place in a block's time order, as :func:`score_block` orders members."""
    tie = xxhash.xxh64_intdigest(article_id.encode("utf-8"))
    return (1, 0.0, tie) if hours is None else (0, hours, tie)


def block_candidates(
    stored: Sequence[Stored], new: Iterable[tuple[str, str]], now: float, params: StoryParams = StoryParams(),
) -> tuple[list[str], set[str], list[Stored]]:
    """One window's new members ``(id, published_at)`` of a block against the members
    it remembers: ``(wanted, again, memory)``: the remembered ids a new member will be
    compared with (its ``window`` neighbours on either side in time order: exactly the
    remembered members :func:`score_block` pairs it with over the whole block), the new
    ids the block already held (delivered again), and the block's new memory (the new
    members added, the oldest dropped beyond ``max_block_size``)."""
    known = {s.id for s in stored}
    fresh: dict[str, float | None] = {}
    again: set[str] = set()
    for article_id, published_at in new:
        if article_id in known:
            again.add(article_id)
        else:
            fresh.setdefault(article_id, epoch_hours(published_at))
    if not fresh:
        return [], again, list(stored)
    everyone = sorted([(_slot(s.id, s.hours), s.id, False) for s in stored]
                      + [(_slot(i, h), i, True) for i, h in fresh.items()])
    wanted: set[str] = set()
    width = params.window
    for at, (_, _, is_new) in enumerate(everyone):
        if is_new:
            wanted.update(i for _, i, n in everyone[max(0, at - width) : at + width + 1] if not n)
    memory = list(stored) + [Stored(i, h, now) for i, h in fresh.items()]
    if len(memory) > params.max_block_size:
        memory = sorted(memory, key=lambda s: (s.stored_at, _slot(s.id, s.hours)))[-params.max_block_size :]
    return sorted(wanted), again, memory


def block_step(
    key: str,
    rooted: Sequence[Rooted],
    held: Sequence[Held],
    new: Iterable[tuple],
    now: float,
    params: StoryParams = StoryParams(),
) -> tuple[list[Proposal], list[Rooted]]:
    """A window's new members (``member_payload`` tuples) of the block ``key`` against
    the remembered members it wanted (:func:`block_candidates`; their vectors from the
    store): scored (:func:`score_block`) and grouped by average link with the
    remembered members fixed to the roots this block gave them (``rooted``, all of
    them, so a story counts its whole size here: :func:`cluster_edges` with ``fixed``,
    exactly how a batch run with ``--state`` treats remembered articles). Returns each
    new member's proposal (the root of its group here, and the members of that group it
    scored with) and the block's roots with the new members added (the oldest dropped
    beyond ``max_block_size``)."""
    key_hash = np.array([feature_hash(key)], dtype="<u8").tobytes()
    known = {r.id: r for r in rooted}
    fresh: dict[str, Member] = {}
    for payload in new:
        member = member_of(payload)
        if member.vector.id not in known:
            fresh.setdefault(member.vector.id, member)
    if not fresh:
        return [], list(rooted)
    held = [h for h in held if h.id not in fresh]
    members = [_in_block(member_of(h.member), key_hash, True) for h in held]
    members += [_in_block(m, key_hash, False) for m in fresh.values()]
    edges = list(score_block(key, members, params)) if len(members) > 1 else []  # one member: no pair to score
    roots = cluster_edges(edges, params.threshold, {r.id: r.root for r in rooted}) if edges else {}
    links: dict[str, list[tuple[str, float]]] = {i: [] for i in fresh}
    for a, b, score in edges:
        if roots.get(a.id, a.id) != roots.get(b.id, b.id):
            continue
        if a.id in links:
            links[a.id].append((b.id, score))
        if b.id in links:
            links[b.id].append((a.id, score))
    proposals = [Proposal(i, roots.get(i, i), tuple(sorted(links[i]))) for i in fresh]
    memory = list(rooted) + [Rooted(p.article_id, p.root, now) for p in proposals]
    if len(memory) > params.max_block_size:
        memory = memory[-params.max_block_size :]  # in storage order: the oldest go
    return proposals, memory


_TWO_U2, _U2 = struct.Struct("<HH"), struct.Struct("<H")


def _blob(ids: Sequence[str], *arrays: bytes) -> bytes:
    """One ``bytes`` of a block's state (a plain bytes state costs no pickle framing:
    most block keys hold one or two members, where framing was most of the size):
    the member count and the UTF-8 ids' length (uint16 each), the ids joined by NUL,
    then each array (little-endian items, :func:`_pack`) as its length (uint16) and its
    bytes. ``struct``, not numpy: a block holds a few members, where numpy's per-call
    cost was most of the time (eighth round; the same bytes)."""
    joined = "\0".join(ids).encode("utf-8")
    parts = [_TWO_U2.pack(len(ids), len(joined)), joined]
    for raw in arrays:
        parts += [_U2.pack(len(raw)), raw]
    return b"".join(parts)


def _unblob(blob: bytes) -> tuple[list[str], list[bytes]]:
    count, size = _TWO_U2.unpack_from(blob, 0)
    ids = blob[4 : 4 + size].decode("utf-8").split("\0") if count else []
    at, arrays, end = 4 + size, [], len(blob)
    while at < end:
        (length,) = _U2.unpack_from(blob, at)
        arrays.append(blob[at + 2 : at + 2 + length])
        at += 2 + length
    return ids, arrays


def _pack(code: str, items: Sequence[Any]) -> bytes:
    """``items`` as little-endian ``code`` (``d`` float64, ``H`` uint16, ``h`` int16)."""
    return struct.pack(f"<{len(items)}{code}", *items)


def _unpack(code: str, raw: bytes) -> list[Any]:
    return list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))


def _times(times: Sequence[float]) -> tuple[bytes, bytes]:
    """Storage times as their distinct values (float64, ascending) and each one's index
    (uint16): the members a window stored share one time, so ~2 bytes a member, not 8."""
    values = sorted(set(times))
    where = {value: i for i, value in enumerate(values)}
    return _pack("d", values), _pack("H", [where[t] for t in times])


def _untimes(values: bytes, index: bytes) -> list[float]:
    distinct = _unpack("d", values)
    return [distinct[i] for i in _unpack("H", index)]


def pack_block(stored: Sequence[Stored]) -> bytes:
    """A block's memory as its state holds it (:func:`_blob`): the ids, the times as
    float64 (NaN: undated), the storage times by :func:`_times`. About ``len(id) + 11``
    bytes a member and 12 a block, against ~60 a member for a pickled list of tuples
    (ids never hold a NUL; a block holds at most ``max_block_size`` <= 65535 members)."""
    hours = _pack("d", [math.nan if s.hours is None else s.hours for s in stored])
    return _blob([s.id for s in stored], hours, *_times([s.stored_at for s in stored]))


def unpack_block(packed: bytes) -> list[Stored]:
    ids, (hours, values, index) = _unblob(packed)
    times = _unpack("d", hours)
    return [Stored(i, None if h != h else h, t) for i, h, t in zip(ids, times, _untimes(values, index))]


def pack_held(held: Held) -> tuple:
    """The store's state: the member payload (its id and date are its first fields) and the storage time."""
    return held.member, held.stored_at


def unpack_held(packed: tuple | None) -> Held | None:
    if packed is None:
        return None
    member, stored_at = packed
    return Held(member[0], member[1], stored_at, member)


def pack_roots(rooted: Sequence[Rooted]) -> bytes:
    """A block's roots as its state holds them (:func:`_blob`): the ids; each root as
    the index of that id among them (int16), or -1 when it is not one of them (an
    evicted member; such roots follow the ids, in order); storage times by :func:`_times`."""
    at_of = {r.id: i for i, r in enumerate(rooted)}
    index = _pack("h", [at_of.get(r.root, -1) for r in rooted])
    others = [r.root for r in rooted if r.root not in at_of]
    return _blob([r.id for r in rooted] + others, index, *_times([r.stored_at for r in rooted]))


def unpack_roots(packed: bytes) -> list[Rooted]:
    names, (index, values, times) = _unblob(packed)
    at = _unpack("h", index)
    ids, others = names[: len(at)], iter(names[len(at) :])
    return [Rooted(i, ids[k] if k >= 0 else next(others), t) for i, k, t in zip(ids, at, _untimes(values, times))]


_SLACK = 1e-3  # seconds: event times pass through microsecond timestamps; a timer never re-arms at its own time


def all_expired(packed: bytes, now: float, retention_seconds: float) -> bool:
    """Whether every entry of a packed block or roots state (:func:`pack_block`,
    :func:`pack_roots`) was stored ``retention_seconds`` or more before ``now`` (what
    :func:`expire_block` drops), read from the state's distinct storage times alone:
    an expiry timer of a key whose entries share a time (every key of one window)
    costs no unpacking of its members (ninth round: ~0.26 ms per article at 1,000
    articles in one window, blocks of up to ``max_block_size`` members)."""
    count, size = _TWO_U2.unpack_from(packed, 0)
    at, arrays, end = 4 + size, [], len(packed)
    while at < end:
        (length,) = _U2.unpack_from(packed, at)
        arrays.append((at + 2, length))
        at += 2 + length
    start, length = arrays[-2]  # both formats end with the distinct times (float64, ascending) and their index
    if not length:
        return True  # no entry at all
    (latest,) = struct.unpack_from("<d", packed, start + length - 8)
    return not latest + retention_seconds > now + _SLACK


def expire_block(stored: Sequence[Stored], now: float, retention_seconds: float) -> list[Stored]:
    """The members stored less than ``retention_seconds`` before ``now``."""
    return [s for s in stored if s.stored_at + retention_seconds > now + _SLACK]


def expired_before(now: float, retention_seconds: float, bucket_seconds: float) -> int:
    """The first time bucket still inside the retention at ``now``: every bucket before
    it ended ``retention_seconds`` ago or more."""
    return bucket_of(now + _SLACK - retention_seconds, bucket_seconds)


# --------------------------------------------------------------------------- per article


OWN_GROUP_WEIGHT = 0.5  # what an article's support for a group it roots counts beside another story


def choose_root(article_id: str, proposals: Iterable[Proposal]) -> str:
    """The story root of an article from its block keys' proposals: the root whose
    distinct linked members sum to the most (ties: the smaller root id); the article
    itself when no block linked it to anyone.

    Where the article roots a group of its own (the earliest of new members grouped
    in a block) and another block put it in another story's group, its own group's
    support counts ``OWN_GROUP_WEIGHT`` (half): batch, grouping the whole run at once,
    has both groups in one story when the article links them, and the members of its
    own group, whose choice names it, follow it (:func:`resolve_root`). Measured on the
    dev sets (``docs/streaming.md``): at 10 and 50 articles per window ECB+ 0.887 /
    0.944 -> 0.902 / 0.952, the blind set 0.962 / 0.947 -> 0.981 / 0.970; dropping its
    own group's support altogether did as well on dev and worse on generated text."""
    support: dict[str, dict[str, float]] = {}
    for proposal in proposals:
        if not proposal.links:
            continue
        got = support.setdefault(proposal.root, {})
        for member, score in proposal.links:
            got[member] = max(got.get(member, 0.0), score)
    if len(support) > 1 and article_id in support:
        support[article_id] = {m: score * OWN_GROUP_WEIGHT for m, score in support[article_id].items()}
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
    return stream_memory(windows, params, shards)[0]


def stream_memory(
    windows: Iterable[Sequence[Mapping]],
    params: StoryParams = StoryParams(),
    shards: int = DEFAULT_SHARDS,
) -> tuple[dict[str, str], dict[str, list[Stored]], dict[str, list[Rooted]], dict[str, Held],
           list[FrequencyMemory]]:
    """:func:`stream_story_roots` and the state it ends with: the roots, the block
    memories (ids and times; roots), the vector store and the frequency shards (what the keyed states of the
    Beam composite hold; ``eval/streamstories.py`` measures their bytes)."""
    memories = [FrequencyMemory() for _ in range(shards)]
    blocks: dict[str, list[Stored]] = {}
    rooted: dict[str, list[Rooted]] = {}
    store: dict[str, Held] = {}
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
        members: dict[str, tuple] = {}
        for payload in payloads:
            df: dict[str, int] = {}
            for shard, names in enumerate(split_names(feature_names(payload), shards)):
                df.update(memories[shard].frequencies(names))
            keys, member = route(payload, df, n, params)
            members[payload[0]] = member_payload(member)
            for key in keys:
                routed.setdefault(key, []).append(members[payload[0]])
        proposals: dict[str, list[Proposal]] = {}
        for key in sorted(routed):
            wanted, again, blocks[key] = block_candidates(blocks.get(key, []), [(p[0], p[1]) for p in routed[key]],
                                                          now, params)
            found, rooted[key] = block_step(key, rooted.get(key, []), [store[i] for i in wanted if i in store],
                                            [p for p in routed[key] if p[0] not in again], now, params)
            for proposal in found + [Proposal(i, i, ()) for i in sorted(again)]:
                proposals.setdefault(proposal.article_id, []).append(proposal)
        window_roots = {p[0]: choose_root(p[0], proposals.get(p[0], ())) for p in payloads}
        for article_id, root in window_roots.items():
            chosen.setdefault(article_id, root)
        for article_id, root in window_roots.items():
            out[article_id] = chosen[root] if root != article_id and root in chosen else root
        for payload in payloads:
            store.setdefault(payload[0], Held(payload[0], payload[1], now, members[payload[0]]))
        for article in copies:
            original = article["dedup"]["duplicate_of"]
            out[article["id"]] = out.get(original, original)
    return out, blocks, rooted, store, memories


def in_windows(articles: Sequence[Mapping], size: int) -> Iterator[list[Mapping]]:
    """``articles`` cut into windows of ``size`` in the order given."""
    for start in range(0, len(articles), max(1, size)):
        yield list(articles[start : start + size])
