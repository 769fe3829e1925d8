"""Fuzzing the config loader and the command line: every input is a result or a one-line error.

Every shipped config and every family's ``tiny`` config, mutated (wrong types,
out-of-range and non-finite numbers, huge sizes, unknown keys and kinds,
dropped sections, broken TOML, truncated files, non-UTF-8 bytes), ``--set``
strings of every shape and random argument lists go through
:func:`plastix.cli.main` in this process. Each case must end in exit 0, or in
exit 2 with exactly one line on stderr that starts ``plastix: error:``: never a
traceback, another exit code, a hang, or a run directory left by a refused run.

Beside the drawn cases, every number of each family's tiny config is set,
one at a time, to each edge value of its type (NaN, infinities, denormals,
huge and negative numbers).

No run is started: the invalid ones stop in validation, and where a random
argument list would start a valid run, resume or sweep, the outer loop itself
(:func:`plastix.experiment._runner.execute`, the sweep's seeds) is replaced by
a stub once the run directory exists.

``OUTCOMES`` counts the cases by verb and outcome (the error's kind: its text
up to the first colon); the last test prints it (``pytest -s``) and writes it
to ``fuzz_outcomes.txt`` in its temporary directory.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import math
import re
import shutil
import signal
import string
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plastix import cli
from plastix.experiment import Config, components, dump_config, shipped_configs, validate
from plastix.experiment._family import registry

# One worker runs the module, so that the last test reports every case.
pytestmark = pytest.mark.xdist_group("fuzz")

#: verb: outcome -> cases (the report of the last test).
OUTCOMES: Counter[str] = Counter()
#: the sections that config errors name, over all cases.
FIELDS: Counter[str] = Counter()
#: outcome -> the first message of that kind (and its argument list).
EXAMPLES: dict[str, str] = {}
CASE_SECONDS = 30  # a case that takes longer is a hang (a valid check takes ~10 ms)

SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Hang(Exception):
    """A case that ran past ``CASE_SECONDS``."""


class WouldRun(Exception):
    """Raised by the stubs where a valid argument list would start the outer loop."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def alarm(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def invoke(argv: list[str]) -> tuple[int | str, str, str]:
    """``plastix ARGV`` in this process: (exit code, ``"stub"`` where a run would start), stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(CASE_SECONDS):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse: exit 2 on bad arguments, 0 after --help
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except WouldRun:
            code = "stub"
    return code, out.getvalue(), err.getvalue()


def _printed(text: str) -> str:
    """``text`` as the error line prints it (non-printable characters escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def error_kind(line: str, argv: list[str], names: dict[str, str]) -> str:
    """A refusal's kind: its text after ``plastix: error:`` up to the first colon.

    Files the test made are named (``FILE``, ``WORLD/...``); a message that
    starts with an argument as given (``ARG: not a run directory``) keeps what
    follows it, up to the next colon or parenthesis.
    """
    msg = line.removeprefix("plastix: error: ")
    for path in sorted(names, key=len, reverse=True):
        msg = msg.replace(path, names[path])
    for arg in sorted(map(_printed, argv[1:]), key=len, reverse=True):
        if arg and msg.startswith(arg + ":"):
            msg = "ARG" + msg[len(arg) :]
            break
    msg = re.sub(r"'[^']*'", "'...'", msg)
    head, _, rest = msg.partition(":")
    if head.startswith("--set"):
        head = "--set"
    elif head == "ARG" or any(head.startswith(v) for v in names.values()):
        head = re.sub(r"/.*", "/...", head) + ":" + re.split(r"[:(]", rest, maxsplit=1)[0].rstrip()
    return head.strip()


def expect_clean(verb: str, argv: list[str], names: dict[str, str] | None = None) -> int | str:
    """Run ``argv``; assert it ended in a result or in one line of error; count the outcome."""
    code, out, err = invoke(argv)
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    if code in (0, "stub"):
        OUTCOMES[f"{verb}: {'exit 0' if code == 0 else 'valid, stopped before the outer loop'}"] += 1
        return code
    assert code == 2, (argv, code, err)
    lines = err.split("\n")
    assert len(lines) == 2 and lines[1] == "", (argv, err)
    assert lines[0].startswith("plastix: error: "), (argv, err)
    kind = error_kind(lines[0], argv, names or {})
    OUTCOMES[f"{verb}: exit 2, {kind}"] += 1
    EXAMPLES.setdefault(f"{verb}: exit 2, {kind}", f"{lines[0][:200]}   <- {argv}"[:400])
    if kind == "config error":
        field = lines[0].removeprefix("plastix: error: config error: ").split(":")[0]
        section = field.split(".")[0]
        if field.startswith("this run needs about"):
            section = "(the memory estimate)"
        elif " " in field:
            section = "(a check joining sections)"
        elif section not in Config.model_fields:
            section = "(an unknown top-level key)"
        FIELDS[section] += 1
    return code


# --------------------------------------------------------------------------------------------
# configs and their mutations


def _tiny(name: str) -> dict:
    raw = {**copy.deepcopy(dict(registry()[name].tiny)), "family": name}
    raw.setdefault("meta", {})["generations"] = 1
    return raw


def _bases() -> list[tuple[str, dict]]:
    """Configs to mutate: each shipped one as written and resolved, each family's tiny one."""
    bases = []
    for name, path in sorted(shipped_configs().items()):
        raw = tomllib.loads(path.read_text())
        bases.append((name, raw))
        bases.append((f"{name} (resolved)", tomllib.loads(dump_config(validate(copy.deepcopy(raw))))))
    for name in sorted(registry()):
        bases.append((f"tiny {name}", _tiny(name)))
    return bases


BASES = _bases()
KINDS = sorted({k for role in components.ROLES for k in components.components(role)})
#: keys that size arrays or loops, where huge, zero and negative values are tried most.
SIZES = {
    "n_in", "n_out", "sizes", "n_exc", "n_inh", "n_groups", "steps", "batch", "samples", "test_samples",
    "episodes", "heldout_episodes", "validate_episodes", "curve_episodes", "popsize", "generations",
    "ways", "shots", "queries", "chunk", "order", "train_time", "score_time", "window", "bin_size",
    "dt", "rate_dt", "meta_test_classes", "teacher_hidden", "shared_generations", "checkpoint_every",
    "devices", "validate_every",
}  # fmt: skip

HUGE = st.sampled_from([0, -1, -(2**63), 2**31, 2**32, 2**63 - 1, 10**5, 10**6, 10**9, 10**12, 10**18])
INTS = st.one_of(st.integers(-3, 300), HUGE)
EXTREME = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e308, -1e308, 5e-324, 1e-320, 1e-300, 1e30]
FLOATS = st.one_of(st.sampled_from([*EXTREME, 0.5]), st.floats(-1e3, 1e3))
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
STRINGS = st.one_of(
    st.sampled_from(KINDS + ["", "nan", "1", "float16", "oja", "adam", "evosax", "Open_ES", "family"]), TEXT
)
SCALARS = st.one_of(
    INTS, FLOATS, STRINGS, st.booleans(), st.datetimes(), st.dates(), st.times()
)  # TOML has them all
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(INTS, FLOATS, STRINGS), max_size=4),
    st.dictionaries(st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), SCALARS, max_size=3),
)


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path into ``node``: its tables' entries and its arrays' elements."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _parent(raw: dict, path: tuple):
    node = raw
    for k in path[:-1]:
        node = node[k]
    return node


def mutate(draw, raw: dict) -> dict:
    """``raw`` with one structural change drawn by ``draw``."""
    paths = _paths(raw)
    how = draw(st.sampled_from(["set", "extreme", "extreme", "size", "drop", "unknown", "kind"]))
    if how == "extreme":  # a value of the type the key has, at its edge
        leaves = [p for p in paths if isinstance(_parent(raw, p)[p[-1]], (bool, int, float, list))]
        if leaves:
            path = draw(st.sampled_from(leaves))
            old = _parent(raw, path)[path[-1]]
            edge = {
                bool: st.sampled_from([0, 1, "true"]),
                int: st.one_of(HUGE, st.sampled_from([-2, 1.0, 1.5, math.nan])),
                float: st.sampled_from(EXTREME),
                list: st.one_of(st.just([]), st.lists(st.one_of(HUGE, st.sampled_from(EXTREME)), max_size=6)),
            }[type(old)]
            _parent(raw, path)[path[-1]] = draw(edge)
            return raw
        how = "set"
    if how == "size":
        sized = [p for p in paths if p[-1] in SIZES or (len(p) > 1 and p[-2] in SIZES)]
        if sized:
            path = draw(st.sampled_from(sized))
            _parent(raw, path)[path[-1]] = draw(st.one_of(HUGE, FLOATS, st.just([10**6, 10**6])))
            return raw
        how = "set"
    if how == "kind":
        tables = [p for p in paths if isinstance(_parent(raw, p)[p[-1]], dict)]
        path = draw(st.sampled_from([(), *tables]))
        node = raw
        for k in path:
            node = node[k]
        key = draw(st.sampled_from(["kind", "family"] if not path else ["kind"]))
        node[key] = draw(st.one_of(st.sampled_from(KINDS + ["pca", "spiking", "nope"]), VALUES))
        return raw
    if how == "unknown" or not paths:
        tables = [()] + [p for p in paths if isinstance(_parent(raw, p)[p[-1]], dict)]
        path = draw(st.sampled_from(tables))
        node = raw
        for k in path:
            node = node[k]
        node[draw(st.text(string.ascii_letters + "_.-", min_size=1, max_size=10))] = draw(VALUES)
        return raw
    path = draw(st.sampled_from(paths))
    parent = _parent(raw, path)
    if how == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(VALUES)
    return raw


BROKEN = [b"[", b"]", b"=", b'"', b"'''", b"\n[meta]\n", b"{", b"\n[rules.ff]\nkind = 1\n"]
BAD_BYTES = [b"\xff", b"\xfe\xff", b"\x80abc", b"\xc3(", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf"]


def damage(draw, text: bytes) -> bytes:
    """``text`` broken at the byte level: truncated, bytes inserted, lines dropped or doubled."""
    how = draw(st.sampled_from(["truncate", "insert", "bad_bytes", "drop_line", "double_line", "noise"]))
    at = draw(st.integers(0, len(text)))
    if how == "truncate":
        return text[:at]
    if how == "insert":
        return text[:at] + draw(st.sampled_from(BROKEN)) + text[at:]
    if how == "bad_bytes":
        return text[:at] + draw(st.sampled_from(BAD_BYTES)) + text[at:]
    lines = text.split(b"\n")
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if how == "drop_line":
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if how == "double_line":
        return b"\n".join(lines[: i + 1] + lines[i:])
    return draw(st.binary(max_size=200))


@st.composite
def config_files(draw) -> tuple[str, bytes]:
    """(a description, the bytes of a config file): a base config mutated, perhaps damaged."""
    name, base = draw(st.sampled_from(BASES))
    raw = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        raw = mutate(draw, raw)
    data = tomli_w.dumps(raw).encode()
    if draw(st.integers(0, 3)) == 0:
        data = damage(draw, data)
    return name, data


_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _file(workdir: Path, data: bytes, suffix: str = ".toml") -> Path:
    p = workdir / f"case-{next(_counter)}{suffix}"
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------------------------
# the cases


@settings(max_examples=450, **SETTINGS)
@given(case=config_files())
def test_check_of_mutated_configs(workdir, case):
    _, data = case
    p = _file(workdir, data)
    expect_clean("check", ["check", str(p)], {str(p): "FILE"})


@settings(max_examples=150, **SETTINGS)
@given(case=config_files())
def test_run_of_an_invalid_config_makes_no_directory(workdir, case):
    _, data = case
    p = _file(workdir, data)
    names = {str(p): "FILE"}
    if expect_clean("run (checked first)", ["check", str(p)], names) == 0:
        return  # valid: not run here (it could take hours)
    out = workdir / f"out-{next(_counter)}"
    assert expect_clean("run", ["run", str(p), "--out", str(out), "--quiet"], names) == 2
    assert not out.exists()


EDGE_INTS = [0, -1, 2**31, 2**63 - 1, 10**12, 1.5, math.nan]


@pytest.mark.parametrize("optimizer", ["cma_es", "gradient"])
@pytest.mark.parametrize("family", sorted(registry()))
def test_every_number_of_each_family_at_its_edges(workdir, family, optimizer):
    """Not drawn at random: each number of the family's tiny config, resolved (every field
    written out), at each of its type's edge values in turn (NaN, inf, denormals, huge, ...)."""
    tiny = _tiny(family)
    tiny["meta"]["optimizer"] = optimizer
    base = tomllib.loads(dump_config(validate(tiny)))
    for path in _paths(base):
        old = _parent(base, path)[path[-1]]
        if isinstance(old, bool) or not isinstance(old, int | float):
            continue
        for value in EDGE_INTS if isinstance(old, int) else EXTREME:
            raw = copy.deepcopy(base)
            _parent(raw, path)[path[-1]] = value
            p = _file(workdir, tomli_w.dumps(raw).encode())
            expect_clean("check (edges)", ["check", str(p)], {str(p): "FILE"})


#: ``--set`` values as typed: every TOML type, broken TOML, long and deep ones.
SET_VALUES = st.one_of(
    st.sampled_from(
        [
            "", "nan", "inf", "-inf", "+inf", "1e400", "-0", "0", "-1", "3", "0.5", "true", "True", "[1, 2]",
            "[", "]", "[[1]]", "{a = 1}", "{", '"x"', "'x'", '"', "'''", "1979-05-27", "07:32:00",
            "1979-05-27T07:32:00Z", "0x10", "0o7", "0b1", "1_000", "9" * 5000, "[" * 2000 + "]" * 2000,
            "{a = " * 500 + "1" + "}" * 500, "a=b", "=", "pca", "oja", "lif", "mlp", "float64", "\x00", "é",
        ]
    ),
    st.integers().map(str),
    st.floats().map(repr),
    TEXT,
)  # fmt: skip


@st.composite
def set_strings(draw) -> str:
    """A ``--set`` argument: a key path (known, unknown or malformed), maybe ``=``, a value."""
    _, base = draw(st.sampled_from(BASES))
    known = [".".join(map(str, p)) for p in _paths(base) if all(isinstance(k, str) for k in p)]
    key = draw(
        st.one_of(
            st.sampled_from(known),
            st.sampled_from(["", ".", "..", "a.", ".a", "seed.x", "meta", "rules", "rules.ff.kind", "a..b"]),
            st.text(string.ascii_lowercase + "._ =", max_size=16),
        )
    )
    if draw(st.integers(0, 9)) == 0:
        return key  # no "="
    return f"{key}={draw(SET_VALUES)}"


@settings(max_examples=300, **SETTINGS)
@given(
    config=st.sampled_from(sorted(shipped_configs())),
    overrides=st.lists(set_strings(), min_size=1, max_size=3),
    seed=st.one_of(st.none(), INTS),
)
def test_check_with_overrides(config, overrides, seed):
    argv = ["check", config] + [a for o in overrides for a in ("--set", o)]
    argv += [] if seed is None else ["--seed", str(seed)]
    expect_clean("check --set", argv)


def _make_world(world: Path) -> None:
    """The files and directories that random argument lists name, as each case finds them.

    A config, broken ones, a run directory as ``plastix run`` makes it before
    its first generation (of each family), one with a broken ``config.toml``,
    a sweep before its first seed.
    """
    for entry in world.iterdir():  # the world is the working directory: emptied, not removed
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (world / "tiny.toml").write_text(tomli_w.dumps(_tiny("pca")))
    (world / "bad.toml").write_bytes(b"name = \xff")
    (world / "empty.toml").write_text("")
    (world / "notes.txt").write_text("not a config")
    (world / "empty").mkdir()
    for name in sorted(registry()):
        run = world / f"run-{name}"
        run.mkdir()
        (run / "config.toml").write_text(dump_config(validate(_tiny(name))))
    (world / "broken-run").mkdir()
    (world / "broken-run" / "config.toml").write_bytes(b"[network\nn_in = \xfe")
    sweep = world / "sweep"
    sweep.mkdir()
    (sweep / "sweep.toml").write_text(
        tomli_w.dumps({"config": _tiny("pca"), "seeds": [0, 1], "source": "tiny.toml", "overrides": []})
    )


@pytest.fixture(scope="module")
def cli_world(workdir):
    """The world of random argument lists (the working directory), and stubs that keep runs from starting."""
    from plastix.experiment import _runner
    from plastix.experiment import _sweep as sweeps

    world = workdir / "world"
    world.mkdir()

    def stub(*args, **kwargs):
        raise WouldRun

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_runner, "execute", stub)
        mp.setattr(sweeps, "_complete", stub)
        mp.chdir(world)  # a run without --out goes to runs/ here
        yield world


VERBS = ["run", "check", "resume", "plot", "show", "list", "export", "sweep"]
CONFIGS = ["tiny.toml", "bad.toml", "empty.toml", "notes.txt", "empty", "missing.toml", "run-pca"]
DIRS = [f"run-{name}" for name in ("pca", "spiking", "feedback", "gd_approx")] + [
    "broken-run", "sweep", "empty", "missing", "tiny.toml", "run-pca/config.toml", "sweep/seed-0",
]  # fmt: skip
OUTS = ["out-new", "run-pca", "empty", "sweep", "tiny.toml", "tiny.toml/x", "missing/a/b", "run-pca/inner"]
SEEDS = [
    "0",
    "0-3",
    "4294967295",
    "0-99999999999",
    "3-0",
    "0,1",
    "0,0",
    "-1",
    "a",
    "0-",
    "-",
    ",",
    "",
    "1-1000000",
    "0-1,5",
    "1.5",
]
PLACEMENT = {"--backend": st.sampled_from(["local", "ray", "gpu", ""]), "--address": st.sampled_from(
    ["127.0.0.1:1", "x:1", ""]), "--workers": INTS.map(str), "--devices": INTS.map(str)}  # fmt: skip


@st.composite
def argument_lists(draw, world: Path) -> list[str]:
    """A random command line: a verb and its arguments (some missing, wrong or repeated), perhaps noise."""
    configs = st.one_of(
        st.sampled_from(CONFIGS).map(lambda p: str(world / p)),
        st.sampled_from(sorted(shipped_configs()) + ["pca", "nope", ""]),
        TEXT,
    )
    dirs = st.one_of(st.sampled_from(DIRS).map(lambda p: str(world / p)), TEXT)
    outs = st.sampled_from(OUTS).map(lambda p: str(world / p))
    flag = object()  # a flag without a value
    flags = {
        "run": {"--set": set_strings(), "--out": outs, "--seed": INTS.map(str), "--force": flag,
                "--quiet": flag, **PLACEMENT},
        "check": {"--set": set_strings(), "--seed": INTS.map(str)},
        "resume": {"--generations": INTS.map(str), "--quiet": flag, **PLACEMENT},
        "plot": {},
        "show": {"--json": flag},
        "list": {},
        "export": {"--brian2": flag, "--out": outs, "--duration": FLOATS.map(repr), "--force": flag},
        "sweep": {"--seeds": st.sampled_from(SEEDS), "--set": set_strings(), "--out": outs, "--force": flag,
                  "--quiet": flag, **PLACEMENT},
    }  # fmt: skip
    verb = draw(st.sampled_from(VERBS)) if draw(st.integers(0, 7)) else draw(TEXT)
    argv = [verb]
    if verb in ("run", "check", "sweep") and draw(st.integers(0, 9)):
        argv.append(draw(configs))
    elif verb in ("resume", "plot", "show", "export") and draw(st.integers(0, 9)):
        argv.append(draw(dirs))
    own = flags.get(verb, {})
    if verb == "sweep" and draw(st.integers(0, 9)):
        argv += ["--seeds", draw(st.sampled_from(SEEDS))]
    if verb == "export" and draw(st.integers(0, 9)):
        argv.append("--brian2")
    names = sorted(own) + ["--help", "--nope", "-", "--"] if own else ["--nope", "--", "--help"]
    for name in draw(st.lists(st.sampled_from(names), max_size=4)):
        argv.append(name)
        value = own.get(name)
        if value is not flag and value is not None and draw(st.integers(0, 19)):
            argv.append(draw(value))
    if draw(st.integers(0, 4)) == 0:  # a stray token somewhere
        at = draw(st.integers(1, len(argv)))
        argv.insert(at, draw(st.one_of(configs, INTS.map(str), TEXT)))
    return argv


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_random_command_lines(cli_world, data):
    world = cli_world
    _make_world(world)
    argv = data.draw(argument_lists(world))
    before = sorted(world.rglob("*"))
    code = expect_clean(argv[0] if argv[0] in VERBS else "(no verb)", argv, {str(world): "WORLD"})
    if code == 2 and argv[0] in ("run", "sweep"):  # a refused run or sweep leaves nothing behind
        assert sorted(world.rglob("*")) == before, argv


def test_outcome_report(tmp_path):
    """The cases run in this module and how they ended (``pytest -s`` shows it)."""
    total = sum(OUTCOMES.values())
    lines = [f"{total} cases"]
    lines += [f"{n:6d}  {k}" for k, n in sorted(OUTCOMES.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["config errors by section:"] + [f"{n:6d}  {k}" for k, n in FIELDS.most_common()]
    lines += ["a message of each kind:"] + [f"  {k}: {v}" for k, v in sorted(EXAMPLES.items())]
    report = "\n".join(lines)
    (tmp_path / "fuzz_outcomes.txt").write_text(report + "\n")
    print("\n" + report)
    if {"check", "run", "check --set"} <= {k.split(":")[0] for k in OUTCOMES} and total > 900:
        assert total >= 1000  # the whole module ran (not one test picked out with -k)
