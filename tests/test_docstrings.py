"""The docstring examples of the package run and print what they show."""
import doctest
import importlib
import pkgutil

import pytest

import se_mamba

# the command-line entry point sets process-wide environment on import; nothing to run there
SKIP = {"se_mamba.cli.main"}


def modules():
    names = []
    for info in pkgutil.walk_packages(se_mamba.__path__, "se_mamba."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


def with_examples():
    out = []
    for name in modules():
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if doctest.DocTestFinder().find(mod) and any(t.examples for t in doctest.DocTestFinder().find(mod)):
            out.append(name)
    return out


@pytest.mark.parametrize("name", with_examples())
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
