"""Near-duplicate evaluation data: edited copies of real news texts, and hard negatives.

Originals are the English news texts of ECB+ (``/work/shared/data/ecbplus``,
read-only) plus ``eval/data/labelled.jsonl`` when present, of at least
``MIN_WORDS`` words, with ECB+'s own duplicate articles removed. Everything is
derived deterministically from ``seed``.

Positives: each original gets ``copies_per_original`` copies, each with a new
headline and 2-4 further edits drawn from: a sentence added, a sentence
removed, a "Reporting by" byline, newsletter boilerplate, light rewording of
a few words, two paragraphs swapped, the headline repeated atop the text.

Hard negatives (label: not a copy):
    same_event     two different ECB+ articles about the same event (same subtopic)
    similar_event  two articles about similar events (same topic, other subtopic)
    update         a successive report of the same ongoing event: it keeps the
                   original's lead (with its numbers changed) and one background
                   paragraph, and tells the new facts with another outlet's
                   sentences about the event

Splits are by a hash of the original document's id (``dev`` / ``test``), so
an original, its copies and the updates built from it are always in one split.
The words of the inserted sentences, bylines and boilerplate are our own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
from collections import defaultdict
from typing import Iterable

import xxhash

ECBPLUS = "/work/shared/data/ecbplus/ecbplus_docs.jsonl"
LABELLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "labelled.jsonl")
MIN_WORDS = 80  # shorter ECB+ texts are snippets, not articles; tiny texts are the exact layer's job

_ADDED_SENTENCES = [
    "The ministry did not immediately respond to a request for comment.",
    "Officials said more details would be released later in the day.",
    "A spokesperson declined to comment further on the matter.",
    "This story has been updated with additional information.",
    "The figures could not be independently verified.",
    "Local media reported the news earlier on Thursday.",
    "Analysts said the situation remained uncertain.",
]
_BYLINES = [
    "Reporting by Anna Keller in Berlin; Editing by Tom Hale",
    "Reporting by Marco Ruiz; additional reporting by Lena Fors; Editing by Jo Park",
    "Reporting by Sam Obi in Lagos; Writing by Ida Moen; Editing by Paul Grey",
    "(Reporting by Chen Wei; Editing by Nora Dahl)",
]
_BOILERPLATE = [
    "Sign up for our morning briefing to get the day's top stories in your inbox.",
    "Subscribe to our newsletter for the latest headlines, delivered every weekday.",
    "Follow us for live updates. Get breaking news alerts on your phone with our free app.",
    "Read more: our full coverage of the week's events. Share this article with a friend.",
]
_SYNONYMS = {
    "said": "stated", "says": "states", "told": "informed", "people": "individuals",
    "killed": "left dead", "about": "around", "after": "following", "big": "large",
    "police": "officers", "started": "began", "help": "assist", "show": "indicate",
    "also": "additionally", "near": "close to", "many": "numerous", "officials": "authorities",
    "announced": "revealed", "week": "seven days", "because": "since", "before": "prior to",
}
_HEADLINE_PREFIXES = ["UPDATE 1-", "BREAKING: ", "", "WRAPUP-", "Live: "]


@dataclasses.dataclass
class Doc:
    id: str
    title: str
    text: str
    published_at: str
    group: str  # gold: copies share their original's group
    split: str
    kind: str  # original | copy | update
    origin: str  # the original this doc was made from (itself for originals)
    edits: tuple[str, ...] = ()


def split_of(doc_id: str) -> str:
    return "dev" if xxhash.xxh64_intdigest(doc_id.encode()) % 2 == 0 else "test"


def _detokenize(line: str) -> str:
    line = line.replace("``", '"').replace("''", '"')
    line = re.sub(r"\s+([,.;:?!%)\]'])", r"\1", line)
    line = re.sub(r"([(\[$])\s+", r"\1", line)
    line = re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d)\b", r"\1", line)
    return line.strip()


def _clean_ecb(text: str) -> tuple[str, list[str]]:
    lines = [_detokenize(line) for line in text.split("\n")]
    lines = [line for line in lines if line and not line.lower().startswith("http")]
    title = ""
    if lines and len(lines[0].split()) <= 15 and not lines[0].endswith("."):
        title = lines.pop(0)
    while lines and len(lines[0].split()) <= 4:  # a dateline
        lines.pop(0)
    if not title and lines:
        title = " ".join(lines[0].split()[:10])
    return title, lines


def _word_shingles(paras: list[str], k: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", " ".join(paras).casefold())
    return {tuple(words[i : i + k]) for i in range(max(1, len(words) - k + 1))}


def drop_copies_among(docs: list[dict], max_overlap: float = 0.3) -> list[dict]:
    """Drop originals that already copy an earlier one (ECB+ holds a few syndicated
    articles twice); otherwise they would be "negatives" that are really copies.
    Exact word-shingle overlap, all pairs: fine for a thousand documents."""
    kept: list[tuple[dict, set]] = []
    for d in docs:
        sh = _word_shingles(d["paragraphs"])
        if all(len(sh & s) / min(len(sh), len(s)) < max_overlap for _, s in kept):
            kept.append((d, sh))
    return [d for d, _ in kept]


def load_originals(ecb_path: str = ECBPLUS, labelled_path: str = LABELLED) -> list[dict]:
    """``[{id, title, paragraphs, topic, subtopic}]``: the texts copies are made from,
    with no two of them copies of each other."""
    docs = []
    if os.path.exists(ecb_path):
        with open(ecb_path, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                title, paras = _clean_ecb(rec["text"])
                if sum(len(p.split()) for p in paras) >= MIN_WORDS:
                    docs.append(
                        {"id": "ecb:" + rec["doc_id"], "title": title, "paragraphs": paras,
                         "topic": str(rec["topic"]), "subtopic": rec["subtopic"]}
                    )
    if os.path.exists(labelled_path):
        with open(labelled_path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                rec = json.loads(line)
                text = rec.get("text") or ""
                paras = [p.strip() for p in re.split(r"\n+", text) if p.strip()]
                if len(text.split()) >= MIN_WORDS:
                    docs.append(
                        {"id": "lab:" + str(rec.get("id", i)), "title": rec.get("title") or "",
                         "paragraphs": paras, "topic": "lab", "subtopic": f"lab:{rec.get('story', i)}"}
                    )
    return drop_copies_among(docs)


def _reword(paras: list[str], rng: random.Random, n: int = 3) -> list[str]:
    spots = [
        (i, m.start(), m.end())
        for i, p in enumerate(paras)
        for m in re.finditer(r"\b\w+\b", p)
        if m.group().lower() in _SYNONYMS
    ]
    chosen = sorted(rng.sample(spots, min(n, len(spots))), key=lambda s: (s[0], -s[1]))
    out = list(paras)
    for i, start, end in chosen:
        word = out[i][start:end]
        repl = _SYNONYMS[word.lower()]
        if word[0].isupper():
            repl = repl[0].upper() + repl[1:]
        out[i] = out[i][:start] + repl + out[i][end:]
    return out


def make_copy(orig: dict, rng: random.Random) -> tuple[str, list[str], tuple[str, ...]]:
    """A republished copy: new headline plus 2-4 other realistic edits."""
    paras = list(orig["paragraphs"])
    title = rng.choice(_HEADLINE_PREFIXES) + " ".join(reversed(orig["title"].split(" - ")))
    if title == orig["title"]:
        title = "Report: " + orig["title"]
    edits = ["headline"]
    pool = ["add_sentence", "remove_sentence", "byline", "boilerplate", "reword", "reorder", "headline_in_text"]
    for edit in rng.sample(pool, rng.randint(2, 4)):
        if edit == "add_sentence":
            paras.insert(rng.randint(1, len(paras)), rng.choice(_ADDED_SENTENCES))
        elif edit == "remove_sentence":
            if len(paras) < 4:
                continue
            del paras[rng.randrange(1, len(paras))]
        elif edit == "byline":
            paras.append(rng.choice(_BYLINES))
        elif edit == "boilerplate":
            blurb = rng.choice(_BOILERPLATE)
            paras = [blurb] + paras if rng.random() < 0.3 else paras + [blurb]
        elif edit == "reword":
            paras = _reword(paras, rng)
        elif edit == "reorder":
            if len(paras) < 3:
                continue
            i = rng.randrange(1, len(paras) - 1)
            paras[i], paras[i + 1] = paras[i + 1], paras[i]
        elif edit == "headline_in_text":
            paras.insert(0, title)
        edits.append(edit)
    return title, paras, tuple(edits)


def _change_numbers(text: str, rng: random.Random) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text)


def make_update(orig: dict, mates: list[dict], rng: random.Random) -> tuple[str, list[str]]:
    """A later report on the same event with new facts: the original's lead (numbers
    changed) and, for a long original, one background paragraph; the new facts are
    paragraphs of up to two other articles on the event, at most 40% of each (so the
    update copies none of them either), at least as long as what is kept."""
    lead = _change_numbers(orig["paragraphs"][0], rng)
    kept = [lead]
    if len(orig["paragraphs"]) > 4:
        kept.append(rng.choice(orig["paragraphs"][1:]))
    kept_words = sum(len(p.split()) for p in kept)
    new_facts: list[str] = []
    for other in rng.sample(mates, min(2, len(mates))):
        paras = other["paragraphs"]
        budget = int(0.4 * sum(len(p.split()) for p in paras))
        chosen, taken = [], 0
        for i in rng.sample(range(len(paras)), len(paras)):
            if taken + sum(len(q.split()) for q in new_facts) >= max(kept_words, 60):
                break
            if taken + len(paras[i].split()) <= budget:
                chosen.append(i)
                taken += len(paras[i].split())
        new_facts.extend(paras[i] for i in sorted(chosen))
    paras = new_facts[:1] + kept[:1] + new_facts[1:] + kept[1:]
    return "Latest: " + orig["title"], paras


def _ts(day: int, minute: int) -> str:
    return f"2024-03-{1 + day % 28:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"


def generate(seed: int = 0, copies_per_original: int = 2, originals: list[dict] | None = None) -> dict:
    """``{"docs": [Doc], "positives": [(copy, original)], "negatives": [(a, b, kind)]}``."""
    rng = random.Random(seed)
    originals = originals if originals is not None else load_originals()
    by_sub: dict[str, list[dict]] = defaultdict(list)
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for o in originals:
        by_sub[o["subtopic"]].append(o)
        by_topic[o["topic"]].append(o)
    docs: list[Doc] = []
    positives: list[tuple[str, str]] = []
    negatives: list[tuple[str, str, str]] = []
    for n, o in enumerate(originals):
        split = split_of(o["id"])
        day = rng.randrange(28)
        minute = rng.randrange(600)
        docs.append(Doc(o["id"], o["title"], "\n\n".join(o["paragraphs"]), _ts(day, minute), o["id"], split, "original", o["id"]))
        for c in range(copies_per_original):
            title, paras, edits = make_copy(o, rng)
            cid = f"{o['id']}#copy{c}"
            docs.append(Doc(cid, title, "\n\n".join(paras), _ts(day, minute + 5 + rng.randrange(300)), o["id"], split, "copy", o["id"], edits))
            positives.append((cid, o["id"]))
        mates = [m for m in by_sub[o["subtopic"]] if m["id"] != o["id"]]
        if mates:
            title, paras = make_update(o, mates, rng)
            uid = f"{o['id']}#update"
            docs.append(Doc(uid, title, "\n\n".join(paras), _ts(day + 1, minute), uid, split, "update", o["id"]))
            negatives.append((uid, o["id"], "update"))
            negatives.extend((o["id"], m["id"], "same_event") for m in mates if m["id"] > o["id"])
        similar = [m for m in by_topic[o["topic"]] if m["subtopic"] != o["subtopic"] and m["id"] > o["id"]]
        negatives.extend((o["id"], m["id"], "similar_event") for m in similar)
    return {"docs": docs, "positives": positives, "negatives": negatives}


def write_jsonl(docs: Iterable[Doc], path: str) -> None:
    """The generated docs as pipeline input (``id``, ``title``, ``text``, ``published_at``)."""
    with open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d.id, "title": d.title, "text": d.text, "published_at": d.published_at}) + "\n")


if __name__ == "__main__":
    data = generate()
    print(f"{len(data['docs'])} docs, {len(data['positives'])} positive pairs, {len(data['negatives'])} negative pairs")


def synthetic_corpus(n: int, seed: int = 0, copy_rate: float = 0.1, originals: list[dict] | None = None) -> Iterable[dict]:
    """``n`` article dicts (``id``, ``title``, ``text``, ``published_at``) for scale runs:
    each original mixes 12-28 paragraphs drawn from the whole ECB+ pool (about 3 KB,
    numbers changed), and a ``copy_rate`` share are edited copies of an earlier one."""
    rng = random.Random(seed)
    pool = [p for o in (originals if originals is not None else load_originals()) for p in o["paragraphs"]]
    recent: list[dict] = []
    for i in range(n):
        ts = f"2024-03-{1 + (i * 28) // max(n, 1):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
        if recent and rng.random() < copy_rate:
            src = rng.choice(recent)
            title, paras, _ = make_copy({"title": src["title"], "paragraphs": src["text"].split("\n\n")}, rng)
        else:
            paras = [_change_numbers(p, rng) for p in rng.sample(pool, rng.randint(12, 28))]
            title = " ".join(paras[0].split()[:9])
        art = {"id": f"syn-{i:07d}", "title": title, "text": "\n\n".join(paras), "published_at": ts}
        recent.append(art)
        if len(recent) > 1000:
            recent.pop(0)
        yield art
