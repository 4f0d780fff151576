"""The Jinja2 sandbox every siyu template renders in: no Python internals, no files, a bounded cost.

Playbook and push templates share :class:`BoundedSandbox` and :func:`render_bounded`.
On top of Jinja2's ``ImmutableSandboxedEnvironment`` (no ``__class__`` walks, no
list/dict mutation) it

* reads no files: there is no loader, and ``include`` / ``import`` / ``extends``
  are a syntax error at compile time (a template cannot reach outside its playbook);
* refuses, before they allocate, the operations that multiply size: ``*`` and ``+``
  on strings/lists, ``*``/``**`` on big integers, ``%`` and ``str.format`` widths,
  ``center``/``ljust``/``rjust``/``zfill``/``expandtabs``/``replace``/``join``/``translate``/
  ``to_bytes``, the ``center``, ``indent``, ``format``, ``replace``, ``join``, ``wordwrap``,
  ``urlize``, ``batch``, ``slice`` and ``tojson`` filters, ``range`` longer than
  ``templates.max_range``;
* checks the budget's deadline on every call, every 256 loop steps (each ``for``
  iterable is wrapped at compile time) and every output chunk, caps every ``~``
  concatenation, ``{% set %}`` block and call result at the output budget;
* renders through ``generate()`` counting output bytes, under the hard backstops of
  :func:`siyu_cli.render_budget.rendering` (memory limit, alarm).

Anything over budget raises :class:`~siyu_cli.render_budget.BudgetExceeded`; callers
turn it into their located error.
"""

from __future__ import annotations

import functools
import re
import string
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

from siyu_cli.i18n import _
from siyu_cli.render_budget import BudgetExceeded, check, limit, max_items, rendering, too_large

__all__ = ["BoundedSandbox", "BudgetExceeded", "SecurityError", "render_bounded"]

#: Largest exponent of ``**``.
MAX_EXPONENT = 100
#: Largest integer ``*`` and ``**`` may build (bits; Python's big-int arithmetic cannot be interrupted).
MAX_INT_BITS = 100_000
#: Largest ``tojson`` indent.
MAX_INDENT = 16
_LOOP = "_siyu_loop"
_CAP = "_siyu_cap"
#: printf conversion: %[(key)][flags][width][.precision][length]type
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[diouxXeEfFgGcrsa%]")
_PADDING_METHODS = ("center", "ljust", "rjust", "zfill")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _cap(value: Any) -> Any:
    """A value one operation built: refused when larger than the output budget."""
    n = _size(value)
    if n is not None and n > limit():
        raise too_large("a value")
    return value


def _loop(iterable: Any):
    """Every ``for`` loop's iterable: the deadline is checked every 256 steps."""
    for i, item in enumerate(iterable):
        if not i & 255:
            check()
        yield item


def _width(value: Any, what: str) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit():
        raise too_large(what)


def check_printf(fmt: Any, args: Any) -> None:
    """``fmt % args``: no ``*`` widths, no width or precision beyond the output budget."""
    if not isinstance(fmt, str):
        return
    for m in _PRINTF.finditer(fmt):
        for part in m.groups():
            if part == "*":
                raise SecurityError("`*` widths in % formatting are not allowed")
            if part and int(part) > limit():
                raise too_large(f"the % format {m.group(0)[:20]}…")


def check_str_format(fmt: str) -> None:
    """``fmt.format(...)``: widths from the format string only, none beyond the output budget."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _lit, _name, spec, _conv in fields:
        if not spec:
            continue
        if "{" in spec:
            raise SecurityError(_("nested {…} in a format spec are not allowed"))
        for digits in re.findall(r"\d+", spec):
            if int(digits) > limit():
                raise too_large(f"the format spec {{:{spec[:20]}}}")


def _check_method(obj: Any, args: tuple, kwargs: dict) -> tuple:
    """Calls on str/bytes/int methods that could allocate far more than their inputs; the args to call with."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, (str, bytes)):
        if name in _PADDING_METHODS:
            _width(args[0] if args else kwargs.get("width"), f"{name}()")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int) and size * (owner.count("\t" if isinstance(owner, str) else b"\t") + 1) > limit():
                raise too_large("expandtabs()")
        elif name == "replace" and len(args) >= 2:
            _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
        elif name == "join" and args:
            args = (_check_join(owner, args[0]),) + tuple(args[1:])
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            if len(owner) * longest > limit():
                raise too_large("translate()")
    elif isinstance(owner, int) and name == "to_bytes":
        _width(args[0] if args else kwargs.get("length"), "to_bytes()")
    return args


def _check_replace(s: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not all(isinstance(x, bytes) for x in (s, old, new)):
        s, old, new = str(s), str(old), str(new)
    grow = len(new) - len(old)
    if grow <= 0:
        return
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    if len(s) + grow * n > limit():
        raise too_large("replace()")


def _check_join(sep: Any, items: Any) -> Any:
    """``sep.join(items)``: refused when the result would pass the budget; returns ``items`` as a list."""
    if isinstance(items, (str, bytes)) or not isinstance(sep, (str, bytes)):
        return items
    try:
        items = list(_loop(items))
    except TypeError:
        return items  # not iterable: join raises its own error
    total = len(sep) * max(0, len(items) - 1) + sum(len(x) for x in items if isinstance(x, (str, bytes)))
    if total > limit():
        raise too_large("join()")
    return items


# ----------------------------------------------------------------------------- filters


def _arg(rest: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return rest[i] if len(rest) > i else kwargs.get(name, default)


def _precheck_filter(name: str, value: Any, rest: tuple, kwargs: dict) -> Any:
    """Refuse a filter call that would build more than the budget; returns the value to filter."""
    if name == "center":
        _width(_arg(rest, kwargs, 0, "width", 80), "center")
    elif name == "format":
        check_printf(value, rest or kwargs)
    elif name == "indent":
        width = _arg(rest, kwargs, 0, "width", 4)
        per_line = len(width) if isinstance(width, str) else width
        lines = str(value).count("\n") + 1
        if isinstance(per_line, int) and per_line * lines > limit():
            raise too_large("indent")
    elif name == "replace" and len(rest) >= 2:
        _check_replace(value, rest[0], rest[1], _arg(rest, kwargs, 2, "count", -1) or -1)
    elif name == "join" and _arg(rest, kwargs, 1, "attribute") is None:
        return _check_join(_arg(rest, kwargs, 0, "d", ""), value)
    elif name == "wordwrap":
        width = _arg(rest, kwargs, 0, "width", 79)
        wrap = _arg(rest, kwargs, 2, "wrapstring", None) or "\n"
        if isinstance(width, int) and width >= 1:
            s = str(value)
            if len(s) + len(str(wrap)) * (len(s) // width + s.count("\n") + 1) > limit():
                raise too_large("wordwrap")
    elif name == "urlize":
        extra = sum(len(str(kwargs.get(k) or "")) for k in ("target", "rel"))
        if (len(str(value).split()) + 1) * (extra + 80) + len(str(value)) > limit() * 2:
            raise too_large("urlize")
    elif name in ("batch", "slice"):
        n = _arg(rest, kwargs, 0, "linecount" if name == "batch" else "slices", 1)
        if isinstance(n, int) and n > max_items():
            raise BudgetExceeded(f"{name}({n}) is more than templates.max_range ({max_items()})")
    elif name == "tojson":
        indent = _arg(rest, kwargs, 0, "indent", None)
        if isinstance(indent, int) and indent > MAX_INDENT:
            raise SecurityError(_("tojson indent {indent} is larger than {limit}").format(indent=indent, limit=MAX_INDENT))
    return value


def _bounded_filter(name: str, f):
    @functools.wraps(f)  # keeps jinja_pass_arg, so Jinja still passes eval_ctx/environment
    def bounded(*args, **kwargs):
        check()
        skip = 1 if _PassArg.from_obj(f) is not None else 0
        if len(args) > skip:
            value = _precheck_filter(name, args[skip], tuple(args[skip + 1:]), kwargs)
            args = args[:skip] + (value,) + tuple(args[skip + 1:])
        return _cap(f(*args, **kwargs))

    return bounded


def bounded_range(*args: int) -> range:
    """``range`` of at most ``templates.max_range`` items."""
    rng = range(*args)
    if len(rng) > max_items():
        raise BudgetExceeded(f"range of {len(rng)} items is more than templates.max_range ({max_items()})")
    return rng


# ----------------------------------------------------------------------------- the environment


class _Bound(NodeTransformer):
    """Compile-time rewrite: loops check the deadline, concatenations and block sets are capped, no files."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP, [], [], None, None, lineno=node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        return nodes.Filter(node, _CAP, [], [], None, None, lineno=node.lineno)

    def visit_AssignBlock(self, node: nodes.AssignBlock) -> nodes.AssignBlock:
        self.generic_visit(node)
        node.filter = nodes.Filter(node.filter, _CAP, [], [], None, None, lineno=node.lineno)
        return node

    def _no_files(self, node: nodes.Node) -> None:
        raise TemplateSyntaxError(_("templates cannot include, import or extend other files "
                                    "(put shared text in `variables:`)"), node.lineno)

    visit_Include = visit_Import = visit_FromImport = visit_Extends = _no_files


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with a budget: see the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **kwargs: Any):
        kwargs["loader"] = None  # templates read no files
        super().__init__(**kwargs)
        self.globals["range"] = bounded_range
        self.globals.pop("lipsum", None)  # lipsum(10**9) would loop in plain Python
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP] = _loop
        self.filters[_CAP] = _cap

    def add_filters(self, filters: dict) -> None:
        """Filters a caller adds are bounded like the built-in ones."""
        self.filters.update({name: _bounded_filter(name, f) for name, f in filters.items()})

    def _parse(self, source, name, filename):
        tree = _Bound().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def call_binop(self, context, operator, left, right):
        check()
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(_("exponent {value} is too large").format(value=right))
        if operator in ("*", "**") and isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() * right if operator == "**" else left.bit_length() + right.bit_length()
            if bits > MAX_INT_BITS:
                raise SecurityError(_("the result of {operator} would be a number of more than {bits} bits").format(operator=operator, bits=MAX_INT_BITS))
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                size = _size(seq)
                if size is not None and isinstance(n, int) and size * n > limit():
                    raise too_large("the result of *")
        elif operator == "+":
            a, b = _size(left), _size(right)
            if a is not None and b is not None and a + b > limit():
                raise too_large("the result of +")
        elif operator == "%":
            check_printf(left, right)
        return _cap(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        check()
        args = _check_method(__obj, args, kwargs)
        return _cap(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        @functools.wraps(wrapped)
        def bounded(*args, **kwargs):
            check_str_format(fmt)
            return _cap(wrapped(*args, **kwargs))

        return bounded


def render_bounded(template, context: dict[str, Any]) -> str:
    """Render a compiled template within the budget: BudgetExceeded, never a hang or a MemoryError."""
    out: list[str] = []
    size = 0  # characters while they cannot reach the byte budget (UTF-8: ≤ 4 bytes each), then exact bytes
    exact = False
    with rendering() as b:
        for chunk in template.generate(context):
            out.append(chunk)
            if exact:
                size += len(chunk.encode("utf-8", "surrogatepass"))
            else:
                size += len(chunk)
                if size * 4 > b.max_output_bytes:
                    size, exact = len("".join(out).encode("utf-8", "surrogatepass")), True
            if size > b.max_output_bytes:
                raise BudgetExceeded(f"the message is longer than {b.max_output_bytes} bytes "
                                     "(templates.max_output_bytes)")
            check()
    return "".join(out)
