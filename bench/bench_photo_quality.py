"""Photo quality gate benchmark: ``check_quality`` on the real photos of parts in the shared data sets and on
bad copies derived from them with OpenCV, plus synthetic blank walls; the numbers behind the docstring of
firmware_app/vision/quality.py.

- Real photos: NEU-DET hot-rolled steel strip (``neu_det_steel``, 1,259 shared photos, 200x200) and magnetic
  tiles (``magnetic_tile_defects``, 694 shared photos, about 103-632 x 222-403 px), listed by each data set's
  manifest.csv and decoded with ``load_image``. Every photo counts as good: they are sharp, framed close-ups.
- Derived copies of every photo: Gaussian blur with sigma 1.5% and 1% of the longer side, darkened (x0.15) and
  overexposed (x2 + 120, clipped), as in tests/test_vision_capture.py.
- Blank walls (no data needed): a flat colour, a gentle light gradient and vignetting, and sensor noise of
  sigma 2 to 12, at widths 200 to 1280 px, from a fixed seed. The noise is drawn two ways: independently per
  channel (the grey conversion averages part of it away), and the same on the three channels (the grey
  picture keeps the whole sigma: the harder case).

Runs in a child process pinned to one core (``sched_setaffinity``, before OpenCV starts any thread), so the
time per ``check_quality`` call is one core's. A data set that is not there is skipped with a note.

    python -m bench.bench_photo_quality [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.worker import harness_command, run_worker

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
# name -> (folder under the data dir, what it is, photos in the shared split per its SOURCE.md)
SOURCES: dict[str, tuple[str, str, int]] = {
    "steel": ("neu_det_steel", "NEU-DET hot-rolled steel strip", 1259),
    "tile": ("magnetic_tile_defects", "magnetic tile", 694),
}
REASONS = ("too_dark", "too_bright", "not_in_frame", "blurred")
MEASURES = ("sharpness", "edge_density", "brightness", "highlight")
PERCENTILES = (1, 5, 50, 95)
WALL_WIDTHS_PX = (200, 256, 300, 400, 512, 640, 800, 1024, 1280)
WALL_NOISE_SIGMAS = (2, 4, 6, 8, 10, 12)
WALLS_PER_SETTING = 5
WALL_SEED = 20240601
WALL_NOISE_MODES = ("per_channel", "grey")


# --- the derived copies (the same OpenCV operations as tests/test_vision_capture.py) -------------------------


def _blur(share: float) -> Callable[[Any], Any]:
    import cv2

    def blurred(image: Any) -> Any:
        return cv2.GaussianBlur(image, (0, 0), max(image.shape[:2]) * share)

    return blurred


def _dark(image: Any) -> Any:
    import numpy as np

    return (image.astype(np.float32) * 0.15).astype(np.uint8)


def _overexposed(image: Any) -> Any:
    import numpy as np

    return np.clip(image.astype(np.int16) * 2 + 120, 0, 255).astype(np.uint8)


# name -> (what it is, the reason the gate should give; None: the photo should pass)
DERIVATIONS: dict[str, tuple[str, str | None]] = {
    "original": ("the photo as it is", None),
    "blur_1.5pct": ("Gaussian blur, sigma 1.5% of the longer side", "blurred"),
    "blur_1pct": ("Gaussian blur, sigma 1% of the longer side", "blurred"),
    "dark": ("darkened x0.15", "too_dark"),
    "overexposed": ("x2 + 120, clipped", "too_bright"),
}


def _derive(name: str) -> Callable[[Any], Any]:
    return {
        "original": lambda image: image,
        "blur_1.5pct": _blur(0.015),
        "blur_1pct": _blur(0.01),
        "dark": _dark,
        "overexposed": _overexposed,
    }[name]


def blank_wall(width: int, noise_sigma: float, noise_mode: str, rng: Any) -> Any:
    """The camera pointed past the part: a flat colour (4:3), a light gradient of up to +-15 grey levels in a
    random direction, vignetting (20-50% darker in the corners) and sensor noise of ``noise_sigma``, drawn per
    channel or the same on all three (``noise_mode`` "per_channel" or "grey")."""
    import numpy as np

    height = round(width * 3 / 4)
    colour = rng.uniform(60, 200) + rng.uniform(-10, 10, 3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs, ys = xs / (width - 1) - 0.5, ys / (height - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = rng.uniform(0, 15) * 2 * (xs * np.cos(angle) + ys * np.sin(angle))
    vignetting = 1 - rng.uniform(0.2, 0.5) * (xs**2 + ys**2) / 0.5
    noise = rng.normal(0, noise_sigma, (height, width, 3 if noise_mode == "per_channel" else 1))
    wall = colour[None, None, :] * vignetting[..., None] + gradient[..., None] + noise
    return np.clip(np.round(wall), 0, 255).astype(np.uint8)


# --- the child process -------------------------------------------------------------------------------------


def _photos(folder: Path) -> list[Path]:
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        with manifest.open(encoding="utf-8") as handle:
            return [folder / row["path"] for row in csv.DictReader(handle)]
    return sorted(p for p in folder.rglob("*.jpg"))


def _highlight(image: Any) -> float:
    """The 99th percentile grey level of the gate's analysis copy (``check_quality`` does not return it)."""
    import cv2
    import numpy as np

    from firmware_app.vision.quality import ANALYSIS_WIDTH_PX

    height, width = image.shape[:2]
    size = (ANALYSIS_WIDTH_PX, max(1, round(height * ANALYSIS_WIDTH_PX / width)))
    grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(np.percentile(grey, 99))


def _white_share(image: Any) -> float:
    import cv2

    from firmware_app.vision.quality import ANALYSIS_WIDTH_PX, BRIGHT_GREY_LEVEL

    height, width = image.shape[:2]
    size = (ANALYSIS_WIDTH_PX, max(1, round(height * ANALYSIS_WIDTH_PX / width)))
    grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float((grey > BRIGHT_GREY_LEVEL).mean())


class _Tally:
    """Verdicts, measures and call times of one group of pictures."""

    def __init__(self, expected: str | None) -> None:
        self.expected = expected
        self.n = 0
        self.refused = dict.fromkeys(REASONS, 0)
        self.values: dict[str, list[float]] = {m: [] for m in MEASURES}
        self.ms: list[float] = []

    def check(self, image: Any) -> Any:
        from firmware_app.vision.quality import check_quality

        started = time.perf_counter()
        report = check_quality(image)
        self.ms.append((time.perf_counter() - started) * 1000)
        self.n += 1
        for reason in report.reasons:
            self.refused[reason] += 1
        self.values["sharpness"].append(report.sharpness)
        self.values["edge_density"].append(report.edge_density)
        self.values["brightness"].append(report.brightness)
        self.values["highlight"].append(_highlight(image))
        return report

    def result(self) -> dict[str, Any]:
        import numpy as np

        accepted = self.n - sum(self.refused.values())
        stats = {
            measure: {
                "min": round(float(min(values)), 4),
                **{f"p{q}": round(float(np.percentile(values, q)), 4) for q in PERCENTILES},
                "max": round(float(max(values)), 4),
            }
            for measure, values in self.values.items()
            if values
        }
        return {
            "n": self.n,
            "expected": self.expected or "accepted",
            "accepted": accepted,
            "refused": self.refused,
            "as_expected": accepted if self.expected is None else self.refused[self.expected],
            "measures": stats,
            "check_ms_p50": round(statistics.median(self.ms), 3) if self.ms else None,
        }


def _source(name: str, data_dir: Path) -> dict[str, Any]:
    import numpy as np

    from firmware_app.vision.capture import load_image

    folder_name, title, expected_count = SOURCES[name]
    folder = data_dir / folder_name
    if not folder.is_dir():
        return {"title": title, "folder": str(folder), "skipped": f"no data set at {folder}"}
    paths = _photos(folder)
    tallies = {d: _Tally(expected) for d, (_, expected) in DERIVATIONS.items()}
    derive = {d: _derive(d) for d in DERIVATIONS}
    refused_good: list[dict[str, Any]] = []
    sizes: list[tuple[int, int]] = []
    for path in paths:
        image = load_image(path)
        sizes.append(image.shape[:2])
        for derivation, tally in tallies.items():
            report = tally.check(derive[derivation](image))
            if derivation == "original" and not report.ok:
                refused_good.append(
                    {
                        "path": str(path.relative_to(folder)),
                        "reason": report.reasons[0],
                        "brightness": round(report.brightness, 1),
                        "white_share": round(_white_share(image), 3),
                    }
                )
    heights, widths = (np.array(x) for x in zip(*sizes, strict=True)) if sizes else (np.zeros(1), np.zeros(1))
    return {
        "title": title,
        "folder": str(folder),
        "photos": len(paths),
        "photos_expected": expected_count,
        "width_px": [int(widths.min()), int(widths.max())],
        "height_px": [int(heights.min()), int(heights.max())],
        "derivations": {d: t.result() for d, t in tallies.items()},
        "refused_good_photos": refused_good,
    }


def _walls() -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(WALL_SEED)
    per_mode: dict[str, Any] = {}
    passed: list[dict[str, Any]] = []
    for mode in WALL_NOISE_MODES:
        for width in WALL_WIDTHS_PX:
            tally = _Tally("not_in_frame")
            densities: dict[int, list[float]] = {}
            for sigma in WALL_NOISE_SIGMAS:
                for _ in range(WALLS_PER_SETTING):
                    report = tally.check(blank_wall(width, sigma, mode, rng))
                    densities.setdefault(sigma, []).append(report.edge_density)
                    if "not_in_frame" not in report.reasons:
                        passed.append(
                            {"noise": mode, "width": width, "noise_sigma": sigma, "reasons": list(report.reasons)}
                            | {"edge_density": round(report.edge_density, 4), "sharpness": round(report.sharpness, 3)}
                        )
            per_mode.setdefault(mode, {})[str(width)] = tally.result() | {
                "edge_density_max_per_noise_sigma": {str(s): round(max(v), 4) for s, v in densities.items()}
            }
    return {
        "seed": WALL_SEED,
        "widths_px": list(WALL_WIDTHS_PX),
        "noise_sigmas": list(WALL_NOISE_SIGMAS),
        "noise_modes": list(WALL_NOISE_MODES),
        "walls_per_setting": WALLS_PER_SETTING,
        "per_noise_mode_and_width": per_mode,
        "not_refused_as_not_in_frame": passed,
    }


def worker(data_dir: Path) -> dict[str, Any]:
    core = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {core})  # before OpenCV is imported, so all its threads stay on this core
    import cv2

    from firmware_app.vision import quality

    started = time.perf_counter()
    sources = {name: _source(name, data_dir) for name in SOURCES}
    walls = _walls()
    return {
        "data_dir": str(data_dir),
        "pinned_to_one_core": True,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "thresholds": {
            "min_sharpness": quality.MIN_SHARPNESS,
            "min_edge_density": quality.MIN_EDGE_DENSITY,
            "min_brightness": quality.MIN_BRIGHTNESS,
            "min_highlight": quality.MIN_HIGHLIGHT,
            "max_brightness": quality.MAX_BRIGHTNESS,
        },
        "derivations": {d: description for d, (description, _) in DERIVATIONS.items()},
        "sources": sources,
        "walls": walls,
        "worker_s": round(time.perf_counter() - started, 1),
    }


# --- the harness side --------------------------------------------------------------------------------------


def run(data_dir: Path = DEFAULT_DATA) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_worker("bench_photo_quality", ["--data-dir", str(data_dir)])
    return {"command": harness_command(), "runtime_s": round(time.perf_counter() - started, 1), **result}


def _fmt(value: float, measure: str) -> str:
    return f"{100 * value:.2f}%" if measure == "edge_density" else f"{value:.3f}" if value < 2 else f"{value:.1f}"


def report_section(r: dict[str, Any]) -> list[str]:
    t = r["thresholds"]
    lines = [
        "## Photo quality gate",
        "",
        f"`{r.get('command', 'python -m bench.bench_photo_quality')}` ({r.get('runtime_s', '?')} s): `check_quality`"
        f" on the shared real photos in {r['data_dir']} and on copies derived from them with OpenCV, one process"
        f" pinned to one core. Thresholds: sharpness >= {t['min_sharpness']}, edge density >="
        f" {100 * t['min_edge_density']:.1f}%, mean grey {t['min_brightness']:.0f}-{t['max_brightness']:.0f},"
        f" 99th percentile >= {t['min_highlight']:.0f}.",
    ]
    measured = [s for s in r["sources"].values() if "skipped" not in s]
    skipped = [f"- {s['title']}: skipped ({s['skipped']})." for s in r["sources"].values() if "skipped" in s]
    lines += ["", *skipped] if skipped else []
    if measured:
        lines += [
            "",
            "| source | copy | n | accepted | too dark | too bright | not in frame | blurred | as expected | ms p50 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for s in measured:
        for derivation, d in s["derivations"].items():
            refused = d["refused"]
            lines.append(
                f"| {s['title']} ({s['photos']:,}) | {r['derivations'][derivation]} | {d['n']:,} | {d['accepted']:,} |"
                f" {refused['too_dark']:,} | {refused['too_bright']:,} | {refused['not_in_frame']:,} |"
                f" {refused['blurred']:,} | {d['as_expected']:,} ({d['expected'].replace('_', ' ')}) |"
                f" {d['check_ms_p50']} |"
            )
    if measured:
        lines += [
            "",
            "Measures of the good photos (originals) and of the blurred copies (highlight: the 99th percentile grey"
            " level):",
            "",
            "| source | copy | measure | min | p1 | p5 | p50 | p95 | max |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    for s in measured:
        for derivation in ("original", "blur_1.5pct", "blur_1pct"):
            measures = s["derivations"][derivation]["measures"]
            shown = MEASURES if derivation == "original" else ("sharpness",)
            for measure in shown:
                m = measures[measure]
                cells = " | ".join(_fmt(m[k], measure) for k in ("min", "p1", "p5", "p50", "p95", "max"))
                lines.append(f"| {s['title']} | {derivation} | {measure} | {cells} |")
    refused = [(s["title"], g) for s in measured for g in s["refused_good_photos"]]
    if refused:
        lines += ["", f"Good photos refused ({len(refused)}):", ""]
        lines += [
            f"- {title} `{g['path']}`: {g['reason']} (mean grey {g['brightness']}, {100 * g['white_share']:.0f}%"
            " above the white clip level)"
            for title, g in refused
        ]
    w = r["walls"]
    lines += [
        "",
        f"Blank walls (4:3, seed {w['seed']}): {w['walls_per_setting']} walls per noise mode, width and noise"
        f" sigma ({', '.join(map(str, w['noise_sigmas']))} grey levels), flat colour + light gradient + vignetting;"
        " noise drawn per channel, or the same on all three channels (grey: the whole sigma survives the grey"
        " conversion).",
        "",
        "| noise | width px | n | refused as not in frame | other reason | accepted | edge density max"
        " | max per noise sigma | ms p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, widths in w["per_noise_mode_and_width"].items():
        for width, d in widths.items():
            other = sum(d["refused"].values()) - d["refused"]["not_in_frame"]
            per_sigma = ", ".join(f"{s}: {100 * v:.2f}%" for s, v in d["edge_density_max_per_noise_sigma"].items())
            lines.append(
                f"| {mode.replace('_', ' ')} | {width} | {d['n']} | {d['refused']['not_in_frame']} | {other} |"
                f" {d['accepted']} | {100 * d['measures']['edge_density']['max']:.2f}% | {per_sigma} |"
                f" {d['check_ms_p50']} |"
            )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--worker", action="store_true", help="run the measurements here and print their JSON")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data_dir)))
    else:
        print(json.dumps(run(args.data_dir), indent=1))


if __name__ == "__main__":
    main()
