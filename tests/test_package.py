"""The public surface: lazy exports, `__all__`, and a light import."""

from __future__ import annotations

import subprocess
import sys

import reinfer_nb


def test_all_lists_every_export_and_each_resolves() -> None:
    assert reinfer_nb.__all__ == sorted(reinfer_nb.__all__)
    assert set(reinfer_nb.__all__) == {
        *reinfer_nb._EXPORTS, "__version__", "load_ipython_extension", "unload_ipython_extension"
    }
    for name in reinfer_nb.__all__:
        assert getattr(reinfer_nb, name) is not None


def test_import_is_light() -> None:
    code = ("import sys, reinfer_nb; heavy = {'pandas', 'requests', 'IPython', 'ipywidgets'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
