"""Which module may import what: core never imports streamlit; the map and the cache never import torch;
the default page never imports umap-learn. Each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT


def run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=180)


def test_core_never_imports_streamlit():
    run(
        "import importlib, pkgutil, sys, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "assert 'streamlit' not in sys.modules, 'core imported streamlit'\n"
    )


def test_projection_and_cache_never_import_torch():
    run("import sys, core.maps.projection, core.cache\nassert 'torch' not in sys.modules, 'torch was imported'\n")


def test_shell_and_state_import_nothing_heavy():
    """The shell sends its first chart before torch loads: its own imports must stay light."""
    run("import sys, ui.shell, ui.state\nheavy = {'torch', 'umap', 'sklearn'} & set(sys.modules)\nassert not heavy\n")


def test_pages_and_ui_never_import_torch():
    """Pages and ui call core for every computation (inference included): none of them imports torch."""
    for path in sorted([*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]):
        text = path.read_text()
        for name in ("torch", "torchvision"):
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path.name} imports {name}"


def test_default_page_needs_no_torch_nor_umap_nor_sklearn():
    """The first page on the default checkpoint is drawn from cached arrays and the exported ONNX decoder:
    torch (1 s), umap-learn, scikit-learn (0.3 s), scipy (0.2 s) and pandas (0.17 s) stay out; after
    it is drawn, torch and the model load in the background (ui.loaders.warm_up), so the first click does not
    wait for them."""
    # The warm-up timer waits for a gate opened after the import checks: on a loaded machine a timer of any delay
    # could fire before AppTest returns, and the check would see torch imported by the background build.
    run(
        "import sys, time, threading\nGATE = threading.Event()\n"
        "class Gated(threading.Timer):\n"
        "    def run(self):\n"
        "        if self.function.__name__ == 'build': GATE.wait()\n"
        "        super().run()\n"
        "threading.Timer = Gated\n"
        "from streamlit.testing.v1 import AppTest\n"
        "import ui.loaders\nui.loaders.WARM_UP_DELAY_S = 0.0\n"
        "at = AppTest.from_file('app.py', default_timeout=60).run()\n"
        "assert not at.exception, at.exception\nassert [t.value for t in at.title][0] == 'Map'\n"
        "assert any(c.value.startswith('Live: this browser') for c in at.caption), 'not the live map'\n"
        "assert 'torch' not in sys.modules, 'the default page imported torch'\n"
        "assert 'umap' not in sys.modules, 'the default page imported umap'\n"
        "assert 'sklearn' not in sys.modules, 'the default page imported scikit-learn'\n"
        "assert 'scipy.spatial' not in sys.modules, 'the default page built a k-d tree'\n"
        "assert 'scipy.linalg' not in sys.modules, 'the default page imported scipy.linalg'\n"
        "assert 'pandas' not in sys.modules, 'an element sent a dict Streamlit scanned for dataframes'\n"
        "ckpt = ui.loaders.get_checkpoint(at.session_state['ckpt'])\nassert not ckpt.model_loaded\nGATE.set()\n"
        "for _ in range(600):\n    time.sleep(0.1)\n    if ckpt.model_loaded: break\n"
        "assert ckpt.model_loaded and 'torch' in sys.modules, 'the model was not built in the background'\n"
    )


# core's floors, lowest first: a module imports only from its own floor or below (a package's modules share one)
FLOORS = [
    ("core.errors", "core.lazy", "core.cache", "core.text"),
    ("core.data",),
    ("core.models",),
    ("core.export", "core.maps", "core.encode"),
    ("core.train",),
    ("core.analysis",),
    ("core.evaluate",),
    ("core.claims",),
]


def import_graph() -> dict[str, set[str]]:
    """{module: the project modules it imports}, read from the source of core/ and ui/ (imports inside functions
    count: a lazy import is still a dependency)."""
    import ast

    def name(p):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    files = {name(p): p for d in ("core", "ui") for p in (ROOT / d).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for m, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    graph[m].add(sub if sub in files else node.module)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names)
        graph[m] = {t for t in graph[m] if t in files and t != m}
    return graph


def test_the_import_graph_has_no_circle_and_core_runs_downwards():
    graph = import_graph()
    # no circle: a depth-first walk never meets a module that is still open
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            assert state.get(t) != 1, "import circle: " + " -> ".join([*path[path.index(t) :], t])
            if t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    floor = {prefix: i for i, group in enumerate(FLOORS) for prefix in group}

    def floor_of(m: str) -> int:
        return next(i for p, i in floor.items() if m == p or m.startswith(p + "."))

    for m, targets in graph.items():
        assert not (m.startswith("core") and any(t.startswith("ui") for t in targets)), f"{m} imports ui"
        if m.startswith("core.") and m != "core":
            for t in targets:
                assert floor_of(t) <= floor_of(m), f"{m} imports {t}: an arrow back up"


def test_each_core_package_re_exports_its_public_names_lazily():
    """A notebook's imports (``from core.models import load_checkpoint, decode``) resolve, and importing a torch-free
    module of a package (core.models.checkpoints, core.data.paths) does not import torch through the package."""
    run(
        "import importlib, sys\n"
        "import core.models.checkpoints, core.models.config, core.data.paths, core.maps.projection\n"
        "assert 'torch' not in sys.modules, 'a package __init__ imported torch'\n"
        "for pkg in ('core.models', 'core.data', 'core.maps', 'core.train'):\n"
        "    m = importlib.import_module(pkg)\n"
        "    assert m.__file__ and m.__all__, pkg + ' is a bare namespace package'\n"
        "    for name in m.__all__: getattr(m, name)\n"
        "from core.models import decode, load_checkpoint\nfrom core.data import Dataset, load_dataset\n"
    )
