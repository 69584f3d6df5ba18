"""Story candidates: blocks of articles sharing a rare feature, and their scored pairs.

Articles are compared only when they share a *rare* feature: each offers its
``block_keys_per_article`` most specific features with ``2 <= df <= max_block_size``
as block keys. In a block, members are put in time order (undated last; ties in
an order given by a hash of the id, never the shuffle's) and each is compared
with the next ``window`` members at most :func:`max_gap_hours` later; a pair is
scored only in the tightest block the two share. So an article costs at most
``block_keys_per_article * window`` comparisons, whatever the input size.

Places and organisations (:func:`~transforms.stories.features.is_cross_only`) change
nothing within one language: the block keys of the other features are chosen as if
they did not exist, and a place that would be among the ``block_keys_per_article``
most specific features becomes an extra *cross key*, whose block scores only pairs in
two languages that share no other key.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from itertools import compress as _compress
from itertools import repeat as _repeat
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import xxhash

from transforms.common.sorting import stable_order
from transforms.common.stage import Memo
from transforms.stories.features import CROSS_ONLY, FeaturesPayload, StoryFeatures, feature_key, features_of, is_cross_only
from transforms.stories.params import StoryParams
from transforms.stories.vectors import (
    VECTOR_HASH_DTYPE,
    WEIGHT_DTYPE,
    CompactVector,
    Vector,
    compact,
    cross_norm,
    epoch_hours,
    feature_hash,
    max_gap_hours,
    packed_arrays,
    vector_hash,
    vectorize,
)

_HASH_DTYPE = np.dtype("<u8")  # block keys
_VECTOR_HASHES = Memo(vector_hash, 1_000_000)  # feature -> vector_hash, for an article's features in one map()
_BLOCKABLE = ("w:", "n:", "d:", "c:", "p:", "o:")
_NAME_RANGE = ("W:", "W;")  # names (``W:``) are blockable words too


def block_keys(vector: Vector, df: Mapping[str, int], params: StoryParams = StoryParams(),
               unseen_shared: bool = False) -> list[str]:
    """The article's most specific shared features (``2 <= df <= max_block_size``):
    the keys under which it meets its candidates. The ``block_keys_per_article``
    most specific of the features other than places, and the places among the
    ``block_keys_per_article`` most specific of all (its cross keys).

    ``unseen_shared``: a feature no other article has yet (df 1 or absent) counts as
    shared by one, i.e. ``df`` read as ``max(2, df)``: the features a later article
    may find this one by (streaming routing)."""
    top = params.max_block_size
    if unseen_shared:  # 2 <= max(2, d) <= top  <=>  d <= top, when top >= 2
        usable = [(-w, f) for f, w in vector.weights.items()
                  if f.startswith(_BLOCKABLE) and df.get(f, 1) <= top] if top >= 2 else []
    else:
        usable = [(-w, f) for f, w in vector.weights.items() if f.startswith(_BLOCKABLE) and 2 <= df.get(f, 1) <= top]
    usable.sort()
    limit = params.block_keys_per_article
    base = [f for _, f in usable if not is_cross_only(f)][:limit]
    return sorted(base + [f for _, f in usable[:limit] if is_cross_only(f)])


class Member(NamedTuple):
    """What a block holds of one article: its compact vector and the
    :func:`feature_hash` of its block keys (little-endian uint64 bytes), tightest
    first (smallest df, then key): a pair is scored only in the tightest block the
    two share, where they are most likely neighbours. Both members list the keys
    they share in the same order (df is global), so the first of one's keys that
    the other has is that block.
    ``prior`` marks an article remembered from an earlier run (``--state``): pairs of
    two remembered articles were settled by that run and are not scored again.
    ``cross_keys`` are the same of its place keys (see the module): a pair in two
    languages sharing no key of ``keys`` is scored in the tightest of these they share.

    :func:`member_payload` is what the runner carries of it (str, bytes and bool
    only, so Beam's default coder writes it without pickling and the runner holds
    a few bytes objects, not ~225 strings); :func:`member_of` reads it back. Blocks
    themselves hold only :func:`member_ref` strings (see :class:`FindStories`)."""

    vector: CompactVector
    keys: bytes
    prior: bool = False
    cross_keys: bytes = b""


def blocked(
    vector: Vector, df: Mapping[str, int], params: StoryParams = StoryParams(), prior: bool = False
) -> tuple[tuple[str, ...], Member]:
    """The article's block keys (tightest first; its cross keys after the others) and
    what each of those blocks holds of it."""
    chosen = block_keys(vector, df, params)
    return _member(compact(vector, df), [k for k in chosen if not is_cross_only(k)],
                   [k for k in chosen if is_cross_only(k)], df, prior)


def _tightest_first(keys: Iterable[str], df: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(k for _, k in sorted((df.get(k, 1), k) for k in keys))


def _member(vector: CompactVector, keys: Iterable[str], cross_keys: Iterable[str], df: Mapping[str, int],
            prior: bool) -> tuple[tuple[str, ...], Member]:
    keys = _tightest_first(keys, df)
    cross_keys = _tightest_first(cross_keys, df)
    hashes = np.fromiter((feature_hash(k) for k in keys), dtype=_HASH_DTYPE, count=len(keys))
    cross = np.fromiter((feature_hash(k) for k in cross_keys), dtype=_HASH_DTYPE, count=len(cross_keys))
    return keys + cross_keys, Member(vector, hashes.tobytes(), prior, cross.tobytes())


def block_features(
    features: StoryFeatures, df: Mapping[str, int], n_docs: int, params: StoryParams = StoryParams(),
    prior: bool = False,
) -> tuple[tuple[str, ...], Member]:
    """``blocked(vectorize(features, df, n_docs), df, params, prior)`` in bulk: the
    weights, the kept features and the block keys are worked out with numpy over
    all features at once (the features come sorted, so each blockable prefix is one
    contiguous range of them). Same keys and member (weights to float rounding)."""
    counts = features.counts
    if counts:
        names, raw = zip(*counts)
        found = _block_arrays(features.id, features.published_at, names, np.array(raw, dtype=np.float64), df,
                              n_docs, params, prior, features.language)
        if found is not None:
            return found
    return blocked(vectorize(features, df, n_docs), df, params, prior)


def block_payload(
    payload: FeaturesPayload, df: Mapping[str, int], n_docs: int, params: StoryParams = StoryParams(),
    prior: bool = False,
) -> tuple[tuple[str, ...], Member]:
    """``block_features(features_of(payload), ...)`` straight from the payload's
    names and counts, without building the ``(feature, count)`` pairs."""
    if payload[2]:
        found = _block_arrays(payload[0], payload[1], payload[2].split("\0"), np.frombuffer(payload[3], "<f8"), df,
                              n_docs, params, prior, payload[4])
        if found is not None:
            return found
    return block_features(features_of(payload), df, n_docs, params, prior)


def block_payload_keys(
    payload: FeaturesPayload, df: Mapping[str, int], n_docs: int, params: StoryParams = StoryParams(),
) -> tuple[str, ...]:
    """``block_payload(payload, df, n_docs, params)[0]``, the keys alone: the member's
    hashed and packed vector is not made (streaming routing makes its own, with every
    feature: :func:`~transforms.stories.windows.route`)."""
    if payload[2]:
        found = _block_arrays(payload[0], payload[1], payload[2].split("\0"), np.frombuffer(payload[3], "<f8"), df,
                              n_docs, params, False, payload[4], keys_only=True)
        if found is not None:
            return found[0]
    return block_payload(payload, df, n_docs, params)[0]


def _block_arrays(
    article_id: str, published_at: str, names: Sequence[str], count: np.ndarray, df: Mapping[str, int],
    n_docs: int, params: StoryParams, prior: bool, language: str = "", keys_only: bool = False,
) -> tuple[tuple[str, ...], Member | None] | None:
    """:func:`block_features` on the sorted feature names and their counts; None
    when some count is not positive (:func:`blocked` handles those). With
    ``keys_only``, the keys and no member."""
    if not (count > 0).all():  # features with no weight are not part of the vector at all
        return None
    # sorted names: a prefix is one contiguous range (found before names become words)
    words = (bisect_left(names, "w:"), bisect_left(names, "w;"))
    names_at = (bisect_left(names, _NAME_RANGE[0]), bisect_left(names, _NAME_RANGE[1]))
    usable = np.zeros(len(names), dtype=bool)
    usable[names_at[0] : names_at[1]] = True
    for prefix in _BLOCKABLE:
        usable[bisect_left(names, prefix) : bisect_left(names, prefix[0] + ";")] = True
    cross = np.zeros(len(names), dtype=bool)
    for prefix in CROSS_ONLY:
        cross[bisect_left(names, prefix) : bisect_left(names, prefix[0] + ";")] = True
    if names_at[0] < names_at[1]:
        names = list(names)
        names[names_at[0] : names_at[1]] = [feature_key(f) for f in names[names_at[0] : names_at[1]]]
    freq = np.array(list(map(df.get, names, _repeat(1))), dtype=np.float64)
    tf = np.where(count >= 1, 1.0 + np.log(np.maximum(count, 1.0)), count)  # sublinear; sub-unit weights kept
    weight = tf * ((math.log(n_docs + 1) + 1.0) - np.log(freq + 1.0))
    any_cross = bool(cross.any())
    base = weight[~cross] if any_cross else weight
    base_total = float(np.dot(base, base))
    extra = weight[cross]
    total = base_total + float(np.dot(extra, extra))
    lowercase = weight[words[0] : words[1]]
    norm = math.sqrt(base_total) or 1.0  # unit length without places: one language scores as without them
    neutral = math.sqrt(max(0.0, total - float(np.dot(lowercase, lowercase)))) / norm
    weight = weight / norm
    usable &= (freq >= 2) & (freq <= params.max_block_size)
    limit = params.block_keys_per_article
    keys = _most_specific(np.flatnonzero(usable & ~cross) if any_cross else np.flatnonzero(usable), weight, names,
                          limit)
    cross_keys = []
    if any_cross and (usable & cross).any():
        cross_keys = [k for k in _most_specific(np.flatnonzero(usable), weight, names, limit) if is_cross_only(k)]
    if keys_only:
        return _tightest_first(keys, df) + _tightest_first(cross_keys, df), None
    kept = freq >= 2  # features of no other article add nothing to any dot product
    hashes, weights = _packed(names, weight, kept & ~cross if any_cross else kept)
    cross_hashes, cross_weights = _packed(names, weight, kept & cross) if any_cross else (b"", b"")
    vector = CompactVector(article_id, published_at, hashes, weights, language, neutral, math.sqrt(total) / norm,
                           cross_hashes, cross_weights)
    return _member(vector, keys, cross_keys, df, prior)


def _most_specific(candidates: np.ndarray, weight: np.ndarray, names: Sequence[str], limit: int) -> list[str]:
    """The names of the ``limit`` heaviest ``candidates`` (ties by name)."""
    if len(candidates) <= limit:
        return [names[i] for i in candidates]
    cut = np.sort(weight[candidates])[-limit]
    above = candidates[weight[candidates] > cut]
    tied = sorted(names[i] for i in candidates[weight[candidates] == cut])
    return [names[i] for i in above] + tied[: limit - len(above)]


def _packed(names: Sequence[str], weight: np.ndarray, kept: np.ndarray) -> tuple[bytes, bytes]:
    """:func:`~transforms.stories.vectors.packed_arrays` of the ``kept`` features."""
    count_kept = int(np.count_nonzero(kept))
    hashes = np.fromiter(
        map(_VECTOR_HASHES.__getitem__, _compress(names, kept.tolist())), dtype=VECTOR_HASH_DTYPE, count=count_kept
    )
    return packed_arrays(hashes, weight[kept])


def member_payload(member: Member) -> tuple:
    """``(*vector, keys, prior, cross_keys)``: str, bytes, float and bool only."""
    return (*member.vector, member.keys, member.prior, member.cross_keys)


def member_of(payload: tuple) -> Member:
    *vector, keys, prior, cross_keys = payload
    return Member(CompactVector(*vector), keys, prior, cross_keys)


def member_ref(article_id: str, prior: bool = False) -> str:
    """How a block names a member: its article id, marked when it was remembered
    from an earlier run (the same id can be a remembered and a new article)."""
    return article_id + "\0prior" if prior else article_id


class Node(NamedTuple):
    """An article's place in story order: earliest first, undated last, then id."""

    published_at: str
    id: str


_NO_DATE = "9999-12-31T23:59:59Z"


def node_of(article_id: str, published_at: str | None) -> Node:
    return Node(published_at or _NO_DATE, article_id)


def _window_order(member: Member) -> tuple[int, float, int]:
    """Dated members by time; undated ones after them. Members with the same time
    (and the undated ones) follow an order that says nothing about their content or
    source, a hash of the id, never the order the shuffle delivered them in: which
    pairs share a window, and so the stories, must not change from run to run."""
    hours = epoch_hours(member.vector.published_at)
    tie = xxhash.xxh64_intdigest(member.vector.id.encode("utf-8"))
    return (1, 0.0, tie) if hours is None else (0, hours, tie)


def score_block(key: str, members: Iterable[Member], params: StoryParams = StoryParams()) -> Iterator[
    tuple[Node, Node, float]
]:
    """Edges ``(earlier, later, similarity)`` scoring at least ``edge_floor`` among
    the members of one block, each compared only with the next ``window`` members in
    time order (undated last) that are at most :func:`max_gap_hours` later: at most
    ``window`` comparisons per member and block, however large the block.

    A pair is scored only in the tightest block its two articles share (see
    :class:`Member`), so it is scored at most once over all blocks.

    All window pairs of a block are scored at once: the members' (hash, weight)
    arrays are laid end to end and stably sorted by hash, so equal features of
    different members sit side by side, owners ascending; a member and its ``d``-th
    successor share a feature exactly where the sorted array equals itself shifted
    by ``d`` places (``d <= window``), and the products there summed per pair are
    the pair's dot product. A few numpy passes per block instead of one lookup per
    pair."""
    members = sorted(members, key=_window_order)
    if all(m.prior for m in members):
        return  # only remembered articles: their pairs were settled by an earlier run
    cross_block = is_cross_only(key)  # a place's block: pairs in two languages sharing no other key
    languages = [m.vector.language for m in members]
    several = params.cross_language and len(set(languages) - {""}) > 1
    if cross_block and not several:
        return
    count = len(members)
    hours = [epoch_hours(m.vector.published_at) for m in members]
    window, gap, floor = params.window, max_gap_hours(params), params.edge_floor
    grace, half_life, cross_half_life = params.grace_hours, params.half_life_hours, params.cross_language_half_life_hours
    this = feature_hash(key)
    keys = [np.frombuffer(m.cross_keys if cross_block else m.keys, dtype=_HASH_DTYPE).tolist() for m in members]
    key_sets = [set(k) for k in keys]
    # a pair belongs to this block when ``this`` is the first of the earlier member's
    # keys (tightest first) that the later one has too: none of the keys before it
    tighter = [k[: k.index(this)] if this in k_set else None for k, k_set in zip(keys, key_sets)]
    if cross_block:  # ...and, in a place's block, when the two share none of their other keys
        other = [set(np.frombuffer(m.keys, dtype=_HASH_DTYPE).tolist()) for m in members]
    dots = _window_dots([m.vector.hashes for m in members], [m.vector.weights for m in members], window)
    # the window pairs (i, i + d) in loop order, cut where a dated pair is more than
    # ``gap`` apart (members are in time order: every later one is too, and the
    # undated ones after it are not compared either), then the pairs whose score
    # could reach ``floor`` (a hair of slack: the exact score is computed below)
    ii = np.repeat(np.arange(count), window)
    dd = np.tile(np.arange(1, window + 1), count)
    jj = ii + dd
    inside = jj < count
    ii, dd, jj = ii[inside], dd[inside], jj[inside]
    at = np.array([np.nan if h is None else h for h in hours], dtype=np.float64)
    dt = at[jj] - at[ii]  # NaN unless both are dated
    far = dt > gap
    if far.any():
        cut = np.full(count, count, dtype=np.int64)
        np.minimum.at(cut, ii[far], jj[far])
        near = jj < cut[ii]
        ii, dd, jj, dt = ii[near], dd[near], jj[near], dt[near]
    pair_dots = dots[ii, dd]
    across = np.zeros(len(ii), dtype=bool)
    if several:  # across two languages: the cosine of the neutral parts, places included
        number = {x: i for i, x in enumerate(sorted(set(languages)))}  # "" (unknown) is 0
        codes = np.array([number[x] for x in languages], dtype=np.int64)
        unknown = number.get("", -1)
        across = (codes[ii] != codes[jj]) & (codes[ii] != unknown) & (codes[jj] != unknown)
        if cross_block:
            ii, dd, jj, dt, pair_dots, across = ii[across], dd[across], jj[across], dt[across], pair_dots[across], \
                across[across]
        places = _window_dots([m.vector.cross_hashes for m in members], [m.vector.cross_weights for m in members],
                              window)
        norms = np.array([cross_norm(m.vector.neutral, m.vector.full, params) for m in members])
        plain = pair_dots + places[ii, dd]
        scaled = plain * params.cross_language_factor / (norms[ii] * norms[jj])
        pair_dots = np.where(across, scaled, pair_dots)
        # too little shared to be scaled up (chance overlaps of numbers and concepts):
        # rejected here, before the loop below, the edge list and the grouping see them
        chance = across & (plain < params.cross_language_min_cosine)
    decays = np.where(dt > grace, 0.5 ** ((dt - grace) / np.where(across, cross_half_life, half_life)), 1.0)
    likely = np.minimum(1.0, pair_dots) * decays >= floor - 1e-9
    if several:
        likely &= ~chance
    prior = np.fromiter((m.prior for m in members), dtype=bool, count=count)
    if prior.any():
        likely &= ~(prior[ii] & prior[jj])
    nodes: list[Node | None] = [None] * count
    for i, j, dot, two in zip(ii[likely].tolist(), jj[likely].tolist(), pair_dots[likely].tolist(),
                              across[likely].tolist()):
        ha, hb = hours[i], hours[j]
        decay = 1.0
        if ha is not None and hb is not None and hb - ha > grace:
            decay = 0.5 ** ((hb - ha - grace) / (cross_half_life if two else half_life))
        score = min(1.0, dot) * decay
        if score < floor:
            continue
        a, b, shared, before = members[i], members[j], key_sets[j], tighter[i]
        if before is None or this not in shared or not shared.isdisjoint(before) or a.vector.id == b.vector.id:
            continue
        if cross_block and not other[i].isdisjoint(other[j]):
            continue  # scored in the tightest block of their other keys
        na = nodes[i] or node_of(a.vector.id, a.vector.published_at)
        nb = nodes[j] or node_of(b.vector.id, b.vector.published_at)
        nodes[i], nodes[j] = na, nb
        yield (na, nb, round(score, 6)) if na < nb else (nb, na, round(score, 6))


def _window_dots(packed_hashes: list[bytes], packed_weights: list[bytes], window: int) -> np.ndarray:
    """``dots[i][d]``: the dot product of member ``i`` and member ``i + d``
    (``1 <= d <= window``; 0.0 past the end) given the members' packed hashes and
    weights, see :func:`score_block`."""
    count = len(packed_hashes)
    hashes = [np.frombuffer(h, dtype=VECTOR_HASH_DTYPE) for h in packed_hashes]
    sizes = np.fromiter((len(h) for h in hashes), dtype=np.int64, count=count)
    flat = np.concatenate(hashes)
    order, flat = stable_order(flat)
    owner = np.repeat(np.arange(count, dtype=np.int64), sizes)[order]
    weight = np.concatenate([np.frombuffer(w, dtype=WEIGHT_DTYPE) for w in packed_weights])
    weight = weight.astype(np.float64)[order]
    width = window + 1
    keys, products = [], []
    # entries with an equal hash d places on: a subset of those with one d - 1 places
    # on (runs are contiguous), and past ``window`` members in one place they are past
    # it in every later one (owners ascend along a run): the candidates only shrink
    cand = np.arange(len(flat) - 1, dtype=np.int64)
    for d in range(1, window + 1):
        if d > 1:
            cand = cand[cand < len(flat) - d]
        cand = cand[flat[cand + d] == flat[cand]]
        if not len(cand):
            break
        first = owner[cand]
        step = owner[cand + d] - first  # >= 1: a member's own hashes are distinct
        near = step <= window
        if not near.all():
            cand, first, step = cand[near], first[near], step[near]
        keys.append(first * width + step)
        products.append(weight[cand] * weight[cand + d])
    if not keys:
        return np.zeros((count, width))
    sums = np.bincount(np.concatenate(keys), weights=np.concatenate(products), minlength=count * width)
    return sums.reshape(count, width)

