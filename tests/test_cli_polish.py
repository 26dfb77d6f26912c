"""The command line as a new user meets it: `--help` reflows its paragraphs to the terminal
and shows no value placeholder for flags; progress off a terminal is plain lines, not Rich's
last frame cut at 80 columns; a refused `capture analyze` leaves no empty bundle behind."""

from __future__ import annotations

import inspect
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from rich.console import Console
from typer.testing import CliRunner

from audit.cli import app
from audit.cli.help import reflow
from audit.cli.run import _Progress
from audit.model import Observation, Outcome, SurfaceKind
from tests.localsite import forum_policies, serve

runner = CliRunner()
WIDE = {"COLUMNS": "2000", "NO_COLOR": "1", "HULIAN_POLICIES": None}


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _help(path: tuple[str, ...], env: dict[str, str | None] = WIDE) -> str:
    result = runner.invoke(app, [*path, "--help"], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def _prose(doc: str) -> list[str]:
    """The paragraphs of a help text that are running text, each joined into one line (as
    written: a help that was never reflowed still has its source's line breaks here)."""
    doc = inspect.cleandoc(doc).replace("\\[", "[")  # shown without markup's escape
    return [" ".join(p.split()) for p in doc.split("\n\n")
            if not any(line[:1].isspace() or line.startswith(("hulian ", "curl "))
                       for line in p.splitlines())]  # examples: a line each


def _on_one_line(text: str, output: str) -> bool:
    return any(text in " ".join(line.split()) for line in output.splitlines())


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "run", "crawl", "report", "graph", "inspect", "verify", "evaluate", "diff",
            "worker", "runs list", "capture analyze", "schedule add", "policies validate",
            "lab serve"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "hulian")
def test_help_paragraphs_are_whole_and_flags_take_no_value(path: tuple[str, ...]) -> None:
    output = _help(path)
    command = dict(COMMANDS)[path]
    # Every paragraph of running text is on one line of a wide terminal (the terminal wraps
    # it), not broken where the source broke it; also each subcommand's in the list.
    for paragraph in _prose(command.help or ""):
        assert _on_one_line(paragraph, output), paragraph
    for sub in getattr(command, "commands", {}).values():
        first = _prose(sub.help or "")[:1]
        assert all(_on_one_line(p, output) for p in first), (sub.name, first)
    # Flags and counters (-v) take no value: no `<bool>` or `<int>` beside them.
    for line in output.splitlines():
        if re.search(r"--help\b|--json\b|--verbose\b|--version\b|--lab\b|--force\b", line):
            assert "<bool>" not in line and "<int>" not in line, line
    assert "<bool>" not in output


def test_help_at_a_narrow_terminal_breaks_only_where_the_terminal_ends() -> None:
    output = _help(("verify",), {**WIDE, "COLUMNS": "60"})
    lines = [line.strip() for line in output.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Check a bundle"))
    block = lines[start:lines.index("", start)]
    # The old output broke after "history)," and "Names" (the source's line ends).
    assert all(len(line) > 40 for line in block[:-1]), block
    assert "Names what changed" in " ".join(block)


def test_help_text_in_brackets_is_shown_not_taken_for_markup() -> None:
    assert "the [browser] extra" in " ".join(_help(("run",)).split())


def test_repeatable_options_show_one_value() -> None:
    output = _help(("run",))
    line = next(line for line in output.splitlines() if line.startswith("│ --source"))
    assert "<str>" in line and "list[" not in line


def _option_line(output: str, option: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"│ {option} "))


def test_the_help_column_keeps_most_of_an_80_column_terminal() -> None:
    """Long choice lists and `--no-x` spellings took their width from the help text: at 80
    columns `run --help` had 16 columns of help, and words were cut with "…"."""
    output = _help(("run",), {**WIDE, "COLUMNS": "80"})
    assert "…" not in output
    line = _option_line(output, "--run-id")
    assert len(line) - line.index("Run id") >= 28, line  # a third of the width, not a fifth
    # The choices of --surface are listed in its help, under a short placeholder.
    assert "<surface>" in _option_line(output, "--surface")
    assert "One of 可选: im_private, im_group," in _option_line(_help(("run",)), "--surface")
    assert "<obey|ignore>" in _option_line(output, "--robots")  # short lists stay inline


def test_flags_off_by_default_are_spelled_once() -> None:
    output = _help(("run",))
    assert "--no-render" not in output and "--no-allow-private" not in output
    assert "[default: no-render]" not in output
    result = runner.invoke(app, ["run", "--no-render"], env=WIDE)
    assert result.exit_code == 2 and "No such option" in result.output


def test_counter_and_range_show_no_type_noise() -> None:
    top = _help(())
    assert "[default: 0]" not in _option_line(top, "--verbose")
    assert "<int> [x>=0]" in _option_line(_help(("run",)), "--parse-processes")


def test_variadic_arguments_show_one_value() -> None:
    output = _help(("capture", "analyze"))
    line = next(line for line in output.splitlines() if "files..." in line)
    assert "<Path>" in line and "list[" not in line


def test_usage_lines_bracket_and_dot_arguments_once() -> None:
    assert "Usage: hulian diff [OPTIONS] {RUN_A} [RUN_B]" in _help(("diff",))
    assert "Usage: hulian runs import [OPTIONS] {RUN}..." in _help(("runs", "import"))
    assert "[[" not in _help(("policies", "test")) and "...}" not in _help(("runs", "import"))


def test_reflow_joins_prose_and_keeps_examples_and_lists() -> None:
    doc = """Do a thing with a long
    sentence that goes on.

    Examples:

      hulian a --x   # one

      hulian b | jq '.links[]'

    Items:
    - first item that
      goes on
    - second [browser]
    """
    assert reflow(doc) == (
        "Do a thing with a long sentence that goes on.\n\n"
        "Examples:\n\n"
        "hulian a --x   # one\nhulian b | jq '.links[]'\n\n"
        "Items:\n- first item that goes on\n- second \\[browser]")


def test_reflow_keeps_click_no_rewrap_paragraphs() -> None:
    assert reflow("Title.\n\n\b\nkeep\nthese lines") == "Title.\n\n\b\nkeep\nthese lines"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _observation(outcome: str) -> Observation:
    return Observation(id="o", probe_id="p", source="testforum", surface=SurfaceKind.POST,
                       target_url="https://shop.test/", outcome=Outcome(outcome))


def test_progress_off_a_terminal_is_a_plain_line_every_few_seconds() -> None:
    buffer = io.StringIO()
    clock = _Clock()
    bar = _Progress(Console(file=buffer, width=40), interval=5, clock=clock)  # a narrow log
    assert not bar.live
    with bar:
        bar("planned", 300)
        for i in range(250):  # 20 a second, 12.5 s in all
            bar("response", None)
            clock.now = 100 + (i + 1) / 20
            bar("observation", _observation("blocked" if i % 5 else "direct"))
        bar("measured", None)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3  # at 5 s, at 10 s and the final counts
    assert lines[0] == ("progress 进度: 100/300 probes, 100 req (20/s), 0:00:05, "
                        "blocked 80 direct 20")
    assert lines[-1] == ("progress 进度: 250/300 probes, 250 req (20/s), 0:00:12, "
                         "blocked 200 direct 50")
    # Whole lines, wider than the console: never cut or wrapped at its width.
    assert "…" not in buffer.getvalue() and "━" not in buffer.getvalue()


def test_progress_on_a_terminal_is_rich_and_prints_no_plain_line() -> None:
    buffer = io.StringIO()
    bar = _Progress(Console(file=buffer, width=120, force_terminal=True))
    assert bar.live
    with bar:
        bar("planned", 2)
        bar("measured", None)
    assert "progress 进度" not in buffer.getvalue() and "probes 探测" in buffer.getvalue()


def test_a_run_logged_to_a_file_has_plain_progress_and_no_cut_frame(tmp_path: Path) -> None:
    links = "".join(f'<a href="http://shop.test/{i}">t{i}</a>' for i in range(3))
    robots = (200, {"Content-Type": "text/plain"}, b"User-agent: *\n")
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/robots.txt": robots, "shop.test/robots.txt": robots,
        "forum.test/post/1": (200, {}, f"<p>{links}</p>".encode()),
        **{f"shop.test/{i}": (200, {}, b"<p>ok</p>") for i in range(3)}}
    with serve(pages) as site:
        result = subprocess.run(
            [sys.executable, "-m", "audit.cli", "--policies",
             str(forum_policies(tmp_path / "policies")), "run", "--seed",
             "testforum:post:http://forum.test/post/1", "--route", f"forum.test={site.url}",
             "--route", f"shop.test={site.url}", "--source", "testforum", "--out",
             str(tmp_path / "runs"), "--run-id", "r", "--json", "--report-format", ""],
            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["observations"] == 3
    progress = [line for line in result.stderr.splitlines() if "progress" in line]
    assert progress and progress[-1].startswith("progress 进度: 3/3 probes, ")
    assert "…" not in result.stderr and "━" not in result.stderr and "探测" not in result.stderr


@pytest.fixture
def empty_har(tmp_path: Path) -> Path:
    har = tmp_path / "empty.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": []}}), encoding="utf-8")
    return har


@pytest.mark.parametrize("out", ["runs/new", "existing/new"])
def test_capture_analyze_refusing_its_plan_leaves_no_bundle(
        tmp_path: Path, empty_har: Path, out: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    plan = tmp_path / "plan.json"
    plan.write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["capture", "analyze", str(empty_har), "--plan", str(plan),
                                 "--out", out], env=WIDE)
    assert result.exit_code == 1
    assert "not a hulian capture plan" in result.output
    assert not (tmp_path / out).exists()
    assert not (tmp_path / "runs").exists()  # made for the bundle, so removed with it
    assert (tmp_path / "existing").is_dir()  # was there before: stays


def test_capture_analyze_refusing_every_file_leaves_no_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("not a capture\n", encoding="utf-8")
    result = runner.invoke(app, ["capture", "analyze", str(junk), "--out",
                                 str(tmp_path / "runs" / "x")], env=WIDE)
    assert result.exit_code == 1
    assert "no run bundle was written" in result.output
    assert not (tmp_path / "runs").exists()


def test_capture_analyze_keeps_a_bundle_that_was_there(tmp_path: Path, empty_har: Path) -> None:
    """A refusal never removes what it did not create: an existing bundle directory stays."""
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "notes.txt").write_text("mine", encoding="utf-8")
    plan = tmp_path / "plan.json"
    plan.write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["capture", "analyze", str(empty_har), "--plan", str(plan),
                                 "--out", str(run)], env=WIDE)
    assert result.exit_code == 1
    assert (run / "notes.txt").read_text(encoding="utf-8") == "mine"


def _leaves() -> list[tuple[tuple[str, ...], Any]]:
    return [(path, command) for path, command in COMMANDS
            if path and not getattr(command, "commands", None)]


def _example_lines(command: Any) -> list[str]:
    """The help's example commands: its lines that begin with `hulian ` (alone or after
    "Example:"), a trailing comment and pipe cut off."""
    found = []
    for line in inspect.cleandoc(command.help or "").splitlines():
        text = line.strip().removeprefix("Example:").strip()
        if text.startswith("hulian "):
            found.append(text.split(" #")[0].split(" | ")[0].split(" && ")[0].split(" >")[0])
    return found


def test_every_command_with_options_shows_an_example() -> None:
    # A command that takes more than one argument or option (besides --help and --json)
    # teaches by example (README, "Commands").
    missing = [" ".join(path) for path, command in _leaves()
               if len([p for p in command.params if p.name not in ("help", "json_output")]) > 1
               and not _example_lines(command)]
    assert missing == []


def test_each_example_names_a_command_and_options_it_has() -> None:
    # An example that names a flag its command lost would teach the user an error.
    import shlex

    root: Any = typer.main.get_command(app)  # a group: its commands by name
    global_options = {o for p in root.params for o in (*p.opts, *p.secondary_opts)}
    checked = 0
    for path, command in _leaves():
        for example in _example_lines(command):
            words = shlex.split(example)[1:]
            while words and words[0].startswith("--"):  # hulian's own options first
                assert words.pop(0) in global_options, example
                words.pop(0)  # their value
            target: Any = root
            named: tuple[str, ...] = ()
            while getattr(target, "commands", None) and words and words[0] in target.commands:
                named += (words[0],)
                target = target.commands[words.pop(0)]
            assert named == path, example
            options = {o for p in target.params for o in (*p.opts, *p.secondary_opts)}
            for word in words:
                if word == "--":  # what follows is `hulian run`'s (schedule add)
                    options = {o for p in root.commands["run"].params
                               for o in (*p.opts, *p.secondary_opts)}
                elif word.startswith("-") and word != "-":
                    assert word.split("=")[0] in options, (example, word)
            checked += 1
    assert checked > 30
