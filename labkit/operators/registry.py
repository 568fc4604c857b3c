"""A registry of operator models: build one by name, and know how to rebuild a saved one.

Every registered model remembers the name and arguments it was built with
(:func:`model_spec`), so a checkpoint stores plain data, never pickled code, and
:func:`build_model` rebuilds the model from it. A model whose architecture changed in a way its
old arguments cannot express names the arguments it no longer takes (``removed=``): building it
with one, as rebuilding an old checkpoint does, fails with a message that names the argument and
says what changed, before any weight is touched. A model that gained an argument whose default
builds something new names the value that rebuilds what it was before (``added=``):
:func:`upgrade_arguments`, which checkpoints use, fills it in for arguments saved without it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from torch import nn

__all__ = ["register_model", "build_model", "upgrade_arguments", "list_models", "model_spec"]

_MODELS: dict[str, type[nn.Module]] = {}
_ADDED: dict[str, dict[str, Any]] = {}
_DEFAULTS: dict[str, dict[str, Any]] = {}


def register_model(
    name: str, removed: dict[str, str] | None = None, added: dict[str, Any] | None = None
):
    """Class decorator: register ``cls`` under ``name`` and record its init arguments.

    ``removed`` maps arguments that earlier versions of the model took to what changed; passing
    one raises ``ValueError`` with that explanation. ``added`` maps arguments that later
    versions gained to the value that gives the earlier model (for saved arguments that lack
    them, see :func:`upgrade_arguments`).
    """
    removed = dict(removed or {})
    _ADDED[name] = dict(added or {})

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"name {name!r} is already registered to {_MODELS[name].__name__}")
        init = cls.__init__
        signature = inspect.signature(init)
        _DEFAULTS[name] = {
            k: p.default
            for k, p in signature.parameters.items()
            if k != "self" and p.default is not inspect.Parameter.empty
        }

        @functools.wraps(init)
        def recording_init(self, *args, **kwargs):
            _check_removed(name, removed, kwargs)
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            init(self, *args, **kwargs)
            arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
            object.__setattr__(self, "_labkit_spec", (name, arguments))

        cls.__init__ = recording_init
        _MODELS[name] = cls
        return cls

    return decorate


def _check_removed(name: str, removed: dict[str, str], kwargs: dict[str, Any]) -> None:
    for argument in kwargs:
        if argument in removed:
            raise ValueError(
                f"argument {argument!r} of model {name!r} is no longer accepted: "
                f"{removed[argument]}"
            )


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`.

    Examples
    --------
    >>> "fno" in list_models()
    True
    """
    return sorted(_MODELS)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Examples
    --------
    >>> model = build_model("fno", in_channels=1, out_channels=1, modes=(6, 6), width=8)
    >>> type(model).__name__
    'FNO'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in _MODELS:
        raise ValueError(f"name must be one of {list_models()}, got {name!r}")
    return _MODELS[name](**kwargs)


def upgrade_arguments(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments saved by :func:`model_spec`, perhaps long ago, completed for today's model.

    Arguments the model gained after they were saved take the value that builds the model as
    it was then (``added=`` of :func:`register_model`) where today's default would build
    something new, and today's default otherwise; checkpoints are rebuilt from (and compared
    with) what this returns.

    Examples
    --------
    >>> old = {"in_channels": 1, "out_channels": 1, "width": 4, "depth": 2, "dim": 2,
    ...        "activation": "gelu"}  # a U-Net saved before it had a style
    >>> upgrade_arguments("unet", old)["style"]
    'classic'
    >>> model_spec(build_model("unet", **upgrade_arguments("unet", old)))[1]["style"]
    'classic'
    """
    if not isinstance(name, str) or not isinstance(arguments, dict) or name not in _ADDED:
        return arguments  # nothing to complete; building it says what is wrong, if anything
    return {**_DEFAULTS[name], **_ADDED[name], **arguments}


def model_spec(model: nn.Module) -> tuple[str, dict[str, Any]]:
    """The ``(name, arguments)`` a registered model was built with.

    Examples
    --------
    >>> name, args = model_spec(build_model("fno", in_channels=1, out_channels=1, modes=(4,)))
    >>> name, args["modes"]
    ('fno', (4,))
    """
    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)
    spec = getattr(inner, "_labkit_spec", None)
    if spec is None:
        raise TypeError(
            f"model must be built from the labkit registry (build_model), got "
            f"{type(inner).__name__}"
        )
    name, arguments = spec
    return name, dict(arguments)
