"""The NTK Desktop application (PySide6 + pyqtgraph).

``ntk-desktop`` / ``python -m ntk_desktop.gui`` start :func:`ntk_desktop.gui.app.main`.  Layout:

* :mod:`.app` — command-line flags, the QApplication, screenshots;
* :mod:`.main_window` — the window: menus, status bar, the frame timer, panels; its saved
  settings and layout in :mod:`.window_state`;
* :mod:`.runner` — the job runner (one compute slot, latest request wins);
* :mod:`.panel` — the base class every dockable view derives from (options, settings, sessions);
* :mod:`.params_panel` — the shared network parameters; :mod:`.kernel_panel` — Figure 1,
  :mod:`.training_panel` — Figure 2, :mod:`.mnist_panel` — Figure 3;
* :mod:`.plot_style` — axes, legends, pens and NaN-joined curves shared by the panels;
* :mod:`.theme`, :mod:`.settings`, :mod:`.presets` — look, persistence, named starting points;
* :mod:`.lab` — sessions, export, presentation mode, recording and the presets gallery.

Computations live in :mod:`ntk_desktop.experiments` (Qt-free generator jobs); nothing in this
package computes on the GUI thread.
"""

from . import _qtcompat

_qtcompat.apply()   # before any Qt call: see _qtcompat (PySide6 6.12 on CPython 3.11)
