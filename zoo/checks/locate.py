"""Where the user's script made what a finding is about: each layer, the optimizer, the
``compile`` and ``fit`` calls, and the arrays handed to ``fit``, as ``file:line  code``.

``recording(folder)`` watches the script while it runs (until its first ``fit``): every
layer, optimizer and ``compile`` made from a file under ``folder`` is recorded with the
line of the user's code that made it (for a subclassed model, the line in its
``__init__``; for a layer made inside Keras, e.g. a ``keras.applications`` base, the
user's line that called it). ``Sites`` answers "where was this made" by layer name,
and by subject for the rest (``"fit"``, ``"compile"``, ``"loss"`` (its argument's line),
``"optimizer"``, ``"schedule"``, ``"frozen"`` (the last ``trainable = False``), and the
arrays given to fit: ``"x"``, ``"y"``,
``"validation"``)."""

from __future__ import annotations

import ast
import contextlib
import functools
import linecache
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras

_ZOO = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True)
class Location:
    """A line of the user's code: ``train.py:23  layers.Dense(1, activation="softmax")``."""

    file: str
    line: int
    code: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "code": self.code}

    def __str__(self) -> str:
        return f"{Path(self.file).name}:{self.line}  {self.code}"


@functools.lru_cache(maxsize=1024)
def _absolute(name: str) -> str:
    return name if name.startswith(("/", "<")) else os.path.abspath(name)


def _code(file: str, line: int) -> str:
    text = linecache.getline(file, line).strip()
    return text if len(text) <= 100 else text[:97] + "..."


@dataclass
class Sites:
    """What ``recording`` saw: ``layers`` by name, and ``calls`` (``fit``, ``compile``,
    ``optimizer``, and the arrays given to fit: ``x``, ``y``, ``validation``)."""

    folder: str = ""
    layers: dict[str, Location] = field(default_factory=dict)
    calls: dict[str, Location] = field(default_factory=dict)
    watching: bool = True
    stop: Callable[[], None] = lambda: None  # set by ``recording``: Keras as it was

    def user_frame(self, frame):
        """The innermost frame running the user's code (a file under ``folder``, not zoo's
        nor an installed package's; a script run by a relative path has a relative
        file name)."""
        while frame is not None:
            name = _absolute(frame.f_code.co_filename)
            if name.startswith(self.folder) and not name.startswith(_ZOO) and (
                "site-packages" not in name
            ):
                return frame
            frame = frame.f_back
        return None

    def here(self, frame) -> Location | None:
        user = self.user_frame(frame)
        if user is None:
            return None
        file, line = _absolute(user.f_code.co_filename), user.f_lineno
        return Location(file, line, _code(file, line))

    def layer(self, name: str) -> Location | None:
        return self.layers.get(name)

    def get(self, subject: str) -> Location | None:
        return self.calls.get(subject)

    def saw_fit(self, frame, given: dict) -> None:
        """Record the ``fit`` call's line and, for each array argument given by a plain
        name, the line that last assigned that name before the call (``x``, ``y``,
        ``validation``); then stop watching and give Keras its own methods back (a
        clone of a model whose ``compile`` looks overridden is not compiled)."""
        self.watching = False
        self.stop()
        fit = self.here(frame)
        if fit is None:
            return
        self.calls["fit"] = fit
        user = self.user_frame(frame)
        names = _argument_names(fit.file, fit.line)
        for subject, name in names.items():
            where = _assigned(fit.file, fit.line, name, user.f_globals if user else {})
            if where is not None:
                self.calls[subject] = where


def _call_at(tree: ast.AST, line: int, method: str = "fit") -> ast.Call | None:
    """The ``.fit(...)`` (or other ``method``) call that starts or spans ``line``."""
    best = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == method
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            best = node
    return best


def _keyword_lines(file: str, line: int, method: str, names: tuple[str, ...]) -> dict[str, int]:
    """The lines of a call's arguments (by keyword, or by position in ``names``'s
    order): a ``compile`` over several lines names its ``loss=`` line for the loss."""
    tree = _parsed(file)
    call = _call_at(tree, line, method) if tree is not None else None
    if call is None:
        return {}
    found = {names[i]: arg.lineno for i, arg in enumerate(call.args[: len(names)])}
    found.update({kw.arg: kw.value.lineno for kw in call.keywords if kw.arg in names})
    return found


def _base_name(node: ast.AST) -> ast.AST:
    """``x`` of ``x[:350]``, ``x.values``, ``x.astype(...)``: the array a fit argument
    is cut from."""
    while True:
        if isinstance(node, ast.Subscript | ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        else:
            return node


def _parsed(file: str) -> ast.AST | None:
    try:
        return ast.parse(Path(file).read_text())
    except (OSError, SyntaxError, ValueError):
        return None


def _argument_names(file: str, line: int) -> dict[str, str]:
    """``{"x": "x_train", "y": "y_train", "validation": "x_val"}``: the plain names a fit
    call passes (positionally or by keyword)."""
    tree = _parsed(file)
    call = _call_at(tree, line) if tree is not None else None
    if call is None:
        return {}
    found: dict[str, ast.AST] = {}
    for i, arg in enumerate(call.args[:2]):
        found["xy"[i]] = arg
    for kw in call.keywords:
        if kw.arg in ("x", "y"):
            found[kw.arg] = kw.value
        elif kw.arg == "validation_data":
            value = kw.value
            found["validation"] = value.elts[0] if isinstance(value, ast.Tuple) else value
    found = {k: _base_name(v) for k, v in found.items()}
    return {k: v.id for k, v in found.items() if isinstance(v, ast.Name)}


def _taken(test: ast.AST, names: dict) -> bool | None:
    """The value of an ``if`` test made of names, attributes, constants, ``not`` and
    comparisons, read in the script's globals; None where it cannot be read that simply
    (it is never called)."""
    simple = (ast.Name, ast.Attribute, ast.Constant, ast.UnaryOp, ast.Compare, ast.BoolOp,
              ast.Load, ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Is, ast.IsNot,
              ast.Lt, ast.Gt, ast.LtE, ast.GtE, ast.In, ast.NotIn)  # fmt: skip
    if not all(isinstance(n, simple) for n in ast.walk(test)):
        return None
    try:
        return bool(eval(compile(ast.Expression(test), "<if>", "eval"), {"__builtins__": {}},
                         dict(names)))  # fmt: skip
    except Exception:  # noqa: BLE001 - a name not defined yet: unknown
        return None


def _assigned(file: str, line: int, name: str, names: dict) -> Location | None:
    """The last statement before ``line`` that assigns ``name`` and ran: assignments
    inside an ``if`` whose test reads as false in the script's globals are passed over."""
    tree = _parsed(file)
    if tree is None:
        return None
    best: list[int] = []

    def visit(body, live: bool):
        for node in body:
            if node.lineno >= line:
                return
            if isinstance(node, ast.If):
                taken = _taken(node.test, names)
                visit(node.body, live and taken is not False)
                visit(node.orelse, live and taken is not True)
                continue
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and live:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)):
                        best.append(node.lineno)
            for attr in ("body", "orelse", "finalbody"):  # with, for, try, def bodies
                inner = getattr(node, attr, None)
                if isinstance(inner, list) and not isinstance(node, ast.If):
                    visit(inner, live)

    visit(tree.body, True)
    if not best:
        return None
    return Location(file, best[-1], _code(file, best[-1]))


@contextlib.contextmanager
def recording(folder: str | Path):
    """Record where layers, optimizers and ``compile`` calls are made from code under
    ``folder`` while the block runs (``Sites.watching``: until the first ``fit``)."""
    sites = Sites(folder=str(Path(folder).resolve()))
    layer_init = keras.layers.Layer.__init__
    optimizer_init = keras.optimizers.Optimizer.__init__
    compile_ = keras.Model.compile
    schedules = keras.optimizers.schedules.LearningRateSchedule
    schedule_init = schedules.__init__

    def layer(self, *args, **kwargs):
        layer_init(self, *args, **kwargs)
        if sites.watching:
            where = sites.here(sys._getframe(1))
            if where is not None:
                sites.layers.setdefault(self.name, where)

    def optimizer(self, *args, **kwargs):
        optimizer_init(self, *args, **kwargs)
        if sites.watching:
            where = sites.here(sys._getframe(1))
            if where is not None:
                sites.calls["optimizer"] = where

    def compile(self, *args, **kwargs):
        if sites.watching:
            where = sites.here(sys._getframe(1))
            if where is not None:
                sites.calls["compile"] = where
                at = _keyword_lines(where.file, where.line, "compile", ("optimizer", "loss"))
                for subject, line in at.items():
                    if subject == "loss" or isinstance(
                        kwargs.get("optimizer", args[0] if args else None), str
                    ):  # a loss, or an optimizer made by name in this call
                        sites.calls[subject] = Location(where.file, line, _code(where.file, line))
        return compile_(self, *args, **kwargs)

    def schedule(self, *args, **kwargs):
        schedule_init(self, *args, **kwargs)
        if sites.watching:
            where = sites.here(sys._getframe(1))
            if where is not None:
                sites.calls["schedule"] = where

    keras.layers.Layer.__init__ = layer
    keras.optimizers.Optimizer.__init__ = optimizer
    trainable = keras.layers.Layer.trainable

    def freeze(self, value):
        trainable.fset(self, value)
        if sites.watching and not value:
            where = sites.here(sys._getframe(1))
            if where is not None:
                sites.calls["frozen"] = where

    def stop() -> None:  # Keras as it was: nothing of this is seen by the checks
        keras.layers.Layer.__init__ = layer_init
        keras.optimizers.Optimizer.__init__ = optimizer_init
        keras.Model.compile = compile_
        schedules.__init__ = schedule_init
        keras.layers.Layer.trainable = trainable

    keras.Model.compile = compile
    schedules.__init__ = schedule
    keras.layers.Layer.trainable = property(trainable.fget, freeze, doc=trainable.__doc__)
    sites.stop = stop
    try:
        yield sites
    finally:
        stop()
