"""Time `guidelinekg validate` on the shipped content in fresh processes (not a test).

Each configuration runs REPEATS times as a cold process (interpreter start, imports, parsing, SHACL,
lints, and HermiT in its own JVM when OWL is on); the table gives the median and the range. The target
without OWL is under 2 s.

    python bench/bench_validate.py [REPEATS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(__file__).resolve().parent.parent
CONFIGURATIONS = [
    ("startup (--help)", ["--help"]),
    ("validate --no-owl", ["validate", "--no-owl"]),
    ("validate (with OWL)", ["validate"]),
]
TARGET_NO_OWL = 2.0


def time_once(args: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "guidelinekg.cli", *args], cwd=HOME, capture_output=True, check=False
    )
    return time.perf_counter() - started, run.returncode


def main(repeats: int = 5) -> int:
    print(f"guidelinekg validate on the shipped content, {repeats} cold runs each")
    print(f"{'configuration':<22} {'median s':>9} {'min s':>7} {'max s':>7}  exit")
    medians = {}
    for name, args in CONFIGURATIONS:
        times, codes = zip(*(time_once(args) for _ in range(repeats)))
        medians[name] = statistics.median(times)
        print(f"{name:<22} {medians[name]:>9.2f} {min(times):>7.2f} {max(times):>7.2f}  {sorted(set(codes))}")
    verdict = "within" if medians["validate --no-owl"] < TARGET_NO_OWL else "OVER"
    print(f"without OWL: {verdict} the {TARGET_NO_OWL:.0f} s target; "
          f"OWL step costs about {medians['validate (with OWL)'] - medians['validate --no-owl']:.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
