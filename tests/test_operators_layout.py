"""The operators package is split as neuraloperator's: shared ``layers``, one model per module.

Models import only layers, the registry and the argument checks (never another model); layers
import no model; every registered model lives in its own module under ``models``; the public
names of ``labkit.operators`` are those it had before the split.
"""

import ast
from pathlib import Path

import labkit.operators as operators
from labkit.operators import list_models
from labkit.operators.registry import _MODELS

PACKAGE = Path(operators.__file__).parent
ALLOWED_FOR_MODELS = ("labkit.operators.layers", "labkit.operators.registry", "labkit._checks")


def _labkit_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return {n for n in names if n and n.startswith("labkit")}


def test_models_import_only_layers_and_the_registry():
    files = sorted((PACKAGE / "models").glob("[!_]*.py"))
    assert [f.stem for f in files] == ["fno", "lsm", "mgno", "sfno", "unet"]
    for path in files:
        bad = {m for m in _labkit_imports(path) if not m.startswith(ALLOWED_FOR_MODELS)}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_layers_import_no_model():
    for path in sorted((PACKAGE / "layers").glob("*.py")):
        bad = {m for m in _labkit_imports(path) if m.startswith("labkit.operators.models")}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_one_registered_model_per_model_module():
    modules = [_MODELS[name].__module__ for name in list_models()]
    assert modules == [f"labkit.operators.models.{name}" for name in list_models()]


def test_public_names_are_kept():
    before_split = [
        "ACTIVATIONS", "FNO", "LSM", "MgNO", "PolyNorm", "PolyReLU", "SpatioTemporalFNO",
        "SpectralConv", "UNet", "build_model", "full_modes", "list_models", "make_activation",
        "model_spec", "register_model", "spectral_refiner",
    ]
    assert sorted(operators.__all__) == sorted(before_split)
    assert all(hasattr(operators, name) for name in before_split)
