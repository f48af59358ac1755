"""The type stubs cover the module, and every public function and method has a docstring."""
import ast
import inspect
import pathlib

import difftriage


def stub_names():
    stub = pathlib.Path(difftriage.__file__).with_name("__init__.pyi")
    tree = ast.parse(stub.read_text())
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    # public constants: annotated names (not the dunders)
    top |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)
            and not n.target.id.startswith("__")}
    methods = {f"Classifier.{n.name}" for c in tree.body
               if isinstance(c, ast.ClassDef) and c.name == "Classifier"
               for n in c.body if isinstance(n, ast.FunctionDef)}
    return top, methods


def test_every_public_name_has_a_stub_and_a_docstring():
    top, methods = stub_names()
    assert set(difftriage.__all__) == top
    for name in difftriage.__all__:
        assert (getattr(difftriage, name).__doc__ or "").strip(), name
    runtime_methods = {f"Classifier.{n}" for n in dir(difftriage.Classifier)
                       if not n.startswith("__")}
    assert runtime_methods == methods
    for qualified in runtime_methods:
        member = inspect.getattr_static(difftriage.Classifier, qualified.split(".")[1])
        assert (member.__doc__ or "").strip(), qualified
