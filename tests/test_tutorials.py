"""The tutorials of the documentation run as their pages show them, and print what the pages say.

Each tutorial is a script in ``docs/tutorials/`` that its page includes section by section
(``pymdownx.snippets``), so the page shows the code that runs here. Each script runs in a
process of its own: tutorials register components of their own, which must not reach the other
tests, and the device tutorial needs XLA's device count set before JAX starts.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
TUTORIALS = ("own_rule", "own_task", "ray_sweep", "gpu")


def tutorial(name: str, *args: str, env: dict | None = None) -> str:
    """Run ``docs/tutorials/<name>.py`` with ``args``; its standard output."""
    r = subprocess.run(
        [sys.executable, str(DOCS / "tutorials" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in:\n{text}"
    return float(m.group(1))


def sections(script: Path) -> dict[str, set[int]]:
    """The line numbers of each ``# --8<-- [start:name]`` ... ``[end:name]`` section of ``script``."""
    found, open_at = {}, {}
    for i, line in enumerate(script.read_text().splitlines()):
        if m := re.match(r"# --8<-- \[(start|end):(\w+)\]", line.strip()):
            kind, name = m.groups()
            if kind == "start":
                open_at[name] = i
            else:
                found[name] = set(range(open_at.pop(name) + 1, i))
    assert not open_at, f"{script}: sections never closed: {sorted(open_at)}"
    return found


@pytest.mark.parametrize("name", TUTORIALS)
def test_each_page_shows_every_line_of_its_script(name):
    script = DOCS / "tutorials" / f"{name}.py"
    page = (DOCS / "tutorials" / f"{name}.md").read_text()
    shown = re.findall(rf'--8<-- "tutorials/{name}\.py:(\w+)"', page)
    parts = sections(script)
    assert shown and set(shown) <= set(parts), (shown, sorted(parts))
    lines = script.read_text().splitlines()
    docstring_end = next(i for i, line in enumerate(lines) if i > 0 and line.rstrip().endswith('"""'))
    covered = set().union(*(parts[s] for s in shown))
    hidden = [
        f"{i + 1}: {line}"
        for i, line in enumerate(lines)
        if i > docstring_end and line.strip() and not line.startswith("# --8<--") and i not in covered
    ]
    assert not hidden, "lines of the script its page does not show:\n" + "\n".join(hidden)


def test_own_rule_prints_the_local_signals_of_every_network_and_learns_oja():
    out = tutorial("own_rule")
    page = (DOCS / "tutorials" / "own_rule.md").read_text()
    # The shapes of `local` that the page states are the ones the networks give.
    shapes = {
        "linear": "ff   post (200, 1), pre (200, 3), w (1, 3)",
        "lif": "inh  dt (), post (1,), pre (200,), w (1, 200)",
        "mlp": "ff   error ((50,), (40,), (30,), (20,), (10,)), post ((50,), (40,), (30,), (20,), (10,)), "
        "pre ((64,), (50,), (40,), (30,), (20,)), pre_error ((64,), (50,), (40,), (30,), (20,)), "
        "w ((50, 64), (40, 50), (30, 40), (20, 30), (10, 20))",
        "clamped": "l1   error (1, 5), post (1, 5), post_free (1, 5), pre (1, 20), w (5, 20)",
    }
    printed = [line for line in out.splitlines() if line.split(" ", 1)[0] in shapes]
    assert len(printed) == 4, out
    for net, line in shapes.items():
        assert f"{net:8s} {line}" in printed, out
        assert f"{net:8s} {line}" in page, f"the page's shapes of {net} are not what it prints"
    first = number(r"loss: generation 0 ([\d.]+)", out)
    last = number(r"generation 29 ([\d.]+)", out)
    assert last < 0.5 * first
    # The rule prints by its own term names, Oja's two terms first; close to Oja's rule.
    assert re.search(r"learned dw = eta \(−?[\d.]+ (hebb|oja_decay) [+−] [\d.]+ (hebb|oja_decay)", out), out
    assert number(r"angle to Oja's rule: ([\d.]+) degrees", out) < 15.0
    assert np.isfinite(number(r"config run: family pca, held-out loss ([\d.]+)", out))


def test_own_task_learns_the_input_mean():
    out = tutorial("own_task")
    first = number(r"loss: generation 0 ([\d.]+)", out)
    last = number(r"generation 24 ([\d.]+)", out)
    assert last < 0.3 * first
    # dw = x - w solves the task: its two terms lead the learned rule, with those signs.
    assert re.search(r"learned dw = eta \(((−[\d.]+ w \+ [\d.]+ x)|([\d.]+ x − [\d.]+ w))", out), out
    assert number(r"\|w - mu\| = ([\d.]+)", out) < 0.2
    assert np.isfinite(number(r"config run: family input_mean, held-out loss ([\d.]+)", out))


@pytest.mark.xdist_group("ray")
def test_ray_sweep_gives_each_seed_its_run(ray_address):
    """On the cluster ``make test`` starts (``PLASTIX_TEST_RAY_ADDRESS``). Without one (a bare
    ``pytest``) the tutorial runs with ``--backend local`` instead, so that the test starts no Ray
    cluster of its own; the rest of it is the same."""
    args = ["--address", ray_address] if ray_address else ["--backend", "local"]
    out = tutorial("ray_sweep", *args)
    backend = "ray" if ray_address else "local"
    assert f"--backend {backend}" in out and "sweep of 2 seeds (0-1)" in out
    for name in ("loss", "heldout_loss"):
        m = re.search(rf"{name} of seed 1: command line ([\d.]+), Python ([\d.]+)", out)
        assert m, out
        assert np.isfinite(float(m.group(1))) and m.group(1) == m.group(2)


def test_gpu_tutorial_shards_over_two_cpu_devices_with_the_numbers_of_one():
    out = tutorial("gpu", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert "2 cpu device(s)" in out and "built on 2 device(s); population sharded: True" in out
    assert number(r"population of 8 on 1 device vs 2: largest relative difference ([\d.e+-]+)", out) <= 1e-5
    assert "3 generations" in out
    assert (
        number(r"run on 1 device vs 2: 3 generations, largest relative difference ([\d.e+-]+)", out) <= 1e-5
    )
