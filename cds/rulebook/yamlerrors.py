"""YAML syntax errors in plain words: the line, a caret under the spot and the likely cause.

PyYAML says where parsing broke ("expected <block end>, but found '<block sequence start>'"), which is
often a line after the mistake; each diagnosis below recognises one common mistake and points at it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from cds.rulebook.model import LoadError


@dataclass(frozen=True)
class Spot:
    """A mistake: 0-based line and column, what is wrong and what to do."""

    line: int
    column: int
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Broken:
    """A YAML text that failed to parse, and where PyYAML noticed."""

    lines: list[str]
    text: str
    error: yaml.MarkedYAMLError

    @property
    def problem(self) -> str:
        return self.error.problem or ""

    @property
    def at(self) -> int:
        """The 0-based line where parsing broke."""
        return self.error.problem_mark.line if self.error.problem_mark else 0

    def line(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def previous_content(self, index: int) -> int | None:
        """The nearest line above `index` that holds more than a comment."""
        return next((i for i in range(index - 1, -1, -1) if _content(self.lines[i])), None)


_KEY_WITHOUT_SPACE = re.compile(r"\s*(?:- )?[\w$.-]+:(?=[^\s:])")
_EMPTY_COLLECTION = re.compile(r"(\[\s*\]|\{\s*\})\s*(#.*)?$")


def syntax_error(path: Path, error: yaml.YAMLError) -> LoadError:
    """A LoadError for a file that is not valid YAML, with the offending line and a likely cause."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return LoadError(str(path), 1, f"not valid YAML: {error}")
    text = path.read_text(encoding="utf-8")
    broken = Broken(text.splitlines(), text, error)
    spot = next(filter(None, (diagnose(broken) for diagnose in DIAGNOSES)), None) or _as_reported(broken)
    return LoadError(str(path), spot.line + 1, f"not valid YAML: {spot.message}", hint=spot.hint,
                     excerpt=excerpt(broken.lines, spot))


def excerpt(lines: list[str], spot: Spot) -> str:
    """The line with a caret under the spot (tabs shown as →, one column each)."""
    number = str(spot.line + 1)
    shown = lines[spot.line].replace("\t", "→") if spot.line < len(lines) else "(end of file)"
    return f"    {number} | {shown}\n    {' ' * len(number)} | {' ' * spot.column}^"


def _tab(broken: Broken) -> Spot | None:
    line = broken.line(broken.at)
    indent = line[:len(line) - len(line.lstrip(" \t"))]
    if "\\t" not in broken.problem and "\t" not in indent:
        return None
    column = line.index("\t") if "\t" in line else broken.error.problem_mark.column
    return Spot(broken.at, column, "a tab is used for indentation", "YAML indents with spaces only: replace the tab "
                                                                    "with spaces, lined up with the lines around it")


def _unclosed_quote(broken: Broken) -> Spot | None:
    error = broken.error
    if error.context == "while scanning a quoted scalar" and error.context_mark is not None:
        start = error.context_mark
    else:  # closed only by the next quote of the file: a quoted value running over several lines
        start = next((token.start_mark for token in reversed(_tokens(broken.text))
                      if isinstance(token, yaml.ScalarToken) and token.style in ("'", '"')
                      and token.start_mark.line < token.end_mark.line and token.end_mark.line >= broken.at - 1), None)
        if start is None:
            return None
    quote = broken.line(start.line)[start.column:start.column + 1] or '"'
    return Spot(start.line, start.column, f"the quote {quote} opened here is not closed on its line",
                f"end the value with {quote}, or write a long text as a block (key: | on its own line)")


def _unclosed_bracket(broken: Broken) -> Spot | None:
    error = broken.error
    if not (error.context or "").startswith("while parsing a flow") or error.context_mark is None:
        return None
    mark = error.context_mark
    opened = broken.line(mark.line)[mark.column:mark.column + 1]
    closing = {"[": "]", "{": "}"}.get(opened, "]")
    return Spot(mark.line, mark.column, f"the {opened} opened here is not closed",
                f"close it with {closing} on the same line, commas between the items")


def _missing_colon(broken: Broken) -> Spot | None:
    error = broken.error
    if "could not find expected ':'" not in broken.problem or error.context_mark is None:
        return None
    index = error.context_mark.line
    line = broken.line(index)
    glued = _KEY_WITHOUT_SPACE.match(line)
    if glued:
        return Spot(index, glued.end(), "no space after the colon",
                    f"write '{line[error.context_mark.column:glued.end()]} {line[glued.end():].split()[0]}': "
                    "a key's colon must be followed by a space")
    key = line[error.context_mark.column:].split()[0]
    return Spot(index, error.context_mark.column + len(key), f"a colon is missing after '{key}'",
                f"write '{key}: ...': a key is followed by a colon and a space")


def _colon_in_value(broken: Broken) -> Spot | None:
    """'mapping values are not allowed here': a line indented under a `key: value`, or `: ` in a value."""
    if "mapping values are not allowed here" not in broken.problem:
        return None
    mark = broken.error.problem_mark
    above = broken.previous_content(mark.line)
    if above is not None and mark.column > 0 and _indent(broken.line(mark.line)) > _indent(broken.line(above)) \
            and re.search(r":\s+\S", broken.line(above).split(" #")[0]):
        return _misaligned(broken, mark.line)
    return Spot(mark.line, mark.column, "a colon followed by a space inside a value: YAML reads it as a new key",
                'put the whole value in quotes, e.g. summary: "Dose: 1 mg"')


def _empty_collection_with_items(broken: Broken) -> Spot | None:
    """`rules: []` followed by list items (or `{}` followed by keys)."""
    if not broken.problem.startswith("expected <block end>"):
        return None
    above = broken.previous_content(broken.at)
    found = _EMPTY_COLLECTION.search(broken.line(above)) if above is not None else None
    if found is None:
        return None
    line = broken.line(above)
    key = line[:found.start()].strip()
    what = "a list item" if found.group(1).startswith("[") else "an indented key"
    return Spot(above, found.start(), f"{what} under `{key} {found.group(1)}`: the `{found.group(1)}` says it is empty",
                f"remove the `{found.group(1)}`")


def _inconsistent_indentation(broken: Broken) -> Spot | None:
    if not re.match(r"expected <block end>|did not find expected (key|'-')", broken.problem):
        return None
    return _misaligned(broken, broken.at)


def _misaligned(broken: Broken, index: int) -> Spot | None:
    """Line `index` is indented to a column no block above it uses: name the columns that would fit."""
    levels: dict[int, int] = {}  # indentation → the last line above that starts a block there
    for i in range(index):
        if not _content(broken.lines[i]):
            continue
        column = _indent(broken.lines[i])
        levels = {level: line for level, line in levels.items() if level < column}
        levels[column] = i
        item = re.match(r"\s*- +(?=\S)", broken.lines[i])
        if item:  # the keys of a list item's mapping line up after its "- "
            levels[item.end()] = i
    column = _indent(broken.line(index))
    if column in levels:
        return None
    closest = sorted(levels, key=lambda level: (abs(level - column), -level))[:2]
    options = " or ".join(f"{_spaces(level)} like line {levels[level] + 1}" for level in closest)
    return Spot(index, column, f"inconsistent indentation: this line is indented {_spaces(column)}, "
                               "which lines up with no line above it", f"indent it {options}")


def _key_in_list(broken: Broken) -> Spot | None:
    """A key lined up with the '- ' of the list items above it (`card:` under a `when` item): YAML reads it
    inside that list, where only items may stand."""
    error = broken.error
    if not broken.problem.startswith("expected <block end>, but found '?'") \
            or error.context != "while parsing a block collection" or error.context_mark is None \
            or error.context_mark.column != error.problem_mark.column:
        return None
    item = error.context_mark
    key = broken.line(broken.at).strip().split(":")[0]
    parent = next((i for i in range(item.line - 1, -1, -1)
                   if _content(broken.lines[i]) and _indent(broken.lines[i]) < item.column), None)
    fits = [f"{_spaces(item.column + 2)} like the keys of the item on line {item.line + 1}"]
    if parent is not None:
        fits.insert(0, f"{_spaces(_indent(broken.lines[parent]))} like `{broken.lines[parent].strip()}` on line "
                       f"{parent + 1}")
    return Spot(broken.at, error.problem_mark.column,
                f"`{key}:` is lined up with the '- ' of the list items above (line {item.line + 1}), so YAML reads "
                "it inside that list, where only '- ' items may stand", f"indent it {' or '.join(fits)}")


def _item_among_keys(broken: Broken) -> Spot | None:
    """A '- ' list item lined up with the keys of a mapping: a list needs a key of its own."""
    error = broken.error
    if not broken.problem.startswith("expected <block end>, but found '-'") \
            or error.context != "while parsing a block mapping" or error.context_mark is None \
            or error.context_mark.column != error.problem_mark.column:
        return None
    return Spot(broken.at, error.problem_mark.column, "a list item ('- ') among the keys of a mapping: YAML "
                "expects `key: value` here", "put the list under a key of its own (`key:` on the line above, the "
                "items indented under it), or remove the '- ' if this is a key")


def _alias(broken: Broken) -> Spot | None:
    """A line starting with '*' (markdown bold) outside a block of text: YAML reads '*' as an alias."""
    if broken.error.context != "while scanning an alias":
        return None
    mark = broken.error.context_mark or broken.error.problem_mark
    return Spot(mark.line, mark.column, "YAML reads this '*' as an alias (*name): the text is outside any block of "
                "text",
                "if the line belongs to a block of text above (key: | or >), indent it like that text; "
                "else put the value in quotes")


def _out_of_place(broken: Broken) -> Spot | None:
    """Any other line that does not fit the block above it (PyYAML: "expected <block end>", "did not find
    expected key", "mapping values are not allowed here")."""
    if not re.match(r"expected <block end>|expected '<document start>'|did not find expected (key|'-')|"
                    r"mapping values are not allowed", broken.problem):
        return None
    mark, opened = broken.error.problem_mark, broken.error.context_mark
    block = f" (the block that starts on line {opened.line + 1})" if opened is not None else ""
    return Spot(mark.line, mark.column, f"this does not fit the structure above it{block}: YAML cannot tell "
                "what it belongs to", "line it up with what it belongs to: a key with the other keys of its "
                "mapping, a '- ' with the other items of its list; a value with ': ' in it goes in quotes")


def _as_reported(broken: Broken) -> Spot:
    mark = broken.error.problem_mark
    return Spot(mark.line, mark.column, broken.problem or str(broken.error))


def _tokens(text: str) -> list[yaml.Token]:
    """The tokens scanned before the first scanner error."""
    tokens: list[yaml.Token] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            tokens.append(token)
    except yaml.YAMLError:
        pass
    return tokens


def _spaces(count: int) -> str:
    return f"{count} space{'' if count == 1 else 's'}"


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


DIAGNOSES: tuple[Callable[[Broken], Spot | None], ...] = (
    _tab, _key_in_list, _item_among_keys, _unclosed_quote, _unclosed_bracket, _missing_colon,
    _empty_collection_with_items, _colon_in_value, _inconsistent_indentation, _alias, _out_of_place,
)
