"""Issue 17 experiment: does a LEARNED second stage over the rule tagger's evidence raise
recall at precision >= 0.90?  ``python -m eval.topiclearned [--variants NAME ...] [--sets ...]``.

Reads only the DEV halves (``split == "dev"``) of the seven labelled topic sets. Prints:

1. **The ceiling**: the share of gold tags with any evidence from the engine: tagged by the
   rules, a mention, a phrase hit below the mention score (``analyse`` with no floor), or only
   a match that an ``exclude`` / ``requires`` rule vetoed; a stage that re-scores the
   engine's evidence cannot recover more than the first three; and what a perfect stage over
   that evidence would score (adding every gold pair, removing every false tag, both).
2. The evidence model fitted on all seven, its standardized weights (for reading only).
3. **Leave one set out** over the seven dev halves: for each set, a model is fitted on the
   other six and scores the seventh. Per (article, topic) with any accepted hit, the features
   (:func:`evidence_features`) are the rules' score and sum, hits in title / lead / body and
   their best values, distinct phrases, repeats, background-discounted hits, body sentences,
   the context anchor, the other topics' scores, the topic and the language. Variants
   (``--variants``): ``evidence``, the model decides every pair with evidence; ``stems``, with
   hashed Snowball stems of the title and the lead crossed with the topic too; ``-add``, fitted
   on and applied to the pairs the rules leave untagged only (it can only add tags);
   ``wide-add``, also every core topic without evidence (stems only: beyond the ceiling). An L2 logistic regression in numpy; its L2 strength and its decision threshold are chosen
   on the six training sets alone, by an inner leave-one-set-out (out-of-fold probabilities,
   best pooled micro F1). Baselines: the rules as they are, and the rules with per-topic
   thresholds re-chosen on the six (``eval.topicthresholds.choose``).

Micro P / R / F1 are over the 18 topics and every gold tag (a gold topic without evidence is
a miss whatever the model does); "core" is the micro F1 over the seven core topics. Only
aggregates are printed. Rules on the dev halves of six of these sets are tuned (rounds 4-6);
``topics_blind6``'s dev half is the one fold nobody tuned on.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import zlib
from collections import Counter
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from eval.blindtopics import CORE, HERE, NEIGHBOURS, load_blind
from eval.metrics import prf
from eval.topicdev import SETS
from eval.topicthresholds import choose
from pipeline.config import load_config
from transforms.enrich.language import make_language_fn
from transforms.enrich.topicforms import SNOWBALL
from transforms.enrich.topics import TopicScore, _norm, _sentence_start, analyse, lead_end, load_taxonomy

LANGUAGES = ("en", "fr", "de", "es", "it", "pl", "uk", "ru", "nl")
LAMBDAS = (0.3, 3.0, 30.0)  # L2 strength, on standardized features (loss summed over rows)
THRESHOLDS = [round(0.10 + 0.025 * i, 3) for i in range(33)]  # 0.10 .. 0.90
# features: the evidence's, plus hashed stems, plus every core topic without evidence (wide);
# "-add": fitted on and applied to the pairs the rules leave untagged (the stage only adds tags)
VARIANTS = ("evidence", "stems", "evidence-add", "stems-add", "wide-add")
BUCKETS = 256  # hashed stem x topic features of the `stems` variant
_ENDS = ".!?\n"
_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclasses.dataclass
class Article:
    set: str
    gold: set[str]
    language: str
    scored: list[TopicScore]  # analyse(..., floor=0): every topic with an accepted hit
    vetoed: set[str]  # topics with a raw match only (every candidate vetoed)
    stems: list[str]  # of the title and the lead, for the `stems` variant
    features: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------- data


def _stems(title: str, text: str, language: str, lead: int) -> list[str]:
    words = _WORD.findall((title + " " + text[:lead]).casefold())
    name = SNOWBALL.get(language)
    if name is None:
        return sorted({w[:6] for w in words})  # no stemmer (uk): a crude prefix
    import snowballstemmer

    stem = snowballstemmer.stemmer(name).stemWord
    return sorted({stem(w) for w in words})


def analysed_dev_rows(
    sets: Sequence[str], taxonomy: Any, config_path: str | None = None
) -> Iterator[tuple[str, dict[str, Any], str, str, str, list[TopicScore], int]]:
    """``(set, row, title, text, language, topic scores, lead end)`` for the dev rows of ``sets``:
    the language detected and the topics analysed as in a run. Only ``split == "dev"`` rows."""
    config = load_config(config_path)
    detect = make_language_fn(**dataclasses.asdict(config.language))
    for name in sets:
        for row in load_blind(os.path.join(HERE, "data", name), split="dev"):
            assert row["split"] == "dev"
            title, text = row.get("title") or "", row["text"]
            language = detect({"id": row["id"], "title": title, "text": text})["language"]
            scored = analyse(text, language, taxonomy, title=title)
            yield name, row, title, text, language, scored, lead_end(text, taxonomy.scoring.lead_chars)


def load_articles(sets: Sequence[str], taxonomy: Any, config_path: str | None = None) -> list[Article]:
    """The dev rows of ``sets``, tagged with the detected language as in a run, analysed once."""
    out = []
    for name, row, title, text, language, scored, lead in analysed_dev_rows(sets, taxonomy, config_path):
        matcher = taxonomy.matcher(language)
        raw = set(matcher.candidates(text)) | (set(matcher.candidates(title)) if title else set())
        art = Article(name, set(row["topics"]), language, scored, raw - {t.name for t in scored},
                      _stems(title, text, language, lead))  # fmt: skip
        art.features = {t.name: evidence_features(t, scored, text) for t in scored}
        out.append(art)
    return out


# --------------------------------------------------------------------------- features


_GROUP = {t: set(g) - {t} for g in NEIGHBOURS for t in g}


def evidence_features(topic: TopicScore, scored: Sequence[TopicScore], text: str) -> dict[str, float]:
    """General features of one topic's evidence in one article (no topic or language identity)."""
    hits = topic.hits
    places = Counter(h.place for h in hits)
    best = {p: max((h.value for h in hits if h.place == p), default=0.0) for p in ("title", "lead", "body")}
    distinct = len({_norm(h.text) for h in hits})
    background = sum(h.background for h in hits)
    body_sentences = {_sentence_start(text, h.start) for h in hits if h.place == "body"}
    sentences = max(1, sum(text.count(ch) for ch in _ENDS))
    weights = [h.pattern.weight for h in hits]
    first = min(0.0 if h.field == "title" else h.start / max(1, len(text)) for h in hits)
    others = [t for t in scored if t.name != topic.name]
    near = [t.score for t in others if t.name in _GROUP.get(topic.name, ())]
    total = -math.log(max(1e-3, 1.0 - topic.score))
    return {
        "score": topic.score, "sum": min(total, 5.0), "tagged": float(topic.tagged),
        "margin": topic.score - topic.threshold, "anchored": float(topic.anchored),
        "n_title": float(places["title"]), "n_lead": math.log1p(places["lead"]), "n_body": math.log1p(places["body"]),
        "best_title": best["title"], "best_lead": best["lead"], "best_body": best["body"],
        "distinct": math.log1p(distinct), "repeats": math.log1p(len(hits) - distinct),
        "background": background / len(hits),
        "only_background": float(background == len(hits)),  # title hits are never background
        "max_weight": max(weights), "frames": math.log1p(sum(w >= 1.4 for w in weights)),
        "weak_only": float(max(weights) < 1.0), "body_sentences": math.log1p(len(body_sentences)),
        "body_share": len(body_sentences) / sentences, "first": first, "length": math.log1p(len(text)) / 8,
        "other_max": max((t.score for t in others), default=0.0),
        "other_tagged": math.log1p(sum(t.tagged for t in others)),
        "neighbour_max": max(near, default=0.0), "is_best": float(not others or topic.score >= others[0].score),
        "no_evidence": 0.0,
    }  # fmt: skip


NO_EVIDENCE = {k: 0.0 for k in ("score sum tagged margin anchored n_title n_lead n_body best_title best_lead best_body "
    "distinct repeats background only_background max_weight frames weak_only body_sentences body_share first length "
    "other_max other_tagged neighbour_max is_best").split()} | {"no_evidence": 1.0}  # fmt: skip


class Design:
    """Turns (article, topic) pairs into a matrix: dense evidence features (standardized on
    the training rows), the topic and the language one-hot, and optionally hashed stems."""

    def __init__(self, topics: Sequence[str], variant: str) -> None:
        self.topics = list(topics)
        self.wide = variant.startswith("wide")  # also every core topic without evidence
        self.stems = self.wide or variant.startswith("stems")
        self.add = variant.endswith("-add")  # only the pairs the rules leave untagged
        self.dense: list[str] = []
        self.mean = self.std = np.zeros(0)

    def rows(self, articles: Iterable[Article]) -> tuple[list[tuple[int, str]], list[dict[str, float]], np.ndarray]:
        """The (article index, topic) pairs this variant scores, their features and gold labels."""
        keys, feats, gold = [], [], []
        for i, art in enumerate(articles):
            tagged = {t.name for t in art.scored if t.tagged} if self.add else set()
            pairs = [(n, f) for n, f in art.features.items() if n not in tagged]
            if self.wide:
                pairs += [(n, NO_EVIDENCE) for n in CORE if n not in art.features]
            for name, f in pairs:
                keys.append((i, name))
                feats.append(f)
                gold.append(name in art.gold)
        return keys, feats, np.array(gold, dtype=float)

    def matrix(
        self, articles: Sequence[Article], keys: list[tuple[int, str]], feats: list[dict[str, float]], fit: bool
    ) -> np.ndarray:
        if fit:
            self.dense = sorted(feats[0]) if feats else []
        dense = np.array([[f[k] for k in self.dense] for f in feats], dtype=float).reshape(len(feats), len(self.dense))
        if fit:
            self.mean, self.std = dense.mean(axis=0), dense.std(axis=0) + 1e-6
        dense = (dense - self.mean) / self.std
        width = len(self.topics) + len(LANGUAGES) + (BUCKETS if self.stems else 0)
        extra = np.zeros((len(keys), width))
        for r, (i, name) in enumerate(keys):
            art = articles[i]
            extra[r, self.topics.index(name)] = 1.0
            if art.language in LANGUAGES:
                extra[r, len(self.topics) + LANGUAGES.index(art.language)] = 1.0
            if self.stems:
                base = len(self.topics) + len(LANGUAGES)
                for s in art.stems:
                    extra[r, base + zlib.crc32(f"{name}|{s}".encode()) % BUCKETS] = 1.0
        return np.hstack([np.ones((len(keys), 1)), dense, extra])


# --------------------------------------------------------------------------- model


def fit(x: np.ndarray, y: np.ndarray, lam: float, iterations: int = 30) -> np.ndarray:
    """L2 logistic regression by Newton's method (the intercept, column 0, not penalized)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], lam)
    penalty[0] = 1e-6
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def predict(design: Design, w: np.ndarray, articles: Sequence[Article]) -> dict[tuple[int, str], float]:
    """The probability of each pair the design scores, by (article index, topic)."""
    keys, feats, _ = design.rows(articles)
    if not keys:
        return {}
    p = 1.0 / (1.0 + np.exp(-np.clip(design.matrix(articles, keys, feats, fit=False) @ w, -30, 30)))
    return dict(zip(keys, p.tolist()))


def train(articles: Sequence[Article], topics: Sequence[str], variant: str, lam: float) -> tuple[Design, np.ndarray]:
    design = Design(topics, variant)
    keys, feats, y = design.rows(articles)
    return design, fit(design.matrix(articles, keys, feats, fit=True), y, lam)


def counts(articles: Sequence[Article], tagged: Sequence[set[str]], only: Iterable[str] | None = None) -> Counter:
    keep = set(only) if only is not None else None
    c: Counter = Counter()
    for art, tags in zip(articles, tagged):
        gold = art.gold if keep is None else art.gold & keep
        tags = tags if keep is None else tags & keep
        c["tp"] += len(gold & tags)
        c["fp"] += len(tags - gold)
        c["fn"] += len(gold - tags)
    return c


def _f1(c: Counter) -> float:
    return 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) if c["tp"] else 0.0


def tags_at(
    articles: Sequence[Article], probs: dict[tuple[int, str], float], threshold: float, add: bool = False
) -> list[set[str]]:
    """The tags at ``threshold``; with ``add``, the rules' tags plus those (the stage only adds)."""
    out: list[set[str]] = [{t.name for t in a.scored if t.tagged} if add else set() for a in articles]
    for (i, name), p in probs.items():
        if p >= threshold:
            out[i].add(name)
    return out


def choose_model(train_sets: dict[str, list[Article]], topics: Sequence[str], variant: str) -> tuple[float, float]:
    """L2 strength and decision threshold of best pooled out-of-fold micro F1, by leave one
    set out over ``train_sets`` alone."""
    best = (-1.0, LAMBDAS[0], 0.5)
    names = list(train_sets)
    for lam in LAMBDAS:
        oof_articles: list[Article] = []
        oof: dict[tuple[int, str], float] = {}
        for held in names:
            fitted = [a for n in names if n != held for a in train_sets[n]]
            design, w = train(fitted, topics, variant, lam)
            base = len(oof_articles)
            for (i, name), p in predict(design, w, train_sets[held]).items():
                oof[(base + i, name)] = p
            oof_articles += train_sets[held]
        for th in THRESHOLDS:
            f = _f1(counts(oof_articles, tags_at(oof_articles, oof, th, variant.endswith("-add"))))
            if f > best[0] + 1e-9:
                best = (f, lam, th)
    return best[1], best[2]


# --------------------------------------------------------------------------- report


def ceiling(articles: Sequence[Article], taxonomy: Any) -> str:
    """What share of gold tags has evidence of each kind (dev halves only)."""
    kinds = ("tagged", "mention", "hit below the mention score", "vetoed match only", "no evidence")
    total: Counter = Counter()
    core: Counter = Counter()
    by_set: dict[str, Counter] = {}
    by_lang: dict[str, Counter] = {}
    for art in articles:
        score = {t.name: t for t in art.scored}
        for g in art.gold:
            t = score.get(g)
            kind = (kinds[0] if t.tagged else kinds[1] if t.score >= taxonomy.mention_score else kinds[2]) if t else (
                kinds[3] if g in art.vetoed else kinds[4])  # fmt: skip
            for c in (total, by_set.setdefault(art.set, Counter()), by_lang.setdefault(art.language, Counter())):
                c[kind] += 1
            if g in CORE:
                core[kind] += 1

    def line(label: str, c: Counter) -> str:
        n = sum(c.values()) or 1
        reach = (c[kinds[0]] + c[kinds[1]] + c[kinds[2]]) / n
        return f"  {label:24s} {n:5d} gold  " + "  ".join(f"{c[k] / n:.3f}" for k in kinds) + f"   reach {reach:.3f}"

    out = ["== (1) the ceiling: gold tags of the dev halves by the engine's evidence for them",
           f"  {'':24s} {'':10s}  " + " | ".join(kinds) + " | reach = any accepted hit",
           line("all", total), line("core topics", core)]  # fmt: skip
    out += [line(name, c) for name, c in by_set.items()]
    out += [line(f"language {lang}", c) for lang, c in sorted(by_lang.items())]
    rules = [{t.name for t in a.scored if t.tagged} for a in articles]
    evidence = [{t.name for t in a.scored} for a in articles]
    oracle = {
        "rules": rules,
        "rules + every gold pair with evidence (a perfect stage that only adds)": [
            r | (e & a.gold) for a, r, e in zip(articles, rules, evidence)
        ],
        "rules - every false tag (a perfect stage that only removes)": [r & a.gold for a, r in zip(articles, rules)],
        "every pair with evidence decided right (a perfect re-scoring)": [
            e & a.gold for a, e in zip(articles, evidence)
        ],
    }
    out.append("  what a perfect stage over the evidence would reach, micro P/R/F1 c<core micro F1>:")
    out += [f"    {_cell(counts(articles, t), counts(articles, t, CORE))}  {label}" for label, t in oracle.items()]
    return "\n".join(out)


def _cell(c: Counter, core: Counter) -> str:
    m = prf(c["tp"], c["fp"], c["fn"])
    return f"{m['precision']:.3f}/{m['recall']:.3f}/{m['f1']:.3f} c{_f1(core):.3f}"


def leave_one_set_out(articles: Sequence[Article], taxonomy: Any, variants: Sequence[str]) -> str:
    topics = sorted(taxonomy.topics)
    by_set: dict[str, list[Article]] = {}
    for art in articles:
        by_set.setdefault(art.set, []).append(art)
    methods = ["rules", "rules, thresholds re-chosen", *(f"learned ({v})" for v in variants)]
    pooled = {m: ([], []) for m in methods}  # articles, tags
    ranked: dict[tuple[str, bool], list[tuple[bool, float, float]]] = {}  # (variant, rules tag) -> (gold, score, p)
    lines = [
        "== (3) leave one set out over the dev halves: micro P/R/F1 c<core micro F1>; model chosen on the other six"
    ]
    lines.append(f"  {'left out':22s} " + " | ".join(f"{m:28s}" for m in methods))
    for held, test in by_set.items():
        rest = {n: a for n, a in by_set.items() if n != held}
        fitted = [a for arts in rest.values() for a in arts]
        result: dict[str, list[set[str]]] = {"rules": [{t.name for t in a.scored if t.tagged} for a in test]}
        scored = [(a.gold, {t.name: t.score for t in a.scored}) for a in fitted]
        th = choose(scored, topics, taxonomy.min_score, 8, {t: taxonomy.threshold(t) for t in topics})
        result["rules, thresholds re-chosen"] = [{t.name for t in a.scored if t.score >= th[t.name]} for a in test]
        notes = []
        for v in variants:
            lam, cut = choose_model(rest, topics, v)
            design, w = train(fitted, topics, v, lam)
            probs = predict(design, w, test)
            result[f"learned ({v})"] = tags_at(test, probs, cut, v.endswith("-add"))
            for (i, name), p in probs.items():
                t = next((t for t in test[i].scored if t.name == name), None)
                tagged = t is not None and t.tagged
                ranked.setdefault((v, tagged), []).append((name in test[i].gold, t.score if t else 0.0, p))
            notes.append(f"{v}: L2 {lam:g}, threshold {cut:.3f}")
        cells = []
        for m in methods:
            pooled[m][0].extend(test)
            pooled[m][1].extend(result[m])
            cells.append(f"{_cell(counts(test, result[m]), counts(test, result[m], CORE)):28s}")
        lines.append(f"  {held:22s} " + " | ".join(cells) + f"   ({'; '.join(notes)})")
    cells = [f"{_cell(counts(*pooled[m]), counts(*pooled[m], CORE)):28s}" for m in methods]
    lines.append(f"  {'POOLED':22s} " + " | ".join(cells))
    lines.append("  pooled F1 per core topic:")
    for m in methods:
        per = "  ".join(f"{t[:8]} {_f1(counts(*pooled[m], [t])):.2f}" for t in CORE)
        lines.append(f"    {m:28s} {per}")
    lines.append("  how well each ranks the pairs of the left-out sets (AUC: rules' score | learned probability):")
    for (v, tagged), items in sorted(ranked.items()):
        gold = [g for g, _, _ in items]
        lines.append(
            f"    {v:14s} pairs the rules {'tag' if tagged else 'leave untagged':16s} {len(items):4d}, "
            f"{sum(gold):3d} gold: AUC {auc(gold, [s for _, s, _ in items]):.3f} | {auc(gold, [p for _, _, p in items]):.3f}"
        )
    return "\n".join(lines)


def auc(gold: Sequence[bool], values: Sequence[float]) -> float:
    """The chance that a gold pair ranks above a non-gold one (ties count half)."""
    pos = [v for g, v in zip(gold, values) if g]
    neg = [v for g, v in zip(gold, values) if not g]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def weights_table(articles: Sequence[Article], taxonomy: Any, lam: float = 3.0) -> str:
    """The evidence model fitted on all seven dev halves: its dense weights, largest first."""
    design, w = train(articles, sorted(taxonomy.topics), "evidence", lam)
    pairs = sorted(zip(design.dense, w[1 : 1 + len(design.dense)]), key=lambda p: -abs(p[1]))
    return "== (2) evidence model on all seven dev halves (L2 3), standardized weights:\n  " + "  ".join(
        f"{k} {v:+.2f}" for k, v in pairs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--sets", nargs="*", default=list(SETS), help="dev splits of these sets in eval/data")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args(argv)
    taxonomy = load_taxonomy(load_config(args.config).topics_path)
    articles = load_articles([os.path.basename(s) for s in args.sets], taxonomy, args.config)
    print(f"dev articles: {len(articles)}; (article, topic) pairs with evidence: "
          f"{sum(len(a.scored) for a in articles)}; gold tags: {sum(len(a.gold) for a in articles)}")  # fmt: skip
    print(ceiling(articles, taxonomy))
    print(weights_table(articles, taxonomy))
    print(leave_one_set_out(articles, taxonomy, args.variants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
