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
