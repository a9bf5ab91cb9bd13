"""Plain text and Markdown articles, with their optional YAML front matter."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from ..errors import InputError
from ..text.cleaning import clean_inline, clean_text
from .draft import Draft, Metadata, metadata_fields, one_line, same_title, without_title

_YAML = YAMLHandler()


if TYPE_CHECKING:
    # Checked as the pure-Python loader: libyaml's has the same interface but does not inherit from it.
    _SafeLoader = yaml.SafeLoader
else:
    # libyaml's safe loader when installed, as python-frontmatter itself uses.
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FrontMatterLoader(_SafeLoader):
    """The safe loader, leaving dates as written: :func:`parse_date` reads them at the precision given.

    YAML's own timestamp type raised ValueError on an impossible date ("2024-02-30"), which lost the whole article;
    as a string it is an unparseable date, ignored like any other.
    """


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
# In a .txt a leading "---" is often a decorative rule; only a `key:` right after it marks front matter.
_TXT_FRONT_MATTER = re.compile(r"-{3,}[ \t]*\n\s*[A-Za-z_][\w-]*[ \t]*:")


def split_front_matter(text: str, *, strict: bool) -> tuple[dict[str, Any], str]:
    if not _YAML.detect(text) or (not strict and not _TXT_FRONT_MATTER.match(text)):
        return {}, text
    try:
        front, body = _YAML.split(text)
    except ValueError:
        raise InputError("bad front matter: no closing '---' line") from None
    try:
        data = _YAML.load(front, Loader=_FrontMatterLoader)
    except yaml.MarkedYAMLError as error:
        # The front matter text starts on the file's first line, so the mark's line is the file's line.
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError(f"bad front matter: {error.problem or error.context}{where}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:  # values YAML checks only as it builds
        raise InputError(f"bad front matter: {one_line(error)}") from None
    if data is None:
        return {}, body
    if not isinstance(data, dict):
        raise InputError("bad front matter: not a mapping of keys to values")
    return data, body


def _front_fields(data: dict[str, Any]) -> Metadata:
    try:
        return metadata_fields(data)
    except InputError as error:
        raise InputError(f"bad front matter: {error.reason}") from None


def _md_heading(line: str) -> str | None:
    """The text of an ATX heading line (``# Title`` or ``# Title #``), else None; ``line`` is stripped.

    Plain string operations: the regex ``#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*`` it replaces backtracked over every space
    of a line like "# a        b", quadratic (seconds for a 16 kB first line).
    """
    if len(line) < 3 or line[0] != "#" or line[1] not in " \t":
        return None
    body = line[1:].lstrip(" \t")
    if not body:
        return None
    # A closing run of #s counts only after a space or tab, and only if text is left before it ("# C#" keeps "#").
    unclosed = body.rstrip("#")
    if unclosed != body and unclosed[-1:] in (" ", "\t") and (text := unclosed.rstrip(" \t")):
        return text
    return body


def parse_txt(text: str) -> Draft:
    """First line is the title, the rest the body; optional YAML front matter supplies metadata."""
    data, body = split_front_matter(text, strict=False)
    fields = _front_fields(data)
    text = clean_text(body)
    title = fields.get("title")
    if title is None and text:
        first, separator, rest = text.partition("\n\n")
        fields["title"] = clean_inline(first)
        # A one-line file keeps its line as the text too, rather than being dropped as empty.
        text = rest if separator else text
    elif title is not None:
        text = without_title(text, title)
    return Draft(text=text, **fields)


def parse_markdown(text: str) -> Draft:
    """Front matter for metadata; a leading `# heading` is the title when front matter has none."""
    data, body = split_front_matter(text, strict=True)
    fields = _front_fields(data)
    title = fields.get("title")
    # The first line that is not blank is the one holding the first non-space character.
    if (content := len(body) - len(body.lstrip())) < len(body):
        start = body.rfind("\n", 0, content) + 1
        end = body.find("\n", content)
        end = len(body) if end < 0 else end
        if (heading := _md_heading(body[start:end].strip())) is not None:
            heading_text = clean_inline(heading)
            if title is None or same_title(title, heading_text):
                fields["title"] = title or heading_text
                body = body[:start] + body[end + 1 :]
    # Without a title the first line stays in the body: in markdown it is prose, unlike a .txt's first line.
    return Draft(text=clean_text(body), **fields)
