"""Every page in ``_toc.yml``: it exists, is labelled, carries no outputs, and (if it is a
notebook) executes cleanly; and the built site has a page for it.

Pages in a ``numbered`` part of the table of contents are the book's chapters and must be
MyST Markdown notebooks (a jupytext header with a kernelspec). The root page and the back
matter may be plain MyST.
"""

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from chapter_harness import built_notebook, stderr_outputs

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SITE = ROOT / "_build" / "html"


def _walk(entries: list[dict], numbered: bool, out: list[tuple[str, bool]]) -> None:
    for entry in entries:
        inner = numbered or bool(entry.get("numbered", False))
        if "file" in entry:
            out.append((entry["file"], inner))
        for key in ("parts", "chapters", "sections"):
            _walk(entry.get(key, []), inner, out)


def toc_pages() -> list[tuple[str, bool]]:
    """``(docname, is_chapter)`` for every page in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [(toc["root"], False)]
    _walk([{k: v for k, v in toc.items() if k in ("parts", "chapters")}], False, pages)
    return pages


def source_of(docname: str) -> Path:
    for suffix in (".md", ".ipynb"):
        path = ROOT / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"_toc.yml lists {docname!r}, but there is no .md or .ipynb for it")


def front_matter(path: Path) -> dict:
    """The YAML header of a Markdown page ({} if it has none)."""
    text = path.read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    return yaml.safe_load(match.group(1)) if match else {}


def is_notebook(path: Path) -> bool:
    return path.suffix == ".ipynb" or "kernelspec" in front_matter(path)


PAGES = toc_pages()
DOCNAMES = [doc for doc, _ in PAGES]
NOTEBOOKS = [doc for doc in DOCNAMES if is_notebook(source_of(doc))]


def test_the_toc_lists_the_root_and_at_least_one_chapter():
    assert DOCNAMES[0] == "book/intro"
    assert any(is_chapter for _, is_chapter in PAGES)
    assert len(set(DOCNAMES)) == len(DOCNAMES), "a page is listed twice"


@pytest.mark.parametrize(("docname", "is_chapter"), PAGES, ids=DOCNAMES)
def test_page_exists_and_is_labelled(docname, is_chapter):
    path = source_of(docname)
    assert path.is_relative_to(BOOK), f"{path} should live in book/"
    text = path.read_text()
    body = re.sub(r"\A---\n.*?\n---\n", "", text, count=1, flags=re.S).lstrip("\n")
    # The first thing after the header is a (label)= line, then the page title.
    match = re.match(r"\(([A-Za-z0-9_:-]+)\)=\n# \S", body)
    assert match, f"{path.name}: expected a '(label)=' line just before the '# Title'"
    if is_chapter:
        assert is_notebook(path), f"{path.name} is a chapter, so it must be a notebook"


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_notebook_header_and_no_outputs(docname):
    path = source_of(docname)
    if path.suffix == ".md":
        header = front_matter(path)
        fmt = header["jupytext"]["text_representation"]
        assert fmt["extension"] == ".md" and fmt["format_name"] == "myst"
        assert header["kernelspec"]["name"] == "python3"
        assert header["kernelspec"]["language"] == "python"
        assert not path.with_suffix(".ipynb").exists(), "a paired .ipynb would hold outputs"
    else:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_notebook_executed_cleanly_in_the_build(docname):
    """The strict build executed the chapter (once, for all the tests): every code cell
    ran, in order, with no error and nothing on stderr. Readers download the same cells
    (``_sources/<page>.ipynb``, made by jupytext at build time) that the build ran.
    """
    source = jupytext.read(source_of(docname))
    executed = built_notebook(Path(docname).name)
    code = [c.source for c in source.cells if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.source for c in ran] == code, f"the build ran an older {docname}: rebuild"
    counts = [c.execution_count for c in ran]
    assert counts == list(range(1, len(ran) + 1)), f"{docname}: not every cell ran, in order"
    outputs = [o for c in ran for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert stderr_outputs(executed) == [], f"{docname} wrote to stderr"
    downloaded = SITE / "_sources" / f"{docname}.ipynb"
    if downloaded.exists():
        offered = nbformat.read(downloaded, as_version=4)
        nbformat.validate(offered)
        assert [(c.cell_type, c.source) for c in offered.cells] == [
            (c.cell_type, c.source) for c in source.cells
        ], f"{downloaded} differs from {source_of(docname)}: rebuild the site"
        assert all(c.get("outputs", []) == [] for c in offered.cells)


@pytest.mark.parametrize("docname", DOCNAMES)
def test_built_site_has_a_page_per_toc_entry(docname):
    if not (SITE / "index.html").exists():
        pytest.skip("the site is not built: run `make book` first")
    page = SITE / f"{docname}.html"
    assert page.exists(), f"{page} is missing from the built site"
    if docname in NOTEBOOKS:
        link = f'href="{"../" * docname.count("/")}_sources/{docname}.ipynb"'
        assert link in page.read_text(), f"{page} does not offer its notebook ({link})"
