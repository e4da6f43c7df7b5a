"""``se-mamba info``: versions, devices and the active Mamba backend."""
import os
import platform


def add_parser(sub):
    p = sub.add_parser("info", help="print torch/device/Mamba backend information")
    p.set_defaults(func=run)
    return p


def collect():
    """Facts about this installation, as (key, value) pairs."""
    import torch

    from ..nn.backend import ENV_VAR, mamba_ssm_ops, requested_backend, resolve_backend
    from ..nn.scan_kernel import kernel_status
    from ..version import __version__

    rows = [
        ("se_mamba", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
    ]
    try:
        import speechbrain

        rows.append(("speechbrain", speechbrain.__version__))
    except Exception as exc:  # report, do not fail: info is a diagnostic
        rows.append(("speechbrain", f"not importable ({exc})"))
    cuda = torch.cuda.is_available()
    rows += [
        ("cpu threads", str(torch.get_num_threads())),
        ("cuda", torch.cuda.get_device_name(0) if cuda else "not available"),
        ("device", "cuda" if cuda else "cpu"),
        (f"requested backend (${ENV_VAR})", requested_backend()),
        ("mamba_ssm", "importable" if mamba_ssm_ops() is not None else "not installed/usable"),
        ("CPU scan kernel", kernel_status()),
        ("mamba backend (cpu)", resolve_backend("cpu")),
    ]
    if cuda:
        rows.append(("mamba backend (cuda)", resolve_backend("cuda")))
    rows.append(("THP_MEM_ALLOC_ENABLE", os.environ.get("THP_MEM_ALLOC_ENABLE", "unset")))
    return rows


def run(args):
    rows = collect()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
