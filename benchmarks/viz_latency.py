"""Time per slider move of every ``labkit.viz`` explorer on its demo data, against a budget.

Each explorer (``labkit.viz.apps``) is rendered into a live Bokeh document, as in a notebook or a
server session; every visible slider is moved ``--moves`` times and the time until the document
has been updated (callbacks run synchronously) is taken. A kernel stays responsive when a move
takes well under a second. The last line is ``ratio: slowest explorer's median move / 1 s``
(below 1 is within the budget).

Run: ``python benchmarks/viz_latency.py [--moves 3] [--smoke]``
"""

from __future__ import annotations

import argparse
import statistics
import time

BUDGET_S = 1.0


def move_times(name: str, moves: int) -> list[float]:
    """Seconds per slider move of explorer ``name``, every visible slider ``moves`` times."""
    import panel as pn
    from bokeh.document import Document

    from labkit.viz import apps

    layout = apps.EXPLORERS[name](apps.DEMOS[name]())
    doc = Document()
    doc.add_root(layout.get_root(doc))
    found = layout.select(
        lambda obj: isinstance(obj, (pn.widgets.IntSlider, pn.widgets.FloatSlider)) and obj.visible
    )
    times = []
    for slider in found:
        for _ in range(moves):
            step = slider.step if slider.value + slider.step <= slider.end else -slider.step
            start = time.perf_counter()
            slider.value = slider.value + step
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=3, help="moves per slider")
    parser.add_argument("--smoke", action="store_true", help="one move per slider, 3 explorers")
    args = parser.parse_args()
    from labkit.viz import apps, theme

    theme.setup()
    names = ["fields", "intrinsic", "sweep"] if args.smoke else sorted(apps.EXPLORERS)
    moves = 1 if args.smoke else args.moves
    medians = {}
    for name in names:
        times = move_times(name, moves)
        medians[name] = statistics.median(times)
        print(f"{name:10s}: median {medians[name]:.3f} s, max {max(times):.3f} s "
              f"over {len(times)} moves")
    print(f"ratio: {max(medians.values()) / BUDGET_S:.3f}")


if __name__ == "__main__":
    main()
