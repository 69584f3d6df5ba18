"""Generate realistic benchmark articles (JSON Lines shards), deterministically.

- lengths like real news (1.5-6 KB, log-normal-ish), nine languages (English ~40 %);
- stories covered by several outlets: each story has its own fact sentences that its
  articles share in part and re-order, with the outlet's own sentences around them;
- ~10 % syndicated copies: exact copies under another outlet's URL (with tracking
  parameters) and near copies (new headline, byline, a sentence cut or added);
- one labelled topical sentence per article, so topic tagging does real work.

Vocabulary comes from our own labelled set (``eval/data/labelled.jsonl``) and sample
data; sentences are random draws from it, so shingles are realistic and unique.

``python -m bench.generate --articles 100000 --out bench/data/100k``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LANG_WEIGHTS = {"en": 40, "fr": 8, "de": 8, "es": 8, "it": 7, "pl": 7, "uk": 7, "ru": 8, "nl": 7}
OUTLETS = [f"outlet{i:02d}.example" for i in range(60)]
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _corpus() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    words: dict[str, list[str]] = defaultdict(list)
    sentences: dict[str, list[str]] = defaultdict(list)
    with open(os.path.join(REPO, "eval", "data", "labelled.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            lang = row["language"]
            if lang not in LANG_WEIGHTS:
                continue
            words[lang].extend(w.lower() for w in _WORD.findall(row["text"]) if len(w) > 1)
            if row.get("topics"):
                sentences[lang].extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", row["text"]) if len(s) > 40)
    return {k: sorted(set(v)) for k, v in words.items()}, sentences


class Generator:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words, self.topical = _corpus()
        self.langs = list(LANG_WEIGHTS)
        self.weights = list(LANG_WEIGHTS.values())
        self.start = datetime(2025, 3, 1, tzinfo=timezone.utc)

    def sentence(self, lang: str) -> str:
        vocab = self.words[lang]
        n = self.rng.randint(8, 24)
        words = [self.rng.choice(vocab) for _ in range(n)]
        if self.rng.random() < 0.3:
            words.insert(self.rng.randrange(n), str(self.rng.randint(2, 2000)))
        return " ".join(words).capitalize() + "."

    def story(self, lang: str) -> dict:
        name = " ".join(self.rng.choice(self.words[lang]).capitalize() for _ in range(2))
        return {
            "lang": lang,
            "facts": [f"{name} " + self.sentence(lang).lower() for _ in range(self.rng.randint(6, 12))],
            "time": self.start + timedelta(minutes=self.rng.randint(0, 60 * 24 * 30)),
            "topical": self.rng.choice(self.topical[lang]) if self.topical[lang] else "",
        }

    def article(self, story: dict, n: int) -> dict:
        lang, rng = story["lang"], self.rng
        target = int(min(6000, max(1500, rng.lognormvariate(7.9, 0.4))))
        facts = rng.sample(story["facts"], k=max(3, len(story["facts"]) * 2 // 3))
        parts: list[str] = [story["topical"]] if story["topical"] else []
        while sum(map(len, parts)) < target:
            parts.append(facts.pop() if facts and rng.random() < 0.5 else self.sentence(lang))
        paragraphs = ["  ".join(parts[i : i + 3]) for i in range(0, len(parts), 3)]
        outlet = rng.choice(OUTLETS)
        published = story["time"] + timedelta(minutes=rng.randint(0, 60 * 36))
        return {
            "title": self.sentence(lang)[:90].rstrip("."),
            "text": "\n".join(paragraphs),
            "url": f"https://{outlet}/news/{n}",
            "source": outlet,
            "published_at": published.isoformat().replace("+00:00", "Z"),
        }

    def copy(self, original: dict, n: int) -> dict:
        rng = self.rng
        outlet = rng.choice(OUTLETS)
        copy = dict(original, url=f"https://{outlet}/wire/{n}?utm_source=rss&utm_medium=feed", source=outlet)
        if rng.random() < 0.6:  # near copy: new headline, byline, a paragraph cut
            paragraphs = original["text"].split("\n")
            if len(paragraphs) > 3:
                del paragraphs[rng.randrange(1, len(paragraphs))]
            copy["title"] = "UPDATE: " + original["title"]
            copy["text"] = "\n".join(paragraphs) + "\nReporting by Staff Writer; editing by Desk."
        return copy

    def generate(self, total: int):
        produced = 0
        while produced < total:
            lang = self.rng.choices(self.langs, self.weights)[0]
            story = self.story(lang)
            for _ in range(self.rng.choice((1, 1, 2, 3, 4, 5))):
                if produced >= total:
                    return
                original = self.article(story, produced)
                yield original
                produced += 1
                if produced < total and self.rng.random() < 0.10:
                    yield self.copy(original, produced)
                    produced += 1


def write(total: int, out: str, shards: int = 20, seed: int = 7, compress: bool = False) -> list[str]:
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"articles-{i:03d}.jsonl" + (".gz" if compress else "")) for i in range(shards)]
    handles = [(gzip.open(p, "wt", encoding="utf-8") if compress else open(p, "w", encoding="utf-8")) for p in paths]
    try:
        for i, article in enumerate(Generator(seed).generate(total)):
            handles[i % shards].write(json.dumps(article, ensure_ascii=False) + "\n")
    finally:
        for h in handles:
            h.close()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--out", default=os.path.join(HERE, "data", "100k"))
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    paths = write(args.articles, args.out, args.shards, args.seed)
    print(f"wrote {args.articles} articles in {len(paths)} files under {args.out}")


if __name__ == "__main__":
    main()
