"""The README's quickstart runs as written and does what it says."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_quickstart_rediscovers_oja():
    """The quickstart in a fresh interpreter, as a reader runs it.

    Not in the test process: state other tests leave there (float64 mode, a Ray
    connection, thread limits) would change its rounding, and CMA-ES's path
    with it.
    """
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    check = "\nprint('angle', float(analysis.angle(theta, rules.oja(rule))))\n"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_ENABLE_X64", None)
    out = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    angle = float(out.stdout.split("angle")[-1])
    assert angle < 10.0, out.stdout


def test_readme_gives_the_two_commands_and_existing_configs():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    for name in re.findall(r"`configs/(\w+)\.toml`", text):
        assert (README.parent / "configs" / f"{name}.toml").is_file()
