"""The evaluation report people look at: index.html (grids, metrics, charts, machine) and rate.html (votes).

Pages are self-contained: inline CSS and JS, pictures as files in the report folder referenced by relative
paths, so the folder can be opened from disk, zipped or served as is.
"""
from __future__ import annotations

import json
from pathlib import Path

import jinja2

from . import charts
from .metrics import DIRECTIONS, STYLE_LAYERS

MACHINE_KEYS = ("cpu", "cores_logical", "cores_physical", "ram_gb", "torch", "torch_threads", "python", "os",
                "load_1min", "date")
TABLE_METRICS = ("content_loss", "style_gram", "style_meanstd", "ssim", "color_swd", "seconds", "peak_rss_mb")
EXPLAIN = {
    "content_loss": "relative MSE of VGG16 relu4_2 features between result and photo; 0 = same content",
    "style_gram": "relative MSE of Gram matrices (relu1_1 ... relu5_1, mean) between result and style image",
    "style_meanstd": "relative MSE of channel means and standard deviations (what AdaIN matches), same layers",
    "ssim": "structural similarity with the photo (scikit-image, RGB); 1 = identical structure",
    "color_swd": "sliced Wasserstein distance between result and style colours in CIE Lab (about Delta-E)",
    "seconds": "wall time of one stylization, after a warm-up run (models already loaded)",
    "peak_rss_mb": "extra resident memory the run needed at its peak (models already loaded are not counted; "
                   "benchmarks/run.py measures whole-process peaks)",
}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:16px 24px;color:#222}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:4px}
nav a{margin-right:14px}table{border-collapse:collapse}td,th{padding:3px 8px}
table.num td,table.num th{border-bottom:1px solid #eee;text-align:right}table.num td.l,table.num th.l{text-align:left}
table.num tr.first td{border-top:2px solid #ccc}b.best{color:#0a6}
table.grid td,table.grid th{vertical-align:top;text-align:center;font-weight:normal;font-size:12px;padding:4px}
table.grid img{width:{{ cell }}px;height:{{ cell }}px;object-fit:contain;background:#f4f4f4;display:block;margin:auto}
.cap{color:#555;font-size:11px;max-width:{{ cell }}px;margin:auto;overflow-wrap:anywhere}
.in{color:#999}.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.charts img{max-width:100%;border:1px solid #eee;margin:4px 8px 4px 0}.muted{color:#777}
dl.legend dt{font-weight:600;margin-top:4px}dl.legend dd{margin-left:16px;color:#444}
"""

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>brushwork evaluation: {{ methods|join(", ") }}</title><style>{{ css }}</style></head><body>
<h1>Style transfer evaluation</h1>
<p>{{ methods|length }} method(s) &times; {{ contents|length }} photo(s) &times; {{ styles|length }} style(s)
at {{ size }} px (long side): {{ records|length }} of {{ expected }} results.
Measured on {{ machine.get('cpu', 'an unknown machine') }} &middot; {{ machine.get('date', '') }}.</p>
<nav><a href="#grids">Results</a><a href="#summary">Summary</a><a href="#charts">Charts</a><a href="#pairs">Per pair</a>
<a href="#machine">Machine</a><a href="rate.html">Rate the results &rarr;</a>
<a href="results.json">results.json</a><a href="results.csv">results.csv</a></nav>

<h2 id="grids">Results</h2>
<p class="muted">Rows: photos; columns: styles. Under each result: content loss / Gram style loss / seconds
(all lower is better). Click a picture for full size.</p>
{% for m in methods %}
<h3><span class="swatch" style="background:{{ colors[m] }}"></span>{{ m }}</h3>
<table class="grid"><tr><th></th>{% for s in styles %}<th><img src="{{ s.thumb }}" alt="style {{ s.name }}" loading="eager"><div class="cap in" title="{{ s.name }}">{{ s.label }}</div></th>{% endfor %}</tr>
{% for c in contents %}<tr><th><img src="{{ c.thumb }}" alt="photo {{ c.name }}"><div class="cap in" title="{{ c.name }}">{{ c.label }}</div></th>
{% for s in styles %}{% set r = runs.get((m, c.name, s.name)) %}<td>{% if r %}<a href="{{ r.image }}"><img src="{{ r.image }}" alt="{{ m }}: {{ c.name }} in the style of {{ s.name }}"></a>
<div class="cap">{{ r.content_loss|f3 }} / {{ r.style_gram|f3 }} / {{ "%.2f"|format(r.seconds) }} s</div>{% else %}<div class="cap">missing</div>{% endif %}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endfor %}

<h2 id="summary">Summary per method</h2>
<p class="muted">Means over all pairs; &darr; lower is better, &uarr; higher is better. Best in green.</p>
<table class="num"><tr><th class="l">method</th><th>results</th>{% for k in metrics %}<th title="{{ explain[k] }}">{{ labels[k] }} {{ arrows[k] }}</th>{% endfor %}</tr>
{% for m in methods %}<tr><td class="l"><span class="swatch" style="background:{{ colors[m] }}"></span>{{ m }}</td><td>{{ summary[m].n }}</td>
{% for k in metrics %}<td>{% if (m, k) in best_summary %}<b class="best">{{ summary[m][k]|num(k) }}</b>{% else %}{{ summary[m][k]|num(k) }}{% endif %}</td>{% endfor %}</tr>{% endfor %}
</table>
<details><summary>Style loss per layer (means)</summary>
<table class="num"><tr><th class="l">method</th>{% for kind in ("gram", "meanstd") %}{% for l in layers %}<th>{{ kind }} {{ l }}</th>{% endfor %}{% endfor %}</tr>
{% for m in methods %}<tr><td class="l">{{ m }}</td>{% for kind in ("gram", "meanstd") %}{% for l in layers %}<td>{{ summary[m]["style_" ~ kind ~ "_" ~ l]|f3 }}</td>{% endfor %}{% endfor %}</tr>{% endfor %}
</table></details>
<dl class="legend">{% for k in metrics %}<dt>{{ labels[k] }} {{ arrows[k] }}</dt><dd>{{ explain[k] }}</dd>{% endfor %}</dl>

<h2 id="charts">Charts</h2>
<div class="charts">{% if records %}<img src="tradeoff.png" alt="content loss against style loss per method">{% endif %}
{% if cost_chart %}<img src="cost_vs_size.png" alt="time and memory against resolution per method">{% endif %}</div>
<p class="muted">{{ timing_note }}</p>

<h2 id="pairs">Metrics per pair</h2>
<table class="num"><tr><th class="l">photo</th><th class="l">style</th><th class="l">method</th>{% for k in metrics %}<th title="{{ explain[k] }}">{{ labels[k] }} {{ arrows[k] }}</th>{% endfor %}</tr>
{% for c in contents %}{% for s in styles %}{% for m in methods %}{% set r = runs.get((m, c.name, s.name)) %}
<tr{% if loop.first %} class="first"{% endif %}><td class="l">{% if loop.first %}{{ c.label }}{% endif %}</td><td class="l">{% if loop.first %}{{ s.label }}{% endif %}</td><td class="l">{{ m }}</td>
{% for k in metrics %}<td>{% if r %}{% if (m, c.name, s.name, k) in best_pair %}<b class="best">{{ r[k]|num(k) }}</b>{% else %}{{ r[k]|num(k) }}{% endif %}{% else %}&ndash;{% endif %}</td>{% endfor %}</tr>
{% endfor %}{% endfor %}{% endfor %}
</table>

<h2 id="machine">Machine</h2>
<table class="num">{% for k in machine_keys %}<tr><td class="l">{{ k }}</td><td class="l">{{ machine[k] }}</td></tr>{% endfor %}</table>
<details><summary>Inputs</summary><ul>{% for i in contents %}<li>photo {{ i.name }}: {{ i.path }}</li>{% endfor %}
{% for i in styles %}<li>style {{ i.name }}: {{ i.path }}</li>{% endfor %}</ul></details>
<p class="muted">Options: {% for m in methods %}{{ m }} {{ options[m] }}{% if not loop.last %}; {% endif %}{% endfor %}</p>
</body></html>
"""

RATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Rate the results</title><style>{{ css }}
.pair{border-top:1px solid #ddd;padding:10px 0;display:flex;gap:14px;flex-wrap:wrap;align-items:flex-start}
.result{text-align:center}.result img,.ref img{width:{{ cell }}px;height:{{ cell }}px;object-fit:contain;background:#f4f4f4;display:block}
.ref{opacity:.85;font-size:12px;color:#777;text-align:center}
button{margin:4px 2px;padding:4px 10px;border:1px solid #bbb;border-radius:4px;background:#fafafa;cursor:pointer}
button.chosen.better{background:#c8f0d4;border-color:#0a6}button.chosen.worse{background:#f6d0d0;border-color:#c33}
#bar{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #ddd;z-index:1}
</style></head><body>
<div id="bar"><b>Rate the results</b> &mdash; for each photo and style, mark results <i>better</i> or <i>worse</i>
(methods are hidden and shuffled).
Name (optional) <input id="rater" size="12">
<button id="download">Download votes JSON</button> <span id="count">0 votes</span> &middot; <span id="status"></span>
&middot; <a href="index.html">back to the report</a></div>
<p class="muted" id="mode"></p>
{% for c in contents %}{% for s in styles %}
<div class="pair"><div class="ref"><img src="{{ c.thumb }}" alt="photo {{ c.name }}">photo</div>
<div class="ref"><img src="{{ s.thumb }}" alt="style {{ s.name }}">style</div>
{% for m in order[(c.name, s.name)] %}{% set r = runs.get((m, c.name, s.name)) %}{% if r %}
<div class="result" data-method="{{ m }}" data-content="{{ c.name }}" data-style="{{ s.name }}" data-size="{{ size }}" data-image="{{ r.image }}">
<img src="{{ r.image }}" alt="a result for {{ c.name }} and {{ s.name }}"><div class="cap">result {{ loop.index }}</div>
<button class="better" data-vote="better">better</button><button class="worse" data-vote="worse">worse</button></div>
{% endif %}{% endfor %}</div>
{% endfor %}{% endfor %}
<script>
(function () {
  const KEY = "brushwork-votes:" + {{ report_id|tojson }};
  const served = location.protocol === "http:" || location.protocol === "https:";
  let votes = [];
  try { votes = JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { votes = []; }
  const $ = (id) => document.getElementById(id);
  const show = () => { $("count").textContent = votes.length + " vote" + (votes.length === 1 ? "" : "s"); };
  $("mode").textContent = served
    ? "Votes are saved on the server into votes.json in the report folder."
    : "Opened from disk: votes stay in this browser; use 'Download votes JSON' to keep them " +
      "(or run `brushwork evaluate-serve REPORT_DIR` to have them saved automatically).";
  for (const v of votes) {
    const el = document.querySelector(`.result[data-image="${CSS.escape(v.image)}"] button.${v.vote}`);
    if (el) el.classList.add("chosen");
  }
  show();
  document.querySelectorAll(".result button").forEach((btn) => btn.addEventListener("click", async () => {
    const d = btn.closest(".result").dataset;
    const vote = {method: d.method, content: d.content, style: d.style, size: Number(d.size), image: d.image,
                  vote: btn.dataset.vote, rater: $("rater").value || null, time: new Date().toISOString()};
    btn.parentElement.querySelectorAll("button").forEach((b) => b.classList.remove("chosen"));
    btn.classList.add("chosen");
    votes.push(vote);
    try { localStorage.setItem(KEY, JSON.stringify(votes)); } catch (e) {}
    show();
    if (!served) { $("status").textContent = "kept in this browser"; return; }
    try {
      const r = await fetch("votes", {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify(vote)});
      $("status").textContent = r.ok ? "saved (" + (await r.json()).count + " on the server)" : "server said " + r.status;
    } catch (e) { $("status").textContent = "could not reach the server; use Download"; }
  }));
  $("download").addEventListener("click", () => {
    const blob = new Blob([JSON.stringify(votes, null, 1)], {type: "application/json"});
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = "votes.json"; a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
})();
</script>
</body></html>
"""


def _num(v, key: str) -> str:
    if v is None:
        return "–"
    if key == "ssim":
        return f"{v:.3f}"
    if key == "color_swd":
        return f"{v:.1f}"
    if key == "seconds":
        return f"{v:.2f}"
    if key == "peak_rss_mb":
        return f"{v:.0f}"
    return f"{v:.3g}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
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
        out[m] = {"n": len(rs), **{k: (sum(r[k] for r in rs) / len(rs) if rs and all(k in r for r in rs) else None)
                                   for k in keys}}
    return out


def write_report(out_dir: Path, data: dict, sel: dict) -> Path:
    """Write index.html, rate.html and the charts for the selected results; returns index.html's path."""
    out_dir = Path(out_dir)
    methods, contents, styles, size = sel["methods"], sel["contents"], sel["styles"], sel["size"]
    runs = {}
    for k in sel["keys"]:
        r = data["runs"].get(k)
        if r:
            runs[(r["method"], r["content"], r["style"])] = r
    records = list(runs.values())
    colors = charts.method_colors(methods)
    if records:
        charts.tradeoff(records, methods, out_dir / "tradeoff.png")
    points = [t for t in data["timings"].values() if t["method"] in methods] + records
    cost_chart = len({int(p["size"]) for p in points}) > 1
    if cost_chart:
        charts.cost_vs_size(points, methods, out_dir / "cost_vs_size.png")
    timings = [t for t in data["timings"].values() if t["method"] in methods]
    timing_note = ("Time and memory against resolution: " +
                   (f"each method on one pair ({timings[0]['content']} x {timings[0]['style']}) at "
                    f"{', '.join(str(s) for s in sorted({t['size'] for t in timings}))} px, plus the results above."
                    if timings else "the results above at their sizes.")) if cost_chart else \
        "Only one resolution measured, so there is no time-vs-resolution chart."

    summary = _summary(records, methods)
    best_summary = {(m, k) for k in TABLE_METRICS for m in _best({m: summary[m][k] for m in methods}, k)}
    best_pair = set()
    for c in contents:
        for s in styles:
            for k in TABLE_METRICS:
                vals = {m: runs[(m, c.name, s.name)].get(k) for m in methods if (m, c.name, s.name) in runs}
                best_pair |= {(m, c.name, s.name, k) for m in _best(vals, k)}
    # rate.html shows each pair's results in a shuffled, unlabeled order so raters aren't swayed by names
    import random

    order = {}
    for c in contents:
        for s in styles:
            ms = list(methods)
            random.Random(f"{c.name}/{s.name}").shuffle(ms)
            order[(c.name, s.name)] = ms
    cell = 180 if max(len(styles), 1) <= 6 else 140
    env = _env()
    ctx = dict(css=env.from_string(CSS).render(cell=cell), cell=cell, methods=methods, contents=contents,
               styles=styles, size=size, runs=runs, records=records, expected=len(sel["keys"]),
               machine=data.get("machine", {}), colors=colors, metrics=TABLE_METRICS,
               labels={k: DIRECTIONS[k][0] for k in TABLE_METRICS},
               arrows={k: "↑" if DIRECTIONS[k][1] > 0 else "↓" for k in TABLE_METRICS}, explain=EXPLAIN,
               summary=summary, best_summary=best_summary, best_pair=best_pair, layers=STYLE_LAYERS,
               cost_chart=cost_chart, timing_note=timing_note, order=order,
               options={m: json.dumps(next((r["options"] for r in records if r["method"] == m), {})) for m in methods},
               report_id=str(out_dir.resolve()),
               machine_keys=[k for k in MACHINE_KEYS if k in data.get("machine", {})])
    (out_dir / "index.html").write_text(env.from_string(INDEX).render(**ctx), encoding="utf-8")
    (out_dir / "rate.html").write_text(env.from_string(RATE).render(**ctx), encoding="utf-8")
    return out_dir / "index.html"
