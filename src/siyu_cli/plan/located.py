"""Playbook YAML with positions: plain data plus the line and column of every key and value.

An operator edits playbooks by hand, so ``siyu plan check`` must point at the exact spot of each
mistake. We compose the YAML into nodes (which carry marks) and convert them ourselves, recording
the position of every key and value; syntax errors and duplicate keys become problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siyu_cli.plan.model import Problem

# ----------------------------------------------------------------------------- YAML with positions


@dataclass
class Located:
    """A parsed YAML file: plain data plus the position of every value and key."""

    file: Path
    text: str
    data: Any
    pos: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    keypos: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    nodes: dict[tuple, Any] = field(default_factory=dict)

    def at(self, path: tuple, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or of its key), falling back to the nearest parent."""
        table = self.keypos if key else self.pos
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if not key and p in self.pos:
                return self.pos[p]
            p = p[:-1]
        return self.pos.get((), (1, 1))


def _scalar_value(node, loader) -> Any:
    import yaml

    # Times such as 10:30 are base-60 integers in YAML 1.1; keep what the operator wrote.
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in node.value:
        return node.value
    try:
        return loader.construct_object(node)
    except yaml.YAMLError:
        return node.value


def load_located(path: Path, problems: list[Problem]) -> Located | None:
    """Read and compose ``path``; syntax errors and duplicate keys become problems."""
    import yaml

    fname = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(fname, 1, 1, "no such file"))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(fname, 1, 1, "not UTF-8 text", "save the playbook as UTF-8"))
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        problems.append(Problem(fname, line, col, msg, "check indentation, colons and quotes on this line or the one above"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(fname, 1, 1, f"YAML error: {exc}"))
        return None
    doc = Located(file=Path(path), text=text, data=None)
    if root is None:
        problems.append(Problem(fname, 1, 1, "the playbook is empty", "start with `version: 1` and `name: ...`"))
        return None
    loader = yaml.SafeLoader("")

    def convert(node, p: tuple):
        doc.pos[p] = (node.start_mark.line + 1, node.start_mark.column + 1)
        doc.nodes[p] = node
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    problems.append(Problem(fname, knode.start_mark.line + 1, knode.start_mark.column + 1,
                                            "a key must be a plain word"))
                    continue
                key = str(knode.value)
                kpos = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                if key in out:
                    first = doc.keypos[p + (key,)]
                    problems.append(Problem(fname, *kpos, f"duplicate key `{key}` (first at line {first[0]})",
                                            "remove one of them; YAML keeps only the last"))
                doc.keypos[p + (key,)] = kpos
                out[key] = convert(vnode, p + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, p + (i,)) for i, item in enumerate(node.value)]
        return _scalar_value(node, loader)

    doc.data = convert(root, ())
    return doc
