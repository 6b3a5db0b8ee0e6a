"""The adversarial corpus: inputs an attacker or a careless user gives, each with the exit code and the
message it must get. Never a traceback, never a silent pass.

Cases are data, in ``tests/adversarial/*.json`` (one file per area; the format is in
``tests/adversarial/README.md``). Each case runs the CLI in-process (``cli.main``) or, where a native
crash or the process boundary matters, as a subprocess. The test id is ``<file>:<case id>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guidelinekg import cli

CORPUS = Path(__file__).parent / "adversarial"
ROOT = Path(__file__).resolve().parents[1]


def load_cases() -> list:
    cases = []
    for manifest in sorted(CORPUS.glob("*.json")):
        for case in json.loads(manifest.read_text(encoding="utf-8")):
            cases.append(pytest.param(case, id=f"{manifest.stem}:{case['id']}"))
    return cases


def materialise(spec: str | dict) -> bytes:
    """A file's bytes: a string as UTF-8, or ``{"text"|"hex": ..., "repeat": n, "prefix", "suffix"}``."""
    if isinstance(spec, str):
        return spec.encode("utf-8")
    body = bytes.fromhex(spec["hex"]) if "hex" in spec else spec.get("text", "").encode("utf-8")
    return spec.get("prefix", "").encode("utf-8") + body * spec.get("repeat", 1) + spec.get("suffix", "").encode("utf-8")


def substitute(arg: str, workdir: Path) -> str:
    return arg.replace("{dir}", str(workdir)).replace("{repo}", str(ROOT)).replace(
        "{corpus}", str(CORPUS / "files"))


def run_case(case: dict, workdir: Path, capsys) -> tuple[int, str, str]:
    argv = [substitute(a, workdir) for a in case["argv"]]
    if case.get("subprocess"):
        proc = subprocess.run([sys.executable, "-m", "guidelinekg.cli", *argv], capture_output=True, text=True,
                              cwd=workdir, timeout=case.get("timeout", 120), env={**os.environ, "PYTHONHASHSEED": "0"})
        return proc.returncode, proc.stdout, proc.stderr
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", load_cases())
def test_adversarial_input(case: dict, tmp_path: Path, capsys) -> None:
    for name, spec in case.get("files", {}).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(materialise(spec))
    code, out, err = run_case(case, tmp_path, capsys)
    assert "Traceback" not in err + out, f"a traceback:\n{err[-2000:]}"
    assert code == case["exit"], f"exit {code}, expected {case['exit']}\nstderr: {err[-1500:]}\nstdout: {out[-500:]}"
    fragment = case.get("message")
    if fragment:
        text = (err + out).lower()
        assert fragment.lower() in text, f"{fragment!r} not in the output:\n{err[-1500:]}"


def test_corpus_cases_are_well_formed() -> None:
    ids = set()
    for param in load_cases():
        case = param.values[0]
        assert {"id", "argv", "exit"} <= case.keys(), case
        assert case["exit"] == 0 or case.get("message"), f"{case['id']}: a failing case names its message"
        assert param.id not in ids, f"duplicate case id {param.id}"
        ids.add(param.id)
