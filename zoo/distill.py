"""Knowledge distillation: train a small student to match a large teacher (often an
ensemble, ``zoo.ensemble``) that is too costly to serve.

``Distiller`` is a ``keras.Model`` whose ``call`` is the student and whose
``compute_loss`` is the distillation loss, so Keras' own training and evaluation steps
run it on every backend (TensorFlow, JAX, PyTorch), as in the keras-io distillation
example. Each step the frozen teacher's logits are softened by ``temperature`` and the
student learns from both targets (Hinton et al., 2015)::

    loss = alpha * hard(y, student) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

(the T^2 keeps the soft gradients' scale as T changes). A binary (one-logit) model uses
sigmoids in place of softmaxes; regression matches the teacher's predictions with the
mean squared error. The student's own L1/L2 penalties are added. ``call`` is the
student, so ``evaluate`` and ``predict`` score it; it exports alone::

    distiller = Distiller(teacher, student, temperature=4.0, alpha=0.1)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(x, y, validation_data=(xv, yv), epochs=30)
    export_and_verify(distiller.student, loaded, run_dir)
"""

from __future__ import annotations

import keras
from keras import ops


class Distiller(keras.Model):
    """``teacher`` (frozen; logits) distilled into ``student`` (logits), see module doc.
    ``task`` is "classification" (default) or "regression"."""

    def __init__(
        self,
        teacher: keras.Model,
        student: keras.Model,
        *,
        temperature: float = 4.0,
        alpha: float = 0.1,
        task: str = "classification",
        **kwargs,
    ):
        super().__init__(name=kwargs.pop("name", "distiller"), **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be > 0 (1 is no softening).")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha={alpha}: the weight of the hard-label loss, in [0, 1].")
        if teacher.output_shape[1:] != student.output_shape[1:]:
            raise ValueError(
                f"teacher gives {teacher.output_shape}, student {student.output_shape}: "
                "they must predict the same outputs."
            )
        if task not in ("classification", "regression"):
            raise ValueError(f"task={task!r}: 'classification' or 'regression'.")
        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.task = task
        self.hard_tracker = keras.metrics.Mean(name="hard_loss")
        self.soft_tracker = keras.metrics.Mean(name="soft_loss")

    def call(self, x, training=False):
        return self.student(x, training=training)

    def compile(self, optimizer="adam", metrics=None, **kwargs):
        """Like ``Model.compile``; the loss is the distillation loss, so ``loss`` is
        refused. ``metrics`` score the student against the true labels."""
        if "loss" in kwargs:
            raise ValueError("Distiller builds its own loss (hard + soft); do not pass loss=.")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    def _hard(self, y, student_logits):
        if self.task == "regression":
            return ops.mean(keras.losses.mean_squared_error(y, student_logits))
        if student_logits.shape[-1] == 1:
            y = ops.reshape(ops.cast(y, "float32"), ops.shape(student_logits))
            return ops.mean(keras.losses.binary_crossentropy(y, student_logits, from_logits=True))
        return ops.mean(
            keras.losses.sparse_categorical_crossentropy(y, student_logits, from_logits=True)
        )

    def _soft(self, teacher_logits, student_logits):
        t = self.temperature
        if self.task == "regression":
            return ops.mean(ops.square(teacher_logits - student_logits))
        if student_logits.shape[-1] == 1:
            p = ops.sigmoid(teacher_logits / t)
            kl = keras.losses.binary_crossentropy(
                p, student_logits / t, from_logits=True
            ) - keras.losses.binary_crossentropy(p, teacher_logits / t, from_logits=True)
            return ops.mean(kl) * t * t
        log_p = ops.log_softmax(teacher_logits / t, axis=-1)
        log_q = ops.log_softmax(student_logits / t, axis=-1)
        kl = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
        return ops.mean(kl) * t * t

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The distillation loss of the student's logits ``y_pred`` (``hard_loss`` and
        ``soft_loss`` are logged beside it), plus the student's L1/L2 penalties."""
        teacher_logits = ops.cast(self.teacher(x, training=False), "float32")
        student_logits = ops.cast(y_pred, "float32")
        hard = self._hard(y, student_logits)
        soft = self._soft(teacher_logits, student_logits)
        self.hard_tracker.update_state(hard)
        self.soft_tracker.update_state(soft)
        total = self.alpha * hard + (1.0 - self.alpha) * soft
        if self.student.losses:  # not self.losses: the frozen teacher's would count too
            total = total + ops.sum(ops.stack(self.student.losses))
        return total
