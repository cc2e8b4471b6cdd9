"""The package's import graph, read from the source (every import statement, also the ones
inside functions): the rooms (c3_dense's subpackages and top-level modules) form no cycle,
the core knows only torch, and nothing below the framework adapters imports one of them."""
import ast
import os
import sys
from collections import defaultdict

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "c3_dense")
# model_zoo builds configs and models by name through the adapters (as detectron2's own).
ADAPTERS = {"detectron2", "mmseg", "mmpretrain", "mmdet", "openmmlab", "cli", "__main__",
            "model_zoo"}
FRAMEWORKS = {"detectron2", "mmseg", "mmpretrain", "mmdet", "mmcv", "mmengine", "fvcore",
              "torchvision"}
# Below the adapters, one framework each, on purpose: the checkpoint reader admits mmengine's
# pickled log buffers (lazily, when installed), the ImageNet reference models are torchvision's,
# the FLOP counter is fvcore's.
BELOW_ADAPTERS_MAY_IMPORT = {"weights": {"mmengine"}, "models": {"torchvision"},
                             "analysis": {"fvcore"}}


def _imports():
    """{room: {(imported module, importing file)}} for every module of the package."""
    found = defaultdict(set)
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].split(os.sep)
            package = parts[:-1]  # what a relative import starts from
            room = _room(".".join(parts))
            for node in ast.walk(ast.parse(open(path).read(), path)):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level:
                    base = package[:len(package) - (node.level - 1)]
                    modules = [".".join(base + ([node.module] if node.module else []))]
                    if not node.module:  # from . import x: the names are modules or members
                        modules = [f"{modules[0]}.{a.name}" for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    modules = [node.module]
                else:
                    continue
                found[room].update((m, os.path.relpath(path, PACKAGE)) for m in modules)
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


IMPORTS = _imports()
GRAPH = {room: {_room(m) for m, _ in mods if m.split(".")[0] == "c3_dense"} - {room}
         for room, mods in IMPORTS.items()}


def test_the_rooms_form_no_cycle():
    state = {}

    def visit(room, path):
        state[room] = "open"
        for nxt in sorted(GRAPH.get(room, ())):
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[room] = "done"

    for room in sorted(GRAPH):
        if room not in state:
            visit(room, [room])
    assert len(GRAPH) >= 10  # the walk saw the package


def test_the_core_knows_only_torch():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for module, where in IMPORTS["core"]:
        top = module.split(".")[0]
        assert top == "torch" or top in stdlib or module.startswith("c3_dense.core"), (
            f"{where} imports {module}")


def test_nothing_below_the_adapters_imports_one():
    for room, mods in IMPORTS.items():
        if room in ADAPTERS:
            continue
        for module, where in mods:
            assert not (module.split(".")[0] == "c3_dense" and _room(module) in ADAPTERS), (
                f"{where} imports the adapter {module}")
            top = module.split(".")[0]
            assert top not in FRAMEWORKS or top in BELOW_ADAPTERS_MAY_IMPORT.get(room, ()), (
                f"{where} imports the framework {module}")
