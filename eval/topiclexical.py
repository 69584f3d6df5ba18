"""Issue 17, round 9: can a learned LEXICAL model add core-topic tags where no rule fires, at
held-out precision >= 0.90?  ``python -m eval.topiclexical [--variants ...]``.

Reads only the DEV halves (``split == "dev"``) of the nine labelled topic sets. Per core topic a
linear model over Snowball stems of the title, the lead and the body (each group a unit vector),
optionally with the rules' scores of the seven core topics as features, fitted as a kernel
ridge classifier (linear kernel, so one eigendecomposition per training pool gives every L2
strength) or by kernel logistic regression (``-logistic``; slow: give ``--lam``); or
(``--quotes``) a lexicon of the stems and stem pairs of the labellers' dev evidence quotes.
Decision: tag = the rules' tag OR score >= the topic's threshold, the threshold chosen on the
training sets alone (inner leave-one-set-out out-of-fold scores) as the best F1 with
precision >= ``--precision`` (0.92) for that topic; no threshold meeting it: the model adds nothing.

Leave one set out (train on eight dev halves, score the ninth), three ways of judging:

* ``now``: the current rules everywhere. Eight of the nine halves were tuned on (rounds 4-8), so
  the rules miss little there and a model can add little.
* ``era``: the current rules on the eight training halves (as a model shipped today would be
  trained and its thresholds chosen), and on the left-out half the rules as they were BEFORE anyone
  tuned on it (their tags and, for ``+rules``, their scores: ``--era`` files of
  ``python -m eval.topicera``), the closest dev proxy of "the rules on news they were not written
  against". ``topics_blind``, ``topics_blind2`` and ``labelled`` get the rules before round 4
  (they were read by rounds 1-3: less tuned on them than today, not untuned); ``topics_blind8``,
  which no round has tuned on, the current ones.
* ``era-both``: those earlier rules on the training halves too (the thresholds then see what
  untuned rules miss; optimistic for a model trained today).

Each pooled line has the F1 gain with a paired bootstrap interval (articles resampled), over
all nine halves and over the six whose earlier rules had never seen them (``topics_blind3-8``).
Below each: how the model's held-out score ranks the core pairs the rules leave untagged and
those they tag (AUC, against the rules' own score), and two optimistic bounds with the
thresholds or cuts chosen on the left-out halves themselves (they peek: a ceiling, not a result).

Only aggregates are printed; test rows are never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import re
from collections import Counter
from typing import Any, Sequence

import numpy as np
import yaml

from eval.blindtopics import CORE
from eval.metrics import prf
from eval.topiclearned import analysed_dev_rows
from pipeline.config import load_config
from transforms.enrich.topicforms import MIN_STEM, _snowball
from transforms.enrich.topics import load_taxonomy

SETS = ("topics_blind8.jsonl", "topics_blind7.jsonl", "topics_blind6.jsonl", "topics_blind5.jsonl",
        "topics_blind4.jsonl", "topics_blind3.jsonl", "topics_blind.jsonl", "topics_blind2.jsonl",
        "labelled.jsonl")  # fmt: skip
LAMBDAS = (0.03, 0.1, 0.3, 1.0, 3.0)
THRESHOLDS = [round(-0.2 + 0.025 * i, 3) for i in range(57)]  # ridge scores, -0.2 .. 1.2
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclasses.dataclass
class Article:
    id: str
    set: str
    language: str
    gold: set[str]
    kind: str
    trap_for: set[str]
    rules: set[str]  # the current rules' tags
    scores: dict[str, float]  # the current rules' score per core topic (analyse, no floor)
    era: set[str]  # the rules' tags before the round that tuned on this set (or the current ones)
    era_scores: dict[str, float]
    groups: dict[str, set[str]]  # "t" / "l" / "b" -> stems
    grams: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # "t" / "l" / "b" -> stems and stem pairs
    quotes: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # gold topic -> its quote's grams


@functools.lru_cache(maxsize=200_000)
def _stem(word: str, language: str, endings: tuple[str, ...]) -> str:
    stemmer = _snowball(language)
    if stemmer is not None:
        return stemmer(word)
    for ending in endings:  # longest first
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def stems(text: str, language: str, endings: tuple[str, ...]) -> set[str]:
    return {_stem(w, language, endings) for w in _WORD.findall(text.casefold())}


def grams(text: str, language: str, endings: tuple[str, ...]) -> set[str]:
    """Stems and pairs of adjacent stems (``a_b``)."""
    seq = [_stem(w, language, endings) for w in _WORD.findall(text.casefold())]
    return set(seq) | {f"{a}_{b}" for a, b in zip(seq, seq[1:])}


def load(sets: Sequence[str], era_files: Sequence[str], config_path: str | None = None) -> list[Article]:
    config = load_config(config_path)
    taxonomy = load_taxonomy(config.topics_path)
    with open(config.topics_path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    endings = tuple(sorted((raw.get("inflection") or {}).get("uk", {}).get("endings", ()), key=len, reverse=True))
    era: dict[str, dict[str, Any]] = {}
    for path in era_files:
        with open(path, encoding="utf-8") as fh:
            era.update(json.load(fh))
    out = []
    for name, row, title, text, language, scored, lead in analysed_dev_rows(sets, taxonomy, config_path):
        rules = {t.name for t in scored if t.tagged}
        scores = {t.name: t.score for t in scored if t.name in CORE}
        old = era.get(row["id"], {"tags": rules, "scores": scores})
        out.append(Article(
            row["id"], name, language, set(row["topics"]), row.get("kind") or "", set(row.get("trap_for") or ()),
            rules, scores, set(old["tags"]), old["scores"],
            {"t": stems(title, language, endings), "l": stems(text[:lead], language, endings),
             "b": stems(text[lead:], language, endings)},
            {"t": grams(title, language, endings), "l": grams(text[:lead], language, endings),
             "b": grams(text[lead:], language, endings)},
            {t: grams(q, language, endings) for t, q in (row.get("evidence") or {}).items() if t in CORE and q},
        ))  # fmt: skip
    return out


# --------------------------------------------------------------------------- features


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    weights: tuple[float, float, float] = (1.0, 1.0, 0.7)  # title, lead, body groups
    rules: float = 0.0  # weight of the rules' core scores as features (0: lexical only)
    cue: bool = False  # the model adds a topic only where the rules have a hit for it (a second cue)
    add: bool = True  # the model adds tags above a threshold
    remove: bool = False  # the model removes the rules' tags below another
    logistic: bool = False  # kernel logistic regression instead of kernel ridge


VARIANTS = {
    "lex": Variant("lex"),
    "lex-head": Variant("lex-head", (1.0, 1.0, 0.0)),
    "lex+rules": Variant("lex+rules", rules=1.0),
    "lex-cue": Variant("lex-cue", cue=True),
    "lex-remove": Variant("lex-remove", add=False, remove=True),
    "lex-both": Variant("lex-both", remove=True),
    "lex-logistic": Variant("lex-logistic", logistic=True),
    "lex+rules-logistic": Variant("lex+rules-logistic", rules=1.0, logistic=True),
    "lex+rules-cue": Variant("lex+rules-cue", rules=1.0, cue=True),
}


def design(articles: Sequence[Article], vocab: dict[str, int], v: Variant, era: bool) -> np.ndarray:
    """Rows: each group's stems as a unit vector times its weight, the rules' scores, a bias."""
    width = len(vocab) + len(CORE) + 1
    x = np.zeros((len(articles), width), dtype=np.float64)
    for i, a in enumerate(articles):
        for g, w in zip("tlb", v.weights):
            cols = [vocab[f"{g}:{s}"] for s in a.groups[g] if f"{g}:{s}" in vocab]
            if cols and w:
                x[i, cols] = w / math.sqrt(len(cols))
        if v.rules:
            for j, t in enumerate(CORE):
                x[i, len(vocab) + j] = v.rules * (a.era_scores if era else a.scores).get(t, 0.0)
        x[i, -1] = 1.0
    return x


def vocabulary(articles: Sequence[Article], min_df: int = 2) -> dict[str, int]:
    df: Counter = Counter()
    for a in articles:
        for g in "tlb":
            df.update(f"{g}:{s}" for s in a.groups[g])
    return {k: i for i, k in enumerate(sorted(k for k, n in df.items() if n >= min_df))}


class Ridge:
    """Kernel ridge on a linear kernel: one eigendecomposition, every lambda."""

    def __init__(self, k: np.ndarray, y: np.ndarray) -> None:
        self.e, self.u = np.linalg.eigh(k)
        self.uty = self.u.T @ y

    def alpha(self, lam: float) -> np.ndarray:
        return self.u @ (self.uty / (np.maximum(self.e, 0.0) + lam)[:, None])


class Logistic:
    """Kernel logistic regression on a linear kernel (Newton's method on the dual weights); its
    ``alpha`` gives weights whose kernel products are log-odds."""

    def __init__(self, k: np.ndarray, y: np.ndarray) -> None:
        self.k, self.y = k, y

    def alpha(self, lam: float, iterations: int = 25) -> np.ndarray:
        n = len(self.k)
        out = np.zeros_like(self.y)
        for j in range(self.y.shape[1]):
            a = np.zeros(n)
            for _ in range(iterations):
                p = 1.0 / (1.0 + np.exp(-np.clip(self.k @ a, -30, 30)))
                step = np.linalg.solve((p * (1 - p))[:, None] * self.k + lam * np.eye(n), p - self.y[:, j] + lam * a)
                a -= step
                if np.abs(step).max() < 1e-6:
                    break
            out[:, j] = a
        return out


def model_of(v: "Variant", k: np.ndarray, y: np.ndarray) -> Ridge | Logistic:
    return Logistic(k, y) if v.logistic else Ridge(k, y)


def squash(v: "Variant", f: np.ndarray) -> np.ndarray:
    """Scores as thresholds read them: ridge scores as they are, logistic log-odds as probabilities."""
    return 1.0 / (1.0 + np.exp(-np.clip(f, -30, 30))) if v.logistic else f


def labels(articles: Sequence[Article]) -> np.ndarray:
    return np.array([[t in a.gold for t in CORE] for a in articles], dtype=np.float64)


# --------------------------------------------------------------------------- decisions


def combined(
    ref: Sequence[set[str]], scores: np.ndarray, th: dict[str, float], cues: np.ndarray | None = None
) -> list[set[str]]:
    out = []
    for i, r in enumerate(ref):
        add = {t for j, t in enumerate(CORE) if th.get(t, math.inf) <= scores[i, j] and (cues is None or cues[i, j])}
        out.append(r | add)
    return out


def choose(
    articles: Sequence[Article], ref: Sequence[set[str]], scores: np.ndarray, floor: float, cues: np.ndarray | None
) -> dict[str, float]:
    """Per core topic the threshold of best F1 with precision >= floor on these articles
    (rules OR score >= t); inf when no threshold beats the rules alone under that floor."""
    out = {}
    for j, t in enumerate(CORE):
        gold = np.array([t in a.gold for a in articles])
        base = np.array([t in r for r in ref])

        def f1p(tagged: np.ndarray) -> tuple[float, float]:
            tp = int((tagged & gold).sum())
            fp = int((tagged & ~gold).sum())
            fn = int((~tagged & gold).sum())
            return (2 * tp / (2 * tp + fp + fn) if tp else 0.0), (tp / (tp + fp) if tp + fp else 1.0)

        best_f, _ = f1p(base)
        best = math.inf
        for th in THRESHOLDS:
            f, p = f1p(base | ((scores[:, j] >= th) & (True if cues is None else cues[:, j])))
            if p >= floor and f > best_f + 1e-9:
                best_f, best = f, th
        out[t] = best
    return out


def choose_removal(articles: Sequence[Article], ref: Sequence[set[str]], scores: np.ndarray) -> dict[str, float]:
    """Per core topic the score below which the rules' tag is dropped: best F1 on these
    articles; -inf when no cut beats keeping every tag."""
    out = {}
    for j, t in enumerate(CORE):
        gold = np.array([t in a.gold for a in articles])
        base = np.array([t in r for r in ref])

        def f1(tagged: np.ndarray) -> float:
            tp = int((tagged & gold).sum())
            return 2 * tp / (2 * tp + int((tagged & ~gold).sum()) + int((~tagged & gold).sum())) if tp else 0.0

        best_f, best = f1(base), -math.inf
        for th in THRESHOLDS:
            f = f1(base & (scores[:, j] >= th))
            if f > best_f + 1e-9:
                best_f, best = f, th
        out[t] = best
    return out


def removed(tags: Sequence[set[str]], scores: np.ndarray, cut: dict[str, float]) -> list[set[str]]:
    return [{t for t in r if t not in CORE or scores[i, CORE.index(t)] >= cut[t]} for i, r in enumerate(tags)]


def oof_scores(articles: Sequence[Article], k: np.ndarray, lams: Sequence[float], v: Variant) -> list[np.ndarray]:
    """Out-of-fold scores over the sets of ``articles`` (leave one set out), kernel ``k``, per lambda."""
    sets = sorted({a.set for a in articles})
    y = labels(articles)
    out = [np.zeros_like(y) for _ in lams]
    for s in sets:
        te = np.array([a.set == s for a in articles])
        tr = ~te
        model = model_of(v, k[np.ix_(tr, tr)], y[tr])
        for o, lam in zip(out, lams):
            o[te] = squash(v, k[np.ix_(te, tr)] @ model.alpha(lam))
    return out


def rule_matrix(articles: Sequence[Article], era: bool) -> np.ndarray:
    """The rules' score of each core topic (0: no accepted hit)."""
    return np.array([[(a.era_scores if era else a.scores).get(t, 0.0) for t in CORE] for a in articles])


def cue_matrix(articles: Sequence[Article], era: bool) -> np.ndarray:
    return rule_matrix(articles, era) > 0


# --------------------------------------------------------------------------- report


def counts(articles: Sequence[Article], tags: Sequence[set[str]], only: Sequence[str] | None = None) -> Counter:
    c: Counter = Counter()
    for a, t in zip(articles, tags):
        gold, t = (a.gold, t) if only is None else (a.gold & set(only), t & set(only))
        c["tp"] += len(gold & t)
        c["fp"] += len(t - gold)
        c["fn"] += len(gold - t)
    return c


def traps(articles: Sequence[Article], tags: Sequence[set[str]]) -> tuple[int, int, int, int]:
    h = hn = b = bn = 0
    for a, t in zip(articles, tags):
        if a.kind in ("homonym_trap", "metaphor_trap"):
            hn += 1
            h += bool(t - a.gold)
        if a.kind == "background_trap" and a.trap_for:
            bn += 1
            b += bool(t & a.trap_for)
    return h, hn, b, bn


def cell(articles: Sequence[Article], tags: Sequence[set[str]]) -> str:
    m = prf(*(counts(articles, tags)[k] for k in ("tp", "fp", "fn")))
    h, hn, b, bn = traps(articles, tags)
    return f"{m['precision']:.3f}/{m['recall']:.3f}/{m['f1']:.3f} h{h}/{hn} b{b}/{bn}"


def _record(result: dict[str, Any], held: str, lam: float, th: dict[str, float], test: Sequence[Article],
            ref: Sequence[set[str]], tags: Sequence[set[str]], scores: np.ndarray, test_era: bool) -> None:
    """One left-out set's row, its articles, reference and combined tags pooled, its scores and cues."""
    result["rows"].append((held, lam, th, cell(test, ref), cell(test, tags)))
    result["pooled"][0].extend(test)
    result["pooled"][1].extend(ref)
    result["pooled"][2].extend(tags)
    result["scores"].append(scores)
    result["cues"].append(rule_matrix(test, test_era))


def run(articles: list[Article], v: Variant, judge: str, floor: float, lam_fixed: float | None) -> dict[str, Any]:
    """Leave one set out. ``judge``: which rules (tags and, for ``+rules``, scores) the model is
    combined with: ``now`` the current ones everywhere; ``era`` the current ones on the training
    sets (as a model shipped today would be trained) and the untuned ones on the left-out set;
    ``era-both`` the untuned ones on both sides."""
    train_era, test_era = {"now": (False, False), "era": (False, True), "era-both": (True, True)}[judge]
    sets = list(dict.fromkeys(a.set for a in articles))
    result: dict[str, Any] = {"rows": [], "pooled": ([], [], []), "scores": [], "cues": []}
    lams = LAMBDAS if lam_fixed is None else (lam_fixed,)
    for held in sets:
        test = [a for a in articles if a.set == held]
        train = [a for a in articles if a.set != held]
        vocab = vocabulary(train)
        xtr, xte = design(train, vocab, v, train_era), design(test, vocab, v, test_era)
        k = xtr @ xtr.T
        # inner leave one set out over the eight: the L2 strength (least squared error out of
        # fold) and the thresholds (rules OR score, best F1 at precision >= floor)
        oofs = oof_scores(train, k, lams, v)
        errs = [float(((o - labels(train)) ** 2).sum()) for o in oofs]
        best = int(np.argmin(errs))
        lam, oof = lams[best], oofs[best]
        ref_tr = [a.era if train_era else a.rules for a in train]
        th = choose(train, ref_tr, oof, floor, cue_matrix(train, train_era) if v.cue else None) if v.add else {}
        cut = choose_removal(train, ref_tr, oof) if v.remove else {t: -math.inf for t in CORE}
        th = {**th, **{f"-{t}": c for t, c in cut.items() if not math.isinf(c)}}
        model = model_of(v, k, labels(train))
        scores = squash(v, (xte @ xtr.T) @ model.alpha(lam))
        ref = [a.era if test_era else a.rules for a in test]
        tags = removed(combined(ref, scores, th, cue_matrix(test, test_era) if v.cue else None), scores, cut)
        _record(result, held, lam, th, test, ref, tags, scores, test_era)
    return result


PLACE = {"t": 1.2, "l": 1.0, "b": 0.5}  # the rules' own place factors


def quote_lexicon(train: Sequence[Article], min_quotes: int, min_precision: float) -> dict[str, dict[str, float]]:
    """Per core topic the stems and stem pairs of the labellers' evidence quotes for it, kept when
    they occur in >= ``min_quotes`` quotes and, of the training articles containing them, a
    share >= ``min_precision`` (smoothed: q / (q + others + 2)) carries the topic; weight = that share."""
    out: dict[str, dict[str, float]] = {}
    for t in CORE:
        q: Counter = Counter()
        for a in train:
            q.update(a.quotes.get(t, ()))
        cands = {g for g, n in q.items() if n >= min_quotes}
        neg: Counter = Counter()
        for a in train:
            if t not in a.gold:
                neg.update(cands & (a.grams["t"] | a.grams["l"] | a.grams["b"]))
        out[t] = {g: q[g] / (q[g] + neg[g] + 2) for g in cands if q[g] / (q[g] + neg[g] + 2) >= min_precision}
    return out


def quote_scores(articles: Sequence[Article], lexicon: dict[str, dict[str, float]]) -> np.ndarray:
    """1 - exp(-sum): each lexicon gram counts once, at its best place (title, lead, body)."""
    x = np.zeros((len(articles), len(CORE)))
    for i, a in enumerate(articles):
        for j, t in enumerate(CORE):
            total = 0.0
            for g, w in lexicon[t].items():
                best = max((PLACE[p] for p in "tlb" if g in a.grams[p]), default=0.0)
                total += w * best
            x[i, j] = 1.0 - math.exp(-total)
    return x


def run_quotes(articles: list[Article], judge: str, floor: float, cue: bool, min_precision: float) -> dict[str, Any]:
    """As :func:`run`, with the quote lexicon's score instead of the ridge model's."""
    train_era, test_era = {"now": (False, False), "era": (False, True), "era-both": (True, True)}[judge]
    sets = list(dict.fromkeys(a.set for a in articles))
    result: dict[str, Any] = {"rows": [], "pooled": ([], [], []), "scores": [], "cues": []}
    for held in sets:
        test = [a for a in articles if a.set == held]
        train = [a for a in articles if a.set != held]
        oof = np.zeros((len(train), len(CORE)))
        for s in sorted({a.set for a in train}):
            idx = [i for i, a in enumerate(train) if a.set == s]
            lex = quote_lexicon([a for a in train if a.set != s], 2, min_precision)
            oof[idx] = quote_scores([train[i] for i in idx], lex)
        ref_tr = [a.era if train_era else a.rules for a in train]
        th = choose(train, ref_tr, oof, floor, cue_matrix(train, train_era) if cue else None)
        scores = quote_scores(test, quote_lexicon(train, 2, min_precision))
        ref = [a.era if test_era else a.rules for a in test]
        tags = combined(ref, scores, th, cue_matrix(test, test_era) if cue else None)
        _record(result, held, 0.0, th, test, ref, tags, scores, test_era)
    return result


def diagnose(res: dict[str, Any], floor: float) -> str:
    """How the held-out scores rank the core pairs the rules leave untagged (AUC against the
    rules' own score), and an optimistic bound: thresholds chosen on the pooled left-out sets
    themselves (not a result: it peeks at the data it scores)."""
    arts, ref, _ = res["pooled"]
    scores = np.vstack(res["scores"])
    cues = np.vstack(res["cues"])
    lines = ["  pairs the rules leave untagged, per core topic: gold / all, AUC model score | rules' score; "
             "untagged gold with no rule hit; gold among the model's top 5 / 10 / 20 of them"]  # fmt: skip
    for j, t in enumerate(CORE):
        idx = [i for i, r in enumerate(ref) if t not in r]
        gold = [t in arts[i].gold for i in idx]
        model = [float(scores[i, j]) for i in idx]
        rule = [float(cues[i, j]) for i in idx]
        nohit = sum(1 for i, g in zip(idx, gold) if g and not cues[i, j])
        ranked = [g for _, g in sorted(zip(model, gold), key=lambda p: -p[0])]
        top = " / ".join(str(sum(ranked[:n])) for n in (5, 10, 20))
        lines.append(f"    {t:20s} {sum(gold):3d}/{len(idx):4d}  AUC {auc(gold, model):.3f} | {auc(gold, rule):.3f}; "
                     f"no hit {nohit}; top {top}")  # fmt: skip
    lines.append("  pairs the rules tag, per core topic: gold / all, AUC model score | rules' score")
    for j, t in enumerate(CORE):
        idx = [i for i, r in enumerate(ref) if t in r]
        gold = [t in arts[i].gold for i in idx]
        lines.append(f"    {t:20s} {sum(gold):3d}/{len(idx):4d}  AUC {auc(gold, [float(scores[i, j]) for i in idx]):.3f} | "
                     f"{auc(gold, [float(cues[i, j]) for i in idx]):.3f}")  # fmt: skip
    cut = choose_removal(arts, ref, scores)
    lines.append(f"  optimistic removal bound (cuts chosen on the left-out sets themselves): "
                 f"{cell(arts, removed(ref, scores, cut))}")  # fmt: skip
    th = choose(arts, ref, scores, floor, None)
    lines.append(
        f"  optimistic bound (thresholds chosen on the left-out sets themselves): {cell(arts, combined(ref, scores, th))}"
    )
    return "\n".join(lines)


def auc(gold: Sequence[bool], values: Sequence[float]) -> float:
    pos = np.array([v for g, v in zip(gold, values) if g])
    neg = np.array([v for g, v in zip(gold, values) if not g])
    if not len(pos) or not len(neg):
        return float("nan")
    return float(
        ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    )


UNTUNED = {f"topics_blind{n}.jsonl" for n in range(3, 9)}  # their era: rules no round had tuned on them
BOOTSTRAP, SEED = 1000, 17


def paired(arts: Sequence[Article], ref: Sequence[set[str]], tags: Sequence[set[str]]) -> str:
    """The micro F1 gain of rules + model over the rules, with a 95 % interval from articles
    resampled with replacement (both methods on the same resample) and the share of resamples
    where it is > 0."""

    def f1(idx: Sequence[int], t: Sequence[set[str]]) -> float:
        c = counts([arts[i] for i in idx], [t[i] for i in idx])
        return 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) if c["tp"] else 0.0

    every = range(len(arts))
    gain = f1(every, tags) - f1(every, ref)
    rng = np.random.default_rng(SEED)
    draws = sorted(
        f1(idx, tags) - f1(idx, ref) for idx in (rng.integers(0, len(arts), len(arts)) for _ in range(BOOTSTRAP))
    )
    return (f"{gain:+.4f} (95 % {draws[int(0.025 * BOOTSTRAP)]:+.4f} .. {draws[int(0.975 * BOOTSTRAP) - 1]:+.4f}; "
            f"> 0 in {sum(d > 0 for d in draws) / BOOTSTRAP:.0%} of resamples)")  # fmt: skip


def report(res: dict[str, Any], label: str) -> str:
    lines = [f"== {label}: left-out set | L2 | thresholds (core, inf = adds nothing) | rules | rules + model"]
    for held, lam, th, a, b in res["rows"]:
        ths = " ".join(f"{t[:6]}={'-' if math.isinf(x) else f'{x:.2f}'}" for t, x in th.items())
        lines.append(f"  {held:22s} L2 {lam:<4g} {ths}\n  {'':22s} rules {a}   rules+model {b}")
    arts, ref, tags = res["pooled"]
    lines.append(f"  {'POOLED':22s} rules {cell(arts, ref)}   rules+model {cell(arts, tags)}")
    lines.append(f"  {'':22s} F1 gain {paired(arts, ref, tags)}")
    keep = [i for i, a in enumerate(arts) if a.set in UNTUNED]
    sub = ([arts[i] for i in keep], [ref[i] for i in keep], [tags[i] for i in keep])
    lines.append(f"  {'UNTUNED ERA (blind3-8)':22s} rules {cell(sub[0], sub[1])}   rules+model {cell(sub[0], sub[2])}")
    lines.append(f"  {'':22s} F1 gain {paired(*sub)}")
    for name, t in (("rules", ref), ("rules+model", tags)):
        per = "  ".join(
            f"{c[:5]} {prf(*(counts(arts, t, [c])[k] for k in ('tp', 'fp', 'fn')))['f1']:.3f}"
            f"({counts(arts, t, [c])['tp']}/{counts(arts, t, [c])['fp']}/{counts(arts, t, [c])['fn']})"
            for c in CORE
        )
        core = counts(arts, t, CORE)
        m = prf(core["tp"], core["fp"], core["fn"])
        lines.append(f"    {name:12s} core P/R/F1 {m['precision']:.3f}/{m['recall']:.3f}/{m['f1']:.3f}  {per}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--era", nargs="*", default=[], help="JSON {id: tags} of the untuned rules per set")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--judge", nargs="*", default=["now", "era"], choices=["now", "era", "era-both"])
    parser.add_argument("--precision", type=float, default=0.92)
    parser.add_argument(
        "--quotes",
        nargs="*",
        default=[],
        choices=["quotes", "quotes-cue"],
        help="the quote lexicon instead of (or before) the ridge variants",
    )
    parser.add_argument("--quote-precision", type=float, default=0.3)
    parser.add_argument("--lam", type=float, default=None, help="fix the L2 strength (else inner CV)")
    args = parser.parse_args(argv)
    articles = load([os.path.basename(s) for s in args.sets], args.era, args.config)
    print(f"dev articles {len(articles)}; gold tags {sum(len(a.gold) for a in articles)}; "
          f"core gold {sum(len(a.gold & set(CORE)) for a in articles)}")  # fmt: skip
    for name in args.quotes:
        cue = name.endswith("-cue")
        for judge in args.judge:
            res = run_quotes(articles, judge, args.precision, cue, args.quote_precision)
            print(report(res, f"{name} (min precision {args.quote_precision}), judged {judge}"), flush=True)
            print(diagnose(res, args.precision), flush=True)
    for name in args.variants:
        v = VARIANTS[name]
        for judge in args.judge:
            res = run(articles, v, judge, args.precision, args.lam)
            print(report(res, f"{name}, judged {judge}"), flush=True)
            print(diagnose(res, args.precision), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
