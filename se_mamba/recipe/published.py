"""Published numbers that a recipe's RESULTS.md puts next to ours.

Keys are ``"<recipe>:<test set>"`` and the recipe's model tag; values are the
papers' tables (our metric names). The SEMamba and MP-SENet numbers come from
the CMGAN evaluation script, whose composite measures are our ``paper`` mode.

Example
-------
>>> published("voicebank:test", "semamba_advanced")[1]["pesq_wb"]
3.55
>>> published("mini:test", "semamba_small") is None
True
"""

SEMAMBA = "Chao et al., An Investigation of Incorporating Mamba for Speech Enhancement (SEMamba paper, Table 2)"
MAMBATTENTION = "Kühne et al., MambAttention (Table I; trained on VB-DemandEx)"

# (set key) -> {model tag: (source, {metric: value})}, plus "noisy" for the published baseline
PUBLISHED = {
    "voicebank:test": {
        "semamba_advanced": (SEMAMBA, {"pesq_wb": 3.55, "csig": 4.77, "cbak": 3.95, "covl": 4.29, "stoi": 0.96}),
        "semamba_advanced_pcs": (SEMAMBA + ", +PCS",
                                 {"pesq_wb": 3.69, "csig": 4.79, "cbak": 3.63, "covl": 4.37, "stoi": 0.96}),
        "mpsenet": ("Lu et al., MP-SENet, as SEMamba's Table 2 cites it",
                    {"pesq_wb": 3.50, "csig": 4.73, "cbak": 3.95, "covl": 4.22, "stoi": 0.96}),
    },
    "vb_demandex:test": {
        "mambattention": (MAMBATTENTION, {"pesq_wb": 3.03, "ssnr": 7.67, "estoi": 0.80, "si_sdr": 16.68}),
        "noisy": (MAMBATTENTION, {"pesq_wb": 1.63, "ssnr": -1.07, "estoi": 0.63, "si_sdr": 4.98}),
    },
    "vb_demandex:dns2020_no_reverb": {
        "mambattention": (MAMBATTENTION, {"pesq_wb": 2.92, "ssnr": 8.13, "estoi": 0.91, "si_sdr": 15.17}),
        "noisy": ("DNS Challenge 2020 synthetic no_reverb, as MambAttention reports it",
                  {"pesq_wb": 1.58, "si_sdr": 9.07, "stoi": 0.915}),
    },
    "vb_demandex:ears_wham_v2": {
        "mambattention": (MAMBATTENTION, {"pesq_wb": 2.01, "ssnr": 2.51, "estoi": 0.73, "si_sdr": 7.35}),
        "noisy": (MAMBATTENTION, {"pesq_wb": 1.24, "ssnr": -0.80, "estoi": 0.64, "si_sdr": 5.36}),
    },
}


def published(set_key, model):
    """(source, {metric: value}) of ``model`` on ``set_key``, or None."""
    return PUBLISHED.get(set_key, {}).get(model)


def published_table(set_key, model, summaries):
    """Markdown lines comparing our means with the published ones (empty when
    nothing is published for this model and set)."""
    ours = published(set_key, model)
    if ours is None:
        return []
    noisy = published(set_key, "noisy")
    source, values = ours
    metrics = [m for m in values if m in summaries.get("enhanced", {})]
    lines = [f"Published ({source}):", "",
             "| metric | noisy (ours) | noisy (published) | enhanced (ours) | published | ours − published |",
             "|---|---|---|---|---|---|"]
    for m in metrics:
        mine = summaries["enhanced"][m]["mean"]
        base = summaries["noisy"][m]["mean"]
        pub_noisy = noisy[1].get(m) if noisy else None
        lines.append(f"| {m} | {base:.3f} | {'–' if pub_noisy is None else pub_noisy} | {mine:.3f} | "
                     f"{values[m]} | {mine - values[m]:+.3f} |")
    return lines + [""]
