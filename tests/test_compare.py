"""The comparison table (se_mamba.recipe.compare) against hand-computed
numbers, and recipes/dns2020/local/compare.sh end to end on tiny data."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from se_mamba.recipe.compare import compare, paired

from test_dns_synth import checkout, tree  # noqa: F401  (a tiny DNS-Challenge checkout)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_scores(exp, model, tag, kind, rows):
    d = exp / model / "scores" / tag
    d.mkdir(parents=True, exist_ok=True)
    cols = sorted({k for r in rows for k in r if k != "id"})
    lines = ["id," + ",".join(cols) + ",error"]
    lines += [r["id"] + "," + ",".join("" if r.get(c) is None else str(r[c]) for c in cols) + "," for r in rows]
    (d / f"{kind}.csv").write_text("\n".join(lines) + "\n")


def test_table_means_paired_differences_and_rtf(tmp_path):
    exp = tmp_path / "exp"
    a = [{"id": "u1", "pesq_wb": 2.0, "dnsmos_ovrl": 3.0}, {"id": "u2", "pesq_wb": 3.0, "dnsmos_ovrl": 3.5},
         {"id": "u3", "pesq_wb": 4.0, "dnsmos_ovrl": 2.5}]
    b = [{"id": "u1", "pesq_wb": 1.5, "dnsmos_ovrl": 3.0}, {"id": "u2", "pesq_wb": 2.0, "dnsmos_ovrl": 3.0},
         {"id": "u3", "pesq_wb": None, "dnsmos_ovrl": 2.0}]  # u3's PESQ failed
    noisy = [{"id": u, "pesq_wb": 1.0, "dnsmos_ovrl": 2.0} for u in ("u1", "u2", "u3")]
    write_scores(exp, "m1", "set", "enhanced", a)
    write_scores(exp, "m1", "set", "noisy", noisy)
    write_scores(exp, "m2", "set_sde2", "enhanced", b)
    (exp / "m1" / "enhanced" / "set").mkdir(parents=True)
    (exp / "m1" / "enhanced" / "set" / "timing.json").write_text(json.dumps(
        {"rtf": 0.25, "seconds": 1.0, "audio_seconds": 4.0, "threads": 2, "device": "cpu"}))
    text = compare(str(exp), ["set"], ["A=m1", "B=m2:_sde2"], param_counts=False)
    ci = 1.96 * np.std([2.0, 3.0, 4.0], ddof=1) / np.sqrt(3)
    assert f"| A | – | 0.250 (cpu, 2 threads) | 3.000 ± {ci:.3f} |" in text
    assert "| B | – | not recorded | 1.750 ± " in text  # mean over the 2 scored
    assert "| noisy | – | – | 1.000 ± 0.000 |" in text
    # paired: u1, u2 only for PESQ (0.5, 1.0); all three for DNSMOS (0, 0.5, 0.5)
    d = np.array([0.5, 1.0])
    assert f"| B | +{d.mean():.3f} ± {1.96 * d.std(ddof=1) / np.sqrt(2):.3f} |" in text
    assert paired(a, b, "dnsmos_ovrl")[0] == pytest.approx(1 / 3)
    # metrics nobody was scored with are not columns; a missing system is one line
    assert "estoi" not in text and "| pesq_wb | dnsmos_ovrl |" in text
    with pytest.raises(ValueError, match="no such file .*run stages 3-4 of m3"):
        compare(str(exp), ["set"], ["A=m1", "C=m3"], param_counts=False)


def test_dns2020_comparison_end_to_end_on_tiny_data(checkout, tmp_path):  # noqa: F811
    """local/compare.sh with CPU sizes and a few steps: every system on two
    test sets (one without references), one table with the measured RTF."""
    exp = tmp_path / "exp"
    cmd = ["bash", os.path.join(ROOT, "recipes", "dns2020", "local", "compare.sh"), "--dns_dir", str(checkout),
           "--data_dir", str(tmp_path / "data"), "--exp_dir", str(exp), "--python", sys.executable,
           "--hparams", os.path.join(ROOT, "hparams", "train", "mini_sb.yaml"), "--n_train", "4", "--n_valid", "2",
           "--clip_seconds", "2", "--workers", "1", "--test_sets", "dns2020_no_reverb dns2020_real", "--",
           "--number_of_epochs", "1", "--batch_size", "2"]
    # every stage runs as its own process (each scoring run loads its models for ~10 s): one
    # sampler, one step count and two sets keep this test near 3 min
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200,
                       env=dict(os.environ, STEPS="2", SAMPLERS="sde", T_MAX="0.5"))
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    text = (exp / "COMPARISON.md").read_text()
    for s in ("dns2020_no_reverb (3 utterances)", "dns2020_real (2 utterances)"):
        assert f"## {s}" in text
    systems = ["SBM, 1 step", "Mamba-base (predictive)", "SBM, 1 step from t = 0.5", "SB-NCSN++, 2 SDE steps"]
    no_reverb = text.split("## dns2020_real")[0]
    for name in systems:
        assert f"| {name} | " in no_reverb
    assert "ODE" not in text  # SAMPLERS=sde: the ODE sampler was not run
    assert "| pesq_wb | estoi | si_sdr |" in no_reverb
    real = text.split("## dns2020_real")[1]
    # no reference: DNSMOS, and speaker similarity of each output to its input (the noisy row: itself, 1)
    assert "pesq_wb" not in real and "| spk_sim | dnsmos_sig |" in real
    assert "| noisy | – | – | 1.000 ± 0.000 |" in real
    assert "(cpu, " in text and "not recorded" not in text


def test_voicebank_comparison_plans_the_same_systems_on_its_test_set():
    """recipes/voicebank/local/compare.sh: the SBM paper's VoiceBank row, the
    same shared script (recipes/lib/compare_sb.sh) on the recipe's test set."""
    script = os.path.join(ROOT, "recipes", "voicebank", "local", "compare.sh")
    r = subprocess.run(["bash", script, "--download", "false", "--", "--number_of_epochs", "2"], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, DRY_RUN="1", STEPS="1 10", T_MAX="0.5"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    run_sh = os.path.join(ROOT, "recipes", "voicebank", "run.sh")
    assert lines[0] == f"{run_sh} --test_sets test --download false --model sbm --stage 1 --stop_stage 4 -- " \
                       "--number_of_epochs 2"
    assert any("--model mamba_base --stage 2 --stop_stage 4" in x for x in lines)
    assert any("--model sbm --stage 3 --stop_stage 4 --t_max 0.5" in x for x in lines)
    assert sum("--model sb_ncsnpp --stage 3" in x for x in lines) == 4  # 1 and 10 steps, ODE and SDE
    assert f"--exp-dir {os.path.join(ROOT, 'exp', 'voicebank')} --sets test" in lines[-1]
    assert "SB-NCSN++\\,\\ 10\\ SDE\\ steps=sb_ncsnpp:_sde10" in lines[-1]
