#!/usr/bin/env python
"""Train an enhancement model from a HyperPyYAML file (SpeechBrain recipe).

    python -m se_mamba.recipe.train hparams/train/mini_semamba.yaml \\
        --data_folder data/mini --output_folder exp/mini_semamba

Multi-process data parallel (GPU: nccl; CPU: gloo):

    torchrun --standalone --nproc_per_node=4 -m se_mamba.recipe.train HPARAMS

``batch_size`` in the YAML is the batch of ONE optimiser step over all
processes, as in the originals' configs ("batch 8 on 4 GPUs" is 2 per GPU):
each process loads ``batch_size / (processes x grad_accumulation_factor)``
items, so a configuration trains the same on 1, 2 or 8 GPUs, or on one small
GPU with ``--grad_accumulation_factor``. SpeechBrain's run options work as
usual (``--precision bf16``, ``--grad_accumulation_factor``, ``--max_grad_norm``,
``--nonfinite_patience``). The Brain class comes from the YAML
(``brain_class``). Training resumes from the last checkpoint of
``output_folder``; the test set is scored with the checkpoint of best
validation PESQ.
"""
import logging
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from ..dataio import dataio_prep

logger = logging.getLogger(__name__)


def per_process_batch(batch_size, processes, accumulation):
    """Items each process loads per batch for a global ``batch_size``.

    >>> per_process_batch(8, 4, 1)
    2
    """
    share = processes * accumulation
    if batch_size < share or batch_size % share:
        raise ValueError(f"batch_size {batch_size} (one optimiser step over all processes) is not a multiple of "
                         f"{processes} process(es) x grad_accumulation_factor {accumulation}")
    return batch_size // share


def main(argv=None):
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:] if argv is None else argv)
    with open(hparams_file) as f:
        hparams = load_hyperpyyaml(f, overrides)
    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(experiment_directory=hparams["output_folder"],
                                   hyperparams_to_save=hparams_file, overrides=overrides)
    datasets = dataio_prep(hparams)
    brain = hparams["brain_class"](modules=hparams["modules"], hparams=hparams, run_opts=run_opts,
                                   checkpointer=hparams["checkpointer"])
    processes = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    train_kwargs = dict(hparams["train_loader_kwargs"])
    train_kwargs["batch_size"] = per_process_batch(int(hparams["batch_size"]), processes,
                                                   brain.grad_accumulation_factor)
    logger.info("batch %d per optimiser step = %d per process x %d process(es) x %d accumulated",
                hparams["batch_size"], train_kwargs["batch_size"], processes, brain.grad_accumulation_factor)
    try:
        brain.fit(hparams["epoch_counter"], datasets["train"], datasets["valid"],
                  train_loader_kwargs=train_kwargs,
                  valid_loader_kwargs=hparams["valid_loader_kwargs"])
        if hparams.get("evaluate_test", True):
            brain.evaluate(datasets["test"], max_key="pesq", test_loader_kwargs=hparams["valid_loader_kwargs"])
    finally:
        # shut the process group down before the interpreter does: torch warns
        # that an undestroyed group can leak resources, and gloo's threads
        # torn down at exit are a suspect for a rare abort of a rank at exit
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return brain


if __name__ == "__main__":
    main()
