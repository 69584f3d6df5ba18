import pytest
import yaml

from pipeline.config import DEFAULT_CONFIG, ConfigError, load_config, parse_config


def test_shipped_config_is_valid_and_points_at_the_taxonomy():
    config = load_config(DEFAULT_CONFIG)
    assert config.topics_path.endswith("configs/topics.yaml")
    assert config.language.max_chars == 1000 and config.language.seed == 0
    assert config.dedup.by_url and config.dedup.by_content
    assert config.dedup.near.enabled and 0 < config.dedup.near.threshold < 1


def test_defaults_apply_to_missing_sections():
    config = parse_config({"version": 1})
    assert config.read.max_article_bytes == 2_000_000
    assert config.output_options.compress is False


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"version": 2}, "'version' must be 1"),
        ({"colour": "blue"}, "unknown section(s) colour"),
        ({"language": {"max_char": 10}}, "unknown key 'language.max_char'"),
        ({"language": {"max_chars": "lots"}}, "'language.max_chars': expected a whole number"),
        ({"language": {"max_chars": -1}}, "must not be negative"),
        ({"language": {"min_confidence": 3}}, "between 0 and 1"),
        ({"dedup": {"by_url": "yes"}}, "'dedup.by_url': expected true or false"),
        ({"dedup": ["by_url"]}, "section 'dedup' must be a mapping"),
        ({"dedup": {"near": {"treshold": 0.5}}}, "unknown key 'dedup.near.treshold'"),
        ({"dedup": {"near": {"threshold": "high"}}}, "'dedup.near.threshold': expected a number"),
        ({"dedup": {"near": {"threshold": 1.5}}}, "'dedup.near.threshold' must be above 0"),
        ({"dedup": {"near": {"bands": 10}}}, "give both bands and rows"),
        ({"dedup": {"near": {"bands": 30, "rows": 5}}}, "bands*rows = 150 exceeds num_perm = 128"),
        ({"dedup": {"near": True}}, "section 'dedup.near' must be a mapping"),
        ({"feeds": 5}, "'feeds' must be the path of a feeds YAML file or a list of URLs"),
        ({"feeds": ["http://x", 3]}, "'feeds' must be the path"),
        (["a"], "top level must be a mapping"),
    ],
)
def test_bad_config_gives_a_clear_message(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, source="my.yaml")
    assert message in str(err.value)
    assert "my.yaml" in str(err.value) or message == "top level must be a mapping"


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("language: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(str(bad))


def test_relative_taxonomy_path_resolves_beside_the_config(tmp_path):
    (tmp_path / "t.yaml").write_text("version: 1\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "topics": "t.yaml"}))
    assert load_config(str(cfg)).topics_path == str(tmp_path / "t.yaml")
    cfg.write_text(yaml.safe_dump({"version": 1, "topics": "missing.yaml"}))
    with pytest.raises(ConfigError, match="topics taxonomy not found"):
        load_config(str(cfg))


def test_feeds_may_name_a_feeds_file_beside_the_config(tmp_path):
    (tmp_path / "t.yaml").write_text("version: 1\n")
    (tmp_path / "my-feeds.yaml").write_text("version: 1\nfeeds: []\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "topics": "t.yaml", "feeds": "my-feeds.yaml"}))
    assert load_config(str(cfg)).feeds_config_path == str(tmp_path / "my-feeds.yaml")
    cfg.write_text(yaml.safe_dump({"version": 1, "topics": "t.yaml", "feeds": "gone.yaml"}))
    with pytest.raises(ConfigError, match="feeds config not found"):
        load_config(str(cfg))


def test_beam_defaults_apply_to_large_local_batch_runs_only(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.main import default_flags

    small = tmp_path / "small.jsonl"
    small.write_text("{}\n")
    big = tmp_path / "big.jsonl"
    big.write_bytes(b" " * (2 * 2**20))
    config = parse_config(
        {"beam_defaults": {"direct_num_workers": 2, "direct_running_mode": "multi_processing"},
         "beam_defaults_min_input_mb": 1}, source="c.yaml")

    def flags(inputs, argv):
        import dataclasses

        return default_flags(dataclasses.replace(config, inputs=(str(inputs),)), PipelineOptions(argv), argv)

    assert flags(big, []) == ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    assert flags(big, ["--direct_num_workers", "1"]) == ["--direct_running_mode=multi_processing"]
    assert flags(small, []) == []
    assert flags(big, ["--runner", "DataflowRunner"]) == []
    assert flags(big, ["--streaming"]) == []
    bad = parse_config({"beam_defaults": {"direct_num_wokers": 2}}, source="c.yaml")
    import dataclasses

    with pytest.raises(ConfigError, match="unknown Beam option"):
        default_flags(dataclasses.replace(bad, inputs=(str(big),)), PipelineOptions([]), [])
    with pytest.raises(ConfigError, match="beam_defaults"):
        parse_config({"beam_defaults": ["direct_num_workers"]}, source="c.yaml")


def test_the_default_config_and_its_files_are_package_data_of_configs():
    import os

    import configs
    from pipeline.config import DEFAULT_TOPICS

    folder = os.path.dirname(configs.__file__)
    assert DEFAULT_CONFIG == os.path.join(folder, "local.yaml") and DEFAULT_TOPICS == os.path.join(folder, "topics.yaml")
    config = load_config()
    assert config.topics_path == DEFAULT_TOPICS and config.feeds_config_path == os.path.join(folder, "feeds.yaml")


def test_a_user_config_naming_no_taxonomy_gets_the_shipped_one(tmp_path):
    from pipeline.config import DEFAULT_TOPICS

    cfg = tmp_path / "mine.yaml"
    cfg.write_text("version: 1\noutput:\n  compress: true\n")
    config = load_config(str(cfg))
    assert config.topics_path == DEFAULT_TOPICS and config.output_options.compress


def test_relative_paths_never_resolve_against_the_current_folder(tmp_path, monkeypatch):
    here, there = tmp_path / "cwd", tmp_path / "conf"
    here.mkdir()
    there.mkdir()
    (here / "t.yaml").write_text("version: 1\n")  # beside the current folder only
    cfg = there / "c.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "topics": "t.yaml"}))
    monkeypatch.chdir(here)
    with pytest.raises(ConfigError, match=f"topics taxonomy not found: {there / 't.yaml'}"):
        load_config(str(cfg))
    (there / "sub").mkdir()
    (there / "sub" / "t.yaml").write_text("version: 1\n")
    cfg.write_text(yaml.safe_dump({"version": 1, "topics": "sub/../sub/t.yaml"}))
    assert load_config(str(cfg)).topics_path == str(there / "sub" / "t.yaml")


def test_a_config_that_is_a_folder_is_not_found(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path))


def test_input_section_picks_a_preset_and_own_field_names():
    config = parse_config({"input": {"preset": "mediacloud", "fields": {"title": ["hed", "title"]}}})
    assert config.input_fields.preset == "mediacloud"
    assert config.input_fields["text"] == ("text_content", "text") and config.input_fields["title"] == ("hed", "title")
    assert parse_config({}).input_fields["title"] == ("title", "headline")  # auto
    assert parse_config({}).read.max_dead_letters_per_file == 1000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"input": {"preset": "newsplease"}}, "unknown input preset 'newsplease'"),
        ({"input": {"fields": {"body": "x"}}}, "unknown article field(s) body"),
        ({"input": {"fields": {"text": []}}}, "input.fields.text: expected a field name or a list"),
        ({"input": {"fields": "text"}}, "expected a mapping of article fields"),
        ({"input": {"presets": "auto"}}, "unknown key(s) presets in 'input'"),
        ({"input": ["auto"]}, "section 'input' must be a mapping"),
        ({"read": {"max_dead_letters_per_file": -1}}, "must not be negative"),
    ],
)
def test_bad_input_section_gives_a_clear_message(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="job.yaml")
    assert message in str(info.value) and str(info.value).startswith("job.yaml: ")
