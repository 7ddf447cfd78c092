"""``python -m ntk_desktop.gui``: the desktop application."""
import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
