"""The authors' released generator checkpoints, fetched once and packed.

``official:NAME`` works wherever a packed model folder does
(``MambaEnhancer.from_hparams``, ``se-mamba enhance --model``), and
``se-mamba download NAME`` fetches it ahead of time. The file comes from the
original repository (``https://github.com/<repo>/raw/main/<path>``) into a
cache (``$SE_MAMBA_CACHE``, default ``~/.cache/se_mamba``), then
:func:`se_mamba.models.load_official_checkpoint` recognises it and it is
packed into a folder that ``from_hparams`` loads (``hyperparams.yaml``,
``model.ckpt``, ``README.md`` naming the source). ``$SE_MAMBA_MIRROR`` (or
``mirror=``) replaces ``https://github.com`` with another base URL.

Example
-------
>>> sorted(RELEASED)
['mambattention_vbdemandex', 'semamba_vbd', 'semamba_vbd_dns']
"""
import os
from dataclasses import dataclass

from ..data.download import download

PREFIX = "official:"


@dataclass(frozen=True)
class Released:
    repo: str
    path: str
    trained_on: str
    paper: str

    @property
    def url(self):
        return f"https://github.com/{self.repo}/raw/main/{self.path}"


RELEASED = {
    "semamba_vbd": Released("RoyChao19477/SEMamba", "ckpts/SEMamba_advanced.pth", "VoiceBank-DEMAND",
                            "Chao et al., An Investigation of Incorporating Mamba for Speech Enhancement (SLT 2024)"),
    "semamba_vbd_dns": Released("RoyChao19477/SEMamba", "ckpts/vd.pth", "VoiceBank-DEMAND + DNS 2020",
                                "Chao et al., An Investigation of Incorporating Mamba for Speech Enhancement"),
    "mambattention_vbdemandex": Released("NikolaiKyhne/MambAttention", "checkpoints/seed3441.pth", "VB-DemandEx",
                                         "Kühne et al., MambAttention (config "
                                         "checkpoints/MambAttention_seed3441_VB-DemandEx.yaml)"),
}


def cache_dir():
    return os.environ.get("SE_MAMBA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "se_mamba")


def released(name):
    if name not in RELEASED:
        raise ValueError(f"unknown released checkpoint {name!r}; known: {', '.join(sorted(RELEASED))}")
    return RELEASED[name]


def fetch_checkpoint(name, mirror=None, progress=True):
    """The released file of ``name`` in the cache (downloaded once, resumable)."""
    rel = released(name)
    dest = os.path.join(cache_dir(), "released", name, os.path.basename(rel.path))
    return download(rel.url, dest, mirror=mirror or os.environ.get("SE_MAMBA_MIRROR"), progress=progress)


def packed_released(name, mirror=None, progress=True):
    """A packed folder of the released checkpoint ``name`` (fetched and packed once)."""
    from ..recipe.pack import write_package
    from .official_weights import load_official_checkpoint

    rel = released(name)
    out = os.path.join(cache_dir(), "released", name, "packed")
    if os.path.isfile(os.path.join(out, "model.ckpt")):
        return out
    model = load_official_checkpoint(fetch_checkpoint(name, mirror, progress))
    n = sum(p.numel() for p in model.parameters())
    readme = "\n".join([
        f"# official:{name}", "",
        f"The authors' released `{rel.path}` from https://github.com/{rel.repo} ({rel.paper}), "
        f"trained on {rel.trained_on}: `{model.build_spec['name']}`, {n:,} parameters, loaded unchanged "
        "(strict state-dict load) and packed by se_mamba. The weights' licence is the original "
        "repository's.", ""])
    return write_package(out, model, readme)
