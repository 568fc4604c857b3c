"""fit(compile=...): torch.compile really runs, trains like eager mode, checkpoints stay plain.

Inductor (``compile=True``) generates C++/Triton kernels and takes minutes on CPU, so these
tests compile with AOTAutograd's ``aot_eager`` backend: Dynamo traces the forward pass,
AOTAutograd traces the joint forward/backward graph, and the graphs run with the usual ATen
kernels. That exercises the whole ``torch.compile`` path of ``fit`` in seconds.
"""

import pytest
import torch
from test_train_loop import params_of, small_fno, smoothing_data
from torch._dynamo import register_backend
from torch._dynamo.backends.registry import lookup_backend

from labkit.operators import FNO
from labkit.train import TrainConfig, fit, load_checkpoint, save_checkpoint
from labkit.train.checkpoint import read_checkpoint

GRAPHS: list[torch.fx.GraphModule] = []


@register_backend(name="labkit_counting_aot_eager")
def counting_aot_eager(gm: torch.fx.GraphModule, example_inputs):
    """``aot_eager`` that also records every graph Dynamo hands to it."""
    GRAPHS.append(gm)
    return lookup_backend("aot_eager")(gm, example_inputs)


SETTINGS = TrainConfig(epochs=2, lr=1e-2, batch_size=8, seed=3)


def test_compiled_fit_trains_the_same_weights_as_eager_fit(tmp_path):
    data = smoothing_data()
    eager = small_fno()
    eager_history = fit(eager, data, config=SETTINGS)

    torch._dynamo.reset()
    GRAPHS.clear()
    compiled = small_fno()
    path = tmp_path / "compiled.pt"
    config = SETTINGS.replace(compile="labkit_counting_aot_eager")
    history = fit(compiled, data, config=config, checkpoint=path)

    # The model went through Dynamo: at least one graph holding the spectral layers' FFTs.
    assert GRAPHS
    targets = {str(node.target) for gm in GRAPHS for node in gm.graph.nodes}
    assert any("rfft" in t for t in targets)
    # Same ATen kernels on the same batches: the only possible difference is float32 round-off
    # from a reordered graph (eps = 1.2e-7), grown over 8 Adam steps of size <= lr = 1e-2; the
    # tolerances allow that and nothing more. (On torch 2.13 CPU the runs agree bit for bit.)
    for a, b in zip(params_of(eager), params_of(compiled), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert history.train_loss == pytest.approx(eager_history.train_loss, rel=1e-5)

    # The checkpoint written while training the compiled model holds the plain model's weights.
    state = read_checkpoint(path)["model"]
    assert not any(key.startswith("_orig_mod.") for key in state)
    plain = FNO(1, 1, modes=(6,), width=8, n_layers=2)
    load_checkpoint(path, plain)
    for a, b in zip(params_of(compiled), params_of(plain), strict=True):
        assert torch.equal(a, b)
    rebuilt = load_checkpoint(path).model
    x = data.tensors[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), compiled(x), rtol=0, atol=0)


def test_checkpoint_of_a_compiled_module_loads_into_a_plain_model(tmp_path):
    model = small_fno()
    wrapped = torch.compile(model, backend="eager")
    assert all(key.startswith("_orig_mod.") for key in wrapped.state_dict())
    path = save_checkpoint(tmp_path / "wrapped.pt", wrapped)
    state = read_checkpoint(path)["model"]
    assert set(state) == set(model.state_dict())
    plain = FNO(1, 1, modes=(6,), width=8, n_layers=2)
    load_checkpoint(path, plain)
    assert all(torch.equal(a, b) for a, b in zip(params_of(model), params_of(plain), strict=True))


def test_compile_argument_is_checked_before_training():
    with pytest.raises(ValueError, match="compile must be one of"):
        TrainConfig(compile="no_such_backend")
    with pytest.raises(TypeError, match="compile must be a bool or a backend name"):
        TrainConfig(compile=1)
