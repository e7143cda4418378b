"""The phases package's lazy names all resolve (a module moved or removed must not leave a name
that fails on first use), and importing the package loads none of the numerics."""

from __future__ import annotations

import subprocess
import sys


def test_every_lazy_name_resolves():
    import handhold.phases as phases

    assert phases.__all__ and all(getattr(phases, name) is not None for name in phases.__all__)


def test_the_package_alone_loads_no_numerics():
    code = ("import sys, handhold.phases; "
            "print(sorted(m for m in ('ruptures', 'scipy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
