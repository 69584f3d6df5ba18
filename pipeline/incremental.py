"""``--incremental``: the scheduled-run wrapper around one pipeline run.

:func:`plan` decides what the run reads (only files no committed run has read)
and where it stages its outputs; :func:`finish` publishes them and writes the
manifest. The mechanics and the crash story are in ``transforms/state/manifest.py``.
"""

from __future__ import annotations

import dataclasses

from pipeline.config import ConfigError, JobConfig
from transforms.state import manifest


@dataclasses.dataclass(frozen=True)
class RunPlan:
    run_id: str
    files: tuple[manifest.InputFile, ...]
    output: str  # the real --output
    state: str
    config: JobConfig  # inputs = the new files, output = the staging folder


def check(config: JobConfig) -> None:
    """ConfigError when the command line cannot make an incremental run (before anything runs)."""
    if not config.state:
        raise ConfigError("--incremental needs --state DIR_OR_GS_PREFIX (where the manifest of processed files lives)")
    if not config.inputs:
        raise ConfigError("--incremental needs --input PATTERN (feeds are polled by every run anyway)")


def plan(config: JobConfig) -> RunPlan | None:
    """The plan for an incremental run, or None when no input file is new."""
    check(config)
    matched = manifest.match_inputs(config.inputs)
    new = manifest.select_new(matched, manifest.committed_files(config.state))
    if not new:
        return None
    run_id = manifest.run_id_for(new)
    manifest.clear_staging(config.output, run_id)
    staged = dataclasses.replace(
        config, inputs=tuple(f.path for f in new), output=manifest.staging_dir(config.output, run_id)
    )
    return RunPlan(run_id=run_id, files=tuple(new), output=config.output, state=config.state, config=staged)


def finish(run: RunPlan, summary: dict) -> dict:
    """Publish the staged outputs and commit the manifest; return the manifest record."""
    return manifest.commit(run.output, run.state, run.run_id, run.files, summary)


def nothing_new_summary() -> dict:
    return {
        "inputs": 0,
        "articles": 0,
        "stories": 0,
        "multi_article_stories": 0,
        "dead_letters": 0,
        "dedup": {},
        "languages": {},
        "topics": {},
        "dead_letter_reasons": {},
        "run_id": None,
        "new_files": 0,
    }
