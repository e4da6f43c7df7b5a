"""Rules for the whole source tree, checked by reading it."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("se_mamba", "recipes", "benchmarks", "data_prep") for p in (ROOT / d).rglob("*.py"))


def test_every_torch_load_is_weights_only():
    """A checkpoint is data: ``torch.load`` never unpickles code (weights_only=True)."""
    bad = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" \
                    and getattr(node.func.value, "id", None) == "torch":
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(SOURCES) > 50 and not bad, bad


def test_no_citation_of_a_file_users_do_not_have():
    """Comments and docs cite papers, original repositories or standards, never
    the developers' private reference notes ("FACTS §N")."""
    files = SOURCES + sorted(p for d in ("docs", "hparams", "tests") for p in (ROOT / d).rglob("*")
                             if p.suffix in (".md", ".yaml", ".py")) + [ROOT / "README.md"]
    bad = [str(p.relative_to(ROOT)) for p in files
           if p.name != "test_source_policy.py" and "FACTS" in p.read_text(errors="replace")]
    assert not bad, bad


def test_one_resampler():
    """Every resampling in the package goes through ``se_mamba.audio.resample``:
    no module calls a resampler of scipy, torchaudio, librosa or soxr itself
    (two resamplers once made the mini corpus differ from the rest)."""
    names = {"resample_poly", "resample", "Resample", "resample_nnls", "upfirdn"}
    bad = []
    for path in SOURCES:
        if path == ROOT / "se_mamba" / "audio.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in names \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("audio",)):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (
                    "scipy", "torchaudio", "librosa", "soxr") and any(a.name in names for a in node.names):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import")
    assert not bad, bad
