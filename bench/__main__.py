"""`python -m bench report|ask …`: run one benchmark and print its figures."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "report": "bench.report",
    "ask": "bench.ask",
    "stats": "bench.stats",
    "scale": "bench.scale",
    "messages": "bench.messages",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        print(f"usage: python -m bench {{{'|'.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[sys.argv[1]])
    return int(module.main(sys.argv[2:]) or 0)


sys.exit(main())
