"""The README's benchmark tables, rendered from the results files in ``benchmarks/results/``.

Each table sits in README.md between two marker comments::

    <!-- results:balance -->
    ...generated...
    <!-- /results:balance -->

and :func:`render_readme` rewrites what lies between them from the results files, so that a
figure quoted in a table is the figure of its file (rounded half up to the digits shown).
``tests/test_readme.py`` fails when the README differs from the rendering. After a benchmark
rerun, from the root of a checkout::

    python -m skmm._bench._readme            # rewrite README.md's marked sections
    python -m skmm._bench._readme --check    # exit 1 when they are stale

Only the marked sections are generated; the prose around them is written by hand.
"""

import argparse
import re
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

#: The checkout this module lives in (README.md and benchmarks/results/ are there).
ROOT = Path(__file__).resolve().parents[2]

_MARKED = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)",
                     re.S)
_LOAD = re.compile(r"([\d.]+) before, peak ([\d.]+), ([\d.]+) at the end \((\d+) samples?; "
                   r"(\d+) usable cores\)")


@dataclass
class Results:
    """One results file, parsed: its title, banners, load line, tables and bullet lines."""

    name: str
    title: str = ""
    noisy: bool = False
    load: tuple = None  # (before, peak, end, samples, cores) as strings
    tables: dict = field(default_factory=dict)  # heading -> list of row dicts
    bullets: list = field(default_factory=list)
    text: str = ""

    def table(self, prefix=""):
        """The rows of the first table whose heading starts with ``prefix``."""
        for heading, rows in self.tables.items():
            if heading.startswith(prefix):
                return rows
        raise KeyError(f"{self.name}: no table under a heading starting with {prefix!r}")

    def row(self, prefix, column, *values):
        """The row of table ``prefix`` whose ``column`` is one of ``values``."""
        for row in self.table(prefix):
            if row[column] in values:
                return row
        raise KeyError(f"{self.name}: no row with {column} in {values!r} under {prefix!r}")


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(path):
    """Read one results file into :class:`Results`."""
    path = Path(path)
    text = path.read_text()
    res = Results(path.stem, text=text)
    lines = text.splitlines()
    heading, i = "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# ") and not res.title:
            res.title = line[2:].strip()
        elif line.startswith("> **NOISY**"):
            res.noisy = True
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith(("- ", "* ")):
            res.bullets.append(line[2:].strip())
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            header = _cells(block[0])
            if not any(header):  # the environment table: | | |
                for b in block[2:]:
                    key, value = (_cells(b) + ["", ""])[:2]
                    found = _LOAD.search(value) if key.startswith("load average") else None
                    if found:
                        res.load = found.groups()
            else:
                key = heading
                while key in res.tables:
                    key += " "
                res.tables[key] = [dict(zip(header, _cells(b))) for b in block[2:]]
            continue
        i += 1
    return res


def load_all(results_dir):
    """``{stem: Results}`` of every ``*.md`` in ``results_dir``."""
    return {p.stem: parse(p) for p in sorted(Path(results_dir).glob("*.md"))}


def fmt(value, digits=3):
    """``value`` (a figure as the file writes it) rounded half up to ``digits`` decimals."""
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(str(value).strip().lstrip("x")).quantize(quantum, rounding=ROUND_HALF_UP))


def _bold(text, on):
    return f"**{text}**" if on else text


def _markdown(header, rows, align):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------------------- renderers

BALANCE_METHODS = (
    ("image-only net", "image-only net"),
    ("audio-only net", "audio-only net"),
    ("LR on concat", "`LogisticRegression` on the standardised concatenation"),
    ("MLP on concat", "`MLPClassifier((256,))` on the standardised concatenation"),
    ("late fusion (stacked LR)", "late fusion (stacked logistic regressions)"),
    ("layer-level net (balance=None)", "`FusionNetClassifier(balance=None)` (unbalanced)"),
    ("layer-level net, balance='gblend'", '`FusionNetClassifier(balance="gblend")`'),
    ("layer-level net, balance='ogm-ge'", '`FusionNetClassifier(balance="ogm-ge")`'),
    ("layer-level net, balance='ume'", '`FusionNetClassifier(balance="ume")`'),
)
#: Labels of results files written before the unbalanced net was labelled by its parameter.
_OLD_LABELS = {"layer-level net (balance=None)": "layer-level net (default)"}
BALANCE_CELLS = (("clean, group", "clean, new speakers"), ("hard, group", "hard, new speakers"),
                 ("hard, shuffled", "hard, shuffled"))
_FIT_RATIO = re.compile(r"fit time of (.+?) / default net: \*\*([\d.]+)x\*\* over all cells "
                        r"\(per cell ([\d.]+)x to ([\d.]+)x\)")


def render_balance(results):
    """The balanced-training table and its note, from ``balance.md``."""
    res = results["balance"]
    ratios = {m: (total, low, high) for m, total, low, high in _FIT_RATIO.findall(res.text)}
    columns = [res.table(prefix) for prefix, _ in BALANCE_CELLS]
    best = [max(float(r["accuracy (mean)"]) for r in rows) for rows in columns]
    body, sds = [], []
    for method, label in BALANCE_METHODS:
        figures = []
        for k, (prefix, cell_label) in enumerate(BALANCE_CELLS):
            row = res.row(prefix, "method", _OLD_LABELS.get(method, method), method)
            mean = float(row["accuracy (mean)"])
            figures.append(_bold(fmt(row["accuracy (mean)"]), mean == best[k]))
            sds.append((Decimal(row["sd over seeds"]), method, cell_label))
        leads = all(f.startswith("**") for f in figures)
        if method == "layer-level net (balance=None)":
            fit = "1x"
        elif method in ratios:
            total, low, high = ratios[method]
            fit = f"{fmt(total, 1)}x ({low}x to {high}x)"
        else:
            fit = ""
        body.append([_bold(label, leads), *figures, fit])
    header = ["method (same features)", *(label for _, label in BALANCE_CELLS),
              "fit time (all cells; per cell)"]
    lines = _markdown(header, body, "lrrrr")
    sd, sd_method, sd_cell = max(sds)
    seeds = re.search(r"(\d+) seed\(s\)", res.text).group(1)
    before, peak, _, _, cores = res.load
    times = (f"the load average reached {peak} during the run, above the {cores} cores, so the "
             "file is marked NOISY and the fit times are indicative only" if res.noisy else
             f"the load average stayed at or below {peak} on the {cores} cores")
    lines += ["", f"(`benchmarks/results/balance.md`: mean over {seeds} seeds; the standard "
              f"deviations over seeds are at most {fmt(sd, 4)} ({sd_method}, {sd_cell}). Fit "
              "time: the mean fit time per fold over the default net's, over all four cells, and "
              f"its range over the cells; {times}.)"]
    return lines


def render_audio(results):
    """The audio extractors against a per-clip librosa loop, from ``audio.md``."""
    res = results["audio"]
    body = []
    for row in res.table(""):
        body.append([row["features"], f"{fmt(row['librosa loop (s)'], 2)} s",
                     f"{fmt(row['skmm (s)'], 2)} s", row["speed-up"].lstrip("x") + "x",
                     row["max difference"]])
    return _markdown(["features", "per-clip librosa loop", "skmm", "speed-up",
                      "max relative difference"], body, "lrrrr")


#: The whole fit's ratio in head files that pair the sides round by round.
_PAIRED = re.compile(r"net / loop, median of (\d+) paired ratios: ([\d.]+)x")


def render_head(results):
    """FusionNetClassifier and plain skorch against a hand-written loop, from ``head.md``
    and ``head_quick.md``."""
    full, quick = results["head"], results["head_quick"]

    def whole_fit(res):
        paired = _PAIRED.search(res.text)
        if paired:
            return f"{paired.group(2)}x (median of {paired.group(1)} paired rounds)"
        row = res.row("Whole fit", "side", "FusionNetClassifier.fit")
        return f"{row['net / loop (whole fit)']} (best of each side)"

    heading = next(h for h in full.tables if h.startswith("Whole fit"))
    case = heading.split("whole fit, ", 1)[1]
    body = [[f"whole `fit` as a user calls it ({case})",
             f"{whole_fit(full)}; quick: {whole_fit(quick)}", ""]]
    modules = []
    for row in full.table("Fastest epoch"):
        if row["module"] not in modules:
            modules.append(row["module"])
    for module in modules:
        def ratio(trainer):
            rows = [r for r in full.table("Fastest epoch") if r["module"] == module
                    and r["trainer"] == trainer]
            quick_rows = [r for r in quick.table("Fastest epoch") if r["module"] == module
                          and r["trainer"] == trainer]
            return f"{rows[0]['wall ratio']} (quick: {quick_rows[0]['wall ratio']})"

        body.append([f"fastest epoch, {module}", ratio("FusionNetClassifier"),
                     ratio("plain skorch NeuralNetClassifier")])
    return _markdown(["case", "FusionNetClassifier / hand-written loop",
                      "plain skorch / hand-written loop"], body, "lrr")


FUSION_ROWS = (
    (("image only",), "image only (MLP branch)"),
    (("image only, CNN branch",), "image only, CNN branch"),
    (("audio only",), "audio only"),
    (("audio only, pad_mode='silence'",),
     'audio only, frames padded with silence (`pad_mode="silence"`)'),
    (("early fusion",), "early fusion (scaled features, MLP)"),
    (("late fusion",), "late fusion (stacking the two nets above, MLP image)"),
    (("layer-level: concat", "layer-level: sum", "layer-level: gated", "layer-level: lowrank"),
     "layer-level, concat / sum / gated / lowrank"),
    (("layer-level: attention",), "layer-level, attention"),
    (("layer-level: attention, CNN image branch",), "layer-level, attention, CNN image branch"),
    (("layer-level: balance='ume'",), 'layer-level, `balance="ume"`'),
    (("layer-level: balance='ume', CNN image branch",),
     'layer-level, `balance="ume"`, CNN image branch'),
    (("attention + modality_dropout=0.2",), "attention + `modality_dropout=0.2`"),
)


def render_fusion(results):
    """The fusion levels on AV-Digits hard, from ``fusion.md``."""
    res = results["fusion"]
    accuracy = {r["model"]: r for r in res.table("")}
    removed = {r["model"]: r for r in res.table("Audio removed")}
    best_acc = max(float(r["accuracy (mean)"]) for r in accuracy.values())
    best_removed = max(float(r["audio removed (mean)"]) for r in removed.values())
    body = []
    for models, label in FUSION_ROWS:
        if len(models) == 1:
            row = accuracy[models[0]]
            acc = _bold(f"{fmt(row['accuracy (mean)'])} ± {fmt(row['std'])}",
                        float(row["accuracy (mean)"]) == best_acc)
            gone = removed.get(models[0])
            out = "" if gone is None else _bold(
                fmt(gone["audio removed (mean)"]),
                float(gone["audio removed (mean)"]) == best_removed)
        else:
            means = [Decimal(accuracy[m]["accuracy (mean)"]) for m in models]
            outs = [Decimal(removed[m]["audio removed (mean)"]) for m in models]
            acc = f"{fmt(min(means))} to {fmt(max(means))}"
            out = f"{fmt(min(outs), 2)} to {fmt(max(outs), 2)}"
        body.append([label, acc, out])
    return _markdown(["model", "accuracy", "with audio removed at test time"], body, "lrr")


def render_loads(results):
    """Every results file with the load average it records and whether it is marked NOISY."""
    body = []
    for name, res in sorted(results.items()):
        if res.load:
            before, peak, end, samples, cores = res.load
            load = f"{before} before, peak {peak}, {end} at the end ({cores} usable cores)"
        else:
            load = "not recorded by the harness; the file describes it"
        body.append([f"`{name}.md`", res.title, load, "NOISY" if res.noisy else ""])
    return _markdown(["file", "benchmark", "load average (1 min)", "marked"], body, "llll")


#: (heading of real.md's table, metric column, the row's label) in the README's order.
REAL_ROWS = (
    ("Adult", "accuracy", "Adult, accuracy"), ("Adult", "AUC", "Adult, ROC AUC"),
    ("California housing", "R²", "California housing, R²"),
    ("AG News", "accuracy", "AG News (title, description), accuracy"),
    ("AV-Digits (clean)", "accuracy", "AV-Digits clean, new speakers, accuracy"),
    ("AV-Digits (hard)", "accuracy", "AV-Digits hard, new speakers, accuracy"),
)
#: The methods of real.md, columns of the README's table (a linear model: LR, Ridge or LR
#: on TF-IDF of the joined text).
REAL_COLUMNS = (
    (("LogisticRegression", "Ridge", "TF-IDF + LR, title + description"), "linear"),
    (("HistGradientBoosting",), "HGB"), (("scikit-learn MLP",), "scikit-learn MLP"),
    (("skmm net, defaults",), "net on the plain features"),
    (("skmm net, recipe",), "**skmm recipe**"),
)


def _mean(cell):
    return cell.split("±")[0].strip()


def render_real(results):
    """The nets against the baselines on real data, from ``real.md``."""
    res = results["real"]
    body = []
    for heading, metric, label in REAL_ROWS:
        try:
            rows = {r["method"]: r for r in res.table(heading)}
        except KeyError:
            continue
        column = next(c for c in rows[next(iter(rows))] if c.startswith(metric + " "))
        values = {name: _mean(row[column]) for name, row in rows.items()}
        best = max(float(v) for v in values.values())
        cells = []
        for names, _ in REAL_COLUMNS:
            value = next((values[n] for n in names if n in values), None)
            cells.append("" if value is None else _bold(fmt(value), float(value) == best))
        recipe = rows["skmm net, recipe"]["fit time per fold (s)"]
        hgb = rows.get("HistGradientBoosting", {}).get("fit time per fold (s)")
        times = f"{fmt(recipe, 1)} s" + (f" ({fmt(float(recipe) / float(hgb), 1)}x HGB)"
                                         if hgb and metric != "AUC" else "")
        body.append([label, *cells, times if metric != "AUC" else ""])
    seeds = re.search(r"(\d+) seed\(s\)", res.text)
    note = (f"(`benchmarks/results/real.md`: {seeds.group(1) if seeds else '?'} seed(s) x 3 "
            "folds; the best of each row in bold; fit time per fold of the recipe"
            + (", indicative only: the file is marked NOISY)" if res.noisy else ")"))
    return _markdown(["data, metric", *(c for _, c in REAL_COLUMNS), "recipe's fit time"],
                     body, "lrrrrrr") + ["", note]


SCALE_PHASES = ("extraction, one process", "extraction, 2 Dask workers",
                "training 1 epoch, rows in memory", "training 1 epoch, from the store")


def render_scale(results):
    """Extraction and training as the rows grow, from ``scale.md``."""
    res = results.get("scale")
    if res is None:
        return ["(`benchmarks/results/scale.md` not written yet: `python -m skmm bench --only "
                "scale`)"]
    measured = res.table("Results")
    sizes = list(dict.fromkeys(r["rows"] for r in measured))
    growth = {r["phase"]: r for r in res.table("Growth")}
    body = []
    for phase in SCALE_PHASES:
        rows = {r["rows"]: r for r in measured if r["phase"] == phase}
        body.append([phase, *(rows[n]["rows/s"] for n in sizes),
                     rows[sizes[-1]]["peak memory added (MB)"],
                     f"{fmt(growth[phase]['time ratio'].rstrip('x'), 2)}x"])
    last = res.table("Dask against")[-1]
    note = (f"(`benchmarks/results/scale.md`; rows/s of one run per phase and size, each in a "
            f"fresh process; growth = time at {sizes[-1]} rows / time at {sizes[-2]} rows. At "
            f"{last['rows']} rows: 2 Dask workers extract "
            f"{fmt(last['2 Dask workers: speed-up'].rstrip('x'), 2)}x as fast as one process; training from "
            f"the store takes {fmt(last['training from the store: time ratio'].rstrip('x'), 2)}x the time "
            "of the rows in memory"
            + ("; the file is marked NOISY: the times are indicative only)" if res.noisy
               else ")"))
    return _markdown(["phase", *(f"rows/s at {n}" for n in sizes),
                      f"peak memory added at {sizes[-1]} (MB)", "growth"],
                     body, "l" + "r" * (len(sizes) + 2)) + ["", note]


RENDERERS = {
    "scale": render_scale,
    "real": render_real,
    "loads": render_loads,
    "audio": render_audio,
    "head": render_head,
    "balance": render_balance,
    "fusion": render_fusion,
}


def render_readme(text, results):
    """``text`` (README.md) with every marked section rendered from ``results``.

    Raises KeyError for a marker that names no renderer.
    """
    def replace(match):
        name = match.group("name")
        if name not in RENDERERS:
            raise KeyError(f"README marker 'results:{name}' names no renderer; known: "
                           f"{sorted(RENDERERS)}")
        body = "\n".join(RENDERERS[name](results)) + "\n"
        return match.group(1) + body + match.group(4)

    return _MARKED.sub(replace, text)


def marked_sections(text):
    """``{name: body}`` of the README's marked sections."""
    return {m.group("name"): m.group("body") for m in _MARKED.finditer(text)}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skmm._bench._readme",
        description="Render README.md's benchmark tables from benchmarks/results/.")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a marked section is stale")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    rendered = render_readme(text, load_all(args.results))
    if args.check:
        stale = [name for name, body in marked_sections(text).items()
                 if marked_sections(rendered)[name] != body]
        if stale:
            print(f"{args.readme}: stale sections {stale}; run python -m skmm._bench._readme")
            return 1
        return 0
    if rendered != text:
        args.readme.write_text(rendered)
        print(f"{args.readme}: rewrote its marked sections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
