"""The layout DESIGN.md draws, held by reading the source: no import cycle among zoo's
and tuning's modules, imports at module top except where a comment says why, modules
of a readable size, and the private Keras Tuner names zoo relies on still there."""

import ast
import importlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "tuning")

# Modules allowed over LONG lines: each holds one idea that needs the room.
LONG = 450
ONE_IDEA = {
    "zoo/blocks.py": "the building blocks, in stock Keras layers (BN fused on TensorFlow)",
    "zoo/data/report.py": "the data report: one section per thing to look at",
    "zoo/cli.py": "the command line: one parser, one thin function per subcommand",
    "zoo/plots.py": "every picture the project draws, one function each",
    "zoo/export.py": "the exports (SavedModel, ONNX, TFLite; ONNX from PyTorch), each "
    "checked in a fresh process of its own runtime",
}

# Where an import of zoo or tuning may sit inside a function, and why.
LAZY_ALLOWED = {
    "zoo/__init__.py": "zoo.evaluate, zoo.check on first use: `import zoo` stays free of Keras",
    "zoo/registry.py": "load_model registers zoo's layers: `import zoo` stays free of Keras",
    "zoo/cli.py": "each subcommand imports what loads TensorFlow: `zoo --help` stays instant",
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


def test_internal_imports_sit_at_module_top_except_where_named():
    known = modules()
    inside = []
    for path in known.values():
        rel = str(path.relative_to(ROOT))
        if rel in LAZY_ALLOWED:
            continue
        inside += [f"{rel}:{line} imports {t}" for t, line, top in imports(path, known) if not top]
    assert not inside, "imports inside functions:\n" + "\n".join(inside)


def test_modules_are_short_unless_they_hold_one_idea():
    long = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in modules().values()
        if len(p.read_text().splitlines()) > LONG
    }
    assert set(long) <= set(ONE_IDEA), f"over {LONG} lines: {long}"


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
            assert name not in path.read_text(), f"{path.name} reads {name} outside keras_private"


def test_every_module_imports():
    failed = {}
    for name in sorted(modules()):
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - collect every failure, then report
            failed[name] = f"{type(err).__name__}: {err}"
    assert not failed, failed
