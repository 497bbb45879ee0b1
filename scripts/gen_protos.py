"""Regenerate the committed gRPC/protobuf modules from protos/.

Run after editing a .proto file:  python scripts/gen_protos.py
``--check`` regenerates into a temporary folder and exits 1 if the committed
files differ (tests/test_protos.py runs it, so stale code fails CI).

The generator is pinned (GRPCIO_TOOLS) and old on purpose: generated code
stamps the generator's versions into itself as runtime floors (protobuf 5.26+
gencode refuses an older protobuf; grpcio-tools 1.63+ code refuses an older
grpcio). 1.62.3 writes protobuf 4.25 code with neither check, which every
protobuf from 4.25.1 to 7.x runs, so pyproject.toml's floors are what the
lowest-versions CI run proves rather than what the generator happened to be.
mypy-protobuf (MYPY_PROTOBUF) writes the typed stubs, for the stubs and the
service module alike. It runs in its own environment (it pins protobuf<5, which the project's own
environment is not): ``--python`` names an interpreter that has it, by default
$GEN_PROTOS_PYTHON, else a venv made here under .cache/ (Python 3.11 or
3.12: 1.62.3 has no 3.13 wheels).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_PACKAGE = Path("kaskada/api/v1alpha")
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
GRPCIO_TOOLS = "1.62.3"
# Typed stubs (.pyi) for both modules, gRPC's too: protoc's own --pyi_out leaves
# the service classes untyped. 3.6.0 is the last that runs on protobuf 4.25.
MYPY_PROTOBUF = "3.6.0"
CACHE_VENV = ROOT / ".cache" / f"grpcio-tools-{GRPCIO_TOOLS}"

# Runs inside the generator's environment: protoc with grpc_tools' own includes,
# and mypy-protobuf's plugins from that environment's bin folder.
_PROTOC = """
import sys
from importlib.resources import files
from pathlib import Path
from grpc_tools import protoc
bin = Path(sys.executable).parent
sys.exit(protoc.main([
    "grpc_tools.protoc", f"-I{files('grpc_tools') / '_proto'}",
    f"--plugin=protoc-gen-mypy={bin / 'protoc-gen-mypy'}",
    f"--plugin=protoc-gen-mypy_grpc={bin / 'protoc-gen-mypy_grpc'}",
    *sys.argv[1:],
]))
"""
_VERSIONS = """
import importlib.metadata as m
print(m.version("grpcio-tools"), m.version("mypy-protobuf"))
"""


def generator_python() -> str:
    """An interpreter with grpcio-tools==GRPCIO_TOOLS, made once if need be."""
    given = os.environ.get("GEN_PROTOS_PYTHON")
    if given:
        return given
    python = CACHE_VENV / "bin" / "python"
    if not python.exists():
        venv.create(CACHE_VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             f"grpcio-tools=={GRPCIO_TOOLS}", f"mypy-protobuf=={MYPY_PROTOBUF}"],
            check=True,
        )
    return str(python)


def generate(out_root: Path, python: str) -> list[Path]:
    found = subprocess.run(
        [python, "-c", _VERSIONS], capture_output=True, text=True, check=False
    ).stdout.split()
    if found != [GRPCIO_TOOLS, MYPY_PROTOBUF]:
        raise SystemExit(
            f"{python} has grpcio-tools and mypy-protobuf {found or 'missing'}, not "
            f"{GRPCIO_TOOLS} and {MYPY_PROTOBUF}: pip install grpcio-tools=={GRPCIO_TOOLS} "
            f"mypy-protobuf=={MYPY_PROTOBUF} there, or unset GEN_PROTOS_PYTHON"
        )
    sources = sorted(PROTO_ROOT.rglob("*.proto"))
    args = [
        f"-I{PROTO_ROOT}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *[str(s.relative_to(PROTO_ROOT)) for s in sources],
    ]
    if subprocess.run([python, "-c", _PROTOC, *args], check=False).returncode != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_root / OUT_PACKAGE).iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    parser.add_argument("--python", help=f"an interpreter with grpcio-tools=={GRPCIO_TOOLS} "
                        f"and mypy-protobuf=={MYPY_PROTOBUF}")
    args = parser.parse_args()
    python = args.python or generator_python()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(Path(tmp), python)
            stale = [
                p.name
                for p in fresh
                if not (ROOT / OUT_PACKAGE / p.name).exists()
                or not filecmp.cmp(p, ROOT / OUT_PACKAGE / p.name, shallow=False)
            ]
        if stale:
            print(f"stale generated code: {', '.join(stale)}; run python scripts/gen_protos.py")
            return 1
        print("generated code is up to date")
        return 0
    for path in generate(ROOT, python):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
