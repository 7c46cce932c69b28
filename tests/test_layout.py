"""The layout DESIGN.md draws, held by reading the source: no import cycle among zoo's
and tuning's modules, no import against its arrows (at the top or in a function),
imports at module top except where a measured reason is named here, no module over
600 lines, and the private Keras and Keras Tuner names zoo relies on still there."""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "tuning")

# Modules allowed over LONG lines: each holds one idea that needs the room. None may
# pass MOST, here or in benchmarks/, templates/ and tests/.
LONG = 450
MOST = 600
ONE_IDEA = {
    "zoo/blocks.py": "the building blocks, in stock Keras layers (BN fused on TensorFlow)",
    "zoo/data/report.py": "the data report: one section per thing to look at",
    "zoo/cli.py": "the command line: one thin function per subcommand",
    "zoo/plots.py": "every picture the project draws, one function each",
    "zoo/export.py": "the exports (SavedModel, ONNX, TFLite; ONNX from PyTorch), each "
    "checked in a fresh process of its own runtime",
}

# DESIGN.md's arrows as ranks: a module imports only modules of its rank or below (the
# cycle test keeps those of one rank apart), at the top of the file or in a function.
RANKS = [
    (9, ("zoo.cli", "zoo.cli_parser", "zoo.__main__")),
    (8, ("zoo.recipe", "zoo.runs", "zoo.predict", "tuning")),
    (7, ("zoo.run",)),
    (6, ("zoo.plan", "zoo.checks", "zoo.train", "zoo.evaluation", "zoo.export", "zoo.lr_find",
         "zoo.finetune", "zoo.distill", "zoo.report", "zoo.quantize")),
    (5, ("zoo.outputs", "zoo.metrics", "zoo.config", "zoo.runfolder", "zoo.data", "zoo.packaged",
         "zoo.registry", "zoo.weights", "zoo.callbacks", "zoo.optim", "zoo.distribute", "zoo.plots",
         "zoo.interrupts", "zoo")),
    (4, ("zoo.models",)),
    (3, ("zoo.blocks", "zoo.layers", "zoo.ensemble")),
    (1, ("zoo.backend",)),
]  # fmt: skip
# The package's names for the two entry points a user calls from Python (zoo.evaluate,
# zoo.check): loaded on first use, so `import zoo` stays free of Keras. The only
# imports that run upward.
UPWARD = {("zoo", "zoo.evaluation"), ("zoo", "zoo.checks.program")}

# Where an import (of anything) may sit inside a function, and the measured reason.
# A CLI reason is checked: the module is loaded by `zoo`'s start-up (`import zoo.cli`
# takes 0.2 s; importing keras takes 5.2 s here, scikit-learn 1.1-1.3 s, matplotlib
# 0.6 s, on the 2-core AMD EPYC).
CLI = "cli"
LAZY_ALLOWED = {
    "zoo/__init__.py": "zoo.evaluate, zoo.check on first use: `import zoo` stays free of Keras",
    "zoo/cli.py": "each subcommand imports what loads TensorFlow: `zoo --help` stays instant",
    "zoo/registry.py": (CLI, "keras, and zoo's layers registered on loading a model"),
    "zoo/plots.py": (CLI, "matplotlib, only when a picture is drawn"),
    "zoo/weights.py": (CLI, "h5py, only when a keras.applications .h5 file is read"),
    "zoo/data/pipeline.py": (CLI, "keras and tensorflow, only when data is loaded"),
    "zoo/data/images.py": (CLI, "keras and tensorflow, only when images are decoded"),
    "zoo/data/shuffle.py": (CLI, "tensorflow, only when a pipeline is made"),
    "zoo/data/splits.py": (CLI, "scikit-learn, only when data is split"),
    "zoo/data/bundled.py": (CLI, "scikit-learn's bundled sets, only when one is read"),
    "zoo/data/tfds_source.py": (CLI, "tensorflow_datasets, only for a tfds: source"),
    "zoo/backend.py": "TensorFlow, loaded only after zoo's defaults are set (its CPU flags, "
    "its start-up lines held back for the CLI)",
    "zoo/checks/base.py": "the running backend's own library (jax, tensorflow, torch) only",
    "zoo/distribute.py": "the running backend's own library (jax, tensorflow) only",
    "zoo/layers.py": "tensorflow, for its fused kernel on that backend only",
    "zoo/outputs.py": "tensorflow, on that backend only",
    "zoo/export.py": "tensorflow (the SavedModel; absent on a JAX or PyTorch machine) and "
    "onnx (an optional extra)",
    "zoo/quantize.py": "tensorflow (TFLite; absent on a JAX or PyTorch machine)",
    "zoo/predict.py": "tensorflow, to run the SavedModel (absent on a JAX or PyTorch machine)",
    "zoo/runfolder.py": "fcntl, on POSIX only",
    "tuning/worker.py": "the worker pins its cores before TensorFlow starts",
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """``(module, line, at_top)`` for each import of a zoo or tuning module in ``path``;
    ``from pkg import sub`` counts as importing ``pkg.sub`` when that is a module."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    this = next(name for name, p in known.items() if p == path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != this:
                out.append((target, node.lineno, id(node) in top))
    return out


def find_cycles(graph: dict[str, list[str]]) -> list[str]:
    """Every cycle a depth-first walk of ``graph`` meets, as ``a -> b -> a``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node, trail):
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    return cycles


def test_no_import_cycle_among_zoo_and_tuning_modules():
    known = modules()
    graph = {name: sorted({t for t, _, _ in imports(path, known)}) for name, path in known.items()}
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100  # the scan sees them
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_scan_sees_a_planted_cycle(tmp_path):
    """The scan above can fail: two modules that import each other, one of them
    inside a function, make a cycle."""
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "__init__.py").write_text("")
    (tmp_path / "zoo" / "a.py").write_text("from zoo.b import f\n")
    (tmp_path / "zoo" / "b.py").write_text("def f():\n    from zoo import a\n")
    known = {
        "zoo": tmp_path / "zoo" / "__init__.py",
        "zoo.a": tmp_path / "zoo" / "a.py",
        "zoo.b": tmp_path / "zoo" / "b.py",
    }
    assert imports(known["zoo.a"], known) == [("zoo.b", 1, True)]
    assert imports(known["zoo.b"], known) == [("zoo.a", 2, False)]
    graph = {n: [t for t, _, _ in imports(p, known)] for n, p in known.items()}
    assert find_cycles(graph) == ["zoo.a -> zoo.b -> zoo.a"]


def rank(module: str) -> int:
    for value, prefixes in RANKS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return value
    raise AssertionError(f"{module} has no rank in test_layout.RANKS: place it")


def test_no_import_runs_upward_at_any_level():
    known = modules()
    upward = []
    for name, path in known.items():
        for target, line, top in imports(path, known):
            if rank(target) > rank(name) and (name, target) not in UPWARD:
                where = "top" if top else "inside a function"
                upward.append(f"{name}:{line} imports {target} ({where})")
    assert not upward, "imports against DESIGN.md's arrows:\n" + "\n".join(upward)


def test_the_upward_scan_sees_a_planted_upward_import(tmp_path):
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "__init__.py").write_text("")
    (tmp_path / "zoo" / "blocks.py").write_text("def f():\n    from zoo.train import fit\n")
    (tmp_path / "zoo" / "train.py").write_text("")
    known = {n: tmp_path / "zoo" / f"{n.split('.')[-1]}.py" for n in ("zoo.blocks", "zoo.train")}
    known["zoo"] = tmp_path / "zoo" / "__init__.py"
    found = imports(known["zoo.blocks"], known)
    assert found == [("zoo.train", 2, False)] and rank("zoo.train") > rank("zoo.blocks")


def function_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, import)`` for every import (of anything) inside a function or class;
    those in a module-level ``try`` or ``if`` count as at the top."""
    tree = ast.parse(path.read_text())
    top = set()
    for node in tree.body:
        for inner in ast.walk(node) if isinstance(node, ast.Try | ast.If) else (node,):
            top.add(id(inner))
    return [
        (node.lineno, ast.unparse(node))
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top
    ]


def loaded_at_start(known: dict[str, Path], start: str = "zoo.cli") -> set[str]:
    """The modules ``import start`` loads: its top-level imports, followed down."""
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        stack += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages
        stack += [t for t, _, top in imports(known[name], known) if top]
    return seen


def test_imports_sit_at_module_top_except_where_a_reason_is_named():
    known = modules()
    by_path = {str(p.relative_to(ROOT)): n for n, p in known.items()}
    inside = [
        f"{rel}:{line} {text}"
        for rel in by_path
        if rel not in LAZY_ALLOWED
        for line, text in function_imports(ROOT / rel)
    ]
    assert not inside, "imports inside functions with no reason named:\n" + "\n".join(inside)
    start = loaded_at_start(known)
    for rel, reason in LAZY_ALLOWED.items():
        assert function_imports(ROOT / rel), f"{rel} imports nothing inside a function now"
        if isinstance(reason, tuple) and reason[0] == CLI:
            assert by_path[rel] in start, f"{rel}: not loaded by `zoo`'s start-up any more"


def test_the_start_up_loads_no_heavy_library():
    """What the "cli" reasons above protect, measured: `import zoo.cli` loads neither
    Keras, TensorFlow, scikit-learn nor matplotlib."""
    code = (
        "import sys, zoo.cli; print([m for m in ('keras', 'tensorflow', 'sklearn', "
        "'matplotlib', 'jax', 'torch') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_modules_are_short_unless_they_hold_one_idea():
    long = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in modules().values()
        if len(p.read_text().splitlines()) > LONG
    }
    assert set(long) <= set(ONE_IDEA), f"over {LONG} lines: {long}"
    files = [p for folder in ("zoo", "tuning", "benchmarks", "templates", "tests")
             for p in (ROOT / folder).rglob("*.py") if "check_corpus" not in p.parts]  # fmt: skip
    assert len(files) > 100
    lengths = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in files}
    over = {k: v for k, v in lengths.items() if v > MOST}
    assert not over, f"over {MOST} lines: {over}"


def test_private_keras_tuner_names_exist():
    """tuning.keras_tuner_private's names, against the installed Keras Tuner."""
    kt = importlib.import_module("keras_tuner")
    private = importlib.import_module("tuning.keras_tuner_private")
    assert kt.__version__ >= "1.4.8"
    assert hasattr(private.oracle_service(), "add_OracleServicer_to_server")
    assert callable(private.TunerCallback) and callable(private.OracleServicer)
    source = "\n".join(p.read_text() for p in modules().values())
    assert source.count("keras_tuner.src") == (
        ROOT / "tuning/keras_tuner_private.py"
    ).read_text().count("keras_tuner.src"), (
        "keras_tuner.src is imported outside tuning/keras_tuner_private.py"
    )


def test_private_keras_names_exist():
    """zoo.checks.keras_private's names, against the installed Keras; and no private
    Keras attribute read elsewhere in zoo/checks/."""
    import keras

    from zoo.checks import keras_private as private

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    assert float(private.learning_rate_schedule(model.optimizer)) == np.float32(1e-3)
    assert private.compiled_arguments(model)["metrics"] == ["mae"]
    assert private.is_functional(model) and not private.is_functional(keras.Model())
    assert private.loss_function_arguments(keras.losses.Huber(delta=5.0))["delta"] == 5.0
    assert model._compile_metrics is not None
    private.drop_compiled_metrics(model)
    assert model._compile_metrics is None
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    scaled = keras.layers.Rescaling(2.0)(inputs)
    outer = keras.Model(inputs, inner(scaled))
    assert private.inbound_tensor(outer.layers[-1]) is scaled
    for path in sorted((ROOT / "zoo" / "checks").glob("*.py")):
        if path.name == "keras_private.py":
            continue
        for name in ("_learning_rate", "_compile_config", "_is_graph_network", "_fn_kwargs",
                     "_compile_metrics", "_inbound_nodes"):  # fmt: skip
            assert not re.search(rf"\.{name}\b|getattr\([^)]*['\"]{name}['\"]", path.read_text()), (
                f"{path.name} reads {name} outside keras_private")


def test_every_module_imports():
    failed = {}
    for name in sorted(modules()):
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - collect every failure, then report
            failed[name] = f"{type(err).__name__}: {err}"
    assert not failed, failed
