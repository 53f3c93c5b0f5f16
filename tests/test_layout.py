"""
The tree shows the architecture: no import circle between annexrelay's
modules (lazy imports included), no module over 400 lines, and the README's
architecture section names every module and no module that is not there.
"""

import ast
import os
import re

from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 400


def _modules():
    found = {}
    for d, _, files in os.walk(os.path.join(ROOT, "annexrelay")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                if name.endswith(".__init__"):
                    name = name[: -len(".__init__")]
                found[name] = path
    return found


def _imports(modules):
    """
    Module -> the annexrelay modules it imports, anywhere in its body.  A
    module importing a sibling does not count as importing its own
    package (Python handles that while the package initialises).
    """
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                for a in node.names:
                    sub = node.module + "." + a.name
                    deps.add(sub if sub in modules else node.module)
        for dep in list(deps):
            parts = dep.split(".")
            for i in range(2, len(parts)):
                package = ".".join(parts[:i])
                if package in modules and not name.startswith(package + "."):
                    deps.add(package)
        deps.discard(name)
        graph[name] = deps
    return graph


def _cycles(graph):
    cycles = []
    state = {}

    def visit(v, stack):
        state[v] = "open"
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == "open":
                cycles.append(stack[stack.index(w) :] + [w])
            elif w not in state:
                visit(w, stack)
        stack.pop()
        state[v] = "done"

    for v in sorted(graph):
        if v not in state:
            visit(v, [])
    return cycles


class LayoutTests(unittest.TestCase):
    def test_no_import_circle(self):
        self.assertEqual(_cycles(_imports(_modules())), [])

    def test_detects_a_circle(self):
        self.assertEqual(_cycles({"a": {"b"}, "b": {"a"}}), [["a", "b", "a"]])

    def test_module_size(self):
        big = {}
        for name, path in _modules().items():
            n = len(open(path).read().splitlines())
            if n > MAX_LINES:
                big[name] = n
        self.assertEqual(big, {})

    def test_readme_names_every_module(self):
        text = open(os.path.join(ROOT, "README.md")).read()
        section = text[text.index("## Architecture") : text.index("## Tests")]
        named = set(re.findall(r"`(annexrelay/[\w/]+\.py)`", section))
        present = {os.path.relpath(p, ROOT) for p in _modules().values()}
        self.assertEqual(sorted(present - named), [], "modules the README does not name")
        self.assertEqual(sorted(named - present), [], "modules the README names that do not exist")
