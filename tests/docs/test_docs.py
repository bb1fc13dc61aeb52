"""The documentation runs: every fenced block of README.md and docs/*.md, in document order.

``test_document_runs[<doc>]`` runs one document with the harness in ``_harness.py`` (its
docstring lists the conventions) and then checks the outcomes the document promises
its reader, so a document cannot pass by showing less. The harness's own behaviour
(nothing is skipped silently, failures name the document and line) is tested on small
documents written here.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib.metadata import distributions
from pathlib import Path

import pytest

from tests.docs._harness import (
    QUICKSTART_COMMANDS,
    DocError,
    Transcript,
    match_output,
    parse,
    run_document,
    shell_commands,
)

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

PROMISES: dict[str, list[str]] = {
    # What each document's run must show, beyond every command's exit code and every
    # expect-output block: patterns searched in the combined output of its blocks.
    "docs/tutorial.md": [
        r"quadratic_vote\s+│\s+quadvote\.vote",  # `flagship list` finds the plug-in
        r"cardinal_voters\s+│\s+quadvote\.voters",
        r"conformance: \d+ accepted, \d+ rejected",  # the kit passed (it raises otherwise)
        r"no_mutation_on_reject: state changed although 'ballot' was rejected",  # ...and catches a bug
        r"sweep [0-9a-f]{32} \(qv_vs_ranked\): 2 cells x 2 arms x 5 seeds = 20 runs; ran 20 now \(0 failed\)",
        r"voters\.welfare_efficiency\s+│[^\n]*│[^\n]*│",  # both arms' columns in the sweep summary
        r"INCONCLUSIVE: 2 pass, 0 fail, 1 inconclusive of 3 criteria",  # 5 seeds cannot show >= 0.9
        r"trial [0-9a-f]{32}: ok \(\d+ entries, \d+ signed checkpoints",
        r"replayed \d+ entries \(7 from clients\) to sim time [\d.]+: "
        r"every outcome and state hash reproduced",
        r"counterfactual: mechanisms\.quadratic_vote\.credits=64",
    ],
    "README.md": [
        r"measure\s+┃ unit\s+┃ better\s+┃\s+baseline ┃\s+screen ┃\s+value_priority ┃",  # 3 arms
        r"┃\s+deliberation ┃\s+no_deliberation ┃\s+whole_electorate ┃",
        r"deceptive\.false_admission_rate", r"honest\.false_rejection_rate",
        r"value_market\.allocative_efficiency",
    ],
    "docs/legitimacy.md": [
        r"null model gap\s+[+-]0\.\d+ \[-0\.\d+, \+0\.\d+\]",  # the null gap's interval holds 0
        r"losers accept the decision[^\n]*│ (pass|inconclusive)",
        r"losers accept the decision[^\n]*│ fail: ",  # ...and fails under its contrast (the audit)
    ],
    "docs/live.md": [
        r"trial [0-9a-f]{32}: ok \(\d+ entries, \d+ signed checkpoints",
        r"every outcome and state hash reproduced",
        r"counterfactual: mechanisms\.posted_price\.price=80",
    ],
    "docs/experiments.md": [
        r"sweep [0-9a-f]{32} \(posted_price\): 3 cells x 2 arms x 10 seeds = 60 runs; "
        r"ran 60 now \(0 failed\)",
        r"report: report/report\.html",
    ],
}


#: Programs a document may run that are not Python packages: on a machine without one the
#: document is skipped with how to install it, except under CI (CI=true), where it fails.
EXTERNAL_TOOLS = {
    "promtool": "Debian: apt-get install -y prometheus",
    "curl": "Debian: apt-get install -y curl",
    "chromium": "Debian: apt-get install -y chromium",
}


def _missing_tools(path: Path) -> list[str]:
    blocks, _ = parse(path.read_text(), _doc_id(path))
    used = {word for block in blocks if block.lang == "sh" for _, command in shell_commands(block)
            for word in re.split(r"[\s|;&()]+", command) if word in EXTERNAL_TOOLS}
    return sorted(tool for tool in used if shutil.which(tool) is None)


def _doc_id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _installed() -> set[str]:
    return {f"{dist.metadata['Name']}=={dist.version}" for dist in distributions()}


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCUMENTS, ids=_doc_id)
def test_document_runs(path: Path, tmp_path: Path) -> None:
    doc = _doc_id(path)
    missing = _missing_tools(path)
    if missing:
        how = "; ".join(EXTERNAL_TOOLS[tool] for tool in missing)
        message = f"{doc} runs {', '.join(missing)}, not installed here ({how})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    skip = QUICKSTART_COMMANDS if doc == "README.md" else ()
    installed = _installed()
    transcript = run_document(path, REPO, tmp_path, skip=skip)
    assert _installed() == installed, "a document installed into the test venv, not its overlay"
    if doc == "README.md":
        assert transcript.skipped == list(QUICKSTART_COMMANDS), transcript.skipped
    else:
        assert transcript.skipped == []
    output = transcript.output()
    for pattern in PROMISES.get(doc, []):
        assert re.search(pattern, output), f"{doc}: nothing in its run's output matches {pattern!r}"
    print(f"{doc}: {len(transcript.steps)} steps in {transcript.seconds:.1f} s")


def test_every_promise_names_a_document() -> None:
    assert set(PROMISES) <= {_doc_id(path) for path in DOCUMENTS}


def test_only_the_quickstart_commands_are_exempt() -> None:
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks, _ = parse(quickstart, "README.md")
    commands = [command for block in blocks if block.lang == "sh" for _, command in shell_commands(block)]
    assert commands == list(QUICKSTART_COMMANDS)
    ci = (REPO / ".ci" / "run").read_text()
    assert QUICKSTART_COMMANDS[1] in ci, "CI must run the exempt test command as the README shows it"


# -- the harness itself ----------------------------------------------------------------------------


def _run(tmp_path: Path, text: str) -> Transcript:
    (tmp_path / "repo" / "examples").mkdir(parents=True)
    doc = tmp_path / "repo" / "doc.md"
    doc.write_text(text)
    run = tmp_path / "run"
    run.mkdir()
    return run_document(doc, tmp_path / "repo", run)


def _fails(tmp_path: Path, text: str, where: str, message: str) -> None:
    with pytest.raises(DocError) as caught:
        _run(tmp_path, text)
    assert caught.value.where == where, str(caught.value)
    assert message in str(caught.value), str(caught.value)


@pytest.mark.parametrize("fence", ["```", "```ruby", "~~~perl"])
def test_a_block_it_cannot_run_fails(tmp_path: Path, fence: str) -> None:
    _fails(tmp_path, f"# Doc\n\n{fence}\nputs 1\n{fence[:3]}\n", "doc.md:3", "cannot run a block of language")


def test_a_failing_command_fails_naming_its_line(tmp_path: Path) -> None:
    _fails(tmp_path, "```sh\ntrue\n\nfalse   # fails\n```\n", "doc.md:4", "exited with 1, expected 0")


def test_an_expected_exit_code_is_checked(tmp_path: Path) -> None:
    transcript = _run(tmp_path, "<!-- exit: 3 -->\n```sh\nexit 3\n```\n")
    assert [step.returncode for step in transcript.steps] == [3]
    _fails(tmp_path / "again", "<!-- exit: 3 -->\n```sh\ntrue\n```\n", "doc.md:3",
           "exited with 0, expected 3")


def test_files_captures_and_continuations(tmp_path: Path) -> None:
    transcript = _run(tmp_path, """
<!-- file: conf/a.toml -->
```toml
x = 1
```

<!-- append: conf/a.toml -->
```toml
y = 2
```

<!-- capture: ID = id ([0-9a-f]+) -->
```sh
cat conf/a.toml && \\
  echo "id 1b03"
```

```sh
echo "got $ID" > got.txt
```

```python
import os
print(open("got.txt").read().strip(), os.environ["ID"])
```

<!-- expect-output -->
```text
got ... 1b03
```
""")
    assert transcript.captured == {"ID": "1b03"}
    assert transcript.files == ["conf/a.toml", "conf/a.toml"]
    assert "x = 1\n\ny = 2\n" in transcript.steps[0].output  # appended after a blank line


def test_python_blocks_share_a_namespace_and_name_their_line(tmp_path: Path) -> None:
    transcript = _run(tmp_path, "```python\nx = 41\n```\n\n```python\nprint(x + 1)\n```\n")
    assert transcript.steps[-1].output == "42\n"
    _fails(tmp_path / "again", "Text.\n\n```python\nx = 1\nraise ValueError('boom')\n```\n", "doc.md:3",
           "doc.md\", line 5")


def test_output_shown_to_the_reader_must_match(tmp_path: Path) -> None:
    _fails(tmp_path, "```sh\necho hello\n```\n\n<!-- expect-output -->\n```text\ngoodbye\n```\n", "doc.md:6",
           "expected output line not found")


def test_data_blocks_must_parse(tmp_path: Path) -> None:
    _fails(tmp_path, "```json\n{\"a\": 1,}\n```\n", "doc.md:1", "does not parse")
    _fails(tmp_path / "toml", "```toml\na = \n```\n", "doc.md:1", "does not parse")


def test_a_directive_must_apply_to_a_block(tmp_path: Path) -> None:
    _fails(tmp_path, "```sh\ntrue\n```\n\n<!-- capture: X = y -->\n", "doc.md:5", "not followed by a block")
    _fails(tmp_path / "lang", "<!-- expect-output -->\n```sh\ntrue\n```\n", "doc.md:2", "does not apply")


def _served(farewell: str) -> str:
    """A document serving HTTP in the background on port 8000, printing ``farewell`` on Ctrl-C."""
    return f"""<!-- file: serve.py -->
```python
import http.server, sys
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), http.server.SimpleHTTPRequestHandler)
try:
    server.serve_forever()
except KeyboardInterrupt:
    print({farewell!r})
```

<!-- port: 8000 -->
<!-- background: wait-for http://127.0.0.1:8000/ -->
```sh
python serve.py --port 8000
```
"""


def test_a_background_command_is_served_then_stopped(tmp_path: Path) -> None:
    transcript = _run(tmp_path, _served("bye") + """
```python
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:8000/").status)
```

<!-- stop-background -->
```sh
echo stopped
```
""")
    kinds = [step.kind for step in transcript.steps]
    assert kinds == ["background", "python", "stopped", "command"]
    assert transcript.steps[1].output == "200\n"
    assert "bye" in transcript.steps[2].output and transcript.steps[2].returncode == 0
    assert "8000" not in transcript.steps[0].source  # the shown port was replaced by a free one


def test_a_command_failing_after_a_stop_shows_the_stopped_commands_last_lines(tmp_path: Path) -> None:
    """What a server printed as it stopped explains a later check of what it left."""
    text = _served("no final checkpoint: the disk is full") + """
<!-- stop-background -->
```sh
test -f checkpoint
```
"""
    _fails(tmp_path, text, "doc.md:19", "no final checkpoint: the disk is full")
    # Without a stop before it, a failing command shows only its own output.
    with pytest.raises(DocError) as caught:
        _run(tmp_path / "again", "```sh\nfalse\n```\n")
    assert "stopped before this command" not in str(caught.value)


def test_match_output() -> None:
    output = "│ quadratic_vote │ quadvote.vote │ options │ list │\nPASS: 3 pass\n"
    assert match_output(["quadratic_vote   │ ... │ options", "PASS"], output) is None
    assert match_output(["PASS", "quadratic_vote"], output) is not None  # order matters


def test_console_blocks_check_each_commands_output(tmp_path: Path) -> None:
    transcript = _run(tmp_path, "```console\n$ echo one\none\n$ echo two \\\n  three\ntwo three\n```\n")
    assert [step.source for step in transcript.steps] == ["echo one", "echo two three"]
    _fails(tmp_path / "again", "```console\n$ echo one\nuno\n```\n", "doc.md:2",
           "expected output line not found")
