"""A Markdown file as a flat run of units (headings, lines, list items, table rows, code),
read with markdown-it-py: the importer never parses Markdown itself.

Each unit keeps the source lines it came from, so that a section can be imported as the
Markdown its author wrote.
"""

import tomllib
from dataclasses import dataclass, field

import yaml
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.front_matter import front_matter_plugin

_PARSER = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
_WITHOUT_FRONT_MATTER = MarkdownIt("commonmark").enable("table")


@dataclass
class Unit:
    """One heading, line of a paragraph, list item, table row or code block."""

    kind: str  # heading | line | item | row | code
    text: str  # plain text (markup removed)
    source: str  # the Markdown as written
    line: int  # first line in the file, from 0
    level: int = 0  # heading level; list depth for items
    bold: str = ""  # the text of a leading bold span, when the unit starts with one
    cells: list[str] = field(default_factory=list)  # table rows
    header: bool = False  # a table's header row
    ordered: bool = False  # an item of a numbered list
    checked: bool | None = None  # a task-list item: [x] True, [ ] False
    paragraph: int = -1  # units of one paragraph share a number
    item: int = -1  # units of one list item share a number


@dataclass
class Parsed:
    units: list[Unit]
    front_matter: dict
    lines: list[str]  # the file's lines (line endings normalised)
    dedented: set[int]  # lines of indented blocks that are prose indented by mistake
    images: list[str] = field(default_factory=list)  # where the file's images point
    front_matter_error: str = ""


def parse(text):
    """The units of a Markdown text, and its front matter (YAML, or TOML between +++)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    front, front_error = {}, ""
    if text.startswith("+++\n"):
        end = text.find("\n+++", 4)
        if end > 0:
            try:
                front = tomllib.loads(text[4:end])
            except tomllib.TOMLDecodeError as exc:
                front_error = f"the TOML front matter could not be read ({exc})"
            text = "\n" * text[: end + 4].count("\n") + text[end + 4 :]
    reader = _Reader(text.split("\n"))
    root = SyntaxTreeNode(_PARSER.parse(text))
    if root.children and root.children[0].type == "front_matter":
        try:
            loaded = yaml.safe_load(root.children[0].content)
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict) and loaded and all(isinstance(k, str) for k in loaded):
            front = loaded
        else:  # a rule at the top of the file, not front matter: read it all as Markdown
            root = SyntaxTreeNode(_WITHOUT_FRONT_MATTER.parse(text))
    for node in root.children:
        if node.type != "front_matter":
            reader.block(node)
    images = list(dict.fromkeys(_image_sources(root)))
    return Parsed(reader.units, front, reader.lines, reader.dedented, images, front_error)


def _image_sources(node):
    if node.type == "image" and node.attrs.get("src"):
        yield str(node.attrs["src"])
    for child in node.children:
        yield from _image_sources(child)


class _Reader:
    def __init__(self, lines):
        self.lines = lines
        self.units = []
        self.paragraphs = 0
        self.items = 0
        self.dedented = set()

    def source(self, node):
        first, last = node.map or (0, 0)
        return "\n".join(self.lines[first:last])

    def block(self, node, depth=0, item=None):
        kind = node.type
        if kind == "heading":
            text = inline_text(node.children[0]) if node.children else ""
            self.units.append(
                Unit(
                    "heading", text.strip(), self.source(node), node.map[0], level=int(node.tag[1])
                )
            )
        elif kind == "paragraph":
            self.paragraph(node, depth, item)
        elif kind in ("bullet_list", "ordered_list"):
            for child in node.children:
                self.items += 1
                self.list_item(child, depth + 1, kind == "ordered_list")
        elif kind == "table":
            self.table(node)
        elif kind == "code_block":
            # An indented block in a postmortem is nearly always prose indented by mistake.
            self.paragraphs += 1
            start = node.map[0]
            for offset, line in enumerate(node.content.rstrip("\n").split("\n")):
                self.dedented.add(start + offset)
                if line.strip():
                    self.units.append(
                        Unit(
                            "line",
                            line.strip(),
                            line.strip(),
                            start + offset,
                            paragraph=self.paragraphs,
                        )
                    )
        elif kind == "fence":
            self.units.append(Unit("code", node.content, self.source(node), node.map[0]))
        elif kind == "html_block":
            self.paragraphs += 1
            for offset, line in enumerate(node.content.rstrip("\n").split("\n")):
                if line.strip():
                    self.units.append(
                        Unit(
                            "line",
                            line.strip(),
                            line,
                            node.map[0] + offset,
                            paragraph=self.paragraphs,
                        )
                    )
        elif kind == "blockquote":
            for child in node.children:
                self.block(child, depth, item)
        # hr: a separator, nothing to keep

    def list_item(self, node, depth, ordered):
        item = (self.items, depth, ordered)
        first = True
        for child in node.children:
            if first and child.type == "paragraph":
                self.paragraph(child, depth, item, as_item=True)
            else:
                self.block(child, depth, item)
            first = False
        if first:  # an empty item
            return

    def paragraph(self, node, depth, item, as_item=False):
        self.paragraphs += 1
        inline = node.children[0] if node.children else None
        start = node.map[0]
        for offset, (text, bold) in enumerate(_lines(inline)):
            source = self.lines[start + offset] if start + offset < len(self.lines) else text
            unit = Unit(
                "line",
                text.strip(),
                source,
                start + offset,
                bold=bold.strip(),
                paragraph=self.paragraphs,
            )
            if item is not None:
                unit.item, unit.level, unit.ordered = item
                if as_item and offset == 0:
                    unit.kind = "item"
                    unit.text, unit.checked = _task(unit.text)
            if unit.text or unit.kind == "item":
                self.units.append(unit)

    def table(self, node):
        for section in node.children:  # thead, tbody
            for row in section.children:
                cells = [
                    inline_text(c.children[0]).strip() if c.children else "" for c in row.children
                ]
                self.units.append(
                    Unit(
                        "row",
                        " | ".join(c for c in cells if c),
                        self.source(row),
                        row.map[0] if row.map else node.map[0],
                        cells=cells,
                        header=section.type == "thead",
                    )
                )


def _task(text):
    if len(text) >= 3 and text[0] == "[" and text[2] == "]" and text[1] in " xX":
        return text[3:].strip(), text[1] != " "
    return text, None


def _lines(inline):
    """(plain text, leading bold text) per source line of a paragraph's inline content."""
    if inline is None:
        return []
    lines, text, bold, at_start = [], [], [], True
    for child in inline.children:
        if child.type in ("softbreak", "hardbreak"):
            lines.append(("".join(text), "".join(bold)))
            text, bold, at_start = [], [], True
            continue
        piece = inline_text(child)
        if at_start and child.type == "strong":
            bold.append(piece)
        elif piece.strip():
            at_start = False
        text.append(piece)
    lines.append(("".join(text), "".join(bold)))
    return lines


def inline_text(node):
    """The plain text of an inline node: code, emphasis and links as their text."""
    if node.type == "html_inline" and node.content.lower() in ("<br>", "<br/>", "<br />"):
        return "\n"  # a line break inside a table cell
    if node.type in ("text", "code_inline", "html_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return "\n"
    if node.type == "image":  # its alt text: the words a reader of the file would see
        return "".join(inline_text(child) for child in node.children)
    return "".join(inline_text(child) for child in node.children)
