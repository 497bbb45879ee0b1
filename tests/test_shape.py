"""The code's shape (issue 11): the error tree, public names, the module order, a cheap import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import kaskada as kda

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kaskada"


def test_bad_settings_are_value_errors_and_outages_are_one_branch() -> None:
    assert issubclass(kda.ConfigError, ValueError)
    assert issubclass(kda.CredentialsError, kda.ConfigError)
    for outage in (kda.TokenEndpointUnavailableError, kda.ApiUnavailableError):
        assert issubclass(outage, kda.UnavailableError)
        assert not issubclass(outage, kda.AuthenticationError)  # an outage is not a refusal
    assert issubclass(kda.ApiUnavailableError, kda.ApiError)
    assert kda.ApiUnavailableError("x", code="UNAVAILABLE").code == "UNAVAILABLE"
    assert not issubclass(kda.UnavailableError, kda.ApiError)


def test_the_servers_error_is_outside_the_clients_tree() -> None:
    from kaskada.server import ServerError

    assert ServerError is kda.ServerError and issubclass(ServerError, kda.KaskadaError)
    assert ServerError.__module__ == "kaskada.server"
    client = [getattr(kda, n) for n in kda.__all__ if n.endswith("Error") and n != "ServerError"]
    assert not any(issubclass(ServerError, cls) for cls in client if cls is not kda.KaskadaError)


def test_exported_classes_show_as_kaskada_and_nothing_private_reaches_users() -> None:
    from kaskada.config import file as _config
    from kaskada.credentials import binding as _binding
    from kaskada.credentials import keyring as _keyring

    for name in kda.__all__:
        value = getattr(kda, name)
        if isinstance(value, type) and name != "ServerError":
            assert value.__module__ == "kaskada", name
            assert repr(value) == f"<class 'kaskada.{name}'>"
    assert _keyring.NoKeyringError is kda.NoKeyringError
    assert _binding.SecretBindingError is kda.SecretBindingError
    assert _config.UntrustedConfigError is kda.UntrustedConfigError


def _imports(module: str) -> set[str]:
    """Every kaskada module ``module`` imports, at the top or inside functions."""
    path = PACKAGE / (module.removeprefix("kaskada.").replace(".", "/") + ".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kaskada"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("module", "never"),
    [
        # presentation is handed its Settings: it reads no session or resolution state
        ("kaskada.settings.explain", {"kaskada._session", "kaskada.settings.resolve"}),
        # resolution builds no presentation object and knows no session
        ("kaskada.settings.resolve", {"kaskada.settings.explain", "kaskada._session"}),
        # settings and values sit below resolution
        ("kaskada.settings.values", {"kaskada.settings.resolve", "kaskada._session"}),
        ("kaskada.settings.parse", {"kaskada.settings.resolve", "kaskada._session"}),
        ("kaskada.settings.defaults", {"kaskada.settings.resolve", "kaskada._session"}),
    ],
)
def test_the_data_flows_one_way(module: str, never: set[str]) -> None:
    assert not _imports(module) & never


def _runtime_imports(path: Path) -> set[str]:
    """The kaskada modules a file imports when it runs (top or inside functions,
    not under ``if TYPE_CHECKING``): ``from kaskada import _x`` counts as ``kaskada._x``."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("kaskada")}


def test_no_import_cycle_even_through_function_local_imports() -> None:
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }
    graph = {name: _runtime_imports(path) & set(modules) - {name} for name, path in modules.items()}

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            name, trail = stack.pop()
            for target in graph[name]:
                if target == start:
                    return [*trail, start]
                if target not in seen and not start.startswith(target + "."):
                    seen.add(target)
                    stack.append((target, [*trail, target]))
        return None

    cycles = [cycle for name in sorted(graph) if (cycle := cycle_from(name))]
    assert not cycles, " ; ".join(" -> ".join(cycle) for cycle in cycles)


def test_import_kaskada_loads_neither_grpc_nor_keyring_nor_hashlib() -> None:
    """``-S``: no site .pth file of another package (certifi through importlib.resources,
    say) loads a module first and hides what ``import kaskada`` itself loads. typing is
    imported like everywhere else (bench/bench_import.py measures the whole import)."""
    probe = (
        "import sys, kaskada; heavy = {'grpc', 'keyring', 'hashlib', 'hmac', 'google.protobuf'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_init_and_session_share_one_signature() -> None:
    import inspect

    assert inspect.signature(kda.init) == inspect.signature(kda.session)
    assert kda.init.__name__ == "init" and "activate" in (kda.init.__doc__ or "")


def test_session_takes_every_option_and_the_seams() -> None:
    """session()'s parameters are the connection options plus the public seams."""
    import inspect

    from kaskada.settings.options import OPTION_NAMES, Seams

    names = list(inspect.signature(kda.session).parameters)
    assert sorted(names) == sorted([*OPTION_NAMES, *Seams._fields])


def test_the_type_stub_declares_exactly_the_public_names() -> None:
    """kaskada/__init__.pyi (what type checkers read) names what ``__all__`` exports."""
    tree = ast.parse((ROOT / "kaskada" / "__init__.pyi").read_text())
    declared = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert declared == set(kda.__all__)


# The internals of profile management: the profiles file (every module of
# kaskada.config) and the places a profile's secret and tokens are kept (the README's
# module map: keyring, binding, profile_stores, stored, stores, token_cache).
_PROFILE_INTERNALS = (
    "kaskada.config",
    "kaskada.credentials.keyring",
    "kaskada.credentials.binding",
    "kaskada.credentials.profile_stores",
    "kaskada.credentials.stored",
    "kaskada.credentials.stores",
    "kaskada.credentials.token_cache",
)


def _imported_names(path: Path) -> set[str]:
    """Every module name an import in ``path`` reaches, anywhere in the file (inside
    functions and under TYPE_CHECKING too): ``from kaskada.config import file`` names
    both ``kaskada.config`` and ``kaskada.config.file``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import; name the module in full"
            module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _internals_reached(path: Path) -> list[str]:
    """The profile internals ``path`` imports (a module or anything inside one)."""
    return sorted(
        name
        for name in _imported_names(path)
        if any(name == internal or name.startswith(internal + ".")
               for internal in _PROFILE_INTERNALS)
    )


@pytest.mark.parametrize(
    "path",
    sorted([*(PACKAGE / "cli").rglob("*.py"), *(ROOT / "fenlmagic").rglob("*.py")]),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_the_cli_and_the_magics_manage_profiles_only_through_kaskada_profiles(
    path: Path,
) -> None:
    """The rule: every module of the command line and of the IPython extension reads and
    changes profiles, their secrets' stores and cached tokens only through the public
    ``kaskada.profiles``, so that what they do a user can do from Python, and the
    internals can move without touching them. Allowed: the session layer
    (``kaskada._session``, ``kaskada.settings``: resolution, the one table of settings,
    its parsers and explanations), sign-in (``kaskada.credentials.login``), handing a
    token to a child (``kaskada.credentials.handed``: a token on the wire), the local
    server's modules, and the public types kept in private modules (``kaskada._errors``,
    ``kaskada._secret``). Refused: ``_PROFILE_INTERNALS``."""
    reached = _internals_reached(path)
    assert not reached, f"{path.relative_to(ROOT)} imports {reached}: use kaskada.profiles"


def test_the_import_rule_sees_every_form_of_import(tmp_path: Path) -> None:
    """The check above would catch each way of writing the import it forbids."""
    for line in (
        "from kaskada.config import lifecycle as _profiles",
        "from kaskada.credentials.keyring import get_entry",
        "import kaskada.credentials.binding",
        "from kaskada import config",
        "def f():\n    from kaskada.credentials import profile_stores",
    ):
        module = tmp_path / "m.py"
        module.write_text(line + "\n")
        assert _internals_reached(module), line
    module.write_text("from kaskada import profiles\nfrom kaskada.settings import schema\n")
    assert _internals_reached(module) == []


def test_no_test_module_imports_another() -> None:
    """Shared set-up lives in tests/helpers.py, tests/certs.py and conftest fixtures:
    a test module that imports another runs (and collects) that one's tests' set-up."""
    offenders = {
        path.name: sorted(name for name in _imported_names(path) if name.startswith("tests.test_"))
        for path in sorted((ROOT / "tests").glob("test_*.py"))
    }
    assert not {name: found for name, found in offenders.items() if found}


def test_the_typed_records_name_exactly_the_settings_of_the_one_table() -> None:
    """Profile, Settings and ConnectionOptions spell their fields out for the type
    checker; this holds them to settings/schema.py, so a setting added there and
    forgotten in one of them (or the other way round) fails here, not in a user's hands."""
    from kaskada.config.file import Profile
    from kaskada.settings.options import ConnectionOptions
    from kaskada.settings.schema import FIELD_NAMES, PROFILE_KEYS, SETTINGS
    from kaskada.settings.values import Settings

    assert set(Profile._fields) - {"name", "extra"} == set(PROFILE_KEYS)
    assert Settings._fields == ("layer", *FIELD_NAMES)
    # Every argument of kda.init()/kda.session() is a row (a pre-issued token is `jwt=`),
    # and every row a caller can give is an argument (the sign-in kind comes from a profile).
    arguments = {"jwt" if name == "token" else name for name in FIELD_NAMES} - {"auth"}
    assert set(ConnectionOptions._fields) == arguments
    kinds = {setting.name: setting.kind for setting in SETTINGS}
    for name, annotation in Profile.__annotations__.items():
        if kinds.get(name) == "bool":
            assert "bool" in str(annotation), name
        if kinds.get(name) == "seconds":
            assert "float" in str(annotation), name
