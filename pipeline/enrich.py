"""The per-article enrichment that batch and streaming share: normalize, detect the
language, tag topics, tag places and organisations (each stage's dead letters
collected by the caller)."""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from pipeline.config import JobConfig
from transforms.enrich.entities import TagEntities
from transforms.enrich.language import DetectLanguage
from transforms.enrich.normalize import NormalizeArticles
from transforms.enrich.topics import TagTopics


def enrich_articles(raw: beam.PCollection, config: JobConfig, dead_letters: list) -> beam.PCollection:
    """NormalizeArticles -> DetectLanguage -> TagTopics -> TagEntities, the per-article stages that batch
    and streaming share; each stage's dead letters are appended to ``dead_letters``."""
    articles, dead = raw | "NormalizeArticles" >> NormalizeArticles(max_text_chars=config.normalize.max_text_chars)
    dead_letters.append(dead)
    articles, dead = articles | "DetectLanguage" >> DetectLanguage(**dataclasses.asdict(config.language))
    dead_letters.append(dead)
    articles, dead = articles | "TagTopics" >> TagTopics(config.taxonomy or config.topics_path)
    dead_letters.append(dead)
    articles, dead = articles | "TagEntities" >> TagEntities()
    dead_letters.append(dead)
    return articles
