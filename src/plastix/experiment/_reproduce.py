"""The published claims, reproduced over seeds: ``plastix reproduce`` and its table.

A claims file (TOML, one table per claim; the shipped one is ``plastix/claims.toml``) says for
each claim where it was published, what the paper reports, which config and overrides test it,
the metrics read from every seed's summary (its family's headline, as ``plastix show --json`` and
``plastix sweep`` give them), the conditions under which a seed reaches the claim, and the seeds.
:func:`plan` checks the claims and :func:`run` runs the seeds that have not run, as one sweep per claim in
``<out>/<claim>/seed-<k>/`` (resumable: a killed piece continues where it stopped; on Ray when
asked); :func:`write_table` turns whatever has finished into ``docs/reproduction.md``: claim,
published, mean ± standard error over the finished seeds, the fraction of seeds that reach it, the
seeds run and pending, the command, wall time per seed, and when and with which code the seeds ran.
"""

from __future__ import annotations

import datetime
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plastix.experiment import _rundir as rd
from plastix.experiment import _sweep as sweeps
from plastix.experiment._config import Config, load
from plastix.experiment._errors import UserError
from plastix.experiment._family import get
from plastix.experiment._files import did_you_mean, read_toml, shipped_config
from plastix.experiment._placement import LOCAL, Placement
from plastix.experiment._progress import sig

#: The first line of a table this module wrote: a file without it is not overwritten.
MARK = "<!-- written by `plastix reproduce`: edit plastix/claims.toml, not this file -->"

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CONDITION = re.compile(
    rf"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*([A-Za-z_]\w*|{_NUMBER})\s*(?:([-+])\s*({_NUMBER}))?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class Condition(NamedTuple):
    """``left op right [+- offset]``: a metric against a number or another metric of the same seed,
    e.g. ``angle_oja < 5`` or ``accuracy_learned >= accuracy_backprop - 0.05``."""

    left: str
    op: str
    right: str | float
    offset: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Condition:
        m = _CONDITION.match(text)
        if m is None:
            raise ValueError(
                f"{text!r} is no condition: write METRIC OP VALUE, OP one of < <= > >=, VALUE a number "
                "or a metric, optionally + or - a number (accuracy_learned >= accuracy_backprop - 0.05)"
            )
        left, op, right, sign, offset = m.groups()
        right_value: str | float = right if re.match(r"[A-Za-z_]", right) else float(right)
        delta = 0.0 if offset is None else float(offset) * (-1.0 if sign == "-" else 1.0)
        if isinstance(right_value, float) and offset is not None:
            raise ValueError(f"{text!r}: an offset goes with a metric on the right, not a number")
        return cls(left, op, right_value, delta)

    def holds(self, metrics: Mapping[str, float | None]) -> bool | None:
        """Whether the seed whose metrics these are meets it; ``None`` when a metric is missing."""
        a = metrics.get(self.left)
        b = self.right if isinstance(self.right, float) else metrics.get(self.right)
        if a is None or b is None:
            return None
        return _OPS[self.op](a, b + self.offset)

    def names(self) -> list[str]:
        return [self.left] + ([self.right] if isinstance(self.right, str) else [])


class Claim(BaseModel):
    """One published claim and how plastix tests it (a table of the claims file)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="what is claimed, in a few words")
    source: str = Field(description="paper and section or figure")
    published: str = Field(description="the published number or statement")
    config: str = Field(description="the config that tests it: a shipped config's name or a path")
    set: list[str] = Field([], description="--set overrides of the config")
    seeds: str = Field(description="the seeds, as plastix sweep --seeds reads them (0-9, 0,3,5)")
    metrics: list[str] = Field(min_length=1, description="headline metrics shown as mean ± s.e.")
    reach: list[str] = Field([], description="conditions a seed must all meet to reach the claim")
    note: str = Field("", description="what the row needs said beside its numbers")
    runs: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="the directory under --out with its seed runs (default: the claim's name); "
        "claims of the same config, overrides and seeds share one",
    )

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: str) -> str:
        try:
            sweeps.parse_seeds(v)
        except UserError as err:
            raise ValueError(str(err)) from None
        return v

    @field_validator("reach")
    @classmethod
    def _reach(cls, v: list[str]) -> list[str]:
        for text in v:
            Condition.parse(text)
        return v

    def seed_list(self) -> list[int]:
        return sweeps.parse_seeds(self.seeds)

    def conditions(self) -> list[Condition]:
        return [Condition.parse(t) for t in self.reach]

    def directory(self, name: str, out: Path) -> Path:
        """Where its seed runs are: a sweep directory under ``out``."""
        return Path(out) / (self.runs or name)

    def command(self, name: str, out: Path) -> str:
        """The ``plastix sweep`` that runs it (what ``plastix reproduce NAME`` runs)."""
        sets = "".join(f" --set {shlex.quote(s)}" for s in self.set)
        return f"plastix sweep {self.config} --seeds {self.seeds}{sets} --out {self.directory(name, out)}"


def claims_file() -> Path:
    """The shipped claims file: package data, ``plastix/claims.toml``."""
    return Path(str(resources.files("plastix") / "claims.toml"))


def load_claims(path: Path | None = None) -> dict[str, Claim]:
    """The claims of ``path`` (default: the shipped file), in file order; a bad one is one line."""
    path = claims_file() if path is None else Path(path)
    data = read_toml(path)  # a missing or malformed file: one line naming it
    out = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise UserError(f"{path}: {name}: a claim is a table ([{name}]), got {table!r}")
        try:
            out[name] = Claim(**table)
        except ValidationError as err:
            e = err.errors()[0]
            where = ".".join(str(p) for p in (name, *e["loc"]))
            raise UserError(f"{path}: {where}: {e['msg'].removeprefix('Value error, ')}") from None
    return out


def select(claims: Mapping[str, Claim], names: Sequence[str]) -> list[str]:
    """``names`` (all claims when empty), each checked against the file's."""
    for n in names:
        if n not in claims:
            raise UserError(f"no claim {n!r}{did_you_mean(n, claims)}; the claims: {', '.join(claims)}")
    return list(names) or list(claims)


class Plan(NamedTuple):
    """A claim about to run: its config, all its seeds, and those to run now."""

    name: str
    claim: Claim
    config: Config
    seeds: list[int]
    now: list[int]


def plan(claims: Mapping[str, Claim], names: Sequence[str], seeds: Sequence[int] | None = None) -> list[Plan]:
    """The claims ``names``, each config loaded and checked (before anything runs); ``seeds``: run
    only these of each claim's now, all of which must be among its seeds."""
    out = []
    for name in names:
        claim = claims[name]
        every = claim.seed_list()
        if seeds is not None and set(seeds) - set(every):
            missing = sweeps.format_seeds(sorted(set(seeds) - set(every)))
            raise UserError(f"--seeds: claim {name} has seeds {claim.seeds}, not {missing}")
        try:
            cfg = load(shipped_config(claim.config), claim.set)
        except UserError as err:
            raise UserError(f"claim {name}: {err}") from None
        out.append(Plan(name, claim, cfg, every, every if seeds is None else sorted(set(seeds))))
    return out


def run(
    p: Plan,
    out: Path,
    placement: Placement = LOCAL,
    progress: Callable | None = None,
    report: Callable | None = None,
) -> None:
    """Run the claim's seeds ``p.now`` that have not finished, as its sweep (of all its seeds) in
    :meth:`Claim.directory`; a sweep there of another spec is refused, naming the difference.

    Raises:
        SweepFailed: when a seed failed (the others still ran).
    """
    sweeps.sweep(
        p.config,
        p.seeds,
        p.claim.directory(p.name, out),
        placement=placement,
        source=p.claim.config,
        overrides=p.claim.set,
        progress=progress,
        report=report,
        only=p.now,
    )


# --- the table ---------------------------------------------------------------------------------


class Seed(NamedTuple):
    """What one finished seed of a claim reports."""

    seed: int
    metrics: dict[str, float | None]
    reached: bool | None  # None: the claim has no condition, or a metric is missing
    wall_s: float | None
    finished: str  # the date it finished (UTC)
    code: str  # the plastix version (and commit) that ran it
    machine: str  # what it ran on ("" before provenance was recorded)
    load: float | None  # the machine's load average as it finished


def _seed(claim: Claim, family: str | None, seed: int, path: Path) -> Seed | None:
    summary = rd.read_summary(path)
    if summary is None:
        return None
    head = {k: sweeps.finite_number(v) for k, v in get(family).headline(summary).items()}
    verdicts = [c.holds(head) for c in claim.conditions()]
    reached = None if not verdicts or None in verdicts else all(verdicts)
    timings = summary.get("timings", {})
    wall = sweeps.finite_number(timings.get("total_s", summary.get("wall_s")))
    prov = summary.get("provenance") or {}
    finished = prov.get("finished") or datetime.datetime.fromtimestamp(
        (path / rd.SUMMARY).stat().st_mtime, datetime.UTC
    ).isoformat(timespec="seconds")
    code = prov.get("code")
    if code is None:  # a run from before provenance: the version its config recorded
        code = tomllib.loads((path / rd.CONFIG).read_text()).get("versions", {}).get("plastix", "unknown")
    load = sweeps.finite_number(prov.get("load_average"))
    return Seed(seed, head, reached, wall, finished[:10], code, prov.get("machine", ""), load)


class Row(NamedTuple):
    """A claim's state: its finished seeds (``None`` before its sweep exists) and its pending seeds."""

    name: str
    claim: Claim
    seeds: list[Seed] | None
    pending: list[int]


def rows(claims: Mapping[str, Claim], out: Path) -> list[Row]:
    """Every claim's finished and pending seeds under ``out``."""
    result = []
    for name, claim in claims.items():
        path = claim.directory(name, out)
        every = claim.seed_list()
        if not sweeps.is_sweep(path):
            result.append(Row(name, claim, None, every))
            continue
        family = sweeps.read_spec(path).config.get("family")
        done = []
        for s in every:
            seed = _seed(claim, family, s, sweeps.seed_dir(path, s))
            if seed is not None:
                done.append(seed)
        result.append(Row(name, claim, done, [s for s in every if s not in {d.seed for d in done}]))
    return result


def _mean_se(values: Sequence[float | None]) -> str:
    m = sweeps.stats(list(values))
    if m["mean"] is None:
        return "–"
    return sig(m["mean"], 3) + ("" if m["se"] is None else f" ± {sig(m['se'], 2)}")


def _wall(seeds: Sequence[Seed]) -> str:
    w = sorted(s.wall_s for s in seeds if s.wall_s is not None)
    if not w:
        return "–"
    median = float(np.median(w))
    return _seconds(median) + (f" ({_seconds(w[0])}–{_seconds(w[-1])})" if len(w) > 1 else "")


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 600 else f"{s / 60:.0f} min"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(claims: Mapping[str, Claim], out: Path) -> str:
    """``docs/reproduction.md``: the table of every claim, then each claim's seeds."""
    out = Path(out)
    lines = [
        MARK,
        "",
        "# Reproduction of the published claims",
        "",
        "Each row is a claim of a source paper, the config that tests it, and what plastix measured "
        "over seeds: the mean ± standard error over the finished seeds of each metric (the run "
        "summary's headline, as `plastix show DIR --json` gives it), how many of them reach the claim "
        "(every condition under the table holds for that seed), and what a seed cost (its wall time, "
        "with the machine and its load average as the seed finished: two runs at once on 2 cores "
        "take longer each). Regenerate it "
        "with `plastix reproduce` (all claims; it runs only the seeds that have not run, and "
        "continues a killed piece where it stopped) or `plastix reproduce NAME --seeds 0-2` (a "
        "piece of one claim); `plastix reproduce --table` rewrites this page from what has run. "
        f"The claims are in `plastix/claims.toml`; the runs in `{out}/<claim>/seed-<k>/`.",
        "",
        "| claim | published | plastix (mean ± s.e. over seeds) | seeds reaching it | seeds run | "
        "wall time per seed | date, code |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    details = []
    for row in rows(claims, out):
        c = row.claim
        title = f"**{row.name}**: {c.title} ({c.source})"
        done = row.seeds or []
        measured = "; ".join(f"{m} {_mean_se([s.metrics.get(m) for s in done])}" for m in c.metrics)
        if not done:
            measured, reach, wall, when = "no seed finished", "–", "–", "–"
            run = f"0 of {len(row.pending)}" + (" (started)" if row.seeds is not None else "")
        else:
            judged = [s for s in done if s.reached is not None]
            reach = f"{sum(s.reached for s in judged)} of {len(judged)}" if c.reach else "–"
            run = f"{len(done)} of {len(done) + len(row.pending)}"
            if row.pending:
                run += f" ({sweeps.format_seeds(row.pending)} pending)"
            wall = _wall(done)
            machines = sorted({s.machine for s in done if s.machine})
            loads = [s.load for s in done if s.load is not None]
            if machines:
                wall += f" on {'; '.join(machines)}"
            if loads:
                wall += (
                    f", load {min(loads):.1f}–{max(loads):.1f}"
                    if len(loads) > 1
                    else f", load {loads[0]:.1f}"
                )
            dates = sorted({s.finished for s in done})
            codes = sorted({s.code for s in done})
            when = (dates[-1] if len(dates) == 1 else f"{dates[0]} – {dates[-1]}") if dates else "–"
            when += ", " + ", ".join(f"`{k}`" for k in codes) if codes else ""
        lines.append(
            "| " + " | ".join(_cell(x) for x in (title, c.published, measured, reach, run, wall, when)) + " |"
        )
        details += _details(row, out)
    return "\n".join(lines + ["", *details])


def _details(row: Row, out: Path) -> list[str]:
    c = row.claim
    lines = [f"## {row.name}", "", f"{c.title} ({c.source}). Published: {c.published}", ""]
    if c.note:
        lines += [c.note, ""]
    lines += [f"Command: `{c.command(row.name, out)}`", ""]
    if c.reach:
        lines += ["A seed reaches the claim when " + " and ".join(f"`{r}`" for r in c.reach) + ".", ""]
    if not row.seeds:
        lines += ["No seed has finished yet.", ""]
        return lines
    names = list(dict.fromkeys([*c.metrics, *(n for k in c.conditions() for n in k.names())]))
    missing = [n for n in names if all(s.metrics.get(n) is None for s in row.seeds)]
    if missing:  # a misspelt metric would otherwise be a silent dash
        have = sorted({k for s in row.seeds for k, v in s.metrics.items() if v is not None})
        lines += [f"No finished seed reports {', '.join(missing)}; they report: {', '.join(have)}.", ""]
    head = ["seed", *names, "reached", "wall time", "load", "finished", "code"]
    lines += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for s in row.seeds:
        values = ["–" if s.metrics.get(n) is None else sig(s.metrics[n], 4) for n in names]
        reached = {True: "yes", False: "no", None: "–"}[s.reached]
        wall = "–" if s.wall_s is None else _seconds(s.wall_s)
        load = "–" if s.load is None else f"{s.load:.1f}"
        lines.append(
            "| " + " | ".join([str(s.seed), *values, reached, wall, load, s.finished, f"`{s.code}`"]) + " |"
        )
    return [*lines, ""]


def check_doc(doc: Path, force: bool = False) -> None:
    """Refuse ``doc`` when a file there was not written by this module (unless ``force``): before
    any claim runs, so that hours of runs do not end on a refusal."""
    doc = Path(doc)
    if doc.exists() and not force:
        try:
            first = doc.read_text().split("\n", 1)[0]
        except (OSError, UnicodeDecodeError):
            first = ""
        if first != MARK:
            raise UserError(f"--doc {doc}: exists and was not written by plastix reproduce (use --force)")


def write_table(claims: Mapping[str, Claim], out: Path, doc: Path, force: bool = False) -> Path:
    """Write :func:`table` to ``doc``; a file there that this module did not write stays, unless ``force``."""
    doc = Path(doc)
    check_doc(doc, force)
    rd.atomic_write(doc, (table(claims, out) + "\n").encode())
    return doc


def describe(claims: Mapping[str, Claim]) -> list[str]:
    """One line per claim for ``plastix reproduce --list``."""
    w = max((len(n) for n in claims), default=0)
    return [f"{n:<{w}}  {c.title} ({c.config}, seeds {c.seeds})" for n, c in claims.items()]
