"""The README and docs/ link only to files of this repository, nothing points outside it, and the site builds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
#: Measured records (``docs/results/**/seeds/``), kept as they were written.
RECORDS = "seeds"
#: The README is the ten-minute introduction; the reference lives in docs/.
README_MAX_LINES = 250

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
#: ``[text](target)`` and ``![alt](target "title")``; the text may hold one level of brackets and line breaks.
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$", re.MULTILINE)
_HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:...


def _prose(text: str) -> str:
    """Markdown with fenced code blocks removed and code spans kept as plain text (links in code are not links)."""
    text = _FENCE.sub("", text)
    return _CODE_SPAN.sub(lambda match: match.group(0).strip("`").replace("[", "(").replace("]", ")"), text)


def _links(path: Path) -> list[str]:
    prose = _prose(path.read_text(encoding="utf-8"))
    targets = [match.group(1) for pattern in (_INLINE_LINK, _REFERENCE) for match in pattern.finditer(prose)]
    return [target.strip("<>") for target in targets]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis markers, not snake_case underscores
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def _anchors(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8")
    anchors: set[str] = set(_HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def test_github_slugs():
    assert github_slug("Protocol A: the OMBRIA benchmark") == "protocol-a-the-ombria-benchmark"
    assert (
        github_slug("Training: `gee-flood train teacher|student|baseline`")
        == "training-gee-flood-train-teacherstudentbaseline"
    )
    assert github_slug("Seed 0, 1600 steps") == "seed-0-1600-steps"
    assert github_slug("What `data_root` **means**") == "what-data_root-means"


def test_the_link_parser_sees_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        'See [the\ntable](a.md#x), ![figure](img/b.png "title") and [`c.md`](c.md).\n'
        "[ref]: d.md\n`[not](a-link.md)`\n```\n[nor](this.md)\n```\n[web](https://example.org) [top](#top)\n"
    )
    assert _links(page) == ["a.md#x", "img/b.png", "c.md", "https://example.org", "#top", "d.md"]


def _link_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``path`` whose file does not exist (or lies outside ``root``) or whose anchor is no heading."""
    path = path.resolve()
    problems = []
    for target in _links(path):
        if _EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: link {target!r}"
        if not resolved.exists():
            problems.append(f"{where}: {file_part} does not exist")
        elif not resolved.is_relative_to(root):
            problems.append(f"{where}: points outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor} in {resolved.relative_to(root)}")
    return problems


def test_link_problems_are_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Same\n\n## Same\n")
    (tmp_path / "outside.md").write_text("# Outside\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n[ok](other.md#other-page) [dup](other.md#same-1) [self](#page)\n"
        "[gone](missing.md) [bad anchor](other.md#nope) [no self](#nope) [out](../outside.md)\n"
    )
    problems = _link_problems(page, tmp_path / "docs")
    assert [problem.split(": ", 2)[1] for problem in problems] == [
        "link 'missing.md'",
        "link 'other.md#nope'",
        "link '#nope'",
        "link '../outside.md'",
    ]


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path):
    problems = _link_problems(path)
    assert not problems, "\n".join(problems)


def _text_files() -> list[Path]:
    files = [ROOT / "README.md", *DOCS]
    files += [path for path in (ROOT / "configs").rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    files += [path for path in (ROOT / "docs").rglob("*") if path.suffix in (".json", ".yaml", ".csv", ".txt")]
    return sorted({path for path in files if RECORDS not in path.relative_to(ROOT).parts})


def test_nothing_points_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "../shared" in line
    ]
    assert not offenders, "'../shared' (outside the repository) in: " + ", ".join(offenders)


def test_readme_is_an_introduction_not_a_manual():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines < README_MAX_LINES, (
        f"README.md has {lines} lines (keep it under {README_MAX_LINES}); move reference material to a page in docs/"
    )


def test_the_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: a page missing from nav, a broken link or anchor, or a missing snippet fails."""
    site = tmp_path / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
    result = subprocess.run(
        [*command, "--site-dir", str(site)],
        cwd=tmp_path,  # mkdocs.yml resolves its paths itself, from any working directory
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = sorted(path.relative_to(ROOT / "docs").with_suffix("") for path in (ROOT / "docs").rglob("*.md"))
    for page in pages:
        built = site / ("index.html" if page.name == "index" else page / "index.html")
        assert built.is_file(), f"docs/{page}.md was not built into {built.relative_to(site)}"
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Conventions." in home and "--install-completion" in home, "the README's Commands section is not included"


def test_documented_commands_use_the_current_spellings():
    commands = [
        (path.relative_to(ROOT).as_posix(), command)
        for path in DOCS
        # examples, in code blocks and inline, with line continuations joined
        for command in re.findall(r"gee-flood [^`\n]*", path.read_text(encoding="utf-8").replace("\\\n", " "))
    ]
    assert len(commands) > 50, f"only {len(commands)} `gee-flood ...` examples found in README.md and docs/"
    deprecated = ("--output-dir", "--dest ", "--html ", "--no-progress", "download sen1floods11", "--json ")
    stale = [f"{where}: {command}" for where, command in commands if any(old in command for old in deprecated)]
    assert not stale, "deprecated spellings:\n" + "\n".join(stale)
