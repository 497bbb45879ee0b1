"""IPython extension for Kaskada: ``%load_ext fenlmagic``.

Loading signs in the way ``kda.init()`` would (environment credentials,
``KASKADA_PROFILE`` or the default profile) and never fails for want of
credentials: it says how to authenticate instead. Magics:

- ``%fenl_auth`` signs in (a profile, a client id with a prompted secret, or
  explicit settings) and proves it with a real call;
- ``%fenl_whoami`` shows the settings in force and where each came from;
- ``%%fenl_session PROFILE`` runs one cell as another profile.

IPython is imported only here, inside the functions IPython itself calls: a
measured choice (IPython costs far more than ``import kaskada``), so importing
``fenlmagic`` outside a notebook stays cheap.
"""

from __future__ import annotations

from typing import Any

_state: dict[int, Any] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext fenlmagic``: register the magics and displays, then sign in.

    Args:
        ipython: the running IPython shell (``InteractiveShell``).

    Raises:
        No ``KaskadaError``: missing or broken credentials print one line and the ways
        to authenticate instead, so a notebook's first cell always runs.
    """
    # Here, not at the top: these import IPython (see the module docstring).
    from fenlmagic import _login
    from fenlmagic.display import ErrorDisplay, install_formatters
    from fenlmagic.magics import FenlMagics

    magics = FenlMagics(ipython)
    magics.register()
    errors = ErrorDisplay(ipython)
    errors.install()
    install_formatters(ipython)
    _state[id(ipython)] = (magics, errors)
    print(_login.startup_message())


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext fenlmagic``: remove what loading added.

    Args:
        ipython: the shell the extension was loaded into.
    """
    from fenlmagic.display import remove_formatters  # as in load_ipython_extension

    loaded = _state.pop(id(ipython), None)
    if loaded is not None:
        magics, errors = loaded
        magics.unregister()
        errors.remove()
    remove_formatters(ipython)
