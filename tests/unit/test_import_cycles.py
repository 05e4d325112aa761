"""No import cycle among gsatellite's modules, at module level or inside functions.

Every module under lib/gsatellite is parsed with :mod:`ast` (nothing is
imported), each ``import``/``from ... import`` naming a gsatellite module
becomes an edge, whether it sits at the top of the module or inside a
function, and the strongly connected components of that graph must all be
single modules.  A function-level import hides a cycle from Python but not
from the reader: the two modules still cannot be understood one without the
other.

A parent package is not an edge of its sub-modules (importing
``gsatellite.cli.gqstat`` runs ``gsatellite.cli`` first anyway), and a
relative ``from . import x`` is an edge to ``x`` when ``x`` is a module.
"""

import ast
import os

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib")

# Known cycles that are tolerated; none today.
KNOWN = []


def modules(lib, package="gsatellite"):
    """``{dotted name: (file, is_package)}`` of every module of ``package``."""
    out = {}
    for directory, _, files in os.walk(os.path.join(lib, package)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            dotted = os.path.relpath(path, lib)[:-3].replace(os.sep, ".")
            is_package = name == "__init__.py"
            if is_package:
                dotted = dotted[:-len(".__init__")]
            out[dotted] = (path, is_package)
    return out


def _targets(mods, importer, node):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    parts = importer.split(".")
    if not mods[importer][1]:
        parts = parts[:-1]  # a module's relative imports start at its package
    if node.level:
        parts = parts[:len(parts) - (node.level - 1)]
        source = ".".join(parts + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    found = []
    for alias in node.names:
        sub = source + "." + alias.name
        if sub in mods:
            found.append(sub)
        elif source in mods:
            found.append(source)
    return found


def graph(lib):
    """``{module: {imported module: "module" or "function"}}``."""
    mods = modules(lib)
    edges = {m: {} for m in mods}
    for importer, (path, _) in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(mods, importer, node):
                if target == importer or importer.startswith(target + "."):
                    continue
                level = "module" if id(node) in top else "function"
                if edges[importer].get(target) != "module":
                    edges[importer][target] = level
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def describe(edges, component):
    return "; ".join("%s -> %s (%s)" % (a, b, edges[a][b])
                     for a in sorted(component) for b in sorted(edges[a]) if b in component)


def test_no_import_cycle_among_gsatellite_modules():
    edges = graph(LIB)
    assert "gsatellite.paths" in edges and "gsatellite.config" in edges
    bad = [c for c in cycles(edges) if not any(c <= known for known in KNOWN)]
    assert not bad, "import cycles: " + " | ".join(describe(edges, c) for c in bad)


def test_no_import_cycle_at_module_level():
    edges = graph(LIB)
    top = {m: {t: k for t, k in targets.items() if k == "module"} for m, targets in edges.items()}
    bad = cycles(top)
    assert not bad, "import cycles: " + " | ".join(describe(edges, c) for c in bad)


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    pkg = tmp_path / "gsatellite"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub.c import x\n")
    (pkg / "sub" / "c.py").write_text("import os\nfrom ..a import y\nfrom .. import d\n")
    (pkg / "d.py").write_text("from gsatellite import sub\n")
    edges = graph(str(tmp_path))
    assert edges["gsatellite.b"] == {"gsatellite.sub.c": "function"}
    assert edges["gsatellite.d"] == {"gsatellite.sub": "module"}
    assert cycles(edges) == [{"gsatellite.a", "gsatellite.b", "gsatellite.sub.c"}]
