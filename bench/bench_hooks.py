"""Benchmark (not a test): warm latency of the CDS Hooks service, per hook call.

Starts the service in this process (waitress in a thread on 127.0.0.1, ``--port 0``, knowledge loaded and
warmed once) and times calls made over loopback with a real HTTP client (a new connection per call, as an
EHR makes them): ``patient-view`` on a few vignettes, and ``order-select`` drafting oral ferrous sulfate
(and IV ferric carboxymaltose) for the ferritin-80 vignette. Each is repeated; the first round is not
counted. Baselines measured in the same run, on the same patients:

* ``recommend path``: :func:`guidelinekg.commands.recommend.evaluate_guidelines` on the vignette's file
  (load, shapes, rules, ``build_report(facts=True)``), in process: what a call cannot do without;
* ``advice in process``: the service's own path without HTTP and cards (prefetch to Bundle, the same
  evaluation): the difference to the baseline is the Bundle built from the prefetch.

A second service with ``--feedback DIR`` shows what recording each call's run and cards costs (each call
there is a new run: the Patient's ``meta.versionId`` differs, as a record does from one visit to the next).
Writes ``bench/out/hooks-bench.md``. Usage: python bench/bench_hooks.py [--repeat N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from guidelinekg.commands.recommend import evaluate_guidelines  # noqa: E402
from guidelinekg.engine.guidelines import load_guidelines  # noqa: E402
from guidelinekg.hooks.advice import Advisor, advise  # noqa: E402
from guidelinekg.hooks.feedback import CardLog  # noqa: E402
from guidelinekg.hooks.protocol import SEARCHES, parse_call, services, templates  # noqa: E402
from guidelinekg.hooks.serve import HooksOptions, make_server  # noqa: E402
from vignettes import load_vignettes  # noqa: E402

VIGNETTES = ("001-iron-deficient-45kg", "010-ferritin-80-tsat-30-iv-only", "021-no-iron-studies",
             "036-monitoring-injectafer-2-months", "140-oral-iron-request-30-days", "149-esrd-ferritin-250-iron-sucrose-not-met")
AS_OF = "2026-02-01"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prefetch_of(bundle: dict) -> tuple[str, dict]:
    """The vignette as an EHR sends it (see tests/test_hooks.py: urn:uuid references as Type/id)."""
    by_url = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
              for e in bundle["entry"] if e.get("fullUrl")}

    def served(node):
        if isinstance(node, dict):
            return {k: (by_url.get(v, v) if k == "reference" and isinstance(v, str) else served(v)) for k, v in node.items()}
        return [served(n) for n in node] if isinstance(node, list) else node

    resources = [served(e["resource"]) for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    prefetch = {"patient": patient}
    for key, kind in SEARCHES.items():
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": r} for r in resources if r["resourceType"] == kind]}
    return patient["id"], prefetch


def post(port: int, path: str, body: bytes) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    elapsed = time.perf_counter() - t0
    assert response.status == 200, data[:300]
    return elapsed


def row(name: str, values: list[float], base: float | None) -> str:
    p50, p95 = statistics.median(values) * 1000, pct(values, 0.95) * 1000
    ratio = f"{p50 / (base * 1000):.2f}x" if base else "1x"
    return f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {max(values) * 1000:.1f} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    cases = {v.name: v for v in load_vignettes()}
    guidelines = load_guidelines()
    advisor = Advisor(guidelines, as_of=date.fromisoformat(AS_OF))
    bodies = {}
    for name in VIGNETTES:
        patient, prefetch = prefetch_of(json.loads(cases[name].patient.read_text(encoding="utf-8")))
        bodies[name] = (patient, prefetch)
    patient, prefetch = bodies["010-ferritin-80-tsat-30-iv-only"]
    drafts = {"oral ferrous sulfate (warning)": "Ferrous sulfate 325 mg tablet",
              "IV ferric carboxymaltose (no card)": "Injectafer 750 mg/15 mL"}

    def view_body(name: str, version: str | None = None) -> dict:
        """A call; with ``version``, the Patient carries it as meta.versionId: other bytes, so a new run
        (the same bytes again make the same run, whose record is written once)."""
        pid, pre = bodies[name]
        if version is not None:
            pre = {**pre, "patient": {**pre["patient"], "meta": {"versionId": version}}}
        return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": pid}, "prefetch": pre}

    def select_body(text: str) -> dict:
        order = {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
                 "subject": {"reference": f"Patient/{patient}"}, "medicationCodeableConcept": {"text": text}}
        return {"hook": "order-select", "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": patient, "selections": ["MedicationRequest/draft-1"],
                            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]}}, "prefetch": prefetch}

    timings: dict[str, list[float]] = {}
    keys = list(templates(False))
    as_of = date.fromisoformat(AS_OF)
    with tempfile.TemporaryDirectory() as feedback:
        log = CardLog(Path(feedback))
        plain = make_server(HooksOptions(port=0, quiet=True), advisor, CardLog())
        logged = make_server(HooksOptions(port=0, quiet=True, feedback=Path(feedback)), advisor, log)
        stopping: list[bool] = []

        def loop(server) -> None:  # waitress's loop until told to stop, then the server closed in it
            while not stopping:
                server.asyncore.loop(timeout=0.02, map=server._map, count=1)
            server.close()

        threads = [threading.Thread(target=loop, args=(server,), daemon=True) for server in (plain, logged)]
        for thread in threads:
            thread.start()
        for round_ in range(args.repeat + 1):
            counted = round_ > 0
            for name in VIGNETTES:
                t0 = time.perf_counter()
                evaluate_guidelines(cases[name].patient, guidelines, as_of=as_of, facts=True)
                base = time.perf_counter() - t0
                body = view_body(name)
                call = parse_call(json.dumps(body).encode(), services()["guidelinekg-patient-view"])
                t0 = time.perf_counter()
                advise(call, advisor, keys)
                inproc = time.perf_counter() - t0
                raw = json.dumps(body).encode()
                view = post(plain.effective_port, "/cds-services/guidelinekg-patient-view", raw)
                recorded = post(logged.effective_port, "/cds-services/guidelinekg-patient-view",
                                json.dumps(view_body(name, str(uuid.uuid4()))).encode())
                if counted:
                    for key, value in (("recommend path (baseline)", base), ("advice in process", inproc),
                                       ("patient-view over HTTP", view), ("patient-view, --feedback DIR", recorded)):
                        timings.setdefault(key, []).append(value)
            for label, text in drafts.items():
                took = post(plain.effective_port, "/cds-services/guidelinekg-order-select", json.dumps(select_body(text)).encode())
                if counted:
                    timings.setdefault(f"order-select over HTTP: {label}", []).append(took)
        stopping.append(True)
        for thread in threads:
            thread.join(10)
        t0 = time.perf_counter()
        log.close()  # the runs still waiting to be written
        drained = time.perf_counter() - t0
    base = statistics.median(timings["recommend path (baseline)"])
    lines = ["# CDS Hooks service: warm latency per call", "",
             (f"{len(VIGNETTES)} vignettes x {args.repeat} rounds (order-select: the ferritin-80 vignette, "
              f"{args.repeat} rounds per draft), as of {AS_OF}; milliseconds; ratio of medians to the baseline "
              "measured in the same run (the recommend path in process, without HTTP)."), "",
             "| what | calls | p50 ms | p95 ms | max ms | p50 x baseline |", "|---|---|---|---|---|---|"]
    lines += [row(key, values, None if key.startswith("recommend path") else base) for key, values in timings.items()]
    p95 = max(pct(v, 0.95) for k, v in timings.items() if "over HTTP" in k) * 1000
    lines += ["", (f"With --feedback DIR, each call's run record (PROV-O, about 700 triples) is written by a thread "
                   f"after the answer; {drained * 1000:.0f} ms of writing was still queued when the last call had "
                   "been answered."),
              "", (f"Target (issue 18): p95 under 50 ms per hook call: {'met' if p95 < 50 else 'NOT met'} "
                   f"(worst p95 over HTTP without --feedback: {p95:.1f} ms).")]
    out = ROOT / "bench" / "out" / "hooks-bench.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
