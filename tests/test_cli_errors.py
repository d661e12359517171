"""A user's mistake on the command line is one line on stderr and a non-zero exit; a bug keeps its traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.repo import REPO_ROOT

from nitrogen_envs import cli as cli_module
from nitrogen_envs.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="nitrogen")


def assert_one_line_error(result, *words: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a video, not trajectories\n")
    return tmp_path


def _layout(folder: Path) -> Path:
    from nitrogen_datasets.overlay import OverlayRenderer
    from nitrogen_datasets.overlay.layout import save_layout
    from nitrogen_datasets.overlay.styles import preset_styles

    renderer = OverlayRenderer(preset_styles()[2])
    return save_layout(renderer.layout(template_file="rest.png"), renderer.template(), folder / "layout.json")


BAD_INPUTS = {
    "data info on an empty folder": (["data", "info", "{empty}"], ["no dataset at", "meta/info.json"]),
    "data info on a missing folder": (["data", "info", "{tmp}/missing"], ["does not exist", "--help"]),
    "data record with an unknown expert": (
        ["data", "record", "CoinRun", "--out", "{tmp}/rec", "--expert", "bogus", "--episodes", "1"],
        ["unknown expert 'bogus'", "planner"],
    ),
    "finetune --imitation on an empty folder": (
        ["finetune", "--from", "nitrogen-s-procgen6", "--imitation", "{empty}", "--out", "{tmp}/ft"],
        ["could not import imitation trajectories", "serialize.save"],
    ),
    "finetune --imitation on a text file": (
        ["finetune", "--from", "nitrogen-s-procgen6", "--imitation", "{notes}", "--out", "{tmp}/ft"],
        ["could not import imitation trajectories", "not a trajectories format"],
    ),
    "overlay extract on a text file": (
        ["overlay", "extract", "{notes}", "--layout", "{layout}", "--out", "{tmp}/a.parquet"],
        ["cannot be opened as a video", "not a video file"],
    ),
    "overlay build-corpus on an empty folder": (
        ["overlay", "build-corpus", "{empty}", "--layout", "{notes}", "--out", "{tmp}/corpus"],
        ["no videos found under", ".mp4"],
    ),
    "collect with no episodes": (
        ["collect", "--game", "CoinRun", "--episodes", "0", "--out", "{tmp}/c"],
        ["--episodes", "0 is not in the range"],
    ),
    "collect of an unknown game": (
        ["collect", "--game", "CoinRn", "--episodes", "1", "--out", "{tmp}/c"],
        ["unknown game 'CoinRn'", "Did you mean: CoinRun"],
    ),
    "evaluate a near-miss of a bundled name": (
        ["evaluate", "--agent", "nitrogen-s-procgen", "--game", "CoinRun", "--episodes", "1"],
        ["did you mean 'nitrogen-s-procgen6'?", "'random'"],
    ),
    "evaluate a near-miss of random": (
        ["evaluate", "--agent", "randm", "--game", "CoinRun", "--episodes", "1"],
        ["no checkpoint 'randm'", "did you mean 'random'?"],
    ),
    "an unknown option": (["rollout", "CoinRun", "--stepz", "3"], ["No such option", "nitrogen rollout --help"]),
    "an unknown subcommand": (["evalute"], ["No such command", "evaluate"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_each_bad_input_is_one_line_and_a_non_zero_exit(case, inputs):
    args, words = BAD_INPUTS[case]
    places = {"tmp": str(inputs), "empty": str(inputs / "empty"), "notes": str(inputs / "notes.txt")}
    if any("{layout}" in arg for arg in args):
        places["layout"] = str(_layout(inputs))
    result = run(*(arg.format(**places) for arg in args))
    assert_one_line_error(result, *words)
    assert "Traceback" not in result.output


def test_build_corpus_on_an_empty_folder_writes_nothing(inputs):
    result = run("overlay", "build-corpus", str(inputs / "empty"), "--layout", str(inputs / "notes.txt"), "--out",
                 str(inputs / "corpus"))  # fmt: skip
    assert result.exit_code == 1
    assert not (inputs / "corpus").exists()


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in our code")

    monkeypatch.setattr("nitrogen_envs.rollout.run_rollout", broken)
    result = run("rollout", "CoinRun", "--steps", "1")
    assert isinstance(result.exception, RuntimeError)
    assert result.exit_code == 1 and "Error:" not in result.stderr


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        ("torch", ["evaluate", "--agent", "nitrogen-s-procgen6", "--game", "CoinRun"], "nitrogen-gym[policy]"),
        ("pyarrow", ["overlay", "extract", "{notes}", "--layout", "{notes}", "--out", "{tmp}/a.parquet"], "[data]"),
        ("imitation", ["baseline", "bc", "--data", "{empty}", "--out", "{tmp}/bc"], "nitrogen-gym[imitation]"),
        ("stable_baselines3", ["baseline", "ppo", "--game", "CoinRun", "--out", "{tmp}/ppo"], "nitrogen-gym[rl]"),
    ],
    ids=["evaluate-nitrogen-without-torch", "extract-without-pyarrow", "bc-without-imitation", "ppo-without-sb3"],
)
def test_a_missing_optional_package_is_one_line_naming_the_extra(missing, args, extra, inputs, monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # what `import missing` sees when it is not installed
    places = {"tmp": str(inputs), "empty": str(inputs / "empty"), "notes": str(inputs / "notes.txt")}
    result = run(*(arg.format(**places) for arg in args))
    assert_one_line_error(result, missing, f"pip install 'nitrogen-gym{extra}" if extra[0] == "[" else extra)


def test_a_module_level_import_of_a_missing_package_names_the_commands_extras(tmp_path, monkeypatch):
    (tmp_path / "fake_command.py").write_text("import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli_module.SUBCOMMANDS, "fake", ("fake_command:command", "A command for this test."))
    monkeypatch.setitem(cli_module.COMMAND_EXTRAS, "fake", ("data",))
    line = assert_one_line_error(run("fake"), "nitrogen fake needs", "'not_installed_anywhere'")
    assert line.endswith("pip install 'nitrogen-gym[data]'")


def test_a_missing_module_of_our_own_is_a_bug_and_keeps_its_traceback(tmp_path, monkeypatch):
    (tmp_path / "fake_broken.py").write_text("import nitrogen_envs.no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli_module.SUBCOMMANDS, "broken", ("fake_broken:command", "A command for this test."))
    result = run("broken")
    assert isinstance(result.exception, ModuleNotFoundError)


def test_the_console_script_prints_one_line_when_torch_is_missing(tmp_path):
    """The real entry point (``main`` -> ``sys.exit``), in a fresh interpreter where torch cannot be imported."""
    code = (
        "import sys; sys.modules['torch'] = None; from nitrogen_envs.cli import main; sys.argv = ['nitrogen', "
        "'evaluate', '--agent', 'nitrogen-s-procgen6', '--game', 'CoinRun', '--episodes', '1']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1
    assert lines == [lines[0]] and "pip install 'nitrogen-gym[policy]'" in lines[0], result.stderr


def test_readme_lists_the_extra_each_command_needs():
    readme = (REPO_ROOT / "README.md").read_text()
    assert set(cli_module.COMMAND_EXTRAS) == set(cli_module.SUBCOMMANDS)
    assert cli_module.extras_markdown() in readme, "README extras table is stale: paste extras_markdown()"
