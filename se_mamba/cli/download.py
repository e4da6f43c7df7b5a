"""``se-mamba download NAME``: fetch and pack an authors' released checkpoint.

    se-mamba download semamba_vbd            # prints the packed folder
    se-mamba download --list
    se-mamba enhance noisy/ -o out/ --model official:semamba_vbd

The file is fetched once into ``$SE_MAMBA_CACHE`` (``~/.cache/se_mamba``),
resumably; ``--mirror URL`` (or ``$SE_MAMBA_MIRROR``) replaces
``https://github.com``. Offline, it fails with one line naming the URL.
"""


def add_parser(sub):
    p = sub.add_parser("download", help="fetch and pack an authors' released checkpoint (official:NAME)")
    p.add_argument("name", nargs="?", help="released checkpoint name (see --list)")
    p.add_argument("--list", action="store_true", help="list the released checkpoints")
    p.add_argument("--mirror", default=None, help="base URL replacing https://github.com")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..models.released import RELEASED, packed_released

    if args.list or not args.name:
        for name, rel in sorted(RELEASED.items()):
            print(f"official:{name:28s} {rel.trained_on:30s} {rel.url}")
        return 0
    print(packed_released(args.name, mirror=args.mirror))
    return 0
