"""The evaluation report people look at: index.html (grids, metrics, charts, machine) and rate.html (votes).

Pages are self-contained: inline CSS and JS, pictures as files in the report folder referenced by relative
paths, so the folder can be opened from disk, zipped or served as is. The pages' HTML, CSS and JS live in
templates/ (jinja2).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import jinja2

from . import artifacts, charts
from .metrics import DIRECTIONS as METRIC_DIRECTIONS, STYLE_LAYERS

MACHINE_KEYS = ("cpu", "cores_logical", "cores_physical", "ram_gb", "torch", "torch_threads", "python", "os",
                "load_1min", "date")
TABLE_METRICS = ("content_loss", "style_gram", "style_meanstd", "lite_content", "lite_style", "ssim", "color_swd", "seconds",
                 "peak_rss_mb")
EXPLAIN = {
    "content_loss": "relative MSE of VGG16 relu4_2 features between result and photo; 0 = same content",
    "style_gram": "relative MSE of Gram matrices (relu1_1 ... relu5_1, mean) between result and style image",
    "style_meanstd": "relative MSE of channel means and standard deviations (what AdaIN matches), same layers",
    "lite_content": "relative MSE of EfficientNet-Lite1 proj10 features between result and photo (a second judge)",
    "lite_style": "relative Gram error on EfficientNet-Lite1 (stem, dw1 ... dw14, mean) between result and style",
    "ssim": "structural similarity with the photo (scikit-image, RGB); 1 = identical structure",
    "color_swd": "sliced Wasserstein distance between result and style colours in CIE Lab (about Delta-E)",
    "seconds": "wall time of one stylization, after a warm-up run (models already loaded)",
    "peak_rss_mb": "extra resident memory the run needed at its peak (models already loaded are not counted; "
                   "benchmarks/run.py measures whole-process peaks)",
}
ARTIFACTS = tuple(artifacts.MEASURES)
EXPLAIN.update({k: e for k, (_, _, e) in artifacts.MEASURES.items()})
DIRECTIONS = {**METRIC_DIRECTIONS, **{k: (label, d) for k, (label, d, _) in artifacts.MEASURES.items()}}
WORST = 5  # crops per artifact gallery
TEMPLATES = Path(__file__).with_name("templates")


def _num(v, key: str) -> str:
    if v is None:
        return "–"
    if key == "ssim":
        return f"{v:.3f}"
    if key in ("color_swd", "border_bands"):
        return f"{v:.1f}"
    if key in ARTIFACTS:
        return f"{v:.3g}" if abs(v) < 0.01 else f"{v:.3f}"
    if key == "seconds":
        return f"{v:.2f}"
    if key == "peak_rss_mb":
        return f"{v:.0f}"
    return f"{v:.3g}"


def _env() -> jinja2.Environment:
    """The jinja2 environment over templates/ with the number filters the pages use."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["f3"] = lambda v: "–" if v is None else f"{v:.3g}"
    return env


def _best(values: dict, key: str):
    """The keys of `values` holding the best number for metric `key` (by its direction)."""
    vals = {k: v for k, v in values.items() if v is not None}
    if len(vals) < 2:
        return set()
    target = (max if DIRECTIONS[key][1] > 0 else min)(vals.values())
    return {k for k, v in vals.items() if v == target}


def _summary(records: list[dict], methods: list[str]) -> dict:
    """Per method: count and mean of every numeric field of its results."""
    out = {}
    keys = list(TABLE_METRICS) + [f"style_{k}_{l}" for k in ("gram", "meanstd") for l in STYLE_LAYERS]
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        out[m] = {"n": len(rs), **{k: (sum(r[k] for r in rs) / len(rs)
                                       if rs and all(r.get(k) is not None for r in rs) else None) for k in keys}}
        for k in ARTIFACTS:  # over the results that have the measure (faces_kept: those whose photo shows a face)
            vals = [r[k] for r in rs if r.get(k) is not None]
            out[m][k] = sum(vals) / len(vals) if vals else None
    return out


def _crop(path: Path, centre, side: int, hw):
    """A side x side crop of the picture at `path` (resized to hw first) around centre (y, x)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (hw[1], hw[0]):
            im = im.resize((hw[1], hw[0]), Image.Resampling.BICUBIC)
        y, x = centre
        top, left = max(0, min(y - side // 2, hw[0] - side)), max(0, min(x - side // 2, hw[1] - side))
        return im.crop((left, top, left + side, top + side))


def _worst_crops(out_dir: Path, records: list[dict], contents, styles) -> dict[str, list[dict]]:
    """Per artifact measure: its WORST (five) worst results across all pairs and methods, each cropped around the
    place where its flaw is worst (result and photo side by side), saved under crops/."""
    labels = {i.name: i.label for i in (*contents, *styles)}
    thumbs = {i.name: i.thumb for i in contents}
    folder = out_dir / "crops"
    folder.mkdir(exist_ok=True)
    out = {}
    for k in ARTIFACTS:
        rs = [r for r in records if r.get(k) is not None and k in r.get("artifact_where", {})
              and (DIRECTIONS[k][1] > 0 or r[k] > 0) and (out_dir / r["image"]).is_file()]  # a flaw, not a clean result
        rs.sort(key=lambda r: r[k], reverse=DIRECTIONS[k][1] < 0)
        shown = []
        for i, r in enumerate(rs[:WORST]):
            hw = (int(r["height"]), int(r["width"]))
            side = artifacts.crop_side(hw)
            files = {"result": f"crops/{k}-{i}.jpg", "photo": f"crops/{k}-{i}-photo.jpg"}
            _crop(out_dir / r["image"], r["artifact_where"][k], side, hw).save(out_dir / files["result"], quality=92)
            if r["content"] in thumbs and (out_dir / thumbs[r["content"]]).is_file():
                _crop(out_dir / thumbs[r["content"]], r["artifact_where"][k], side, hw).save(
                    out_dir / files["photo"], quality=92)
            else:
                files["photo"] = None
            shown.append({**files, "method": r["method"], "content": labels.get(r["content"], r["content"]),
                          "style": labels.get(r["style"], r["style"]), "value": r[k], "image": r["image"]})
        out[k] = shown
    return out


ATTENTION_PAIRS = 12  # pairs whose attention maps the report shows


def _attention_maps(out_dir: Path, records: list[dict], contents, styles) -> list[dict]:
    """For reports with the attention method: per pair (at most ATTENTION_PAIRS), where three points of the photo
    take their style from (brushwork.explain.explain_points), saved under attention/."""
    from ..explain import explain_points  # local: it loads the attention network

    labels = {i.name: i.label for i in (*contents, *styles)}
    pairs = list(dict.fromkeys((r["content_path"], r["style_path"], r["content"], r["style"]) for r in records
                               if r["method"].split("@")[0] == "attention"))[:ATTENTION_PAIRS]
    if not pairs:
        return []
    folder = out_dir / "attention"
    folder.mkdir(exist_ok=True)
    out = []
    for i, (cp, sp, c, s) in enumerate(pairs):
        name = f"attention/{i}.jpg"
        if not (out_dir / name).is_file():
            explain_points(cp, sp).save(out_dir / name, quality=90)
        out.append({"image": name, "content": labels.get(c, c), "style": labels.get(s, s)})
    return out


def _charts(out_dir: Path, data: dict, records: list[dict], methods: list[str], sel: dict) -> tuple[bool, str]:
    """Draw the trade-off, strength and cost-vs-size charts; returns whether the cost chart exists and its caption.

    Other tools' results (sel["external"]) have no time or memory, so they are left out of the cost chart.
    """
    if records:
        charts.tradeoff(records, methods, out_dir / "tradeoff.png")
    if sel.get("sweep"):
        charts.strength_sweep(records, sel["sweep"], out_dir / "strength_sweep.png")
    methods = [m for m in methods if m not in sel.get("external", ())]
    records = [r for r in records if r["method"] in methods]
    timings = [t for t in data["timings"].values() if t["method"] in methods]
    cost_chart = len({int(p["size"]) for p in timings + records}) > 1
    if not cost_chart:
        return False, "Only one resolution measured, so there is no time-vs-resolution chart."
    charts.cost_vs_size(timings + records, methods, out_dir / "cost_vs_size.png")
    where = (f"each method on one pair ({timings[0]['content']} x {timings[0]['style']}) at "
             f"{', '.join(str(s) for s in sorted({t['size'] for t in timings}))} px, plus the results above."
             if timings else "the results above at their sizes.")
    return True, "Time and memory against resolution: " + where


def _best_cells(runs: dict, summary: dict, methods, contents, styles) -> tuple[set, set]:
    """The (method, metric) summary cells and (method, content, style, metric) pair cells to mark best."""
    best_summary = {(m, k) for k in TABLE_METRICS + ARTIFACTS for m in _best({m: summary[m][k] for m in methods}, k)}
    best_pair = set()
    for c in contents:
        for s in styles:
            for k in TABLE_METRICS + ARTIFACTS:
                vals = {m: runs[(m, c.name, s.name)].get(k) for m in methods if (m, c.name, s.name) in runs}
                best_pair |= {(m, c.name, s.name, k) for m in _best(vals, k)}
    return best_summary, best_pair


def _blind_order(methods, contents, styles) -> dict:
    """rate.html shows each pair's results shuffled (reproducibly) and unlabeled so names do not sway raters."""
    order = {}
    for c in contents:
        for s in styles:
            ms = list(methods)
            random.Random(f"{c.name}/{s.name}").shuffle(ms)
            order[(c.name, s.name)] = ms
    return order


def write_report(out_dir: Path, data: dict, sel: dict) -> Path:
    """Write index.html, rate.html and the charts for the selected results; returns index.html's path."""
    out_dir = Path(out_dir)
    methods, contents, styles, size = sel["methods"], sel["contents"], sel["styles"], sel["size"]
    runs = {(r["method"], r["content"], r["style"]): r for r in map(data["runs"].get, sel["keys"]) if r}
    records = list(runs.values())
    cost_chart, timing_note = _charts(out_dir, data, records, methods, sel)
    summary = _summary(records, methods)
    best_summary, best_pair = _best_cells(runs, summary, methods, contents, styles)
    machine = data.get("machine", {})
    ctx = dict(cell=180 if max(len(styles), 1) <= 6 else 140, methods=methods, contents=contents, styles=styles,
               size=size, runs=runs, records=records, expected=len(sel["keys"]), machine=machine,
               colors=charts.method_colors(methods), metrics=TABLE_METRICS,
               labels={k: DIRECTIONS[k][0] for k in TABLE_METRICS + ARTIFACTS},
               arrows={k: "↑" if DIRECTIONS[k][1] > 0 else "↓" for k in TABLE_METRICS + ARTIFACTS}, explain=EXPLAIN,
               artifacts=ARTIFACTS, worst=_worst_crops(out_dir, records, contents, styles),
               attention=_attention_maps(out_dir, records, contents, styles),
               summary=summary, best_summary=best_summary, best_pair=best_pair, layers=STYLE_LAYERS,
               cost_chart=cost_chart, timing_note=timing_note, order=_blind_order(methods, contents, styles),
               options={m: json.dumps(next((r["options"] for r in records if r["method"] == m), {})) for m in methods},
               notes=sel.get("notes", []), external=sel.get("external", []), sweep=bool(sel.get("sweep")),
               report_id=str(out_dir.resolve()), machine_keys=[k for k in MACHINE_KEYS if k in machine])
    env = _env()
    for page in ("index.html", "rate.html"):
        (out_dir / page).write_text(env.get_template(page).render(**ctx), encoding="utf-8")
    return out_dir / "index.html"
