"""Regenerate the committed gRPC/protobuf modules from protos/.

Run after editing a .proto file:  python scripts/gen_protos.py
``--check`` regenerates into a temporary folder and exits 1 if the committed
files differ (tests/test_protos.py runs it, so stale code fails CI).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_PACKAGE = Path("kaskada/api/v1alpha")
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc

    try:
        from importlib.resources import files

        include = str(files("grpc_tools") / "_proto")
    except Exception:  # pragma: no cover - very old grpc_tools
        import grpc_tools

        include = str(Path(grpc_tools.__file__).parent / "_proto")
    sources = sorted(PROTO_ROOT.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *[str(s.relative_to(PROTO_ROOT)) for s in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_root / OUT_PACKAGE).iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(Path(tmp))
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
    for path in generate(ROOT):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
