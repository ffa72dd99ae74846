"""Evaluation: run every method on every (content, style) pair, measure each result, keep the numbers.

REPORT_DIR holds inputs/ (photos and styles at the evaluation size), images/ (one PNG per result),
results.json (all numbers; also the cache: a result whose image is on disk and whose inputs and options
are unchanged is not recomputed unless force), results.csv, crops/ (the worst places of each artifact measure,
see `brushwork.evaluation.artifacts`) and the pages written by `brushwork.evaluation.report`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tqdm import tqdm

from ..loaders import gallery
from ..core.images import list_images
from ..errors import BrushworkError
from . import artifacts, metrics

DEFAULT_METHODS = ("lapstyle", "adain", "optimize")
DEFAULT_STYLES = ("starry-night", "the-scream", "great-wave")
DEFAULT_TIMING_SIZES = (128, 256, 512)
RESULTS_JSON, RESULTS_CSV = "results.json", "results.csv"
SCHEMA = 1


@dataclass
class Item:
    """One input picture: its short name in the report, where it came from, a fingerprint and a thumbnail."""
    name: str
    path: Path
    sha: str
    thumb: str  # relative to the report folder
    label: str = ""  # shorter name for display


# ---- inputs -------------------------------------------------------------------------------------------------

def parse_value(text: str):
    """An option value as typed: JSON when it parses (0.5, 20, true, "x"), else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def method_spec(name: str) -> tuple[str, dict]:
    """"adain@strength=0.5@style_size=256" -> ("adain", {"strength": 0.5, "style_size": 256}).

    A method with options after "@" is evaluated as a method of its own (a variant), so one report can put,
    say, AdaIN at several strengths beside LapStyle and compare them at equal content loss.
    """
    base, *pairs = name.split("@")
    opts = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not (sep and key.strip()):
            raise BrushworkError(f"method variant {name!r}: write METHOD@OPTION=VALUE, e.g. adain@strength=0.5")
        opts[key.strip().replace("-", "_")] = parse_value(value)
    return base.strip(), opts


def parse_methods(methods) -> list[str]:
    """Method names (or variants, see `method_spec`) from "a,b" or a list, checked against `api.METHODS`."""
    from ..api import METHODS

    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if m.strip()]
    if names == ["none"]:  # score only the results given with --outputs
        return []
    if not names:
        raise BrushworkError("give at least one method, e.g. --methods optimize,adain")
    for base in (method_spec(m)[0] for m in names):
        if base not in METHODS:
            raise BrushworkError(f"unknown method {base!r}; choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


def sweep_variants(methods: list[str], strengths) -> dict[str, tuple[str, float]]:
    """Every method expanded into one variant per strength: {"lapstyle@strength=0.5": ("lapstyle", 0.5), ...}."""
    values = [float(v) for v in strengths]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise BrushworkError(f"strengths of a sweep must lie in [0, 1], got {', '.join(f'{v:g}' for v in values)}")
    return {f"{m}@strength={v:g}": (m, v) for m in methods for v in dict.fromkeys(values)}


def parse_outputs(outputs, methods: list[str]) -> dict[str, Path]:
    """{"LABEL": DIR} (or "LABEL=DIR" strings) of other tools' results, checked: a folder, a label of its own."""
    pairs = outputs.items() if isinstance(outputs, dict) else (str(o).partition("=")[::2] for o in outputs or [])
    out: dict[str, Path] = {}
    for label, folder in pairs:
        label = str(label).strip()
        if not label or not str(folder).strip() or "@" in label or "/" in label:
            raise BrushworkError(f"--outputs takes LABEL=DIR, e.g. other-tool=results/; got {label}={folder}")
        if label in methods or label in out:
            raise BrushworkError(f"label {label!r} of --outputs is already used; give each folder its own label")
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise BrushworkError(f"outputs folder {folder} (label {label}) does not exist or is not a folder")
        out[label] = folder
    return out


def find_outputs(label: str, folder: Path, contents: list[Item], styles: list[Item]) -> dict[tuple[str, str], Path]:
    """{(content name, style name): file} of an outputs folder, files named <content stem>__<style stem>.<ext>."""
    from ..core.images import IMAGE_SUFFIXES

    files = {f.stem: f for f in sorted(folder.iterdir()) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES}
    found = {(c.name, s.name): files[f"{c.path.stem}__{s.path.stem}"] for c in contents for s in styles
             if f"{c.path.stem}__{s.path.stem}" in files}
    if not found:
        raise BrushworkError(f"outputs folder {folder} (label {label}) holds no file named "
                             f"<photo stem>__<style stem>.<ext>, e.g. {contents[0].path.stem}__{styles[0].path.stem}.png")
    return found


def default_contents() -> list[Path]:
    """The built-in sample photos."""
    return list(gallery.samples().values())


def default_styles() -> list[Path]:
    """A few built-in styles that differ a lot (swirls, flat colour fields, graphic waves)."""
    table = gallery.styles()
    return [table[n]["path"] for n in DEFAULT_STYLES if n in table]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "image"


def _sha(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]


def prepare_inputs(paths: list[Path], kind: str, out_dir: Path, size: int) -> list[Item]:
    """Check every picture loads, give each a unique short name and save a thumbnail into inputs/."""
    from ..core.images import load_image, save_image

    items, seen = [], set()
    (out_dir / "inputs").mkdir(exist_ok=True)
    for p in paths:
        name = base = _slug(Path(p).stem)
        k = 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        img = load_image(p, size=size)  # BrushworkError if unreadable
        thumb = f"inputs/{kind}-{name}.jpg"
        save_image(img, out_dir / thumb, overwrite=True, quality=90)
        items.append(Item(name=name, path=Path(p), sha=_sha(p), thumb=thumb, label=name))
    short = [i.name.split("__")[-1] for i in items]  # e.g. "owner__repo__dir__file" -> "file"
    if len(set(short)) == len(short):
        for i, s in zip(items, short):
            i.label = s
    return items


def prepare_out_dir(out_dir) -> Path:
    """The report folder, created if needed (an existing report is reused: finished results are kept)."""
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise BrushworkError(f"report folder {out_dir} is a file")
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BrushworkError(f"cannot create report folder {out_dir} ({exc.strerror})") from None
    if not os.access(out_dir, os.W_OK):
        raise BrushworkError(f"report folder {out_dir} is not writable")
    return out_dir


# ---- the results file (also the cache) -----------------------------------------------------------------------

def run_key(method: str, content: str, style: str, size: int) -> str:
    """Cache key of one result."""
    return f"{method}/{content}/{style}/{size}"


def load_results(out_dir: Path, force: bool = False) -> dict:
    """results.json of an earlier run (empty if absent; a damaged one is an error unless force)."""
    empty = {"schema": SCHEMA, "runs": {}, "timings": {}}
    path = out_dir / RESULTS_JSON
    if not path.exists():
        return empty
    try:
        data = json.loads(path.read_text())
        assert isinstance(data.get("runs"), dict) and isinstance(data.get("timings"), dict)
    except (ValueError, AssertionError, AttributeError):
        if force:
            return empty
        raise BrushworkError(f"{path} is not a brushwork results file; move it away or pass --force") from None
    return data


def save_results(out_dir: Path, data: dict) -> None:
    """Write results.json atomically (an interrupted evaluation keeps what it finished)."""
    path = out_dir / RESULTS_JSON
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


CSV_FIRST = ["kind", "method", "content", "style", "size", "width", "height", "seconds", "peak_rss_mb",
             "content_loss", "style_gram", "style_meanstd", "ssim", "color_swd", *artifacts.MEASURES]


def write_csv(out_dir: Path, data: dict) -> Path:
    """results.csv: one row per result ("pair") and per timing run ("timing"), all numeric columns."""
    rows = [{"kind": "pair", **r} for r in data["runs"].values()]
    rows += [{"kind": "timing", **r} for r in data["timings"].values()]
    extra = sorted({k for r in rows for k, v in r.items() if k not in CSV_FIRST and not isinstance(v, (dict, list))})
    path = out_dir / RESULTS_CSV
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIRST + extra, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@lru_cache(maxsize=1)
def models_id() -> str:
    """A fingerprint of the shipped networks (their SHA256SUMS, read once): results of other weights are not reused."""
    sums = Path(__file__).resolve().parents[1] / "assets" / "models" / "SHA256SUMS"
    return hashlib.sha256(sums.read_bytes()).hexdigest()[:12] if sums.is_file() else ""


def _fresh(rec: dict | None, out_dir: Path, options: dict, content: Item, style: Item, models: str | None = None) -> bool:
    """Whether a cached record can be reused: same inputs, same options, the same shipped networks (for a
    method's run), and its image (if any) on disk."""
    return bool(rec) and rec.get("options") == options and rec.get("content_sha") == content.sha \
        and rec.get("style_sha") == style.sha and (models is None or rec.get("models") == models) \
        and (not rec.get("image") or (out_dir / rec["image"]).is_file())


# ---- running ----------------------------------------------------------------------------------------------------

class _Runner:
    """One Stylizer per method, warmed up once (so the first timed run doesn't pay for loading models)."""

    def __init__(self, options: dict[str, dict], warm: tuple[Item, Item]):
        self.options, self.warm, self.stylizers = options, warm, {}

    def stylizer(self, method: str):
        from ..api import Stylizer

        if method not in self.stylizers:
            st = Stylizer(method_spec(method)[0], progress=False)
            opts = {**self.options.get(method, {}), "size": 64}
            st.stylize_tensor(self.warm[0].path, self.warm[1].path, **opts)
            self.stylizers[method] = st
        return self.stylizers[method]

    def run(self, method: str, content: Item, style: Item, size: int):
        st = self.stylizer(method)
        opts = {**self.options.get(method, {}), "size": size}
        return metrics.measure(st.stylize_tensor, content.path, style.path, **opts)


def _record(method: str, content: Item, style: Item, size: int, out, cost, options: dict) -> dict:
    """What results.json keeps about one run (besides its picture and quality metrics)."""
    return {"method": method, "content": content.name, "style": style.name, "size": size,
            "width": int(out.shape[-1]), "height": int(out.shape[-2]), "seconds": cost.seconds,
            "peak_rss_mb": cost.peak_rss_mb, "options": options, "content_sha": content.sha, "style_sha": style.sha,
            "content_path": str(content.path), "style_path": str(style.path), "models": models_id()}


def check_options(methods: list[str], options: dict, size: int) -> dict[str, dict]:
    """Per-method options checked by the method itself (unknown names or bad values: BrushworkError).

    Options given for a method apply to its variants too; a variant's own options (after "@") win.
    """
    from ..api import Stylizer

    if size < 16:
        raise BrushworkError(f"size must be at least 16 px, got {size}")
    unknown = sorted(set(options) - {method_spec(m)[0] for m in methods})
    if unknown:
        raise BrushworkError(f"options given for {', '.join(unknown)}, which is not among the methods evaluated")
    out = {}
    for m in methods:
        base, own = method_spec(m)
        opts = {**options.get(base, {}), **own}
        opts.pop("size", None)
        Stylizer(base, progress=False).options(base, size=size, **opts)
        out[m] = opts
    return out


def _plan_sweep(data, out_dir, methods, options, first, size, timing_sizes, force) -> list[tuple]:
    """(key, method, size) of the time-vs-resolution runs still to do, on the first pair; only when every
    result is at one size (otherwise the results themselves span sizes)."""
    sizes_run = {size} | {r["size"] for r in data["runs"].values() if r.get("method") in methods}
    if not timing_sizes or len(sizes_run) != 1:
        return []
    sweep = []
    for m in methods:
        for ts in sorted({int(t) for t in timing_sizes}):
            k = run_key(m, first[0].name, first[1].name, ts)
            if force or not _fresh(data["timings"].get(k), out_dir, options[m], *first, models_id()):
                sweep.append((k, m, ts))
    return sweep


def _run_pairs(runner, todo, data, out_dir, options, size, bar) -> None:
    """Stylize and measure each (method, photo, style) to do, saving its picture and results.json as it goes."""
    from ..core.images import load_image, save_image

    style_images: dict[str, object] = {}
    for key, (m, c, s) in todo:
        bar.set_postfix_str(f"{m}: {c.label[:24]} x {s.label[:24]}")
        out, cost = runner.run(m, c, s, size)
        if s.name not in style_images:
            style_images[s.name] = load_image(s.path)
        image = f"images/{_slug(m)}__{c.name}__{s.name}__{size}.png"
        save_image(out, out_dir / image, overwrite=True)
        data["runs"][key] = {**_record(m, c, s, size, out, cost, options[m]), "image": image,
                             **metrics.all_metrics(out, load_image(c.path, size=size), style_images[s.name])}
        save_results(out_dir, data)
        bar.update()


def _run_sweep(runner, sweep, data, out_dir, options, first, bar) -> None:
    """Time each method on the first pair at the sweep's sizes (no picture kept)."""
    for key, m, ts in sweep:
        bar.set_postfix_str(f"timing {m} at {ts} px")
        out, cost = runner.run(m, *first, ts)
        data["timings"][key] = _record(m, *first, ts, out, cost, options[m])
        save_results(out_dir, data)
        bar.update()


def _score_outputs(outputs, data, out_dir, contents, styles, size, force, bar) -> tuple[list[str], list[str], int]:
    """Measure other tools' results like brushwork's own; returns (their keys, notes on missing files, scored)."""
    from ..core.images import load_image, resize, save_image

    keys, notes, scored, style_images = [], [], 0, {}
    for label, (folder, found) in outputs.items():
        missing = [f"{c.path.stem}__{s.path.stem}" for c in contents for s in styles if (c.name, s.name) not in found]
        if missing:
            notes.append(f"{label}: no result for {len(missing)} of {len(contents) * len(styles)} pairs in {folder} "
                         f"(skipped: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''})")
        for c in contents:
            for s in styles:
                if (c.name, s.name) not in found:
                    continue
                path, key = found[(c.name, s.name)], run_key(label, c.name, s.name, size)
                keys.append(key)
                opts = {"outputs": str(folder.resolve()), "file": path.name, "sha": _sha(path)}
                if not force and _fresh(data["runs"].get(key), out_dir, opts, c, s):
                    continue
                bar.set_postfix_str(f"{label}: {c.label[:24]} x {s.label[:24]}")
                photo = load_image(c.path, size=size)
                out = load_image(path)  # BrushworkError if unreadable
                if out.shape[-2:] != photo.shape[-2:]:
                    out = resize(out, tuple(photo.shape[-2:]))  # scored at the photo's size, like the methods
                if s.name not in style_images:
                    style_images[s.name] = load_image(s.path)
                image = f"images/{_slug(label)}__{c.name}__{s.name}__{size}.png"
                save_image(out, out_dir / image, overwrite=True)
                data["runs"][key] = {**_record(label, c, s, size, out, metrics.Cost(None, None), opts),
                                     "external": True, "image": image,
                                     **metrics.all_metrics(out, photo, style_images[s.name])}
                save_results(out_dir, data)
                scored += 1
                bar.update()
    return keys, notes, scored


def _score_artifacts(data: dict, out_dir: Path, keys: list[str], contents: list[Item], styles: list[Item],
                     bar=None) -> int:
    """Add the artifact measures (and where each flaw is worst) to every selected result that lacks them, from
    its picture on disk, the photo at the result's size and the painting (read from where they are now);
    returns how many were scored."""
    from ..core.images import load_image, resize

    photos, paintings = {c.name: c.path for c in contents}, {s.name: s.path for s in styles}
    todo = [k for k in keys if (r := data["runs"].get(k)) and r.get("image")
            and r.get("artifacts_version") != artifacts.VERSION and (out_dir / r["image"]).is_file()]
    for k in todo:
        r = data["runs"][k]
        if bar is not None:
            bar.set_postfix_str(f"artifacts: {r['method']}: {r['content'][:20]} x {r['style'][:20]}")
        out = load_image(out_dir / r["image"])
        photo = resize(load_image(photos[r["content"]], size=r["size"]), tuple(out.shape[-2:]))
        found = artifacts.measure_maps(out, photo, load_image(paintings[r["style"]]))
        crop = artifacts.crop_side(out.shape[-2:])
        r.update({n: (None if v != v else v) for n, (v, _) in found.items()})  # NaN (no face) stored as null
        r["artifact_where"] = {n: list(artifacts.worst_place(m, crop)) for n, (v, m) in found.items() if v == v}
        r["artifacts_version"] = artifacts.VERSION
        save_results(out_dir, data)
    return len(todo)


def evaluate(methods=DEFAULT_METHODS, content_dir=None, style_dir=None, out_dir="report", size: int = 256,
             force: bool = False, options: dict | None = None, timing_sizes=DEFAULT_TIMING_SIZES,
             progress: bool = True, outputs=None, strength_sweep=None) -> dict:
    """Run, measure, cache and report. Returns {"ran", "skipped", "report", "data", "notes"}.

    options: {method: {option: value}} passed to each method (e.g. {"optimize": {"iterations": 20}}).
    timing_sizes: when every result is at one size, also time each method on the first pair at these
    long sides (for the time-vs-resolution chart); empty to skip.
    outputs: {label: folder} (or ["label=folder"]) of another tool's results named <photo stem>__<style stem>.<ext>,
    scored and reported beside the methods (pairs without a file are skipped with a note).
    strength_sweep: strengths, e.g. (0, 0.25, 0.5, 0.75, 1): every method runs at each (as variants) and the
    report draws content loss against strength per method.
    """
    from . import report
    from .machine import machine_info

    methods = parse_methods(methods)
    sweep_of = sweep_variants(methods, strength_sweep) if strength_sweep else {}
    methods = list(sweep_of) or methods
    outputs = parse_outputs(outputs, methods)
    options = check_options(methods, options or {}, size)
    content_paths = list_images(content_dir, "content") if content_dir else default_contents()
    style_paths = list_images(style_dir, "style") if style_dir else default_styles()
    out_dir = prepare_out_dir(out_dir)
    data = load_results(out_dir, force)
    contents = prepare_inputs(content_paths, "content", out_dir, size)
    styles = prepare_inputs(style_paths, "style", out_dir, size)
    outputs = {label: (folder, find_outputs(label, folder, contents, styles)) for label, folder in outputs.items()}

    pairs = [(m, c, s) for m in methods for c in contents for s in styles]
    keys = [run_key(m, c.name, s.name, size) for m, c, s in pairs]
    todo = [(k, p) for k, p in zip(keys, pairs)
            if force or not _fresh(data["runs"].get(k), out_dir, options[p[0]], p[1], p[2], models_id())]
    sweep = _plan_sweep(data, out_dir, methods, options, (contents[0], styles[0]), size, timing_sizes, force)
    if todo or sweep or "machine" not in data:
        data["machine"] = machine_info()  # where the numbers were measured
    runner = _Runner(options, (contents[0], styles[0]))
    n_ext = sum(len(found) for _, found in outputs.values())
    with tqdm(total=len(todo) + len(sweep) + n_ext, desc="evaluate", unit="run", dynamic_ncols=True,
              disable=not progress or not (todo or sweep or outputs)) as bar:
        _run_pairs(runner, todo, data, out_dir, options, size, bar)
        _run_sweep(runner, sweep, data, out_dir, options, (contents[0], styles[0]), bar)
        ext_keys, notes, scored = _score_outputs(outputs, data, out_dir, contents, styles, size, force, bar)
        _score_artifacts(data, out_dir, keys + ext_keys, contents, styles, bar)
    save_results(out_dir, data)
    write_csv(out_dir, data)
    selection = {"methods": methods + list(outputs), "external": list(outputs), "contents": contents,
                 "styles": styles, "size": size, "keys": keys + ext_keys, "notes": notes, "sweep": sweep_of}
    index = report.write_report(out_dir, data, selection)
    return {"ran": len(todo) + len(sweep) + scored, "skipped": len(pairs) + n_ext - len(todo) - scored,
            "report": index, "data": data, "notes": notes}
