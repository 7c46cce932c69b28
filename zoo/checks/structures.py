"""Several inputs or several outputs carried as one array, so that every check reads
one input and one output: ``SideBySide`` sets a list, tuple or dict of input arrays
side by side in one array and wraps the model in one that cuts it back;
``OutputsSideBySide`` does the same for the outputs and the targets, with one loss that
applies each output's own loss and loss weight to its part."""

from __future__ import annotations

import keras
import numpy as np

from zoo.checks.keras_private import compiled_arguments


class SideBySide:
    """Several inputs (a list, tuple or dict of arrays, as ``fit`` takes them) carried
    as one array: each input's rows flattened and set side by side (``flatten``), and a
    model that takes that array, cuts it back into the inputs and calls the program's
    model on them (``wrap``). Every check then reads one input array; the program's
    model, loss and outputs are the same."""

    def __init__(self, x):
        self.keys = list(x) if isinstance(x, dict) else None
        arrays = [np.asarray(x[k]) for k in self.keys] if self.keys else [np.asarray(a) for a in x]
        self.shapes = [a.shape[1:] for a in arrays]
        self.dtypes = [a.dtype for a in arrays]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        integer = [d.kind in "iub" for d in self.dtypes]  # ints, unsigned, bools
        self.dtype = "int64" if all(integer) else "float32"  # token ids stay ids
        # the columns of the inputs that carry values (not ids): what has a scale
        self.scaled = np.concatenate(
            [np.full(size, not ids) for size, ids in zip(self.sizes, integer, strict=True)]
        )

    def flatten(self, x) -> np.ndarray:
        arrays = [np.asarray(x[k]) for k in self.keys] if self.keys else [np.asarray(a) for a in x]
        return np.concatenate(
            [a.reshape(len(a), -1).astype(self.dtype) for a in arrays], axis=1
        )

    def wrap(self, model) -> keras.Model:
        flat = keras.Input((sum(self.sizes),), dtype=self.dtype, name="inputs_side_by_side")
        parts, start = [], 0
        for shape, dtype, size in zip(self.shapes, self.dtypes, self.sizes, strict=True):
            part = keras.ops.reshape(flat[:, start : start + size], (-1, *shape))
            parts.append(keras.ops.cast(part, str(dtype)) if str(dtype) != self.dtype else part)
            start += size
        inputs = dict(zip(self.keys, parts, strict=True)) if self.keys else parts
        wrapper = keras.Model(flat, model(inputs), name=f"{model.name}_side_by_side")
        wrapper.side_by_side = self.scaled
        return wrapper


def _parts(value, keys):
    return [value[k] for k in keys] if isinstance(value, dict) else list(value)


class OutputsSideBySide:
    """Several outputs and their targets as one array: ``flatten(y)`` sets the target
    arrays side by side (rows flattened), ``wrap(model)`` concatenates the model's
    outputs the same way, and ``loss`` is the program's compiled loss on each part
    (its ``loss_weights`` applied), per example, summed."""

    def __init__(self, model, y):
        out = model.output if hasattr(model, "output") else None
        self.keys = sorted(y) if isinstance(y, dict) else None
        if self.keys and isinstance(out, dict) and set(out) != set(self.keys):
            raise ValueError(f"targets for {sorted(y)} but the model outputs {sorted(out)}")
        arrays = [np.asarray(a) for a in _parts(y, self.keys or range(len(y)))]
        if out is None:
            raise ValueError("a subclassed model's outputs cannot be read one by one")
        outs = _parts(out, self.keys or range(len(arrays)))
        if len(outs) != len(arrays):
            raise ValueError(f"{len(arrays)} target arrays for {len(outs)} outputs")
        self.shapes = [a.shape[1:] for a in arrays]  # the targets'
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.out_shapes = [tuple(o.shape[1:]) for o in outs]
        self.out_sizes = [int(np.prod(shape)) for shape in self.out_shapes]
        losses, weights = model.loss, compiled_arguments(model).get("loss_weights")
        n = len(arrays)
        names = self.keys or list(range(n))
        if isinstance(losses, dict):
            losses = [losses[k] for k in names]
        elif not isinstance(losses, list | tuple):
            losses = [losses] * n
        if isinstance(weights, dict):
            weights = [float(weights.get(k, 1.0)) for k in names]
        self.weights = [float(w) for w in (weights or [1.0] * n)]
        self.losses = [keras.losses.get(fn) if isinstance(fn, str) else fn for fn in losses]
        known = getattr(model, "output_names", None) or []
        self.names = [str(k) if self.keys or len(known) != n else known[k] for k in names]

    def flatten(self, y) -> np.ndarray:
        arrays = _parts(y, self.keys or range(len(self.sizes)))
        return np.concatenate(
            [np.asarray(a, "float32").reshape(len(a), -1) for a in arrays], axis=1
        )

    def wrap(self, model) -> keras.Model:
        inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
        outputs = model(inputs)
        parts = _parts(outputs, self.keys or range(len(self.sizes)))
        flat = keras.layers.Concatenate(axis=-1, name="outputs_side_by_side")(
            [keras.ops.cast(keras.ops.reshape(p, (-1, size)), "float32")
             for p, size in zip(parts, self.out_sizes, strict=True)]
        )  # fmt: skip
        wrapper = keras.Model(inputs, flat, name=f"{model.name}_outputs")
        wrapper.side_by_side = getattr(model, "side_by_side", None)
        wrapper.outputs_side_by_side = self.names
        return wrapper

    def loss(self):
        """The program's losses on the parts, weighted and summed, per example."""
        parts = list(zip(self.shapes, self.sizes, self.out_shapes, self.out_sizes, self.losses,
                         self.weights, strict=True))  # fmt: skip

        def outputs_side_by_side(y_true, y_pred):
            total, t0, p0 = 0.0, 0, 0
            for shape, size, out_shape, out_size, fn, weight in parts:
                t = keras.ops.reshape(y_true[:, t0 : t0 + size], (-1, *shape))
                p = keras.ops.reshape(y_pred[:, p0 : p0 + out_size], (-1, *out_shape))
                if len(t.shape) == len(p.shape) - 1 and out_shape[-1:] == (1,):
                    t = keras.ops.expand_dims(t, -1)  # as compile matches (n,) to (n, 1)
                # a Loss object's call is its per-example values, before the reduction
                value = fn.call(t, p) if isinstance(fn, keras.losses.Loss) else fn(t, p)
                value = keras.ops.reshape(value, (keras.ops.shape(y_true)[0], -1))
                total = total + weight * keras.ops.mean(value, axis=1)
                t0, p0 = t0 + size, p0 + out_size
            return total

        return outputs_side_by_side
