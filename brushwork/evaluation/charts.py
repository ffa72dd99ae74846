"""Matplotlib charts for evaluation reports and benchmarks, drawn without pyplot (no GUI backend needed)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import median

from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter


def method_colors(methods: list[str]) -> dict[str, str]:
    """One stable colour per method (matplotlib's tab10), shared by charts and HTML."""
    palette = [mcolors.to_hex(c) for c in mcolors.TABLEAU_COLORS.values()]
    return {m: palette[i % len(palette)] for i, m in enumerate(methods)}


def _log_if_wide(ax, axis: str, values) -> None:
    vals = [v for v in values if v and v > 0]
    if vals and max(vals) / min(vals) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        fmt = FuncFormatter(lambda v, _: f"{v:g}")
        target = ax.xaxis if axis == "x" else ax.yaxis
        target.set_major_formatter(fmt)
        target.set_minor_formatter(NullFormatter())


def tradeoff(records: list[dict], methods: list[str], path: Path) -> Path:
    """Content loss (x) against Gram style loss (y), one colour per method; a big marker at each method's mean.

    Down and left is better on both; methods trade one for the other along a curve.
    """
    colors = method_colors(methods)
    fig = Figure(figsize=(6.4, 4.6), dpi=110)
    ax = fig.subplots()
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        if not rs:
            continue
        x, y = [r["content_loss"] for r in rs], [r["style_gram"] for r in rs]
        ax.scatter(x, y, color=colors[m], alpha=0.55, s=28, label=m)
        ax.scatter([sum(x) / len(x)], [sum(y) / len(y)], color=colors[m], s=160, marker="*", edgecolor="black",
                   linewidth=0.6)
    _log_if_wide(ax, "x", [r["content_loss"] for r in records])
    _log_if_wide(ax, "y", [r["style_gram"] for r in records])
    ax.set_xlabel("content loss, relu4_2  (lower = keeps the photo)")
    ax.set_ylabel("style loss, Gram  (lower = closer to the style)")
    ax.set_title("Content / style trade-off (one dot per result, star = mean)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def _two_panels(names: list[str]):
    """A colour per name and a figure of two side-by-side panels, the layout of the report's wide charts."""
    fig = Figure(figsize=(9.6, 3.9), dpi=110)
    return method_colors(names), fig, fig.subplots(1, 2)


def cost_vs_size(points: list[dict], methods: list[str], path: Path, title: str = "") -> Path:
    """Two panels against the output's long side: wall time and peak memory, a line per method (medians)."""
    colors, fig, (ax_t, ax_m) = _two_panels(methods)
    for m in methods:
        by_size = defaultdict(list)
        for p in points:
            if p["method"] == m and p.get("seconds") is not None:
                by_size[int(p["size"])].append(p)
        if not by_size:
            continue
        sizes = sorted(by_size)
        ax_t.plot(sizes, [median(p["seconds"] for p in by_size[s]) for s in sizes], "o-", color=colors[m], label=m)
        mem = [median(p.get("peak_rss_mb") or 0 for p in by_size[s]) for s in sizes]
        ax_m.plot(sizes, mem, "o-", color=colors[m], label=m)
    for ax, label in ((ax_t, "seconds (lower is better)"), (ax_m, "peak memory, MB (lower is better)")):
        ax.set_xlabel("long side of the output (px)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        sizes = sorted({int(p["size"]) for p in points})
        if len(sizes) > 1 and sizes[-1] / sizes[0] >= 4:
            ax.set_xscale("log", base=2)
        if sizes:
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.xaxis.set_minor_formatter(NullFormatter())
    _log_if_wide(ax_t, "y", [p.get("seconds") for p in points])
    ax_t.legend(frameon=False, fontsize=9)
    ax_t.set_title("Wall time vs resolution", fontsize=10)
    ax_m.set_title("Peak memory vs resolution", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=8, color="#555")
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def strength_sweep(records: list[dict], sweep: dict[str, tuple[str, float]], path: Path) -> Path:
    """Content loss against strength, a line per method (means, dots per result); right panel rescaled 0..1.

    Right: (loss(s) - loss(0)) / (loss(1) - loss(0)) per method, so the dashed diagonal is "strength s is that
    fraction of the way from the photo to full style"; a method on it at 0.5 sits halfway.
    """
    bases = list(dict.fromkeys(b for b, _ in sweep.values()))
    colors, fig, (ax_l, ax_n) = _two_panels(bases)
    for b in bases:
        by_s = defaultdict(list)
        for r in records:
            if r["method"] in sweep and sweep[r["method"]][0] == b:
                by_s[sweep[r["method"]][1]].append(r["content_loss"])
        if not by_s:
            continue
        xs = sorted(by_s)
        ys = [sum(by_s[x]) / len(by_s[x]) for x in xs]
        ax_l.scatter([x for x in xs for _ in by_s[x]], [v for x in xs for v in by_s[x]], color=colors[b], alpha=0.35, s=14)
        ax_l.plot(xs, ys, "o-", color=colors[b], label=b)
        if len(xs) > 1 and abs(ys[-1] - ys[0]) > 0.05 * max(abs(v) for v in ys):  # a flat line has no scale
            ax_n.plot(xs, [(y - ys[0]) / (ys[-1] - ys[0]) for y in ys], "o-", color=colors[b], label=b)
        else:
            ax_n.plot([], [], "o-", color=colors[b], label=f"{b}: flat (content loss barely moves)")
    ax_n.plot([0, 1], [0, 1], "--", color="#888", linewidth=1, label="proportional")
    ax_n.axvline(0.5, color="#bbb", linewidth=0.8)
    ax_l.set_ylabel("content loss, relu4_2 (mean)")
    ax_n.set_ylabel("share of the way to full style")
    ax_l.set_title("Content loss vs strength", fontsize=10)
    ax_n.set_title("Rescaled: 0 at the lowest strength, 1 at the highest", fontsize=10)
    for ax in (ax_l, ax_n):
        ax.set_xlabel("strength")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)
