"""Executable documentation: run every fenced block of a Markdown file, in document order.

Each document runs in a fresh working directory holding a copy of the repository's
``examples/`` (and of ``docs/examples/`` when there is one), with a fresh *overlay*
virtual environment first on ``PATH``: a venv whose ``site-packages`` also imports
everything installed in the test venv (a ``.pth`` file adds it), so ``pip install`` in a
document installs into the overlay and nothing is left behind in the test venv. The
overlay's ``bin`` has ``python``, ``pip`` and ``flagship`` (``python -m flagship.sandbox``),
so documented commands see what documented installs added.

What each block language means:

* ``python``: executed in the document's own Python process (the overlay's interpreter,
  started in the working directory), one namespace per document, blocks in order.
  Tracebacks name the document and line.
* ``sh``, ``bash``, ``shell``: each command (a line, joined with the next while it ends
  in ``\\``; blank lines and ``#`` comment lines are skipped) runs with ``bash -o
  pipefail -c`` in the working directory and must exit 0. Shell state (``cd``,
  variables) does not carry from one command to the next.
* ``console``: lines starting with ``$ `` are commands as above; the lines that follow a
  command are its expected output (matched as for ``expect-output`` below).
* ``toml``, ``json``, ``yaml``: must parse.
* ``text``, ``mermaid``: shown to the reader (output, usage lines, diagrams); nothing runs.

Any other language, or a fence without one, fails: no block is skipped silently.

Directives are HTML comments on a line of their own, before the block they apply to:

* ``<!-- file: PATH -->``: write the block to ``PATH`` (relative to the working
  directory) instead of running it; ``<!-- append: PATH -->`` appends to it after a
  blank line (a file shown in parts). A data block (toml, json, yaml) is also parsed.
* ``<!-- exit: N -->``: every command of the next shell block must exit with ``N``.
* ``<!-- capture: NAME = REGEX -->``: after the next block runs, ``REGEX`` (multiline)
  must match its output; group 1 (else the whole match) becomes the environment
  variable ``NAME`` of every later command (``$NAME``) and Python block
  (``os.environ``).
* ``<!-- background: wait-for URL -->``: the next shell block holds one long-running
  command (``flagship serve``): it is started in the background and the document goes
  on once ``URL`` answers 200 (at most 60 s). It is stopped with SIGINT, like Ctrl-C,
  at ``<!-- stop-background -->`` (before the block that follows that directive) or at
  the end of the document, and must then exit cleanly.
* ``<!-- expect-output -->``: the next block (``text``) is output shown to the reader:
  each of its non-blank lines must be found, in order, in the output of the previous
  block that ran. Whitespace runs compare equal to one space and ``...`` matches
  anything within a line.
* ``<!-- port: N -->``: the document's port ``N`` (in ``127.0.0.1:N``,
  ``localhost:N`` and ``--port N``) is replaced by a free port everywhere, so
  documents can show a fixed port and still run beside other tests.

Commands also see ``COLUMNS=200``, so tables printed to a pipe are as wide as on a
large terminal.

The one exception: the README's two Quickstart commands (:data:`QUICKSTART_COMMANDS`)
create a virtual environment and install the project into it, which takes minutes. The
harness does not run them: CI runs the second exactly as written (``.ci/run``), and the
first is the same install without the test extra followed by one ``flagship run`` of an
example. ``test_docs.py`` asserts that exactly these two commands are skipped, and that
they are the Quickstart's only commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml  # type: ignore[import-untyped]

__all__ = [
    "QUICKSTART_COMMANDS",
    "Block",
    "DocError",
    "Overlay",
    "Step",
    "Transcript",
    "make_overlay",
    "match_output",
    "parse",
    "run_document",
    "shell_commands",
]

QUICKSTART_COMMANDS = (
    "python3 -m venv .venv && .venv/bin/pip install . && "
    ".venv/bin/flagship run examples/full_stack_pilot.toml --criteria examples/criteria.toml",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' ./tests/plugin && .venv/bin/pytest -n auto",
)
"""The README commands the harness does not run (see the module doc)."""

SHELLS = frozenset({"sh", "bash", "shell"})
DATA = frozenset({"toml", "json", "yaml"})
SHOWN = frozenset({"text", "mermaid"})
LANGUAGES = SHELLS | DATA | SHOWN | {"python", "console"}
DIRECTIVES = frozenset({"file", "append", "exit", "capture", "background", "stop-background",
                        "expect-output", "port"})

COMMAND_TIMEOUT = 180.0
"""Seconds any one command or Python block may take."""
READY_TIMEOUT = 60.0
"""Seconds a background command has to answer its wait-for URL."""
STOP_TIMEOUT = 30.0
"""Seconds a background command has to exit after SIGINT."""
STOPPED_TAIL_LINES = 30
"""Lines of a stopped background command's output shown when a later command fails."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<key>[a-z][a-z-]*)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$")


class DocError(AssertionError):
    """A block that failed, named by document and line."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Directive:
    key: str
    value: str
    line: int


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and the directives before it."""

    doc: str
    line: int
    lang: str
    text: str
    directives: tuple[Directive, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    def get(self, key: str) -> Directive | None:
        found = [d for d in self.directives if d.key == key]
        if len(found) > 1:
            raise DocError(self.where, f"directive {key!r} given {len(found)} times")
        return found[0] if found else None


@dataclass
class Step:
    """What ran for one block (or one command of a shell block) and what it printed."""

    where: str
    kind: str
    source: str
    output: str
    returncode: int | None = None


@dataclass
class Transcript:
    """Everything a document's run did, for the tests' own assertions."""

    doc: str
    steps: list[Step] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    captured: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def output(self) -> str:
        return "\n".join(step.output for step in self.steps)


# -- parsing --------------------------------------------------------------------------------


def parse(text: str, doc: str) -> tuple[list[Block], list[int]]:
    """The document's blocks in order, and the ports its ``port`` directives name."""
    blocks: list[Block] = []
    ports: list[int] = []
    pending: list[Directive] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence is None:
            directive = _DIRECTIVE.match(line)
            if directive is not None and directive["key"] in DIRECTIVES:
                found = Directive(directive["key"], (directive["value"] or "").strip(), index + 1)
                if found.key == "port":
                    if not found.value.isdigit():
                        raise DocError(f"{doc}:{index + 1}", f"port: expected a number, got {found.value!r}")
                    ports.append(int(found.value))
                else:
                    pending.append(found)
            index += 1
            continue
        indent, marks = fence["indent"], fence["fence"]
        info = fence["info"].strip()
        if marks[0] == "`" and "`" in info:
            index += 1  # an inline code span that happens to start a line, not a fence
            continue
        lang = info.split()[0].lower() if info else ""
        start = index + 1
        body: list[str] = []
        index += 1
        while index < len(lines):
            close = _FENCE.match(lines[index])
            if close is not None and close["fence"][0] == marks[0] and len(close["fence"]) >= len(marks) \
                    and not close["info"].strip():
                break
            content = lines[index]
            body.append(content[len(indent):] if content.startswith(indent) else content.lstrip())
            index += 1
        else:
            raise DocError(f"{doc}:{start}", "the fence is never closed")
        blocks.append(Block(doc, start, lang, "\n".join(body) + "\n", tuple(pending)))
        pending = []
        index += 1
    if pending:
        raise DocError(f"{doc}:{pending[0].line}", f"directive {pending[0].key!r} is not followed by a block")
    return blocks, ports


def shell_commands(block: Block) -> list[tuple[int, str]]:
    """(line, command) for each command of a shell block, continuation lines joined."""
    commands: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0
    for offset, raw in enumerate(block.text.splitlines(), start=1):
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not current:
            first = block.line + offset
        if line.endswith("\\"):
            current.append(line[:-1].strip())
            continue
        current.append(line.strip())
        commands.append((first, " ".join(part for part in current if part)))
        current = []
    if current:
        raise DocError(block.where, "the last command ends with a line continuation")
    return commands


def console_commands(block: Block) -> list[tuple[int, str, list[str]]]:
    """(line, command, expected output lines) for each ``$ `` command of a console block."""
    items: list[tuple[int, str, list[str]]] = []
    continuing = False
    for offset, line in enumerate(block.text.splitlines(), start=1):
        if continuing:
            line_number, command, expected = items[-1]
            continuing = line.rstrip().endswith("\\")
            items[-1] = (line_number, f"{command} {line.rstrip().removesuffix(chr(92)).strip()}", expected)
        elif line.startswith("$ "):
            continuing = line.rstrip().endswith("\\")
            items.append((block.line + offset, line[2:].rstrip().removesuffix("\\").strip(), []))
        elif line.strip():
            if not items:
                raise DocError(block.where, "console output before any `$ ` command")
            items[-1][2].append(line)
    if not items:
        raise DocError(block.where, "a console block without a `$ ` command")
    return items


# -- output matching --------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.split())


def match_output(expected: Sequence[str], output: str) -> str | None:
    """``None`` when every non-blank expected line is found in order in ``output``, else why not."""
    lines = [_squash(line) for line in output.splitlines()]
    position = 0
    for wanted in expected:
        squashed = _squash(wanted)
        if not squashed:
            continue
        pattern = re.compile(".*?".join(re.escape(part) for part in squashed.split("...")))
        for index in range(position, len(lines)):
            if pattern.search(lines[index]):
                position = index + 1
                break
        else:
            return f"expected output line not found (in order): {wanted.strip()!r}"
    return None


# -- the overlay environment ------------------------------------------------------------------


@dataclass(frozen=True)
class Overlay:
    """A throwaway venv layered over the test venv: installs go here, imports see both."""

    root: Path
    python: Path
    bin: Path

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PATH"] = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), base.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(self.root)
        env.pop("PYTHONHOME", None)
        env["COLUMNS"] = "200"
        env["PYTHONUNBUFFERED"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return env


def make_overlay(root: Path) -> Overlay:
    """Create the overlay venv at ``root`` (no pip of its own: the test venv's pip runs in it)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   capture_output=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    parents = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in parents)
    (Path(site) / "_flagship_docs_parent.pth").write_text(lines)
    scripts = {"pip": "-m pip", "pip3": "-m pip", "flagship": "-m flagship.sandbox"}
    for name, module in scripts.items():
        script = root / "bin" / name
        script.write_text(f'#!/bin/sh\nexec "{python}" {module} "$@"\n')
        script.chmod(0o755)
    return Overlay(root, python, root / "bin")


# -- running ----------------------------------------------------------------------------------


_WORKER = r"""
import contextlib, io, json, os, sys, traceback, types
proto = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
module = types.ModuleType("__docs__")
sys.modules["__docs__"] = module
for line in sys.stdin:
    message = json.loads(line)
    os.environ.update(message["env"])
    buffer = io.StringIO()
    ok, error = True, ""
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            exec(compile("\n" * message["line"] + message["code"], message["file"], "exec"), module.__dict__)
        except BaseException:
            ok, error = False, traceback.format_exc()
    proto.write(json.dumps({"ok": ok, "output": buffer.getvalue(), "error": error}) + "\n")
    proto.flush()
"""


class _Python:
    """The document's Python process: one namespace, fed block by block."""

    def __init__(self, overlay: Overlay, cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._log = log.open("wb")  # what the process itself writes to stderr (a crash, say)
        self.process = subprocess.Popen([str(overlay.python), "-u", "-c", _WORKER], cwd=cwd, env=dict(env),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                        text=True)
        self.replies: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        self.reader = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.replies.put(line)
        self.replies.put("")

    def run(self, block: Block, code: str, path: Path, env: Mapping[str, str]) -> str:
        stdin = self.process.stdin
        assert stdin is not None
        message = {"code": code, "line": block.line, "file": str(path), "env": dict(env)}
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        try:
            line = self.replies.get(timeout=COMMAND_TIMEOUT)
        except queue.Empty:
            raise DocError(block.where,
                           f"the Python block did not finish within {COMMAND_TIMEOUT:g} s") from None
        if not line:
            self._log.flush()
            raise DocError(block.where, f"the document's Python process died:\n"
                                        f"{self.log.read_text(errors='replace')[-3000:]}")
        reply: dict[str, Any] = json.loads(line)
        if not reply["ok"]:
            raise DocError(block.where, f"the Python block raised:\n{reply['output']}{reply['error']}")
        output: str = reply["output"]
        return output

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


class _Background:
    """A long-running documented command (``flagship serve``), stopped as a reader would: Ctrl-C."""

    def __init__(self, block: Block, command: str, cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.block = block
        self.command = command
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=dict(env),
                                        stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.log.read_text(errors="replace")

    def wait_for(self, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DocError(self.block.where, f"{self.command!r} exited with {self.process.returncode} "
                                                 f"before {url} answered:\n{self.output()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DocError(self.block.where,
                       f"{url} did not answer 200 within {READY_TIMEOUT:g} s:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                self._file.close()
                raise DocError(self.block.where, f"{self.command!r} did not stop within {STOP_TIMEOUT:g} s "
                                                 f"of SIGINT:\n{self.output()}") from None
        self._file.close()
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _parse_data(block: Block) -> None:
    try:
        if block.lang == "toml":
            tomllib.loads(block.text)
        elif block.lang == "json":
            json.loads(block.text)
        elif block.lang == "yaml":
            yaml.safe_load(block.text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DocError(block.where, f"the {block.lang} block does not parse: {exc}") from None


def _check_directives(block: Block) -> None:
    allowed = {"stop-background"}
    if block.lang in SHELLS:
        allowed |= {"exit", "capture", "background"}
    elif block.lang == "console":
        allowed |= {"exit", "capture"}
    elif block.lang == "python":
        allowed |= {"file", "append", "capture"}
    elif block.lang in SHOWN:
        allowed |= {"file", "append", "expect-output"}
    else:
        allowed |= {"file", "append"}
    for directive in block.directives:
        if directive.key not in allowed:
            raise DocError(block.where,
                           f"directive {directive.key!r} does not apply to a {block.lang or 'bare'} block")
    if block.get("file") and block.get("append"):
        raise DocError(block.where, "give either file or append, not both")


class _Run:
    def __init__(self, path: Path, doc: str, work: Path, overlay: Overlay, *, skip: Sequence[str]) -> None:
        self.path = path
        self.work = work
        self.overlay = overlay
        self.skip = tuple(skip)
        self.transcript = Transcript(doc)
        self.captured: dict[str, str] = {}
        self.last_output: str | None = None
        self.background: list[_Background] = []
        self.stopped: list[_Background] = []  # the last stop-background's processes, for diagnosis
        self.ports: dict[int, int] = {}
        self._python: _Python | None = None

    # -- helpers --

    def env(self) -> dict[str, str]:
        return {**self.overlay.env(os.environ), **self.captured}

    def substitute(self, text: str) -> str:
        for shown, real in self.ports.items():
            text = re.sub(rf"(?<=127\.0\.0\.1:){shown}\b|(?<=localhost:){shown}\b|(?<=--port ){shown}\b",
                          str(real), text)
        return text

    def python(self) -> _Python:
        if self._python is None:
            self._python = _Python(self.overlay, self.work, self.env(), self.work.parent / "python.log")
        return self._python

    def target(self, block: Block, relative: str) -> Path:
        path = (self.work / relative).resolve()
        if not relative or Path(relative).is_absolute() or not path.is_relative_to(self.work.resolve()):
            raise DocError(block.where,
                           f"file: expected a path inside the working directory, got {relative!r}")
        return path

    def capture(self, block: Block, output: str) -> None:
        directive = block.get("capture")
        if directive is None:
            return
        name, sep, pattern = directive.value.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise DocError(block.where, f"capture: expected NAME = REGEX, got {directive.value!r}")
        found = re.search(pattern.strip(), output, re.M)
        if found is None:
            raise DocError(block.where, f"capture {name}: {pattern.strip()!r} does not match the output:\n"
                                        f"{output}")
        value = found.group(1) if found.re.groups else found.group(0)
        self.captured[name] = value
        self.transcript.captured[name] = value

    def stop_background(self) -> None:
        if self.background:
            self.stopped = []
        while self.background:
            process = self.background.pop(0)
            self.stopped.append(process)
            code = process.stop()
            self.transcript.steps.append(Step(process.block.where, "stopped", process.command,
                                              process.output(), code))
            if code not in (0, -signal.SIGINT, 128 + signal.SIGINT):
                raise DocError(process.block.where, f"{process.command!r} exited with {code} after SIGINT:\n"
                                                    f"{process.output()}")

    # -- blocks --

    def run(self, blocks: Sequence[Block]) -> None:
        try:
            for block in blocks:
                _check_directives(block)
                if block.get("stop-background") is not None:
                    self.stop_background()
                self.block(block)
            self.stop_background()
        finally:
            for process in self.background:
                with contextlib.suppress(Exception):
                    process.stop()
            if self._python is not None:
                self._python.close()

    def block(self, block: Block) -> None:
        if block.lang not in LANGUAGES:
            raise DocError(block.where, f"cannot run a block of language {block.lang or '(none)'!r}; "
                                        "tag output, diagrams and usage lines as text")
        written = block.get("file") or block.get("append")
        if block.lang in DATA:
            _parse_data(block)
        if written is not None:
            path = self.target(block, written.value)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a" if written.key == "append" else "w") as handle:
                handle.write(("\n" if written.key == "append" else "") + self.substitute(block.text))
            self.transcript.files.append(written.value)
            return
        if block.lang == "python":
            code = self.substitute(block.text)
            output = self.python().run(block, code, self.path, self.captured)
            self.transcript.steps.append(Step(block.where, "python", code, output))
            self.last_output = output
            self.capture(block, output)
        elif block.lang in SHELLS:
            self.shell(block)
        elif block.lang == "console":
            self.console(block)
        elif block.lang in SHOWN and block.get("expect-output") is not None:
            if self.last_output is None:
                raise DocError(block.where, "expect-output: no block has run before this one")
            problem = match_output(self.substitute(block.text).splitlines(), self.last_output)
            if problem is not None:
                raise DocError(block.where, f"{problem}; the output was:\n{self.last_output}")

    def expected_exit(self, block: Block) -> int:
        directive = block.get("exit")
        if directive is None:
            return 0
        if not directive.value.isdigit():
            raise DocError(block.where, f"exit: expected a number, got {directive.value!r}")
        return int(directive.value)

    def command(self, block: Block, line: int, command: str, expected: int) -> str:
        where = f"{block.doc}:{line}"
        if command in self.skip:
            self.transcript.skipped.append(command)
            return ""
        actual = self.substitute(command)
        try:
            done = subprocess.run(["bash", "-o", "pipefail", "-c", actual], cwd=self.work, env=self.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=COMMAND_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DocError(where, f"{command!r} did not finish within {COMMAND_TIMEOUT:g} s:\n"
                                  f"{exc.output or ''}") from None
        self.transcript.steps.append(Step(where, "command", actual, done.stdout, done.returncode))
        if done.returncode != expected:
            raise DocError(where, f"{command!r} exited with {done.returncode}, expected {expected}:\n"
                                  f"{done.stdout}{self.stopped_tails()}")
        return done.stdout

    def stopped_tails(self) -> str:
        """The last lines of what the most recently stopped background commands printed: a command
        that reads what a server left (``flagship verify`` after ``flagship serve``) fails for the
        server's reasons, which only its own output tells."""
        tails = []
        for process in self.stopped:
            lines = process.output().splitlines()[-STOPPED_TAIL_LINES:]
            tails.append(f"\n--- the last {len(lines)} lines of {process.command!r} "
                         f"({process.block.where}), stopped before this command ---\n" + "\n".join(lines))
        return "".join(tails)

    def shell(self, block: Block) -> None:
        commands = shell_commands(block)
        if not commands:
            raise DocError(block.where, "a shell block without a command")
        background = block.get("background")
        if background is not None:
            url = background.value.removeprefix("wait-for").strip()
            if not background.value.startswith("wait-for") or not url.startswith("http"):
                raise DocError(block.where, f"background: expected 'wait-for URL', got {background.value!r}")
            if len(commands) != 1:
                raise DocError(block.where, "a background block holds exactly one command")
            line, command = commands[0]
            process = _Background(block, self.substitute(command), self.work, self.env(),
                                  self.work.parent / f"background-{line}.log")
            self.background.append(process)
            process.wait_for(self.substitute(url))
            output = process.output()
            self.transcript.steps.append(Step(f"{block.doc}:{line}", "background", process.command, output))
        else:
            expected = self.expected_exit(block)
            output = "".join(self.command(block, line, command, expected) for line, command in commands)
        self.last_output = output
        self.capture(block, output)

    def console(self, block: Block) -> None:
        expected = self.expected_exit(block)
        outputs = []
        for line, command, shown in console_commands(block):
            output = self.command(block, line, command, expected)
            problem = match_output(shown, output)
            if problem is not None:
                raise DocError(f"{block.doc}:{line}", f"{problem}; the output was:\n{output}")
            outputs.append(output)
        self.last_output = "".join(outputs)
        self.capture(block, self.last_output)


def copy_examples(repo: Path, work: Path) -> None:
    shutil.copytree(repo / "examples", work / "examples")
    # Scripts the docs ship for readers (docs/examples/verify_chain.py), where the repository has them:
    # the harness's own tests build small repositories without a docs/ folder.
    shipped = repo / "docs" / "examples"
    if shipped.is_dir():
        shutil.copytree(shipped, work / "docs" / "examples")


def run_document(path: Path, repo: Path, tmp: Path, *, skip: Sequence[str] = ()) -> Transcript:
    """Run every block of the document at ``path`` in a fresh directory under ``tmp``."""
    started = time.monotonic()
    doc = path.relative_to(repo).as_posix()
    blocks, ports = parse(path.read_text(), doc)
    work = tmp / "work"
    work.mkdir()
    copy_examples(repo, work)
    overlay = make_overlay(tmp / "venv")
    run = _Run(path, doc, work, overlay, skip=skip)
    run.ports = {shown: free_port() for shown in ports}
    try:
        run.run(blocks)
    finally:
        run.transcript.seconds = time.monotonic() - started
    return run.transcript
