"""``nitrogen data record`` / ``nitrogen data info``: flags in, library call, short report out."""

from click.testing import CliRunner

from nitrogen_datasets.cli import data
from nitrogen_datasets.format import load_info


def test_record_then_info_and_verify(tmp_path):
    runner = CliRunner()
    out = tmp_path / "demos"
    args = ["record", "CoinRun", "--out", str(out), "--episodes", "2", "--expert", "random"]
    result = runner.invoke(data, [*args, "--obs-size", "32", "--max-steps", "5"])
    assert result.exit_code == 0, result.output
    assert "recorded 2 episodes (10 frames)" in result.output
    result = runner.invoke(
        data, [*args[:-4], "--episodes", "1", "--expert", "random", "--obs-size", "32", "--max-steps", "3"]
    )
    assert result.exit_code == 0, result.output
    meta = load_info(out)
    assert meta.total_episodes == 3 and {e.source for e in meta.episodes} == {"expert:random"}
    result = runner.invoke(data, ["info", str(out), "--verify"])
    assert result.exit_code == 0, result.output
    assert "3 episodes, 13 frames" in result.output and "3 episodes ok, 0 corrupt" in result.output


def test_data_info_verify_runs_without_importing_torch(tmp_path):
    """Verification is for any machine holding a dataset, not only one with PyTorch installed."""
    import subprocess
    import sys

    from fixtures.dataset_factories import make_episodes, write_dataset

    root = write_dataset(tmp_path / "demos", make_episodes(count=1, steps=4))
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from nitrogen_datasets.cli import data\n"
        f"result = CliRunner().invoke(data, ['info', {str(root)!r}, '--verify', '--quiet'])\n"
        "print(result.output)\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'torch' not in sys.modules, 'verifying imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 episodes ok, 0 corrupt" in done.stdout
