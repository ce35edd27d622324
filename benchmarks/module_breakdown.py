"""Where the time of the module path goes, and what the other ways of reading a module cost.

    python benchmarks/module_breakdown.py            # both tables, printed as Markdown
    python benchmarks/module_breakdown.py --runs 3

Each measurement is a fresh interpreter (imports count) running one snippet; the snippet
times its phases with ``time.perf_counter`` and reports peak RSS (``ru_maxrss``) and whether
sympy and ``torch._dynamo`` were imported. ``benchmarks/run.py`` embeds both tables in
docs/benchmarks.md. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

MODELS = {
    "efficientnet_b7": (3, 600, 600),
    "resnet50": (3, 224, 224),
    "convnext_tiny": (3, 224, 224),
}

_PRELUDE = f"""
import json, resource, sys, time
T = {{}}
_t = time.perf_counter()
def lap(name):
    global _t
    now = time.perf_counter(); T[name] = T.get(name, 0.0) + now - _t; _t = now
import torch
lap("import torch")
sys.path.insert(0, {str(BENCH)!r})
import models
"""

_REPORT = """
print(json.dumps({"phases": T, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sympy": "sympy" in sys.modules, "dynamo": "torch._dynamo" in sys.modules}))
"""

# the ways of reading a module that were measured; {model} and {shape} are filled in
OPTIONS: dict[str, tuple[str, str]] = {
    "cnninspect": (
        "cnninspect's path: meta device, one TorchDispatchMode (opted out of the dynamo guard) with shape "
        "shortcuts, a TorchFunctionMode, global module hooks; then counting",
        """
from cnninspect.capture.forward import capture, construction_mode
from cnninspect.capture.module_analysis import analyze_trace, module_subject
lap("import cnninspect")
with construction_mode():
    m = models.{model}()
lap("build")
trace = capture(m, {shape})
lap("forward")
for c in ("paper", "fvcore", "torchinfo"):
    analyze_trace(trace, c, module_subject(trace, "m"))
lap("count")
""",
    ),
    "meta-hooks": (
        "meta device, forward hooks only (what --engine meta did before): PyTorch's Python meta kernels run",
        """
with torch.device("meta"):
    m = models.{model}().eval()
lap("build")
seen = []
hs = [x.register_forward_hook(lambda mod, i, o: seen.append(o.shape)) for x in m.modules()]
with torch.no_grad():
    m(torch.empty((1, *{shape}), device="meta"))
lap("forward")
""",
    ),
    "flopcountermode": (
        "torch.utils.flop_counter.FlopCounterMode on the meta device (conv and matmul FLOPs only)",
        """
from torch.utils.flop_counter import FlopCounterMode
with torch.device("meta"):
    m = models.{model}().eval()
lap("build")
with torch.no_grad(), FlopCounterMode(display=False) as fc:
    m(torch.empty((1, *{shape}), device="meta"))
lap("forward")
fc.get_total_flops()
lap("count")
""",
    ),
    "dispatch-mode": (
        "a minimal TorchDispatchMode (records each op) on the meta device, PyTorch's defaults",
        """
from torch.utils._python_dispatch import TorchDispatchMode
ops = []
class Mode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        ops.append(func)
        return func(*args, **(kwargs or {{}}))
with torch.device("meta"):
    m = models.{model}().eval()
lap("build")
with torch.no_grad(), Mode():
    m(torch.empty((1, *{shape}), device="meta"))
lap("forward")
""",
    ),
    "fake-tensors": (
        "FakeTensorMode (torch._subclasses): fake weights and input",
        """
from torch._subclasses.fake_tensor import FakeTensorMode
lap("import torch")
with FakeTensorMode():
    m = models.{model}().eval()
    lap("build")
    with torch.no_grad():
        m(torch.empty((1, *{shape})))
lap("forward")
""",
    ),
    "cpu-real": (
        "real CPU tensors at full size (what torchinfo, fvcore and ptflops do), no counting",
        """
torch.manual_seed(0)
m = models.{model}().eval()
lap("build")
with torch.no_grad():
    m(torch.randn((1, *{shape})))
lap("forward")
""",
    ),
    "cpu-tiny": (
        "real CPU tensors at 1/8 of the resolution (analytic scaling would be needed, and is wrong "
        "for models whose shapes do not scale: fixed pools, Python ifs on the shape)",
        """
torch.manual_seed(0)
m = models.{model}().eval()
lap("build")
s = {shape}
with torch.no_grad():
    m(torch.randn((1, s[0], s[1] // 8, s[2] // 8)))
lap("forward")
""",
    ),
}

BREAKDOWN = """
from cnninspect.cli import cli
from cnninspect.capture.pymodels import build, input_for, load, parse_pyref, subject_for, trace_built
from cnninspect.capture.module_analysis import analyze_trace
from cnninspect.render.formats import FORMATS
from cnninspect.render.report import summary_document
lap("import cnninspect")
pm = load(parse_pyref({ref!r}))
lap("load the file")
built = build(pm)
lap("build (meta)")
shape, _ = input_for(built.module, "m", {shape}, None)
trace = trace_built(pm, built, shape)
lap("forward (capture)")
report = analyze_trace(trace, "paper", subject_for(pm, trace))
lap("count")
FORMATS["table"].render(summary_document(report), False)
lap("render")
"""


def run_snippet(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PRELUDE + code + _REPORT], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:160]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(code: str, runs: int) -> dict:
    """Median and range of each phase, of the total and of peak RSS over ``runs`` runs."""
    results = [run_snippet(code) for _ in range(runs)]
    if any("error" in r for r in results):
        return next(r for r in results if "error" in r)
    phases = list(results[0]["phases"])
    out = {"phases": {}, "runs": runs}
    for p in phases:
        vals = [r["phases"].get(p, 0.0) for r in results]
        out["phases"][p] = (statistics.median(vals), min(vals), max(vals))
    totals = [sum(r["phases"].values()) for r in results]
    out["total"] = (statistics.median(totals), min(totals), max(totals))
    out["rss_mb"] = statistics.median(r["rss_mb"] for r in results)
    out["sympy"] = any(r["sympy"] for r in results)
    out["dynamo"] = any(r["dynamo"] for r in results)
    return out


def _span(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.2f} ({v[1]:.2f}-{v[2]:.2f})"


def breakdown_table(runs: int) -> list[str]:
    """The module path's phases for each benchmark model, in one process each."""
    phases = ["import torch", "import cnninspect", "load the file", "build (meta)", "forward (capture)", "count",
              "render"]
    lines = ["| Model (input) | " + " | ".join(phases) + " | Total | Peak RSS (MB) | sympy / dynamo imported |",
             "| :--- | " + " | ".join("---:" for _ in phases) + " | ---: | ---: | :--- |"]
    for model, shape in MODELS.items():
        r = measure(BREAKDOWN.format(ref=f"benchmarks/models.py:{model}", shape=shape), runs)
        label = f"{model} ({'x'.join(map(str, shape))})"
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} |")
            continue
        cells = [_span(r["phases"][p]) if p in r["phases"] else "-" for p in phases]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_span(r['total'])} | {r['rss_mb']:.0f} | "
                     f"{'yes' if r['sympy'] else 'no'} / {'yes' if r['dynamo'] else 'no'} |")
    return lines


def options_table(model: str, runs: int) -> list[str]:
    shape = MODELS[model]
    lines = ["| Option | Import torch | Build | Forward | Count | Total | Peak RSS (MB) | sympy / dynamo | What it is |",
             "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | :--- | :--- |"]
    for name, (what, code) in OPTIONS.items():
        r = measure(code.format(model=model, shape=shape), runs)
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | | | {what} |")
            continue
        p = r["phases"]
        cells = [_span(p[k]) if k in p else "-" for k in ("import torch", "build", "forward", "count")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_span(r['total'])} | {r['rss_mb']:.0f} | "
                     f"{'yes' if r['sympy'] else 'no'} / {'yes' if r['dynamo'] else 'no'} | {what} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", default="efficientnet_b7", choices=list(MODELS))
    args = ap.parse_args()
    print("\n".join(breakdown_table(args.runs)))
    print()
    print("\n".join(options_table(args.model, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
