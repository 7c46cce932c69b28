"""Rebuild ``docs/benchmarks.md`` from the latest results in ``benchmarks/results/``:
for each benchmark, the command that produced it, the date, the machine, and its
tables. ``zoo bench`` runs this after every benchmark; nothing here measures.

    python benchmarks/report.py [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, ROOT  # noqa: E402  (benchmarks/common.py, beside this file)

from zoo.runfolder import write_text  # noqa: E402

#: the order of the page, and what each benchmark answers
SECTIONS = {
    "speed": "Speed against keras.applications, PyTorch and the machine's peak",
    "data_pipeline": "Does the image-folder pipeline keep up with training?",
    "accuracy": "Accuracy of the templates' defaults (issue targets)",
    "image_folder": "A real image folder at scale: 60,000 PNGs, `zoo recipe --time-budget 10m`",
    "tuning": "What a search costs and buys",
    "squeeze": "Ensembles, distillation, fine-tuning",
    "bug_detection": "Bugs found by `zoo check`, false alarms on the fixed programs",
    "backends": "jit_compile and steps_per_execution on each Keras backend (zoo's defaults)",
    "weights": "Published weights in zoo's ResNets and VGGs: outputs against the originals",
    "gpu": "Training speed on a GPU: zoo's path, the bare jit step, keras.applications, "
    "torchvision",
    "gpu_cpu": "The same script on this CPU (--smoke sizes): zoo's path against the bare "
    "jit step",
}
#: commands of results written before results recorded their own command
COMMANDS = {
    "accuracy": "python benchmarks/accuracy.py",
    "tuning": "python benchmarks/tuning.py",
    "squeeze": "python benchmarks/squeeze.py",
    "data_pipeline": (
        "python benchmarks/data_pipeline.py --json benchmarks/results/data_pipeline.json"
    ),
}


def markdown_of(name: str, payload: dict) -> str:
    """The tables of one result: stored with it, else rebuilt by its script's table
    function from the stored figures."""
    if payload.get("markdown"):
        return payload["markdown"]
    results = payload.get("results", payload)
    if name == "accuracy":
        from accuracy import classical_table, table

        classical = payload.get("classical") if isinstance(payload, dict) else None
        return table(results) + (f"\n\n{classical_table(classical)}" if classical else "")
    if name == "tuning":
        from tuning import tables

        return tables(results)
    if name == "squeeze":
        from squeeze import tables

        members = results[0].get("members", 5) if results else 5
        return tables(results, members)
    return "```json\n" + json.dumps(results, indent=2)[:4000] + "\n```"


def machine_of(payload: dict) -> str:
    info = payload.get("machine", "")
    if isinstance(info, dict):
        from common import header_line

        return header_line(info)
    return str(info)


def build(results_dir: Path = RESULTS) -> str:
    lines = [
        "# Benchmarks",
        "",
        "The latest results of the scripts in `benchmarks/`, each with the command that",
        "produced it and the machine it ran on. `zoo bench NAME` runs one and rebuilds",
        "this page; `zoo bench` lists them. No benchmark asserts: they print what they",
        "measured.",
        "",
    ]
    files = {p.stem: p for p in sorted(results_dir.glob("*.json"))}
    for name in [*SECTIONS, *sorted(set(files) - set(SECTIONS))]:
        if name not in files:
            continue
        payload = json.loads(files[name].read_text())
        lines += [f"## {name}: {SECTIONS.get(name, '')}".rstrip(": "), ""]
        command = payload.get("command") or COMMANDS.get(name, f"python benchmarks/{name}.py")
        when = f" ({payload['date']})" if payload.get("date") else ""
        lines += [f"`{command}`{when}", ""]
        machine = machine_of(payload)
        body = markdown_of(name, payload)
        if machine and not body.startswith("machine:"):
            lines += [machine, ""]
        lines += [body, ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = p.parse_args()
    out = write_text(Path(args.out), build())  # atomically: zoo.runfolder
    print(f"written: {out}")


if __name__ == "__main__":
    main()
