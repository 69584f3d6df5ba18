import logging

import pytest

from pipeline import cli
from pipeline.config import ConfigError


def test_front_flags_come_off_the_command_line_and_the_rest_stays_in_order():
    front, rest = cli.parse_front(["--input", "a", "-v", "--runner", "X", "-q", "--output", "o"])
    assert rest == ["--input", "a", "--runner", "X", "--output", "o"]
    assert front.quiet and front.show is None


@pytest.mark.parametrize(
    "argv, level",
    [([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG), (["-q"], logging.ERROR),
     (["-q", "--log-level", "debug"], logging.DEBUG), (["--log_level=INFO"], logging.INFO)],
)
def test_log_level(argv, level):
    assert cli.parse_front(argv)[0].log_level == level


def test_bad_log_level_is_a_one_line_error():
    with pytest.raises(ConfigError, match="--log-level"):
        cli.parse_front(["--log-level", "loud"])


@pytest.mark.parametrize("flag, show", [("-h", "help"), ("--help", "help"), ("--help-beam", "help-beam"), ("--version", "version")])
def test_help_and_version_flags(flag, show):
    assert cli.parse_front(["--input", "x", flag])[0].show == show


def test_help_is_short_and_newsbeam_first():
    text = cli.help_text("newsbeam")
    lines = text.splitlines()
    assert lines[0].startswith("usage: newsbeam --input PATTERN")
    assert len(lines) < 70
    for flag in ("--input", "--feed", "--output", "--config", "--state", "--incremental", "--max-dead-letter-ratio",
                 "--runner", "--help-beam", "--version", "--log-level", "exit status"):
        assert flag in text, flag
    assert text.index("--input") < text.index("--runner")
    assert "--dataflow_service_options" not in text  # Beam's long tail is behind --help-beam


def test_beam_help_lists_beams_options_and_newsbeams():
    text = cli.beam_help_text("newsbeam")
    assert "--dataflow_service_options" in text and "--max-dead-letter-ratio" in text


def test_prog_name():
    assert cli.prog_name("/x/pipeline/__main__.py") == "python -m pipeline"
    assert cli.prog_name("/venv/bin/newsbeam") == "newsbeam"


def test_version_names_newsbeam_beam_and_python():
    import apache_beam

    import pipeline

    assert cli.version_text().startswith(f"newsbeam {pipeline.__version__} (Apache Beam {apache_beam.__version__}, Python 3.")
