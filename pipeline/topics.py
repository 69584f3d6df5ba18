"""Test the topic taxonomy on one article: ``python -m pipeline.topics --explain FILE``.

``FILE`` is a ``.txt`` (the whole file is the text), or a ``.json``/``.jsonl`` article
(``title``, ``text``, optional ``language``; every line of a ``.jsonl``). For each topic
with evidence it prints the score, the threshold, the verdict (tag, mention or none),
and every hit: the field and place (title, lead, body), the offsets, the words found,
the cue as written in the taxonomy, its weight and what the hit was worth.
``--topic NAME`` shows one topic; ``--config`` picks the pipeline config (and so
the taxonomy); ``--language`` overrides the detected language.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Iterable

from pipeline.config import ConfigError, load_config
from transforms.enrich.language import make_language_fn
from transforms.enrich.topics import TaxonomyError, Taxonomy, analyse, load_taxonomy


def read_articles(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        raw = fh.read()
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in raw.splitlines() if line.strip()]
    if path.endswith(".json"):
        data = json.loads(raw)
        return data if isinstance(data, list) else [data]
    return [{"title": "", "text": raw}]


def explain(article: dict[str, Any], language: str, taxonomy: Taxonomy, only: str | None = None) -> Iterable[str]:
    title = article.get("title") or ""
    text = article.get("text") or article.get("content") or article.get("body") or ""
    yield f"language {language}; title {len(title)} chars, text {len(text)} chars"
    scored = [t for t in analyse(text, language, taxonomy, title) if only is None or t.name == only]
    if not scored:
        yield "  no topic has evidence" + (f" for {only}" if only else "")
    for topic in scored:
        verdict = "TAG" if topic.tagged else "mention" if topic.score >= taxonomy.mention_score else "none"
        note = "" if topic.anchored else f" (no context anchor: sum x {taxonomy.scoring.no_context})"
        yield f"  {topic.name}: score {topic.score:.3f}, threshold {topic.threshold:.2f} -> {verdict}{note}"
        for hit in topic.hits:
            bg = ", background clause" if hit.background else ""
            yield (
                f"    {hit.field}[{hit.start}:{hit.end}] {hit.place:5s} {hit.text!r} worth {hit.value:.2f}"
                f" (weight {hit.pattern.weight:g}{bg}) from {hit.pattern.language}: {hit.pattern.written!r}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--explain", metavar="FILE", required=True, help="article file: .txt, .json or .jsonl")
    parser.add_argument("--topic", default=None, help="show this topic only")
    parser.add_argument("--language", default=None, help="the article's language (default: detected)")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        taxonomy = load_taxonomy(config.topics_path)
        articles = read_articles(args.explain)
    except (ConfigError, TaxonomyError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.topic and args.topic not in taxonomy.topics:
        print(f"error: unknown topic {args.topic!r} (known: {', '.join(sorted(taxonomy.topics))})", file=sys.stderr)
        return 2
    lang = config.language
    detect = make_language_fn(**dataclasses.asdict(lang))
    for i, article in enumerate(articles):
        language = args.language or article.get("language") or detect(
            {"title": article.get("title") or "", "text": article.get("text") or ""}
        )["language"]
        if len(articles) > 1:
            print(f"--- article {i + 1}: {(article.get('title') or '')[:80]}")
        for line in explain(article, language, taxonomy, args.topic):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
