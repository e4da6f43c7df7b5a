#!/usr/bin/env python
"""Upload a packed model folder (recipe stage 6) to the Hugging Face Hub.

    python -m se_mamba.recipe.upload --folder recipes/mini/pretrained --repo USER/se-mamba-mini [--private]

Needs network access and a token (``huggingface-cli login`` or ``$HF_TOKEN``);
it is never run by the tests. The folder is checked first: it must hold
``hyperparams.yaml`` (with a ``pretrainer``), the weights it names and a
``README.md`` model card, i.e. what ``MambaEnhancer.from_hparams`` loads.
"""
import argparse
import os
import sys


def check_folder(folder):
    """The files a packed folder must have; raises ValueError naming the first problem."""
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: no such folder")
    for name in ("hyperparams.yaml", "model.ckpt", "README.md"):
        if not os.path.isfile(os.path.join(folder, name)):
            raise ValueError(f"{folder}: missing {name} (pack it with recipe stage 6)")
    with open(os.path.join(folder, "hyperparams.yaml")) as f:
        if "pretrainer:" not in f.read():
            raise ValueError(f"{folder}/hyperparams.yaml: no pretrainer (not a packed model)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", required=True)
    p.add_argument("--repo", required=True, help="USER/NAME on the Hugging Face Hub")
    p.add_argument("--private", action="store_true")
    p.add_argument("--message", default="se_mamba packed model")
    args = p.parse_args(argv)
    try:
        check_folder(args.folder)
        if args.repo.count("/") != 1:
            raise ValueError(f"{args.repo}: a repo id is USER/NAME")
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(args.repo, private=args.private, exist_ok=True)
        info = api.upload_folder(folder_path=args.folder, repo_id=args.repo, commit_message=args.message)
    except Exception as exc:  # network, auth and folder problems: one line, exit 1
        print(f"upload: error: {str(exc).strip().splitlines()[0][:200]}", file=sys.stderr)
        return 1
    print(f"uploaded {args.folder} -> {info}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
