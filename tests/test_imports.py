"""Importing labkit changes nothing global, the package has no import cycle, and each room
imports only the rooms ``docs/ARCHITECTURE.md`` allows it.

The graph is read from the source (``_imports.py``), so a deferred import inside a function
counts for the room table but not for the import-time cycle."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from _imports import external_imports, imports, module_files, room

ROOT = Path(__file__).resolve().parent.parent

# What each room may import (besides itself); docs/ARCHITECTURE.md draws the same table.
BASE = {"_checks", "_io"}
ALLOWED = {
    "_checks": set(),
    "_io": set(),
    "cluster": BASE,
    "operators": BASE,
    "pde": BASE | {"data"},  # make_dataset(store=...) hands over to labkit.data (deferred)
    "data": BASE | {"cluster", "pde", "door"},  # door: labkit.__version__ in a store's metadata
    "pores": BASE | {"cluster"},
    "train": BASE | {"cluster", "operators"},
    "landscape": BASE | {"cluster", "operators", "train"},
    "notebooks": BASE | {"door"},  # door: labkit.__version__ in a working copy's manifest
    "sweeps": BASE | {"cluster", "notebooks", "door"},  # door: labkit.__version__
    "course": BASE | {"notebooks"},
    "viz": BASE | {"cluster", "pde", "operators", "train", "landscape", "pores", "data", "sweeps"},
    "cli": BASE
    | {"cluster", "pde", "data", "pores", "sweeps", "course", "notebooks", "viz", "door"},
    "door": BASE | {"notebooks", "sweeps", "course", "pores"},
}

# Cycles that exist only through deferred (function-level) imports; none runs at import time.
# At the merge of issue 16 (H-train: callbacks in their own module) delete the train entry.
DEFERRED_CYCLES = {
    frozenset({"labkit.data", "labkit.data.make", "labkit.pde.datasets"}): (
        "make_dataset(store=...) writes through labkit.data, which solves with labkit.pde"
    ),
    frozenset({"labkit", "labkit.sweeps", "labkit.sweeps.runner"}): (
        "labkit.sweep is imported on first use; the sweep records labkit.__version__"
    ),
    frozenset({"labkit.cli", "labkit.data.cli", "labkit.sweeps.cli"}): (
        "the CLI adds the rooms' subcommands, which raise labkit.cli.CLIError"
    ),
    frozenset(
        {
            "labkit.pores.chunked_pipeline",
            "labkit.pores.regions",
            "labkit.pores.skeleton",
            "labkit.pores.sparse_graph",
        }
    ): "skeletonize(method=...) picks the chunked thinning when asked",
}


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for each in imports():
        if each.module_level or not module_level_only:
            edges[each.source].add(each.target)
    return edges


def test_no_import_cycle_at_import_time():
    from _imports import cycles

    found = cycles(_graph(module_level_only=True))
    assert not found, "import cycles (module level): " + "; ".join(
        " <-> ".join(sorted(c)) for c in found
    )


def test_cycles_through_deferred_imports_are_the_known_ones():
    from _imports import cycles

    found = cycles(_graph(module_level_only=False))
    new = [" <-> ".join(sorted(c)) for c in found - set(DEFERRED_CYCLES)]
    gone = [" <-> ".join(sorted(c)) for c in set(DEFERRED_CYCLES) - found]
    assert not new, f"new import cycles (through deferred imports): {new}"
    assert not gone, f"cycles gone: delete them from DEFERRED_CYCLES: {gone}"


def test_graph_reader_sees_relative_deferred_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "labkit"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from . import b\n")
    (pkg / "a" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from labkit import c\n"
        "def f():\n    from ..c import x\n"
    )
    (pkg / "c.py").write_text("import labkit.a.b\n")
    found = {(i.source, i.target, i.module_level) for i in imports(pkg)}
    assert found == {
        ("labkit.a", "labkit.a.b", True),
        ("labkit.a.b", "labkit.c", False),
        ("labkit.c", "labkit.a.b", True),
    }


def test_each_room_imports_only_what_the_architecture_allows():
    assert set(ALLOWED) >= {room(m) for m in module_files()}, "a room missing from ALLOWED"
    wrong = sorted(
        f"{i.source} (line {i.line}) imports {i.target}: {room(i.source)} -> {room(i.target)}"
        for i in imports()
        if room(i.source) != room(i.target) and room(i.target) not in ALLOWED[room(i.source)]
    )
    assert not wrong, "imports the room table (docs/ARCHITECTURE.md) does not allow:\n" + "\n".join(
        wrong
    )


def test_architecture_page_draws_the_same_table():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for name, allowed in ALLOWED.items():
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{name}`")), None)
        assert row is not None, f"docs/ARCHITECTURE.md has no row for {name}"
        cell = row.split("|")[2]
        listed = {w.strip("` ") for w in cell.split(",") if w.strip("` ")} - {"nothing"}
        assert listed == allowed, f"{name}: the page says {sorted(listed)}, the test {allowed}"


# Side effects of importing labkit: the script imports every third-party module labkit imports
# at module level first (their own side effects are not labkit's), takes a snapshot, then
# imports each labkit module in turn and names the first one after which the snapshot differs.
SNAPSHOT_SCRIPT = r"""
import hashlib, importlib, json, logging, os, random, signal, sys, warnings

def snapshot():
    import matplotlib, numba, numpy as np, torch
    loggers = {"": logging.getLogger()}
    loggers.update((n, lg) for n, lg in logging.Logger.manager.loggerDict.items()
                   if isinstance(lg, logging.Logger))
    logs = {n: [lg.level, [type(h).__name__ for h in lg.handlers], lg.propagate, lg.disabled]
            for n, lg in loggers.items()}
    logs = {n: v for n, v in logs.items() if v != [0, [], True, False] or n == ""}
    return {
        "os.environ": dict(os.environ),
        "os.getcwd": os.getcwd(),
        "sys.path": list(sys.path),
        "sys.getrecursionlimit": sys.getrecursionlimit(),
        "sys.excepthook": repr(sys.excepthook),
        "signal handlers": [repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM)],
        "warnings.filters": [repr(f) for f in warnings.filters],
        "logging": logs,
        "logging.disable": logging.root.manager.disable,
        "matplotlib backend": repr(dict.__getitem__(matplotlib.rcParams, "backend")),
        "numba.config.THREADING_LAYER": numba.config.THREADING_LAYER,
        "numpy.geterr": np.geterr(),
        "numpy print options": repr(np.get_printoptions()),
        "numpy random state": hashlib.sha1(np.random.get_state()[1].tobytes()).hexdigest(),
        "random state": hash(random.getstate()),
        "torch default dtype": str(torch.get_default_dtype()),
        "torch threads": [torch.get_num_threads(), torch.get_num_interop_threads()],
        "torch random state": hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest(),
        "torch deterministic": torch.are_deterministic_algorithms_enabled(),
        "torch matmul precision": torch.get_float32_matmul_precision(),
    }

external, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in ["matplotlib", "numba", "numpy", "torch"] + external:
    try:
        importlib.import_module(name)
    except Exception:  # a name, not a module (from a import b), or an optional extra
        pass
before = snapshot()
changed = {}
for name in modules:
    importlib.import_module(name)
    now = snapshot()
    for key in now:
        if now[key] != before[key] and key not in changed:
            changed[key] = {"module": name, "before": repr(before[key])[:300],
                            "after": repr(now[key])[:300]}
print(json.dumps({"changed": changed, "imported": len(modules)}))
"""

# On this branch pores/thinning.py, nearest.py and subfield.py still pick numba's threading
# layer when imported. At the merge of issue 16 (H-checks makes it explicit) this becomes set().
KNOWN_SIDE_EFFECTS: set[str] = set()


@pytest.mark.slow
def test_importing_every_labkit_module_changes_no_global_state(tmp_path):
    modules = sorted(m for m in module_files() if not m.endswith("__main__"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            SNAPSHOT_SCRIPT,
            json.dumps(external_imports()),
            json.dumps(modules),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["imported"] == len(modules) > 100
    changed = report["changed"]
    assert set(changed) == KNOWN_SIDE_EFFECTS, json.dumps(
        {k: v for k, v in changed.items() if k not in KNOWN_SIDE_EFFECTS}, indent=1
    )
