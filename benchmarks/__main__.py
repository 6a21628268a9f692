"""``python -m benchmarks NAME [ARGS]`` runs ``benchmarks/NAME.py``; no NAME lists them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if not m.name.startswith("_"))
    if not argv or argv[0] not in names:
        sys.stdout.write("benchmarks: " + ", ".join(names) + "\n"
                         "run one with: python -m benchmarks NAME [ARGS]\n")
        return 0 if not argv else 2
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    sys.argv = [f"benchmarks/{argv[0]}.py", *argv[1:]]
    takes_argv = bool(inspect.signature(module.main).parameters)  # else it reads sys.argv
    return int((module.main(argv[1:]) if takes_argv else module.main()) or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
