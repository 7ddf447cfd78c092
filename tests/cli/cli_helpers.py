"""Helpers shared by the CLI tests (imported as a plain module)."""
from ntk_desktop.cli import main


def run(argv, capsys):
    """Run the CLI in-process; argparse's own errors end in SystemExit, which counts as the code."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
