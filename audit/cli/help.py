"""How `--help` reads: paragraphs reflowed to the terminal, flags without a value placeholder.

Typer renders a docstring's hard line breaks as they are in Rich mode (only the first
paragraph of a command's own page is joined), so text wrapped at 100 columns in the source
broke mid-sentence at any other width; and it shows every option's type, `<bool>` included,
as if a flag took a value. Both are fixed on the click objects Typer builds, so the source
keeps its docstrings and option declarations as they are.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer.core
from rich.markup import escape

# A line that starts a list item: "- x", "* x", "1. x", "2) x".
_ITEM = re.compile(r"(?:[-*•]|\d+[.)])\s")


def reflow(text: str) -> str:
    """Join each paragraph's lines into one line that the terminal wraps; keep what is laid
    out on purpose on lines of its own: indented lines (examples), list items (continuation
    lines are joined to their item) and click's `\\b` paragraphs. Examples are printed flush
    left, one block for consecutive ones: Typer dedents the text after the first paragraph
    as a whole, so an indentation would survive on some pages and not on others. The result
    is Rich markup-safe: help is printed as markup, where `[browser]` would vanish as a tag."""
    paragraphs: list[list[str]] = []
    examples = False  # the paragraph before was examples only
    for paragraph in re.split(r"\n[ \t]*\n", inspect.cleandoc(text)):
        if paragraph.startswith("\b"):
            paragraphs.append([paragraph])
            examples = False
            continue
        lines: list[str] = []
        verbatim = False  # the line before was an example: the next one starts anew
        item = False  # inside a list item: the lines up to the next item continue it
        for line in paragraph.split("\n"):
            if _ITEM.match(line):
                lines.append(line.strip())
                verbatim, item = False, True
            elif line[:1].isspace() and not item:
                lines.append(line.strip())
                verbatim = True
            elif not lines or verbatim:
                lines.append(line.strip())
                verbatim = False
            else:
                lines[-1] = f"{lines[-1]} {line.strip()}"
        only_examples = all(line[:1].isspace() for line in paragraph.split("\n"))
        if only_examples and examples:
            paragraphs[-1].extend(lines)
        else:
            paragraphs.append(lines)
        examples = only_examples
    return escape("\n\n".join("\n".join(lines) for lines in paragraphs))


# A choice list longer than this is not spelled out as the option's placeholder: the
# placeholder column is as wide as its widest entry, and Rich takes that width from the help
# column (`run --help` at 80 columns had 16 left for the help, and cut words with "…").
CHOICES_INLINE = 16


def choices_placeholder(param: Any) -> tuple[str, str] | None:
    """For an option whose choices are too long to be its placeholder: a short placeholder
    named after the option (`<surface>`) and a sentence for its help that lists them."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or not descriptor.is_choice or param.metavar is not None:
        return None
    choices = [str(getattr(c, "value", c)) for c in descriptor.choices or ()]
    if len("|".join(choices)) + 2 <= CHOICES_INLINE:
        return None
    name = max((o for o in param.opts if o.startswith("--")), key=len, default=param.name)
    return f"<{name.lstrip('-')}>", f"One of 可选: {', '.join(choices)}."


def polish(command: Any) -> None:
    """Reflow the help of `command` and of everything under it (groups, commands, their
    parameters), in place. `command` is a click command Typer built for this invocation."""
    for attribute in ("help", "short_help"):
        value = getattr(command, attribute, None)
        if isinstance(value, str):
            setattr(command, attribute, reflow(value))
    for param in getattr(command, "params", []):
        if isinstance(getattr(param, "help", None), str):
            param.help = reflow(param.help)
        if (placeholder := choices_placeholder(param)) is not None:
            param.metavar = placeholder[0]
            param.help = f"{param.help or ''} {placeholder[1]}".strip()
        if getattr(param, "is_bool_flag", False) and param.default is False:
            # Off by default, a flag needs no `--no-render` spelling: Typer gives every
            # undeclared boolean one, a column of its own that took ~20 columns from the
            # help text, and "[default: no-render]" besides. Flags on by default keep theirs.
            param.secondary_opts = []
        if getattr(param, "param_type_name", None) == "argument" and param.metavar:
            # Typer's usage line brackets an optional argument and dots a variadic one
            # itself: a metavar written `[RUN_B]` or `RUN...` came out `[[RUN_B]]`, `{RUN...}...`.
            param.metavar = param.metavar.removesuffix("...").strip("[]")
        if getattr(param, "count", False):
            param.show_default = False  # `-v` shown with "[default: 0]" reads as taking 0
    for sub in getattr(command, "commands", {}).values():
        polish(sub)


class HelpGroup(typer.core.TyperGroup):
    """The root group: Typer builds the whole command tree for each invocation (also under
    Typer's test runner) and passes it here, where its help is reflowed once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        polish(self)


_option_type = typer.core.TyperOption.display_type_rich
_argument_type = typer.core.TyperArgument.display_type_rich


def _placeholder(shown: str | None, repeated: bool) -> str | None:
    """`<int>` for `<int range>` (the range itself follows, `[x>=0]`); `<str>` for a
    repeatable option's or a variadic argument's `<list[str]>`: it takes one value each time
    it is given (the argument's name already ends in `...`)."""
    if shown is None:
        return None
    if shown.endswith(" range>"):
        shown = f"{shown[:-len(' range>')]}>"
    return _LIST.sub(r"<\1>", shown) if repeated else shown


def _option_placeholder(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """Typer's rich help shows the type of every option, `<bool>` for a flag and `<int>` for
    a counter (-v, -vv), which take no value (its plain help leaves them out, as here)."""
    if self.is_flag or self.count:
        return None
    return _placeholder(_option_type(self, ctx), self.multiple and self.metavar is None)


def _argument_placeholder(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    # An argument's metavar names it (`RUN...`); its type column is Typer's `<list[Path]>`.
    return _placeholder(_argument_type(self, ctx), self.nargs != 1)


_LIST = re.compile(r"^<list\[(.*)\]>$")


# The one patch of Typer: its Rich option table asks these methods alone for the placeholder.
typer.core.TyperOption.display_type_rich = _option_placeholder  # type: ignore[method-assign]
typer.core.TyperArgument.display_type_rich = _argument_placeholder  # type: ignore[method-assign,assignment]
