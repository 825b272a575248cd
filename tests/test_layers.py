"""The house's layering (DESIGN §3): every import inside livecppn/ points down the table, and no
modules import each other in a circle. Parsed from the source (ast), so a function-level import
counts as much as one at the top of a file."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "livecppn"

# DESIGN §3, as data: what each layer may import from livecppn (besides itself). The small shared
# modules at the top level (paths, logging of the show, JSON helpers) sit below everything.
BASE = {"paths", "showlog", "jsonable", "__init__"}
MAY_IMPORT = {
    "base": set(),
    "audio": {"base"},
    "model": {"base"},
    "control": {"base", "audio"},
    "render": {"base", "model", "audio", "control"},
    "media": {"base", "audio", "model", "control"},
    "show": {"base", "audio", "model", "control", "render", "media"},
    "argtypes": {"base", "control"},  # the command line's value types (sizes, NAME=VALUE)
    "live": {"base", "audio", "model", "control", "render", "media", "show", "live_options"},
    "live_options": {"base", "audio", "model", "control", "render", "media", "show", "argtypes"},
    "offline": {"base", "audio", "model", "control", "render", "media", "show", "argtypes"},
    "doctor": {"base", "audio", "model", "control", "render", "media", "show"},  # `livecppn doctor`: checks, opens
    "cli": {"base", "audio", "model", "control", "render", "media", "show", "live", "live_options", "offline",
            "argtypes", "doctor"},
}


def layer(module: str) -> str:
    """'livecppn.show.frame' -> 'show'; 'livecppn.paths' -> 'base'."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return "base" if top in BASE else "cli" if top == "__main__" else top


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """The livecppn modules `name` imports (resolved; `from x import y` counts y when y is a module)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "livecppn"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "livecppn":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found += [(m, node.lineno) for m in subs] or [(target, node.lineno)]
    return found


def graph() -> tuple[dict[str, set[str]], list[str]]:
    mods = modules()
    known = set(mods)
    edges, upward = {}, []
    for name, path in mods.items():
        edges[name] = set()
        for target, line in imports(name, path, known):
            if target not in known:
                continue
            edges[name].add(target)
            src, dst = layer(name), layer(target)
            if dst != src and dst not in MAY_IMPORT[src]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {src} imports {dst} ({target})")
    return edges, upward


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_layer_is_declared():
    assert {layer(m) for m in modules()} <= set(MAY_IMPORT), "a new top-level package: add it to DESIGN §3 and here"


def test_no_import_points_up_the_table():
    _, upward = graph()
    assert not upward, "imports pointing up DESIGN §3's table:\n" + "\n".join(upward)


def test_no_modules_import_each_other_in_a_circle():
    edges, _ = graph()
    # a package's __init__ importing its own modules is not a circle of stages
    edges = {m: {t for t in ts if not (m.startswith(t + ".") and modules()[t].name == "__init__.py")}
             for m, ts in edges.items()}
    found = cycles(edges)
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path):
    # the test itself can fail: an upward import and a circle are both reported
    assert layer("livecppn.render.decks") == "render" and "show" not in MAY_IMPORT["render"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    mod = tmp_path / "m.py"
    mod.write_text("from ..show import frame\nfrom . import gl\nimport livecppn.media.encode\n")
    known = {"livecppn.show.frame", "livecppn.render.gl", "livecppn.media.encode"}
    assert [t for t, _ in imports("livecppn.render.m", mod, known)] == [
        "livecppn.show.frame", "livecppn.render.gl", "livecppn.media.encode"]
