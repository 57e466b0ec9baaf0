#!/usr/bin/env python3
"""Checks GrapeDB's layer order from the code's `crate::` paths.

Every path `crate::a::b::...` in a file of module X (in `use` lines, grouped
`use crate::{...}` trees and inline paths alike) is an import of the deepest
module it names. Two rules, and the script fails if either breaks:

1. Layers: a top-level module may import only modules of a lower layer
   (LAYERS below, top to bottom; modules on one row may import each other,
   but not in a circle).
2. No cycles: between top-level modules, and between the files (submodules)
   inside one top-level module. `mod.rs` re-exports (`pub use child::X`) are
   followed to the child that defines X, so a re-export is not a cycle.

Usage: scripts/check_layers.py [--report] [src-dir]
  --report  also print each module's lines of code and every edge.
"""

import os
import re
import sys
from collections import defaultdict

# Top to bottom. A module may import modules on lower rows, and modules of
# its own row as long as they form no cycle. Keep docs/architecture.md in step.
LAYERS = [
    ("wiring", ["main", "server"]),
    ("protocol", ["frontend"]),
    ("SQL", ["sql"]),
    ("engine views", ["exec", "pg_catalog"]),
    ("data plane", ["dataplane"]),
    ("shard-local state", ["vindex", "catalog", "encoding"]),
    ("replication", ["cluster"]),
    ("storage", ["shard"]),
    ("leaves", ["ann", "types", "vector", "format", "error", "hlc", "failpoint"]),
]

RANK = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}


def strip_comments_and_strings(text):
    """Removes comments, string and char literals (keeps line structure)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and not (i and text[i - 1].isalnum())):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # char literal vs lifetime
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_test_module(text):
    """Drops an inline `#[cfg(test)] mod tests { ... }` (its `super::` is the
    file itself, and tests may import anything)."""
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod \w+ \{", text, re.M)
    return text[: m.start()] if m else text


def module_of(path, src):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"],):
        return ()
    return tuple(rel)


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix, inner = tree[:i], tree[i + 1:tree.rindex("}")]
                parts, d, start = [], 0, 0
                for j, cj in enumerate(inner):
                    if cj == "{":
                        d += 1
                    elif cj == "}":
                        d -= 1
                    elif cj == "," and d == 0:
                        parts.append(inner[start:j])
                        start = j + 1
                parts.append(inner[start:])
                res = []
                for p in parts:
                    if p.strip():
                        res += [prefix + q for q in expand_use_tree(p)]
                return res
            depth += 1
    return [re.sub(r"\s+as\s+\w+$", "", tree)]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    report = "--report" in sys.argv
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "src")
    src = os.path.normpath(src)

    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_of(path, src)] = path
    modules = set(files)

    texts = {m: strip_test_module(strip_comments_and_strings(open(p).read())) for m, p in files.items()}
    # `pub use child::Name` in a module: Name -> the child module.
    reexports = defaultdict(dict)
    for m, text in texts.items():
        for stmt in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for path in expand_use_tree(stmt):
                segs = [s.strip() for s in path.split("::")]
                if segs[0] == "self":
                    segs = segs[1:]
                if segs and segs[0] == "crate":
                    base, segs = (), segs[1:]
                else:
                    base = m
                target = resolve(base + tuple(segs[:-1]), modules)
                if target and target != m:
                    reexports[m][segs[-1]] = target

    edges = defaultdict(set)  # module -> modules it imports
    where = {}
    for m, text in texts.items():
        paths = []
        for stmt in re.findall(r"\buse\s+(crate::[^;]+|super::[^;]+);", text):
            paths += expand_use_tree(stmt)
        paths += re.findall(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", text)
        # A module's own children named by relative paths (`dml::run`,
        # `use dml::X`): a parent that calls its children depends on them.
        for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M):
            body = re.sub(r"\bpub(?:\([^)]*\))?\s+use\s+[^;]+;", "", text)
            if re.search(r"(?<![\w:.])" + child + r"::", body):
                paths.append("crate::" + "::".join(m + (child,)))
        for p in paths:
            segs = [s.strip() for s in p.split("::") if s.strip()]
            if segs[0] == "crate":
                full = tuple(segs[1:])
            else:
                base = list(m)
                while segs and segs[0] == "super":
                    base = base[:-1]
                    segs = segs[1:]
                full = tuple(base) + tuple(segs)
            target = resolve(full, modules)
            if target is None:
                continue
            rest = full[len(target):]
            seen = set()
            while rest and rest[0] in reexports.get(target, {}) and target not in seen:
                seen.add(target)
                target = reexports[target][rest[0]]
            if target == () or target == m:
                continue
            edges[m].add(target)
            where.setdefault((m, target), p)

    errors = []
    # Rule 1: layers, between top-level modules.
    top_edges = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            ta, tb = a[0] if a else "lib", b[0]
            if ta == "lib" or ta == tb:
                continue
            top_edges[ta].add(tb)
            for t in (ta, tb):
                if t not in RANK:
                    errors.append(f"module `{t}` is in no layer (add it to LAYERS in {sys.argv[0]})")
            if ta in RANK and tb in RANK and RANK[tb] < RANK[ta]:
                errors.append(f"upward import: {'::'.join(a)} -> {'::'.join(b)} ({where[(a, b)]})")
    # Rule 2: cycles between top-level modules and between files of one module.
    top_cycles = sccs(top_edges)
    for c in top_cycles:
        errors.append("cycle between modules: " + " <-> ".join(sorted(c)))
    inner = defaultdict(lambda: defaultdict(set))
    for a, bs in edges.items():
        for b in bs:
            if a and b and a[0] == b[0]:
                inner[a[0]][a].add(b)
    file_cycles = []
    for top, g in inner.items():
        for c in sccs(g):
            file_cycles.append(c)
            errors.append("cycle inside " + top + ": " + " <-> ".join(sorted("::".join(x) for x in c)))

    if report:
        sizes = defaultdict(int)
        for m, p in files.items():
            sizes[m[0] if m else "lib"] += sum(1 for _ in open(p))
        print("lines per top-level module:")
        for t, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"  {t:12} {n:6}")
        print("files over 800 lines:")
        for m, p in sorted(files.items()):
            n = sum(1 for _ in open(p))
            if n > 800:
                print(f"  {os.path.relpath(p, src):40} {n}")
        print("imports between top-level modules:")
        for a in sorted(top_edges):
            print(f"  {a:12} -> {', '.join(sorted(top_edges[a]))}")
        print(f"cycles: {len(top_cycles)} between top-level modules, {len(file_cycles)} between files of one module")

    for e in sorted(set(errors)):
        print(e, file=sys.stderr)
    if errors:
        print(f"check_layers: {len(set(errors))} problem(s)", file=sys.stderr)
        sys.exit(1)
    print("check_layers: layer order holds, no import cycles")


def resolve(path, modules):
    """The deepest known module that `path` (segments after crate) names."""
    for k in range(len(path), -1, -1):
        if tuple(path[:k]) in modules:
            return tuple(path[:k])
    return None


def sccs(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    main()
