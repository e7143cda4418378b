"""A wheel installed in a fresh virtualenv runs the demo outside the checkout.

How, honestly and fast: the wheel is built from this checkout (``python -m build --wheel
--no-isolation``), installed with ``--no-deps --no-index`` into a new virtualenv that does not see
the checkout, and the dependencies (torch, transformers, ...) come from the shared environment
through a ``.pth`` line naming its site-packages. A ``.pth`` line adds a folder, not the folder's
own ``.pth`` files, so the editable install of handhold that lives there is not loaded: the test
asserts that ``handhold`` is imported from the new virtualenv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_wheel_in_a_fresh_venv_runs_the_demo_outside_the_checkout(tmp_path):
    pytest.importorskip("build", reason="building the wheel needs the 'build' package")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=300, cwd=tmp_path)
    (wheel,) = dist.glob("handhold-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("handhold/configs/demo.yaml", "handhold/configs/evals/procedural.yaml",
                    "handhold/configs/grok_quick.yaml", "handhold/py.typed", "handhold/views/static/app.js"):
        assert shipped in names, shipped

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False, symlinks=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300, env=env)
    # after the install (else pip would find the shared editable handhold and install nothing)
    (site / "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env.update(OMP_NUM_THREADS="1", PATH=f"{env_dir / 'bin'}:{env.get('PATH', '')}")
    where = subprocess.run([str(py), "-c", "import handhold; print(handhold.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(env_dir)), where  # the wheel, not the checkout

    handhold = str(env_dir / "bin" / "handhold")
    res = subprocess.run([handhold, "train", "demo", "--max-steps", "3", "--out", "runs/demo", "-q"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (work / "runs" / "demo" / "run.db").is_file() and (work / "runs" / "demo" / "report.html").is_file()
    res = subprocess.run([handhold, "init", "mine"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and (work / "mine" / "curriculum.yaml").is_file(), res.stdout + res.stderr

    # a built-in real-model config looks for its model in the working directory, not inside the package
    assert "handhold/configs/smollm2_essay.yaml" in names
    res = subprocess.run([handhold, "train", "smollm2_essay", "--out", "runs/essay", "-q"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and str(work / "models" / "smollm2-135m-instruct") in res.stdout + res.stderr
    assert "import-gguf smollm2" in res.stdout + res.stderr
