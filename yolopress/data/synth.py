"""The embedded demo dataset: generated, deterministic by seed, nothing downloaded.

Classes come in look-alike pairs (E/F, P/R, circle/hexagon, square/diamond) so that a teacher's
soft scores carry information a one-hot label does not. Objects have many sizes, including small
ones, overlap each other, and sit among unlabeled distractors (other glyphs, lines, arcs). The
``test`` split is drawn under a shift: other backgrounds, another palette, a wider size range and
more noise, like a user's test set of "new" images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from yolopress.io import atomic_dir

CLASS_NAMES: tuple[str, ...] = ("E", "F", "P", "R", "circle", "hexagon", "square", "diamond")
# The student's pretraining set (the demo's stand-in for COCO, see `pretrain`): other classes, none of them a demo
# class or distractor, in a broad domain, so the demo student starts from generic features, as users start from
# yolo11n.pt, and still has the demo task to learn.
PRETRAIN_CLASS_NAMES: tuple[str, ...] = ("A", "H", "X", "Z", "2", "7", "triangle", "cross")
_GLYPHS = {"E": "E", "F": "F", "P": "P", "R": "R"}
_DISTRACTOR_GLYPHS = "B3K8LT"  # unlabeled: the model must learn to ignore them
GENERATOR_VERSION = 1  # bump when the drawing changes, so cached stages are invalidated


@dataclass(frozen=True)
class Domain:
    """How one split looks: what shifts between train/val and test."""

    hue_range: tuple[int, int]  # OpenCV hue, 0..179, of object colours
    saturation: tuple[int, int]
    texture_prob: float  # share of images on a striped/checked texture instead of a smooth gradient
    size_range: tuple[float, float]  # object side as a fraction of the image side
    objects: tuple[int, int]  # objects per image, inclusive
    noise_sigma: tuple[float, float]


TRAIN_DOMAIN = Domain((0, 179), (110, 255), 0.15, (0.10, 0.42), (1, 5), (2.0, 6.0))
TEST_DOMAIN = Domain((0, 179), (60, 200), 0.6, (0.08, 0.46), (1, 6), (3.0, 8.0))
PRETRAIN_DOMAIN = Domain((0, 179), (60, 255), 0.4, (0.06, 0.5), (1, 6), (2.0, 8.0))


@dataclass(frozen=True)
class SynthSpec:
    """Size of the generated dataset."""

    n_train: int = 600
    n_val: int = 100
    n_test: int = 200
    imgsz: int = 128
    seed: int = 0


def _hsv_color(rng: np.random.Generator, domain: Domain) -> np.ndarray:
    h = rng.integers(domain.hue_range[0], domain.hue_range[1] + 1)
    s = rng.integers(domain.saturation[0], domain.saturation[1] + 1)
    v = rng.integers(90, 256)
    hsv = np.array([[[h, s, v]]], dtype=np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, size: int, domain: Domain) -> np.ndarray:
    if rng.random() >= domain.texture_prob:
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        angle = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        t = np.cos(angle) * xx + np.sin(angle) * yy
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]
        blobs = cv2.resize(rng.uniform(-40, 40, (4, 4, 3)).astype(np.float32), (size, size))
        return img + blobs
    # texture: stripes or a checkerboard in two muted colours, plus fine noise
    a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    period = rng.integers(6, 24)
    yy, xx = np.mgrid[0:size, 0:size]
    if rng.random() < 0.5:
        angle = rng.uniform(0, math.pi)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) // period
        pattern = (phase % 2).astype(np.float32)
    else:
        pattern = ((xx // period + yy // period) % 2).astype(np.float32)
    pattern = cv2.GaussianBlur(pattern, (0, 0), 1.0)
    return a[None, None] * (1 - pattern[..., None]) + b[None, None] * pattern[..., None]


def _object_mask(name: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """A float mask (side x side) of one object, drawn large and shrunk so edges are smooth."""
    big = 96
    canvas = np.zeros((big, big), np.uint8)
    c = big // 2
    if name in _GLYPHS or len(name) == 1:
        font = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX)[int(rng.integers(0, 2))]
        thickness = int(rng.integers(9, 15))
        (tw, th), _ = cv2.getTextSize(name, font, 1.0, thickness)
        scale = 0.8 * big / max(tw, th)
        (tw, th), _ = cv2.getTextSize(name, font, scale, thickness)
        cv2.putText(canvas, name, (c - tw // 2, c + th // 2), font, scale, 255, thickness, cv2.LINE_AA)
    elif name == "circle":
        cv2.circle(canvas, (c, c), int(big * 0.42), 255, -1, cv2.LINE_AA)
    elif name == "cross":
        arm = big // 7
        cv2.rectangle(canvas, (c - arm, 6), (c + arm, big - 6), 255, -1, cv2.LINE_AA)
        cv2.rectangle(canvas, (6, c - arm), (big - 6, c + arm), 255, -1, cv2.LINE_AA)
    elif name in ("hexagon", "square", "diamond", "triangle"):
        sides, offset = {
            "hexagon": (6, 0.0),
            "square": (4, math.pi / 4),
            "diamond": (4, 0.0),
            "triangle": (3, -math.pi / 2),
        }[name]
        r = big * (0.58 if name == "square" else 0.44)
        pts = [
            (c + r * math.cos(offset + 2 * math.pi * k / sides), c + r * math.sin(offset + 2 * math.pi * k / sides))
            for k in range(sides)
        ]
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown synthetic class {name!r}")
    angle = rng.uniform(-12, 12)  # small: a square turned 45 degrees would be a diamond
    rot = cv2.getRotationMatrix2D((c, c), angle, 1.0)
    canvas = cv2.warpAffine(canvas, rot, (big, big))
    aspect = rng.uniform(0.8, 1.25)
    w, h = max(2, round(side * min(1.0, aspect))), max(2, round(side * min(1.0, 1 / aspect)))
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _paste(img: np.ndarray, mask: np.ndarray, x: int, y: int, color: np.ndarray, rng) -> None:
    h, w = mask.shape
    shade = 1.0 + rng.uniform(-0.15, 0.15, (1, 1, 1))
    region = img[y : y + h, x : x + w]
    m = mask[..., None]
    region[:] = region * (1 - m) + (color[None, None] * shade) * m


def _overlap(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> float:
    """Largest share of either box covered by the other (0 = no overlap)."""
    x1, y1, x2, y2 = box
    worst = 0.0
    for a1, b1, a2, b2 in others:
        iw, ih = min(x2, a2) - max(x1, a1), min(y2, b2) - max(y1, b1)
        if iw > 0 and ih > 0:
            inter = iw * ih
            smaller = min((x2 - x1) * (y2 - y1), (a2 - a1) * (b2 - b1))
            worst = max(worst, inter / smaller)
    return worst


def _contrasting_color(rng, domain: Domain, under: np.ndarray) -> np.ndarray:
    """An object colour that stands out from the background it is pasted on."""
    ref = under.reshape(-1, 3).mean(0)
    best, best_d = None, -1.0
    for _ in range(12):
        col = _hsv_color(rng, domain)
        d = float(np.abs(col - ref).sum())
        if d > 150:
            return col
        if d > best_d:
            best, best_d = col, d
    return best


def _draw_clutter(img: np.ndarray, rng: np.random.Generator, domain: Domain, n: int) -> None:
    size = img.shape[0]
    for _ in range(n):
        col = tuple(float(v) for v in _hsv_color(rng, domain))
        kind = rng.integers(0, 3)
        if kind == 0:
            p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(
                img, tuple(int(v) for v in p1), tuple(int(v) for v in p2), col, int(rng.integers(1, 3)), cv2.LINE_AA
            )
        elif kind == 1:
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            axes = tuple(int(v) for v in rng.integers(4, size // 4, 2))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(img, centre, axes, 0, start, start + rng.uniform(60, 200), col, 2, cv2.LINE_AA)
        else:
            side = int(size * rng.uniform(domain.size_range[0], domain.size_range[1] * 0.8))
            glyph = _DISTRACTOR_GLYPHS[int(rng.integers(0, len(_DISTRACTOR_GLYPHS)))]
            mask = _object_mask(glyph, side, rng)
            h, w = mask.shape
            x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
            _paste(img, mask, x, y, np.array(col, np.float32), rng)


def render_image(
    rng: np.random.Generator, size: int, domain: Domain, names: tuple[str, ...] = CLASS_NAMES
) -> tuple[np.ndarray, list[tuple]]:
    """One image and its labels as (class_id, xc, yc, w, h), normalised to [0, 1]."""
    img = _background(rng, size, domain)
    _draw_clutter(img, rng, domain, int(rng.integers(1, 4)))
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[tuple] = []
    lo, hi = domain.size_range
    for _ in range(int(rng.integers(domain.objects[0], domain.objects[1] + 1))):
        cls = int(rng.integers(0, len(names)))
        # log-uniform sizes: as many small objects as large ones
        side = int(round(size * math.exp(rng.uniform(math.log(lo), math.log(hi)))))
        mask = _object_mask(names[cls], max(side, 6), rng)
        h, w = mask.shape
        for _attempt in range(20):
            x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
            ys, xs = np.nonzero(mask > 0.5)
            if len(xs) == 0:
                break
            box = (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)
            if _overlap(box, boxes) <= 0.3:  # partial occlusion, never hidden
                color = _contrasting_color(rng, domain, img[y : y + h, x : x + w])
                _paste(img, mask, x, y, color, rng)
                boxes.append(box)
                bx1, by1, bx2, by2 = box
                labels.append(
                    (cls, (bx1 + bx2) / 2 / size, (by1 + by2) / 2 / size, (bx2 - bx1) / size, (by2 - by1) / size)
                )
                break
    if rng.random() < 0.5:  # thin lines across objects: occlusion by clutter
        for _ in range(int(rng.integers(1, 3))):
            p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
            col = tuple(float(v) for v in _hsv_color(rng, domain))
            cv2.line(img, tuple(int(v) for v in p1), tuple(int(v) for v in p2), col, 1, cv2.LINE_AA)
    img += rng.normal(0, rng.uniform(*domain.noise_sigma), img.shape)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.0))
    return np.clip(img, 0, 255).astype(np.uint8), labels


def _write_split(
    root: Path, split: str, n: int, spec: SynthSpec, domain: Domain, split_id: int, progress, names=CLASS_NAMES
) -> None:
    img_dir, lbl_dir = root / "images" / split, root / "labels" / split
    img_dir.mkdir(parents=True)
    lbl_dir.mkdir(parents=True)
    for i in range(n):
        rng = np.random.default_rng([spec.seed, split_id, i])  # each image stands alone: stable if n changes
        img, labels = render_image(rng, spec.imgsz, domain, names)
        cv2.imwrite(str(img_dir / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, x, y, w, h in labels]
        (lbl_dir / f"{i:05d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        progress(1)


def generate(out: Path, spec: SynthSpec = SynthSpec(), overwrite: bool = False, progress=None) -> Path:
    """Write the demo dataset to ``out`` (atomically) and return the path of its data YAML."""
    splits = (
        ("train", spec.n_train, TRAIN_DOMAIN, 0),
        ("val", spec.n_val, TRAIN_DOMAIN, 1),
        ("test", spec.n_test, TEST_DOMAIN, 2),
    )
    return generate_dataset(out, spec, splits, CLASS_NAMES, overwrite, progress)


def generate_pretrain(out: Path, spec: SynthSpec, overwrite: bool = False, progress=None) -> Path:
    """Write the student's pretraining set (:data:`PRETRAIN_CLASS_NAMES`, one broad domain, train and val only)
    to ``out``. Its random streams (split ids 10, 11) are not the demo's, so no demo image can appear in it."""
    splits = (("train", spec.n_train, PRETRAIN_DOMAIN, 10), ("val", spec.n_val, PRETRAIN_DOMAIN, 11))
    return generate_dataset(out, spec, splits, PRETRAIN_CLASS_NAMES, overwrite, progress)


def generate_unlabeled(
    out: Path, spec: SynthSpec, n: int, progress=None, domain: Domain = TEST_DOMAIN, names: tuple = CLASS_NAMES
) -> Path:
    """Write ``n`` images of the test split's domain, without labels, to ``out`` (atomically): the demo's pool of
    "images from where the model will run". Their random stream (split id 3) is not the test split's (2), so no
    test image, and no test label, is in the pool. ``domain`` and ``names``: another dataset's test domain."""
    tick = progress or (lambda k: None)
    with atomic_dir(Path(out)) as tmp:
        for i in range(n):
            img, _ = render_image(np.random.default_rng([spec.seed, 3, i]), spec.imgsz, domain, names)
            cv2.imwrite(str(tmp / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            tick(1)
    return Path(out)


def generate_dataset(out: Path, spec: SynthSpec, splits, names, overwrite: bool = False, progress=None) -> Path:
    """Write a dataset of ``splits`` ((name, n, domain, split id), each split id a random stream of its own) with
    classes ``names`` to ``out`` (atomically) and return the path of its data YAML."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
    tick = progress or (lambda n: None)
    with atomic_dir(out) as tmp:
        for split, n, domain, split_id in splits:
            _write_split(tmp, split, n, spec, domain, split_id, tick, names)
        data = {split: f"images/{split}" for split, *_ in splits}
        data["names"] = dict(enumerate(names))
        data["yolopress_synth"] = {"seed": spec.seed, "imgsz": spec.imgsz, "version": GENERATOR_VERSION}
        (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return out / "data.yaml"
