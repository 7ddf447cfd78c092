"""README.md's test command is the one .ci/run executes, and its CLI examples are real options."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND='(.*)'$", ci, re.M).group(1)
    readme = (ROOT / "README.md").read_text()
    assert f"\n{command}\n" in readme


def test_readme_kernel_examples_parse():
    from ntk_desktop.cli import build_parser

    parser = build_parser()
    readme = (ROOT / "README.md").read_text()
    lines = [l.strip() for l in readme.splitlines() if l.strip().startswith("ntk ")]
    assert lines
    for line in lines:
        parser.parse_args(line.split()[1:])  # argparse exits (test fails) on an unknown option


def test_readme_cli_examples_run(tmp_path, monkeypatch):
    """Every `ntk kernel|train|predict|pca|info` example of the README runs on its sample data."""
    import shlex
    import subprocess
    import sys

    from ntk_desktop.cli import main

    readme = (ROOT / "README.md").read_text()
    data_line = next(l for l in readme.splitlines() if l.startswith("python -c"))
    subprocess.run([sys.executable, "-c", shlex.split(data_line)[2]], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    ran = 0
    for line in readme.splitlines():
        words = line.strip().split()
        if len(words) > 1 and words[0] == "ntk" and words[1] in ("kernel", "train", "predict", "pca", "info"):
            assert main(words[1:]) == 0, line
            ran += 1
    assert ran >= 7


def test_readme_gui_examples_parse():
    from ntk_desktop.gui.app import build_parser

    parser = build_parser()
    readme = (ROOT / "README.md").read_text()
    lines = [l.split("#")[0].strip() for l in readme.splitlines() if l.strip().startswith("ntk-desktop ")]
    assert len(lines) >= 5
    for line in lines:
        parser.parse_args(line.split()[1:])
