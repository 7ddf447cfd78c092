"""Qt-free generator jobs behind the desktop panels.

A job is a generator function ``job(request)``: ``request`` is a frozen dataclass of parameters
(validated when it is constructed, so an invalid one never exists), every ``yield`` hands out an
immutable snapshot of NumPy copies and is a cancellation point: whoever drives the generator
stops by not resuming it (``close()``).  Snapshots carry ``progress`` (0..1) and a one-line
``status`` so that a generic runner can show them.  Nothing here imports Qt; the GUI's
:class:`ntk_desktop.gui.runner.JobRunner` runs jobs in a worker thread, and scripts or tests can
simply iterate them.
"""
