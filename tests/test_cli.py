"""The se-mamba command line: --version, info, one-line errors."""
import os
import re
import subprocess
import sys

from se_mamba.version import __version__


def run_cli(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "se_mamba.cli.main", *args],
                          capture_output=True, text=True, env=full_env, timeout=300)


def parse_info(text):
    """'key  value' lines (two or more spaces between) into a dict."""
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"se-mamba {__version__}"


def test_info_reports_torch_device_and_backend():
    out = run_cli("info", env={"SE_MAMBA_BACKEND": "auto"})
    assert out.returncode == 0, out.stderr
    info = parse_info(out.stdout)
    import torch

    assert info["torch"] == torch.__version__
    assert info["device"] in ("cpu", "cuda")
    assert info["mamba backend (cpu)"] == "fused"
    assert info["CPU scan kernel"].startswith("fused C++ kernel loaded")
    forced = parse_info(run_cli("info", env={"SE_MAMBA_BACKEND": "torch"}).stdout)
    assert forced["mamba backend (cpu)"] == "torch"
    assert forced["requested backend ($SE_MAMBA_BACKEND)"] == "torch"


def test_bad_backend_is_one_line_error_exit_1():
    out = run_cli("info", env={"SE_MAMBA_BACKEND": "gpu-please"})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "SE_MAMBA_BACKEND='gpu-please' is not a Mamba backend" in lines[0]


def test_no_command_prints_help():
    out = run_cli()
    assert out.returncode == 2 and "info" in out.stdout
