"""Training: a few steps lower the loss; the recipe's stages 1-6 run end to end."""
import json
import os
import re
import subprocess
import sys

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.join(os.path.dirname(__file__), "..")
MINI_YAML = os.path.join(ROOT, "hparams", "train", "mini_semamba.yaml")
TINY = {"channels": 4, "num_blocks": 1, "d_state": 4, "expand": 2, "batch_size": 2, "segment": 8000}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from se_mamba.data.mini_corpus import CorpusConfig, generate

    root = str(tmp_path_factory.mktemp("corpus"))
    generate(root, CorpusConfig(seed=3, n_train=4, n_valid=2, n_test=2), progress=False)
    return root


def load_hparams(data, out, **over):
    with open(MINI_YAML) as f:
        return load_hyperpyyaml(f, {"data_folder": data, "output_folder": out, **TINY, **over})


@pytest.mark.parametrize("brain_class", ["se_mamba.brains.SEBrain", "se_mamba.brains.MetricGANBrain"])
def test_few_steps_lower_the_loss(tiny_corpus, tmp_path, brain_class):
    torch.manual_seed(0)
    hp = load_hparams(tiny_corpus, str(tmp_path), g_lr=0.003, d_lr=0.003)
    module, cls = brain_class.rsplit(".", 1)
    brain = getattr(__import__(module, fromlist=[cls]), cls)(
        modules=hp["modules"], hparams=hp, run_opts={"device": "cpu"}, checkpointer=None)
    brain.init_optimizers()
    from se_mamba.dataio import make_dataset

    ds = make_dataset(hp["train_manifest"], tiny_corpus, segment=8000)
    batch = next(iter(sb.dataio.dataloader.make_dataloader(ds, batch_size=2)))
    brain.modules.train()
    losses = [float(brain.fit_batch(batch)) for _ in range(12)]
    assert brain.skipped_steps == 0 and brain.optimizer_step == 12
    # measured: about -8% in 12 steps at this size; a broken update would not fall 5%
    assert sum(losses[-3:]) / 3 < 0.95 * sum(losses[:3]) / 3, losses


def make_brain(hp, brain_class="se_mamba.brains.SEBrain", **run_opts):
    module, cls = brain_class.rsplit(".", 1)
    brain = getattr(__import__(module, fromlist=[cls]), cls)(
        modules=hp["modules"], hparams=hp, run_opts={"device": "cpu", **run_opts}, checkpointer=None)
    brain.init_optimizers()
    brain.modules.train()
    return brain


def train_batches(hp, corpus, n=1, batch_size=2):
    from se_mamba.dataio import dataio_prep

    loader = sb.dataio.dataloader.make_dataloader(dataio_prep(hp)["train"], batch_size=batch_size)
    batch = next(iter(loader))
    return [batch] * n


def run_batches(brain, batches):
    """Batches through fit_batch as SpeechBrain's loop feeds them (step counter)."""
    for batch in batches:
        brain.step += 1
        brain.fit_batch(batch)


class NaNOnce(torch.nn.Module):
    """Wraps a loss: its first call returns NaN."""

    def __init__(self, loss):
        super().__init__()
        self.loss, self.calls = loss, 0

    def forward(self, *args):
        self.calls += 1
        total, parts = self.loss(*args)
        return (total * float("nan") if self.calls == 1 else total), parts


@pytest.mark.parametrize("brain_class", ["se_mamba.brains.SEBrain", "se_mamba.brains.MetricGANBrain"])
def test_nonfinite_step_is_skipped_whole_not_applied(tiny_corpus, tmp_path, brain_class):
    hp = load_hparams(tiny_corpus, str(tmp_path))
    hp["loss"] = NaNOnce(hp["loss"])
    brain = make_brain(hp, brain_class)
    assert brain.skip_nonfinite_grads  # the YAML turns SpeechBrain's option on
    gen = brain.modules.generator
    before = [p.detach().clone() for p in gen.parameters()]
    run_batches(brain, train_batches(hp, tiny_corpus))
    assert brain.skipped_steps == 1 and brain.optimizer_step == 1
    assert all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))
    assert all(p.grad is None for p in gen.parameters())
    run_batches(brain, train_batches(hp, tiny_corpus))  # the next finite step is applied
    assert brain.skipped_steps == 1 and brain.optimizer_step == 2
    assert not all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))


@pytest.mark.parametrize("brain_class", ["se_mamba.brains.SEBrain", "se_mamba.brains.MetricGANBrain"])
def test_precision_bf16_autocasts_the_forward(tiny_corpus, tmp_path, brain_class):
    """--precision bf16 reaches the model: SpeechBrain's training_ctx is used."""
    hp = load_hparams(tiny_corpus, str(tmp_path))
    seen = []
    hp["generator"].register_forward_pre_hook(
        lambda m, a: seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))))
    brain = make_brain(hp, brain_class, precision="bf16")
    run_batches(brain, train_batches(hp, tiny_corpus))
    assert seen == [(True, torch.bfloat16)] and brain.skipped_steps == 0
    seen.clear()
    brain = make_brain(load_hparams(tiny_corpus, str(tmp_path)), brain_class)
    brain.modules.generator.register_forward_pre_hook(
        lambda m, a: seen.append(torch.is_autocast_enabled("cpu")))
    run_batches(brain, train_batches(hp, tiny_corpus))
    assert seen == [False]


@pytest.mark.parametrize("brain_class", ["se_mamba.brains.SEBrain", "se_mamba.brains.MetricGANBrain"])
def test_grad_accumulation_steps_once_per_factor_batches(tiny_corpus, tmp_path, brain_class):
    hp = load_hparams(tiny_corpus, str(tmp_path))
    brain = make_brain(hp, brain_class, grad_accumulation_factor=2)
    gen = brain.modules.generator
    weights = [next(gen.parameters()).detach().clone()]
    for batch in train_batches(hp, tiny_corpus, n=4):
        run_batches(brain, [batch])
        weights.append(next(gen.parameters()).detach().clone())
    assert brain.optimizer_step == 2  # 4 batches / factor 2
    changed = [not torch.equal(a, b) for a, b in zip(weights, weights[1:])]
    assert changed == [False, True, False, True]


def test_max_grad_norm_clips_what_the_optimiser_sees(tiny_corpus, tmp_path):
    hp = load_hparams(tiny_corpus, str(tmp_path), max_grad_norm=1e-3)
    brain = make_brain(hp)
    seen = []
    brain.g_optimizer.register_step_pre_hook(lambda opt, *a: seen.append(float(torch.nn.utils.get_total_norm(
        [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]))))
    run_batches(brain, train_batches(hp, tiny_corpus))
    assert seen == [pytest.approx(1e-3, rel=1e-3)]
    brain = make_brain(load_hparams(tiny_corpus, str(tmp_path), max_grad_norm=1e6))
    seen.clear()
    brain.g_optimizer.register_step_pre_hook(lambda opt, *a: seen.append(float(torch.nn.utils.get_total_norm(
        [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]))))
    run_batches(brain, train_batches(hp, tiny_corpus))
    assert seen[0] > 1e-2  # the unclipped norm is far above the first run's limit


def test_batch_size_is_per_optimiser_step_over_all_processes():
    from se_mamba.recipe.train import per_process_batch

    assert per_process_batch(8, 4, 1) == 2 and per_process_batch(8, 1, 2) == 4 and per_process_batch(4, 1, 1) == 4
    with pytest.raises(ValueError, match="batch_size 8 .* not a multiple of 3 process"):
        per_process_batch(8, 3, 1)


def _source_tree_state():
    """(path, size, mtime) of every file of the checkout outside exp/, data/ and .venv."""
    top = {".git", ".venv", "exp", "data", ".pytest_cache"}
    out = []
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")
                   and not (dirpath == ROOT and d in top)]
        for f in files:
            st = os.stat(os.path.join(dirpath, f))
            out.append((os.path.relpath(os.path.join(dirpath, f), ROOT), st.st_size, st.st_mtime_ns))
    return sorted(out)


def test_recipe_stages_1_to_6_end_to_end(tmp_path):
    """The mini recipe on a tiny corpus and model: data prep, train, enhance, score, ASR, pack."""
    env = {k: v for k, v in os.environ.items() if k not in ("RESULTS_MD", "RESULTS_ASR_MD", "PRETRAINED_DIR")}
    env.update(N_TRAIN="4", N_VALID="2", N_TEST="2")
    # the recipe's own defaults: every output under --exp_dir, nothing in the source tree
    results, results_asr = tmp_path / "exp" / "RESULTS.md", tmp_path / "exp" / "RESULTS_ASR.md"
    packed = tmp_path / "exp" / "pretrained"
    cmd = ["bash", os.path.join(ROOT, "recipes", "mini", "run.sh"), "--stage", "1", "--stop_stage", "6",
           "--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"),
           "--python", sys.executable, "--"]
    cmd += [f"--{k}={v}" for k, v in {**TINY, "number_of_epochs": 1}.items()]
    tree = _source_tree_state()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert _source_tree_state() == tree  # no file of the checkout was written
    exp = tmp_path / "exp" / "semamba_small"
    # stage 1 built (or found) the CPU kernels in the background, and said which scan runs
    built = (exp / "logs" / "kernel_build.log").read_text().strip().splitlines()[-1]
    assert built.startswith(("fused C++ kernel loaded (", "unavailable (")) and f"kernels: {built}" in out.stdout
    enhanced = json.loads((exp / "enhanced" / "test" / "enhanced.json").read_text())
    assert len(enhanced) == 2 and all(os.path.exists(v["enhanced_wav"]) for v in enhanced.values())
    text = results.read_text()
    assert "| pesq_wb |" in text and "| dnsmos_ovrl |" in text and "Δ enhanced − noisy" in text
    assert (tmp_path / "exp" / "results_spectrogram.png").exists()
    assert (tmp_path / "exp" / "results_histograms.png").exists()
    # stage 5: one row per system, the clean row has no pseudo-reference WER
    asr_text = results_asr.read_text()
    for system in ("noisy", "enhanced", "clean"):
        assert f"| {system} |" in asr_text
    transcripts = (exp / "asr" / "test" / "transcripts.csv").read_text().splitlines()
    assert len(transcripts) == 1 + 2 * 3
    # stage 6: the packed folder loads with SpeechBrain's Pretrainer and gives
    # the experiment's output
    from se_mamba.recipe.enhance import load_experiment

    packed_yaml = (packed / "hyperparams.yaml").read_text()
    # every constructor argument and the versions that made it (asteroid's serialize keeps the same)
    assert "    n_fft: 400\n" in packed_yaml and "    axis_order: time_first\n" in packed_yaml
    from importlib.metadata import version

    assert f"  torch: {version('torch')}\n" in packed_yaml and "  se_mamba: 0." in packed_yaml
    with open(packed / "hyperparams.yaml") as f:
        hp = load_hyperpyyaml(f)
    hp["pretrainer"].set_collect_in(str(tmp_path / "collect"))
    hp["pretrainer"].collect_files(default_source=str(packed))
    hp["pretrainer"].load_collected()
    trained, _ = load_experiment(str(exp))
    x = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        assert torch.equal(hp["model"].eval().enhance(x), trained.enhance(x))
    card = (packed / "README.md").read_text()
    assert "| pesq_wb |" in card and "| system | WER" in card and "Licence" in card and (packed / "train_hyperparams.yaml").exists()
    # packing the same run again, from another folder, gives the same bytes: the package holds
    # no date, checkpoint clock time or absolute path (make demo then leaves a checkout clean)
    from se_mamba.recipe.pack import pack

    assert re.search(r"best validation PESQ: epoch 1, step \d+, validation PESQ \d\.\d{3}\)", card)
    assert str(tmp_path) not in card
    train_yaml = (packed / "train_hyperparams.yaml").read_text()
    assert str(tmp_path) not in train_yaml and os.path.abspath(ROOT) not in train_yaml
    assert train_yaml.startswith("# Training configuration as run (from mini_semamba.yaml)\n")
    # ... and it loads as the recipe's YAML does, with the folders given again
    hp_train = load_hyperpyyaml(train_yaml, {"data_folder": "D", "output_folder": str(tmp_path / "o")})
    assert hp_train["train_manifest"] == "D/train.json" and hp_train["number_of_epochs"] == 1
    again = tmp_path / "again"
    again.mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(again)
        pack(str(exp), "p", [str(results), str(results_asr)], name="mini_semamba_small")
    finally:
        os.chdir(cwd)
    for name in ("README.md", "hyperparams.yaml", "train_hyperparams.yaml", "model.ckpt"):
        assert (again / "p" / name).read_bytes() == (packed / name).read_bytes(), name
    # idempotent: rerunning stage 3 keeps the enhanced files
    mtime = os.stat(next(iter(enhanced.values()))["enhanced_wav"]).st_mtime_ns
    again = subprocess.run(cmd[:2] + ["--stage", "3", "--stop_stage", "3"] + cmd[6:], capture_output=True,
                           text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert os.stat(next(iter(enhanced.values()))["enhanced_wav"]).st_mtime_ns == mtime


def test_recipe_nproc_2_trains_on_cpu_with_gloo(tmp_path):
    """run.sh --nproc 2 on a machine without CUDA: torchrun with gloo (SpeechBrain's
    default nccl failed here before)."""
    env = dict(os.environ, N_TRAIN="4", N_VALID="2", N_TEST="2")
    cmd = ["bash", os.path.join(ROOT, "recipes", "mini", "run.sh"), "--stage", "1", "--stop_stage", "2",
           "--nproc", "2", "--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"),
           "--python", sys.executable, "--"]
    cmd += [f"--{k}={v}" for k, v in {**TINY, "number_of_epochs": 1, "score_workers": 1}.items()]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "2 CPU processes (gloo)" in out.stdout
    log = _train_log(tmp_path / "exp" / "semamba_small" / "train_log.txt")
    assert len(log) == 1 and "train steps: 2," in log[0] and "valid scored: 2" in log[0], log


def _train_log(path):
    with open(path) as f:
        return f.read().strip().splitlines()


def tiny_train_args(data, out, epochs=1, yaml=MINI_YAML, batch_size=1, extra=()):
    return ["-m", "se_mamba.recipe.train", yaml, "--data_folder", data, "--output_folder", out,
            "--device", "cpu", "--channels", "4", "--num_blocks", "1", "--d_state", "4",
            "--batch_size", str(batch_size), "--segment", "8000", "--number_of_epochs", str(epochs),
            "--evaluate_test", "False", "--score_workers", "1", *extra]


NAN_ON_RANK_1 = """
import os
import torch
from se_mamba.losses import GeneratorLoss


class NaNOnRank1(GeneratorLoss):
    \"\"\"The generator loss, NaN on rank 1 at its first call: one process only.\"\"\"
    calls = 0

    def forward(self, *args):
        NaNOnRank1.calls += 1
        total, parts = super().forward(*args)
        if os.environ.get("RANK") == "1" and NaNOnRank1.calls == 1:
            total = total * float("nan")
        return total, parts
"""


def torchrun(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args,
           "--distributed_backend", "gloo"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("brain_class, accumulation", [("SEBrain", 1), ("MetricGANBrain", 1), ("MetricGANBrain", 2)])
def test_ddp_two_processes_on_cpu_with_gloo(tiny_corpus, tmp_path, brain_class, accumulation):
    """torchrun, 2 processes, gloo. batch_size is per optimiser step over all
    processes: 2 processes x 1 item take as many steps as 1 process x 2 items.
    Rank 1 alone meets a NaN loss in its first step: both ranks skip that step
    together (before, rank 0 waited forever in the all-reduce)."""
    (tmp_path / "nan_loss.py").write_text(NAN_ON_RANK_1)
    yaml = tmp_path / "nan.yaml"
    with open(MINI_YAML) as f:
        text = f.read()
    assert "loss: !new:se_mamba.losses.GeneratorLoss" in text
    yaml.write_text(text.replace("loss: !new:se_mamba.losses.GeneratorLoss", "loss: !new:nan_loss.NaNOnRank1"))
    brain = ["--brain_class", f"!name:se_mamba.brains.{brain_class}"]
    # accumulation 2: each rank accumulates 2 batches of 1 (no_sync on the first)
    out = torchrun(tiny_train_args(tiny_corpus, str(tmp_path / "exp"), yaml=str(yaml), batch_size=2 * accumulation,
                                   epochs=2, extra=brain + ["--grad_accumulation_factor", str(accumulation)]),
                   tmp_path)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    log = _train_log(tmp_path / "exp" / "train_log.txt")
    # 4 items, 2 * accumulation per step: steps per epoch the same on each rank (checked)
    per_epoch = 2 // accumulation
    assert len(log) == 2 and f"train steps: {per_epoch}," in log[0] and f"train steps: {2 * per_epoch}," in log[1], log
    assert "train skipped_steps: 1" in log[0] and "valid scored: 2" in log[0], log
    single = subprocess.run([sys.executable] + tiny_train_args(tiny_corpus, str(tmp_path / "exp1"), batch_size=2,
                                                               extra=brain),
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    assert "train steps: 2," in _train_log(tmp_path / "exp1" / "train_log.txt")[0]


def test_training_shuts_its_process_group_down(tiny_corpus, tmp_path, monkeypatch):
    """A DDP run (here one gloo process, as torchrun would start it) leaves no
    process group behind: gloo's threads are not left to the interpreter's exit."""
    import socket

    import torch.distributed as dist

    from se_mamba.recipe.train import main

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for key, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    args = tiny_train_args(tiny_corpus, str(tmp_path / "exp"), batch_size=2, extra=["--distributed_backend", "gloo"])
    brain = main(args[2:])
    assert brain.optimizer_step == 2 and not dist.is_initialized()


def test_valid_every_steps_and_lr_decay_per_pass(tiny_corpus, tmp_path):
    """valid_every 3 on 4 steps per epoch: validation at steps 3, 6 and the run's
    end (8); the LR decays per epoch (x0.5), never per validation; max_steps stops
    a run mid-epoch with a last validation."""
    args = tiny_train_args(tiny_corpus, str(tmp_path / "exp"), epochs=2,
                           extra=["--valid_every", "3", "--lr_decay", "0.5", "--g_lr", "0.001"])
    out = subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    log = _train_log(tmp_path / "exp" / "train_log.txt")
    steps = [int(line.split("step: ")[1].split(",")[0]) for line in log]
    lrs = [float(line.split("lr: ")[1].split(" ")[0].rstrip(",")) for line in log]
    assert steps == [3, 6, 8], log
    assert lrs == [pytest.approx(1e-3), pytest.approx(5e-4), pytest.approx(2.5e-4)], log
    args = tiny_train_args(tiny_corpus, str(tmp_path / "exp2"), epochs=5, extra=["--max_steps", "5"])
    out = subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    log = _train_log(tmp_path / "exp2" / "train_log.txt")
    assert [int(line.split("step: ")[1].split(",")[0]) for line in log] == [4, 5], log


def test_resume_after_kill_continues_from_the_checkpoint(tiny_corpus, tmp_path):
    import glob
    import time

    exp = str(tmp_path / "exp")
    args = [sys.executable] + tiny_train_args(tiny_corpus, exp, epochs=3)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not glob.glob(os.path.join(exp, "save", "CKPT*", "CKPT.yaml")) and time.time() < deadline:
        time.sleep(0.2)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    assert glob.glob(os.path.join(exp, "save", "CKPT*")), "no checkpoint before the kill"
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    log = _train_log(os.path.join(exp, "train_log.txt"))
    epochs = [int(line.split("epoch: ")[1].split(",")[0]) for line in log]
    assert epochs.count(1) == 1 and epochs[-1] == 3, log  # resumed, not restarted
    # 4 items, batch 1: 4 steps per epoch; the step counter was restored, not reset
    assert "train steps: 12," in log[-1], log


def test_resume_inside_an_epoch_after_a_step_checkpoint(tiny_corpus, tmp_path):
    """valid_every checkpoints inside an epoch; a run killed after one resumes
    there (SpeechBrain's saveable data loader and epoch counter): the run
    still ends after exactly 2 epochs x 4 steps, with the step count restored."""
    import glob
    import time

    exp = str(tmp_path / "exp")
    args = [sys.executable] + tiny_train_args(tiny_corpus, exp, epochs=2, extra=["--valid_every", "2"])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not glob.glob(os.path.join(exp, "save", "CKPT*", "CKPT.yaml")) and time.time() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    first = _train_log(os.path.join(exp, "train_log.txt"))
    assert first and "step: 2," in first[0], first
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    log = _train_log(os.path.join(exp, "train_log.txt"))
    steps = [int(line.split("step: ")[1].split(",")[0]) for line in log]
    assert steps[-1] == 8 and "train steps: 8," in log[-1] and sorted(set(steps)) == [2, 4, 6, 8], log
    assert steps == sorted(steps), log  # resumed forward, never from the start


def test_checkpoints_appear_only_when_complete(tmp_path):
    """A save interrupted after the meta file (SpeechBrain's order) must not
    leave a checkpoint that recovery would pick up."""
    from speechbrain.utils.checkpoints import Checkpointer

    from se_mamba.checkpoint import AtomicCheckpointer

    class Boom(torch.nn.Linear):
        pass

    def failing_save(obj, path):
        raise KeyboardInterrupt("killed while writing parameters")

    for cls, leaves_checkpoint in ((Checkpointer, True), (AtomicCheckpointer, False)):
        d = tmp_path / cls.__name__
        ck = cls(d, recoverables={"m": torch.nn.Linear(2, 2), "boom": Boom(2, 2)},
                 custom_save_hooks={"boom": failing_save})
        with pytest.raises(KeyboardInterrupt):
            ck.save_checkpoint()
        assert bool(ck.list_checkpoints()) is leaves_checkpoint
    good = AtomicCheckpointer(tmp_path / "ok", recoverables={"m": torch.nn.Linear(2, 2)})
    saved = good.save_checkpoint(meta={"pesq": 2.0})
    assert saved.path.parent == tmp_path / "ok" and (saved.path / "m.ckpt").exists()
    assert good.recover_if_possible(max_key="pesq").path == saved.path


def test_two_saves_in_one_second_get_two_checkpoints(tmp_path, monkeypatch):
    """Short epochs save twice within a second; the second save must not
    collide with the first (the resume test failed on CI this way)."""
    import speechbrain.utils.checkpoints as sbck

    from se_mamba.checkpoint import AtomicCheckpointer

    monkeypatch.setattr(sbck.time, "time", lambda: 1_800_000_000.0)
    lin = torch.nn.Linear(2, 2)
    ck = AtomicCheckpointer(tmp_path, recoverables={"m": lin})
    first = ck.save_checkpoint(meta={"pesq": 1.0})
    second = ck.save_checkpoint(meta={"pesq": 2.0})
    assert first.path.name.endswith("+00") and second.path.name.endswith("+01")
    assert len(ck.list_checkpoints()) == 2
    named = ck.save_checkpoint(meta={"pesq": 3.0}, name="final")
    again = ck.save_checkpoint(meta={"pesq": 4.0}, name="final")
    assert named.path == again.path and again.path.exists()
    assert sorted(c.meta["pesq"] for c in ck.list_checkpoints()) == [1.0, 2.0, 4.0]


def test_gpu_check_script_runs_and_says_when_there_is_no_gpu():
    """benchmarks/gpu_check.py: without CUDA one line and exit 0; its steps on
    the CPU with small models (the script a GPU session runs must not fail on
    its own code)."""
    script = os.path.join(ROOT, "benchmarks", "gpu_check.py")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "no CUDA device here" in out.stdout
    out = subprocess.run([sys.executable, script, "--device", "cpu", "--small", "--steps", "1",
                          "--enhance-seconds", "4"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    table = out.stdout[out.stdout.index("| check |"):]
    for check in ("SEMamba advanced vs CPU fused | pass", "MetricGAN step fp32 | pass",
                  "MetricGAN step bf16 | pass", "enhance 4 s | pass"):
        assert check in table, table
