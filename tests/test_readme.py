"""The README's quickstart runs as written and does what it says."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_quickstart_rediscovers_oja(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    angle = ns["analysis"].angle(ns["theta"], ns["rules"].oja(ns["rule"]))
    assert angle < 10.0, capsys.readouterr().out


def test_readme_gives_the_two_commands_and_existing_configs():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    for name in re.findall(r"`configs/(\w+)\.toml`", text):
        assert (README.parent / "configs" / f"{name}.toml").is_file()
