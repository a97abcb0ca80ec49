"""Run the benchmarks: every ``bench/bench_*.py`` module's ``main()``.

``python -m bench`` runs them all; ``python -m bench NAME...`` runs those whose
module name contains one of the NAMEs. A ``main()`` that returns a non-zero
integer counts as a failure.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    if argv:
        names = [name for name in names if any(word in name for word in argv)]
    if not names:
        print("no benchmarks yet" if not argv else "no benchmark matches")
        return 0
    failed = []
    for name in names:
        print(f"==> {name}", flush=True)
        started = time.perf_counter()
        result = importlib.import_module(f"bench.{name}").main()
        print(f"==> {name}: {time.perf_counter() - started:.1f} s", flush=True)
        if isinstance(result, int) and result != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
