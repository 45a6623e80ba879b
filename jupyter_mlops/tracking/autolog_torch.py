"""PyTorch autologging inside a tracked cell: a plain training loop, unchanged, becomes a run.

While a block of :func:`autolog` is active (``%%mlops_track`` enters one when the cell uses
``torch``), global PyTorch hooks watch the loop, and at the block's end the run gets:

- params ``optimizer_name`` and ``optimizer.<setting>`` (the optimizer's constructor settings,
  ``lr``, ``momentum``, ``betas``...), ``loss_name`` and ``loss.<setting>`` (the first
  ``torch.nn`` loss module called: ``reduction``, ``label_smoothing``...), ``model_class`` and
  ``model_parameters`` (trainable parameters);
- metrics ``train_loss`` (mean of the values ``.backward()`` was called on) and ``val_loss``
  (mean of the loss modules called under ``torch.no_grad()`` or with the model in eval mode),
  one point per epoch; ``epochs`` and ``steps`` (optimizer steps) as their counts;
- the trained model, logged with the ``pytorch`` flavor as ``model``, its signature and input
  example taken from the first training batch it saw (on success only).

How the pieces are recognised
-----------------------------
- A *step* is a call of any ``torch.optim.Optimizer.step`` (a global step hook).
- The *model* is the outermost module called in training whose parameters the optimizer updates
  (the one with the largest overlap).
- An *epoch* ends when training restarts the ``DataLoader`` its first batch came from; without a
  ``DataLoader``, when the model sees its first batch again (the same tensor, or the same slice
  of it: full-batch training, or ``X[i:i + n]`` batches); and in every case when training resumes
  after an evaluation phase. When none of these happens (a single pass, or batches that are new
  tensors each time), ``train_loss`` is logged per step instead.

Outside a block nothing is hooked. Inside, the hooks cost about a microsecond per module call.
Any failure in autologging is one warning; the training loop is never affected.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PARAM_TYPES = (bool, int, float, str)
MAX_EXAMPLE_ROWS = 5


class TorchAutolog:
    """What the hooks saw during one block."""

    def __init__(self, warn: Callable[..., Any]):
        self.warn = warn
        self.depth = 0
        self.steps = 0
        self.epoch = 0  # epochs completed
        self.optimizer: Any = None
        self.loss_module: Any = None
        self.model: Any = None  # held until the block ends: a model local to a function too
        self.tops: dict[int, tuple[Any, Any]] = {}  # id → (weakref to module, example rows)
        self.train: list[Any] = []  # detached losses of the current epoch
        self.val: list[Any] = []
        self.first_epoch_steps: list[Any] | None = []  # per-step losses until an epoch ends
        self.started = False
        self.epoch_batch: tuple[Any, ...] | None = None
        self.last_batch: tuple[Any, ...] | None = None
        self.train_loader: int | None = None
        self.last_loader: int | None = None
        self.epoch_points: list[tuple[int, dict[str, float]]] = []
        self.models_before, before = _run_state()
        # a `%mlops_track start` run: a later cell that trains on continues the numbering
        self.prior_epochs = int(before.get("epochs", 0))
        self.prior_steps = int(before.get("steps", 0))

    # -- hooks ----------------------------------------------------------------------------------
    def pre_forward(self, module: Any, args: Any) -> None:
        self.depth += 1
        if self.depth != 1 or _is_loss(module) or not _plain_batch(args):
            return  # torch.export and torch.compile trace with tensor subclasses: not training
        import torch

        if torch.is_grad_enabled() and module.training:
            if id(module) not in self.tops:
                self.tops[id(module)] = (weakref.ref(module), _example(args))
            self.last_batch = _batch_identity(args)

    def post_forward(self, module: Any, args: Any, output: Any) -> None:
        self.depth = max(0, self.depth - 1)
        if self.depth == 0 and _is_loss(module) and _plain_batch(args):
            if self.loss_module is None:
                self.loss_module = module
            if self._evaluating() and _is_scalar(output):
                self.val.append(output.detach())

    def backward(self, tensor: Any) -> None:
        if not _is_scalar(tensor) or not _plain_batch((tensor,)):
            return
        self._maybe_new_epoch()
        self.train.append(tensor.detach())
        if self.first_epoch_steps is not None:
            self.first_epoch_steps.append(tensor.detach())

    def after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.depth = 0  # a forward that raised left it counting
        self.steps += 1
        if self.optimizer is None:
            self.optimizer = optimizer
            self.model = self._find_model(optimizer)

    def loader_started(self, loader: Any) -> None:
        self.last_loader = id(loader)
        if self.train_loader is not None and id(loader) == self.train_loader:
            self._end_epoch()

    # -- epochs ---------------------------------------------------------------------------------
    def _evaluating(self) -> bool:
        import torch

        model = self.model
        return not torch.is_grad_enabled() or (model is not None and not model.training)

    def _maybe_new_epoch(self) -> None:
        if not self.started:  # the very first training batch
            self.started = True
            self.epoch_batch, self.train_loader = self.last_batch, self.last_loader
            self.val = []  # an evaluation before training belongs to no epoch
            return
        if self.train_loader is not None:
            return  # the DataLoader's restarts mark the epochs
        if self.val or _same_batch(self.last_batch, self.epoch_batch):
            self._end_epoch()

    def _end_epoch(self) -> None:
        if not self.train:
            return
        point = {"train_loss": _mean(self.train)}
        if self.val:
            point["val_loss"] = _mean(self.val)
        self.epoch_points.append((self.epoch, point))
        self.epoch += 1
        self.train, self.val, self.first_epoch_steps = [], [], None

    def _find_model(self, optimizer: Any) -> Any:
        trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
        best, best_overlap = None, 0
        for ref, _ in self.tops.values():
            module = ref()
            if module is None:
                continue
            overlap = sum(id(p) in trained for p in module.parameters())
            if overlap > best_overlap:
                best, best_overlap = module, overlap
        return best

    # -- the end of the block ---------------------------------------------------------------------
    def finish(self, succeeded: bool) -> None:
        """Log what the block saw into the active run."""
        if self.steps == 0:
            return
        from jupyter_mlops.tracking import fluent

        self.warn("PyTorch params", lambda: fluent.log_params(self.params()))
        self.warn("PyTorch training curves", self._log_curves)
        if succeeded:
            self.warn("the PyTorch model", self._log_model)

    def params(self) -> dict[str, Any]:
        """The optimizer's, the loss's and the model's settings as params."""
        params: dict[str, Any] = {"optimizer_name": type(self.optimizer).__name__}
        params.update(_settings("optimizer", getattr(self.optimizer, "defaults", {})))
        if self.loss_module is not None:
            params["loss_name"] = type(self.loss_module).__name__
            params.update(_settings("loss", _loss_settings(self.loss_module)))
        model = self.model
        if model is not None:
            params["model_class"] = type(model).__name__
            params["model_parameters"] = sum(
                p.numel() for p in model.parameters() if p.requires_grad
            )
        return params

    def _log_curves(self) -> None:
        from jupyter_mlops.tracking import fluent

        steps = self.first_epoch_steps
        if self.epoch == 0 and steps is not None and len(steps) > 1:
            first = self.prior_steps
            for i, value in enumerate(_floats(steps)):
                fluent.log_metric("train_loss", value, step=first + i)
            if self.val:
                fluent.log_metric("val_loss", _mean(self.val), step=first + len(steps) - 1)
        else:
            self._end_epoch()
            for epoch, point in self.epoch_points:
                fluent.log_metrics(point, step=self.prior_epochs + epoch)
        fluent.log_metrics(
            {"epochs": self.prior_epochs + self.epoch, "steps": self.prior_steps + self.steps}
        )

    def _log_model(self) -> None:
        from jupyter_mlops.errors import Conflict
        from jupyter_mlops.tracking import models

        model = self.model
        if model is None or _run_state()[0] - self.models_before:
            return  # the cell logged a model itself
        example = self.tops.get(id(model), (None, None))[1]
        try:
            models.log_model(model, "model", input_example=example)
        except Conflict:  # a model named "model" is there already (an earlier cell of the run)
            pass


# -- helpers ------------------------------------------------------------------------------------
def _is_loss(module: Any) -> bool:
    loss = sys.modules["torch"].nn.modules.loss._Loss
    return isinstance(module, loss)


def _run_state() -> tuple[set[str], dict[str, float]]:
    """The active run's model descriptors and last metric values."""
    from jupyter_mlops.tracking import fluent

    active = fluent.active_run()
    if active is None:
        return set(), {}
    run = fluent.get_run(active.id)
    return {p for p in run.artifacts if p.endswith("/MLmodel.json")}, run.metrics


def _plain_batch(args: Any) -> bool:
    """Whether the first argument is an ordinary tensor (not a tracing subclass)."""
    torch = sys.modules["torch"]
    first = args[0] if isinstance(args, tuple) and args else None
    return type(first) in (torch.Tensor, torch.nn.Parameter)


def _is_scalar(value: Any) -> bool:
    return hasattr(value, "numel") and value.numel() == 1 and value.is_floating_point()


def _example(args: Any) -> Any:
    first = args[0] if isinstance(args, tuple) and args else None
    if first is None or not hasattr(first, "detach"):
        return None
    return first[:MAX_EXAMPLE_ROWS].detach().cpu().numpy()


def _batch_identity(args: Any) -> tuple[Any, ...] | None:
    """The tensor a batch is a view of (weakly), its offset in it and its shape."""
    first = args[0] if isinstance(args, tuple) and args else None
    if first is None or not hasattr(first, "storage_offset"):
        return None
    base = first._base if first._base is not None else first
    return (weakref.ref(base), first.storage_offset(), tuple(first.shape))


def _same_batch(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    if a is None or b is None:
        return False
    tensor = a[0]()
    return tensor is not None and tensor is b[0]() and a[1:] == b[1:]


def _mean(values: list[Any]) -> float:
    return sum(_floats(values)) / len(values)


def _floats(values: list[Any]) -> list[float]:
    import torch

    return [float(v) for v in torch.stack(values).float().cpu().tolist()]


def _settings(prefix: str, settings: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, tuple) and all(isinstance(v, PARAM_TYPES) for v in value):
            out[f"{prefix}.{key}"] = list(value)
        elif isinstance(value, PARAM_TYPES):
            out[f"{prefix}.{key}"] = value
    return out


def _loss_settings(module: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}


# -- the block ----------------------------------------------------------------------------------
def wanted(cell: str = "") -> bool:
    """Whether to hook PyTorch: it is imported, or the cell mentions it and it is installed."""
    if "torch" in sys.modules:
        return True
    import importlib.util

    return "torch" in cell and importlib.util.find_spec("torch") is not None


@contextmanager
def autolog(warn: Callable[..., Any]) -> Iterator[TorchAutolog]:
    """Hook PyTorch for the block and log what it trained at the end.

    Parameters
    ----------
    warn : callable
        ``warn(what, fn, *args)`` calls ``fn`` and turns an exception into one warning (the
        scikit-learn session's ``guard``).
    """
    import torch

    session = TorchAutolog(warn)
    handles, restore = _install(torch, session)
    succeeded = False
    try:
        yield session
        succeeded = True
    finally:
        for handle in handles:
            handle.remove()
        restore()
        session.finish(succeeded)


def _install(torch: Any, session: TorchAutolog) -> tuple[list[Any], Callable[[], None]]:
    from torch.nn.modules import module as nn_module
    from torch.optim import optimizer as optim

    handles = [
        nn_module.register_module_forward_pre_hook(_guarded(session, session.pre_forward)),
        nn_module.register_module_forward_hook(_guarded(session, session.post_forward)),
        optim.register_optimizer_step_post_hook(_guarded(session, session.after_step)),
    ]
    tensor_backward = torch.Tensor.backward
    loader_iter = torch.utils.data.DataLoader.__iter__
    on_backward = _guarded(session, session.backward)
    on_loader = _guarded(session, session.loader_started)

    def backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        on_backward(self)
        return tensor_backward(self, *args, **kwargs)

    def iterate(self: Any) -> Any:
        on_loader(self)
        return loader_iter(self)

    torch.Tensor.backward = backward
    torch.utils.data.DataLoader.__iter__ = iterate

    def restore() -> None:
        torch.Tensor.backward = tensor_backward
        torch.utils.data.DataLoader.__iter__ = loader_iter

    return handles, restore


def _guarded(session: TorchAutolog, hook: Callable[..., None]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        try:
            hook(*args)
        except Exception as error:  # never break the training loop
            session.warn("a PyTorch hook", _raise, error)

    return call


def _raise(error: Exception) -> None:
    raise error
