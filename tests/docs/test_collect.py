"""The doc format the collector reads: console sessions, scripts, snippets, comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs import collect

DOC = """\
# A doc

```console
$ shoal beat --check s.yaml   # validate
daily: cron
ok: 1 entries
$ shoal status
QUEUE  BACKLOG
```

```bash
# a whole-line comment
kubectl create secret generic x --from-literal=password='a # not a comment'

helm install shoal charts/shoal \\
  -n shoal -f v.yaml   # trailing
```

```yaml
key: value
```

```python
print("hi")
```
"""


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    return path


def test_console_commands_carry_the_output_the_doc_shows(doc: Path) -> None:
    found = collect.commands(collect.blocks(doc))
    assert [(c.line, c.text, c.output) for c in found[:2]] == [
        (4, "shoal beat --check s.yaml", ("daily: cron", "ok: 1 entries")),
        (7, "shoal status", ("QUEUE  BACKLOG",)),
    ]


def test_script_lines_drop_comments_but_not_quoted_hashes_and_join_continuations(
    doc: Path,
) -> None:
    found = collect.commands(collect.blocks(doc))[2:]
    assert [(c.line, c.text) for c in found] == [
        (13, "kubectl create secret generic x --from-literal=password='a # not a comment'"),
        (15, "helm install shoal charts/shoal -n shoal -f v.yaml"),
    ]


def test_python_blocks_are_snippets_and_yaml_is_neither(doc: Path) -> None:
    blocks = collect.blocks(doc)
    assert [b.lang for b in blocks] == ["console", "bash", "yaml", "python"]
    assert [s.code for s in collect.snippets(blocks)] == ['print("hi")\n']


def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("```sh\nmake test\n")
    with pytest.raises(ValueError, match="fence never closed"):
        collect.blocks(path)


def test_yaml_block_finds_exactly_one() -> None:
    assert "daily-email" in collect.yaml_block("docs/beat.md", "name: daily-email")
    with pytest.raises(LookupError, match="2 yaml blocks"):
        collect.yaml_block("docs/beat.md", "schedules:")
