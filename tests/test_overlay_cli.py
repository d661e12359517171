"""`nitrogen overlay ...` is thin: options default to the library's config fields, user errors are the library's."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from click.testing import CliRunner

pytest.importorskip("cv2")

from nitrogen_datasets.overlay import cli as overlay_cli
from nitrogen_datasets.overlay.corpus import CorpusConfig, build_corpus
from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig
from nitrogen_datasets.overlay.extract import ExtractConfig
from nitrogen_datasets.overlay.parser_config import ParserTrainConfig
from nitrogen_datasets.overlay.video import EpisodeRenderConfig
from nitrogen_envs.cli import cli

# option name -> (config dataclass, field); build-corpus --workers is a keyword of build_corpus itself.
OPTIONS = {
    "render": {"episode": (EpisodeRenderConfig, "episode"), "fit": (EpisodeRenderConfig, "fit"),
               "crf": (EpisodeRenderConfig, "crf")},
    "extract": {"method": (ExtractConfig, "method"), "clip_thresholds": (ExtractConfig, "calibrate_presses")},
    "train-parser": {name: (ParserTrainConfig, name)
                     for name in ("renders", "epochs", "batch_size", "lr", "workers", "seed", "device", "button_margin",
                                  "sprite_fraction", "threads", "init")},
    "eval": {name: (OverlayEvalConfig, name) for name in ("crfs", "scales", "frames", "method", "workers", "seed")},
    "build-corpus": {name: (CorpusConfig, name) for name in ("game", "fps", "obs_size", "method")},
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_option_defaults_are_the_config_defaults(command):
    params = {param.name: param for param in overlay_cli.overlay.commands[command].params}
    for option, (config, field) in OPTIONS[command].items():
        default = next(f for f in dataclasses.fields(config) if f.name == field).default
        assert params[option].default == default, (command, option)


def test_build_corpus_workers_default_is_the_library_default():
    import inspect

    params = {param.name: param for param in overlay_cli.overlay.commands["build-corpus"].params}
    assert params["workers"].default == inspect.signature(build_corpus).parameters["workers"].default


def test_overlay_commands_import_neither_torch_nor_pyav_until_they_run():
    """`nitrogen overlay styles` and every `--help` stay light: torch and PyAV load inside the commands."""
    code = "import sys, nitrogen_datasets.overlay.cli; print(sorted({'torch', 'av'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_a_bug_in_extraction_keeps_its_traceback_and_a_user_error_is_one_line(tmp_path, monkeypatch):
    from nitrogen_datasets.overlay import extract as extract_module

    video, layout = tmp_path / "clip.mp4", tmp_path / "clip.layout.json"
    video.write_bytes(b"not a video")
    layout.write_text("{}")
    args = ["overlay", "extract", str(video), "--layout", str(layout), "--out", str(tmp_path / "a.parquet")]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1 and refused.output.startswith("Error: ") and "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1, refused.output

    def buggy(*args, **kwargs):
        raise ValueError("a bug inside extraction")

    monkeypatch.setattr(extract_module, "extract", buggy)
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, ValueError) and "a bug inside extraction" in str(result.exception)


def test_train_parser_passes_threads_and_warm_start_to_the_config(tmp_path, monkeypatch):
    """`--threads` and `--init` reach ParserTrainConfig (the fields the library honours and tests itself)."""
    from nitrogen_datasets.overlay import parser_training
    from nitrogen_datasets.overlay.parser_weights import BUNDLED_WEIGHTS

    seen: list[ParserTrainConfig] = []

    def record(config, out, progress=True):
        seen.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(parser_training, "train_parser", record)
    args = ["overlay", "train-parser", "--out", str(tmp_path / "p"), "--threads", "1", "--init", str(BUNDLED_WEIGHTS)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen[0].threads == 1 and seen[0].init == str(BUNDLED_WEIGHTS)
    missing = CliRunner().invoke(cli, ["overlay", "train-parser", "--out", str(tmp_path / "p"), "--init", "nowhere"])
    assert missing.exit_code == 2 and "'nowhere' does not exist" in missing.output


def test_train_parser_passes_the_training_mix_and_refuses_a_malformed_one(tmp_path, monkeypatch):
    """`--press-rate`, `--trigger-rate` and `--rest-frames` reach ParserTrainConfig.mix; their defaults are the
    shipped stream's; a list that is not counts, or an even count, is a one-line error."""
    from nitrogen_datasets.overlay import parser_training
    from nitrogen_datasets.overlay.parser_config import SampleMix

    seen: list[ParserTrainConfig] = []

    def record(config, out, progress=True):
        seen.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(parser_training, "train_parser", record)
    base = ["overlay", "train-parser", "--out", str(tmp_path / "p")]
    assert CliRunner().invoke(cli, base).exit_code == 0 and seen[-1].mix == SampleMix() == ParserTrainConfig().mix
    args = [*base, "--press-rate", "0.1", "--trigger-rate", "0.2", "--rest-frames", "3,5"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert seen[-1].mix == SampleMix(press_rate=0.1, trigger_rate=0.2, rest_frames=(3, 5))
    for bad, why in (("a", "not a comma-separated list"), ("2", "odd counts")):
        refused = CliRunner().invoke(cli, [*base, "--rest-frames", bad])
        assert refused.exit_code in (1, 2) and why in refused.output and "Traceback" not in refused.output
