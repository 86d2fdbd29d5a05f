"""The generated mini-VOC: a small, fair test of weak supervision in the exact VOC layout.

Layout written under ``root`` (the same readers as for VOC2012 load it)::

    JPEGImages/<id>.jpg             RGB JPEG, non-square, sides in [min_side, max_side]
    Annotations/<id>.xml            VOC XML: size, objects (VOC class names, difficult, truncated, bndbox)
    SegmentationClass/<id>.png      palette PNG (ids of the ``train`` and ``val`` lists, as in VOC)
    SegmentationClassAug/<id>.png   gray PNG, every id
    Saliency/<id>.png               gray PNG, a saliency-detector stand-in (optional)
    ImageSets/Segmentation/{train,val,train_aug[,test]}.txt

Design (why a classifier trained on it behaves like a CAM on VOC):

- **Backgrounds are cluttered and textured**: a colour gradient, low-frequency colour
  clouds, soft blobs and soft patches of fine grain, plus camera blur and pixel noise.
  Nothing is flat, and nothing has the sharp outline and high-contrast periodic pattern
  of an object part (an earlier version drew striped rectangles that no method, human
  or network, could tell from object bodies).
- **Colour does not find objects**: backgrounds and bodies draw every colour from the
  same uniform RGB distribution; a head's two colours are a bright and a dark shade of
  its class hue (jittered), which the backgrounds also produce, so colour thresholding
  finds neither objects nor their extent. Heads thus carry the cues a CAM latches on to
  (colour pair, shape, pattern), as discriminative parts do on VOC.
- **Each object = a large body + a small head.** The head (radius about 1/5 of the object
  length, about a sixth of its area) has a class-specific shape (circle, square,
  triangle, star, hexagon) and pattern (rings, checker, spokes, dots); the (shape,
  pattern) pair is unique per class. The body outline (ellipse, box, trapezoid) is shared
  by the classes ``2m`` and ``2m+1``; its texture (bands, blotches, waves, zigzag) and
  colours are drawn per object. The head is the only part that names the class: a CAM
  classifier fires on heads (the most discriminative part), and recovering whole objects
  from image labels needs more than a CAM, which is the situation ICD addresses. Patterns
  are coarse (periods of 6 px and more) so they survive the 0.5 training scale.
- **Varied layout**: object length 60-95 % of the short side, width 45-70 % of the
  length, random orientation and position (objects often touch or cross the border,
  heads included: ``truncated`` 1), 1-2 instances; about a third of the images hold 2-3
  classes; overlap between objects is bounded so a labelled object stays visible.
- **VOC's ignore label**: a band of about 2 px around every object outline is 255, and a
  few small extra objects are ``difficult`` (label 255 in the masks, ``difficult`` 1 in the
  XML, so they only count for the image label when nothing else is present).
- **Extras VOC lacks**: ``Saliency/<id>.png`` from a saliency-detector stand-in (soft,
  noisy object maps, for the "I.+S." rows) and an optional ``test`` split with ground
  truth, so test predictions can be scored locally.
- **A pre-training set** (:func:`render_part_canvas`): canvases of clutter, bodies and
  heads with image-level multi-hot labels, the stand-in for ImageNet where no pretrained
  weights exist.

Generation is deterministic from ``seed`` (one RandomState per image from
``SeedSequence(seed, spawn_key=(index,))``); a few hundred images take a few seconds.
"""
import os
import time

import cv2
import numpy as np

from ..io import atomic_path, save_json, save_text
from .voc import CLASSES, IGNORE, write_color_mask, write_mask

HEAD_SHAPES = ("circle", "square", "triangle", "star", "hexagon")
HEAD_PATTERNS = ("rings", "checker", "spokes", "dots")
BODY_SHAPES = ("ellipse", "box", "trapezoid")
BODY_TEXTURES = ("bands", "blotches", "waves", "zigzag")
# Bumped whenever the renderers draw differently for the same seed, so that a dataset or a
# cached pre-training pool from an older version is not mistaken for the current one.
# 2: heads in a bright and a dark shade of a golden-angle class hue.
# 3: objects 60-95 % of the short side (were 45-85 %).
GENERATOR_VERSION = 3
INFO_FILE = "minivoc.json"
HEAD_RADIUS = (0.18, 0.22)   # head radius / object length: the head is about 1/6 of the object
# Object length / short image side. The demo's network keeps VGG16's receptive field (conv5_3:
# 211 px) on images of 120-200 px where VOC's are ~500 px, so every conv5 feature sees most of
# the image; with objects this large the object, not the clutter around it, is the largest
# variance of a class's features, which is what L_bu finds (docs/demo-notes.md, "L2").
OBJECT_SCALE = (0.6, 0.95)


def class_design(k):
    """The parts of class ``k``: ``(head shape, head pattern, body outline)``.

    Heads are unique per class (shape k mod 5, pattern (k mod 5 + k div 5) mod 4); the
    body outline depends on k div 2 only, so two consecutive classes share it. Body
    textures are not part of a class: each object draws one from ``BODY_TEXTURES``.
    """
    return HEAD_SHAPES[k % 5], HEAD_PATTERNS[(k % 5 + k // 5) % 4], BODY_SHAPES[(k // 2) % 3]


def _colour(rng):
    return rng.uniform(0, 255, 3)


def head_colours(k, rng, jitter=10.0):
    """The two colours of a class-``k`` head: a bright and a dark shade of the class hue,
    jittered per object.

    Hues are spaced by the golden angle (k * 0.618 of the circle), so the first classes'
    heads differ most (the demo's 6 classes are at least 0.09 of the circle apart); an
    earlier random colour pair per class gave some classes dull, low-contrast heads that
    pre-training could not tell apart. Backgrounds and bodies still take any colour, so
    colour alone separates neither objects from background nor whole objects.
    """
    hue = (k * 0.6180339887) % 1.0
    bright = _hsv_rgb(hue, 0.85, 240.0)
    dark = _hsv_rgb(hue, 0.9, 70.0)
    return tuple(np.clip(c + rng.uniform(-jitter, jitter, 3), 0, 255) for c in (bright, dark))


def _hsv_rgb(hue, sat, value):
    """An RGB float triple (0..255) from hue in [0, 1), saturation in [0, 1] and value."""
    rgb = np.clip(np.abs((hue * 6.0 + np.array([0.0, 4.0, 2.0])) % 6.0 - 3.0) - 1.0, 0.0, 1.0)
    return value * (1.0 - sat + sat * rgb)


def _polygon(shape, n_circle=28):
    """Unit outline of a shape, ``(n, 2)`` in local (u, v) coordinates."""
    if shape in ("circle", "ellipse"):
        t = np.linspace(0, 2 * np.pi, n_circle, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape in ("square", "box"):
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * (0.85 if shape == "square" else 1.0)
    if shape == "triangle":
        t = np.array([0, 2, 4]) * np.pi / 3
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape == "star":
        t = np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.stack([r * np.cos(t), r * np.sin(t)], 1)
    if shape == "hexagon":
        t = np.arange(6) * np.pi / 3
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape == "trapezoid":
        return np.array([[-1, -0.55], [1, -1], [1, 1], [-1, 0.55]], float)
    raise ValueError(shape)


def _fill(hw, pts):
    mask = np.zeros(hw, np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _texture(name, u, v, rng):
    """A 0..1 pattern over local coordinates ``u, v`` (pixels)."""
    # Head patterns are coarse (periods >= 6 px) so they survive the 0.5 training scale.
    if name == "rings":
        return (np.sin(np.hypot(u, v) * 2 * np.pi / rng.uniform(7, 9)) > 0).astype(float)
    if name == "checker":
        p = rng.uniform(5, 6.5)
        return ((np.floor(u / p) + np.floor(v / p)) % 2).astype(float)
    if name == "spokes":
        return (np.sin(np.arctan2(v, u) * 5) > 0).astype(float)
    if name == "dots":
        p = rng.uniform(8, 10)
        return (np.hypot(u % p - p / 2, v % p - p / 2) < p * 0.3).astype(float)
    if name == "bands":
        return (np.sin(u * 2 * np.pi / rng.uniform(9, 14)) > 0).astype(float)
    if name == "waves":
        return 0.5 + 0.5 * np.sin((v + 3 * np.sin(u / 4)) * 2 * np.pi / rng.uniform(7, 10))
    shape = u.shape
    if name == "blotches":
        noise = cv2.GaussianBlur(rng.rand(*shape).astype(np.float32), (0, 0), 4)
        return (noise > np.median(noise)).astype(float)
    if name == "zigzag":
        return (np.sin((u + 6 * np.abs((v / 8.0) % 2 - 1)) * 2 * np.pi / rng.uniform(10, 13)) > 0).astype(float)
    raise ValueError(name)


def _paint(img, region, pattern, c1, c2):
    t = pattern[region][:, None]
    img[region] = c1 * (1 - t) + c2 * t


def _local(hw, cx, cy, theta):
    yy, xx = np.mgrid[0:hw[0], 0:hw[1]].astype(float)
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(theta), np.sin(theta)
    return dx * c + dy * s, -dx * s + dy * c


def _background(hw, rng):
    """Cluttered, textured background: a colour gradient, low-frequency colour clouds,
    soft blobs and soft patches of fine grain, all in colours from the objects' range.

    Nothing in it has the sharp outline and high-contrast periodic pattern of an object
    part (an earlier version drew striped rectangles that were indistinguishable from
    object bodies, so no method could tell objects from clutter)."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    g = (xx * np.cos(a := rng.uniform(0, 2 * np.pi)) + yy * np.sin(a)) / max(h, w)
    img = _colour(rng) * (1 - g[..., None]) * 0.5 + _colour(rng) * (0.5 + 0.5 * g[..., None])
    for _ in range(rng.randint(2, 5)):
        u, v = _local(hw, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, np.pi))
        kind = rng.choice(3, p=[0.4, 0.4, 0.2])
        if kind == 0:      # a cloud: blurred noise blending two colours, soft everywhere
            noise = cv2.GaussianBlur(rng.rand(h, w).astype(np.float32), (0, 0), rng.uniform(5, 10))
            t = np.clip((noise - noise.mean()) / (noise.std() + 1e-6) * 0.35 + 0.5, 0, 1)
            region = np.exp(-((u / rng.uniform(20, 0.7 * w)) ** 2 + (v / rng.uniform(15, 0.5 * h)) ** 2))
            t = (t * region)[..., None]
            img = img * (1 - t) + _colour(rng) * t
        elif kind == 1:    # a blurred blob
            blob = np.zeros(hw, np.float32)
            blob[(u / rng.uniform(8, 40)) ** 2 + (v / rng.uniform(8, 40)) ** 2 < 1] = 1
            blob = cv2.GaussianBlur(blob, (0, 0), 3)[..., None]
            img = img * (1 - blob) + _colour(rng) * blob
        else:              # a soft-edged patch of fine, low-contrast grain
            soft = np.zeros(hw, np.float32)
            soft[(u / rng.uniform(8, 24)) ** 2 + (v / rng.uniform(8, 24)) ** 2 < 1] = 1
            soft = cv2.GaussianBlur(soft, (0, 0), 2)[..., None]
            grain = cv2.GaussianBlur(rng.rand(h, w).astype(np.float32), (0, 0), 1.0)[..., None]
            base = _colour(rng)
            shade = base * (1 - 0.25 * (grain > np.median(grain)))
            img = img * (1 - soft) + shade * soft
    return img


def _object(hw, k, rng, scale, centre=None, theta=None):
    """Masks and painter of one object of class ``k``: ``(body | head, head, paint fn)``.

    The body outline is the class pair's, its texture and colours are drawn per object;
    the head is the class's (shape, pattern, colour pair). ``centre`` (x, y) and
    ``theta`` default to random.
    """
    head_shape, head_pat, body_shape = class_design(k)
    h, w = hw
    length = scale * min(h, w)
    width = length * rng.uniform(0.45, 0.7)
    cx, cy = centre if centre is not None else (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h)
    theta = rng.uniform(0, 2 * np.pi) if theta is None else theta
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, s], [-s, c]])

    def place(poly, du, sx, sy):
        return (poly * [sx, sy] + [du, 0]) @ rot + [cx, cy]

    body = _fill(hw, place(_polygon(body_shape), 0, length / 2, width / 2))
    r = length * rng.uniform(*HEAD_RADIUS)
    head_u = length / 2 + 0.5 * r
    head = _fill(hw, place(_polygon(head_shape), head_u, r, r))
    u, v = _local(hw, cx, cy, theta)
    body_pattern = _texture(BODY_TEXTURES[rng.randint(len(BODY_TEXTURES))], u, v, rng)
    head_pattern = _texture(head_pat, u - head_u, v, rng)
    colours = [_colour(rng), _colour(rng)] + list(head_colours(k, rng))

    def paint(img, visible):
        _paint(img, body & ~head & visible, body_pattern, colours[0], colours[1])
        _paint(img, head & visible, head_pattern, colours[2], colours[3])

    return body | head, head, paint


def _boundary(mask):
    kernel = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, kernel) > 0) & ~(cv2.erode(m, kernel) > 0)


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1


def render_image(rng, num_classes=20, min_side=120, max_side=200, multi_prob=0.35, difficult_prob=0.08):
    """One image: ``(rgb uint8 HxWx3, label mask uint8 HxW, objects)``.

    ``objects`` is a list of ``(class index, difficult, truncated, (xmin, ymin, xmax, ymax))``.
    """
    hw = (rng.randint(min_side, max_side + 1), rng.randint(min_side, max_side + 1))
    img = _background(hw, rng)
    if rng.rand() < multi_prob and num_classes > 1:
        classes = list(rng.choice(num_classes, 2 + (rng.rand() < 0.25 and num_classes > 2), replace=False))
    else:
        classes = [rng.randint(num_classes)] * (1 + (rng.rand() < 0.3))
    plan = [(int(k), False, rng.uniform(*OBJECT_SCALE)) for k in classes]
    if rng.rand() < difficult_prob:
        plan.append((rng.randint(num_classes), True, rng.uniform(0.15, 0.22)))
    mask = np.zeros(hw, np.uint8)
    union = np.zeros(hw, bool)
    objects, shapes = [], []
    for k, difficult, scale in plan:
        for _ in range(10):   # bound the overlap so every labelled object stays visible
            shape, _, paint = _object(hw, k, rng, scale)
            if shape.any() and (shape & union).sum() < 0.25 * shape.sum():
                break
        else:
            continue
        paint(img, shape)
        mask[shape] = IGNORE if difficult else k + 1
        union |= shape
        shapes.append(shape)
        truncated = bool(shape[0].any() or shape[-1].any() or shape[:, 0].any() or shape[:, -1].any())
        objects.append((k, difficult, truncated, _bbox(shape)))
    for shape in shapes:
        mask[_boundary(shape)] = IGNORE   # VOC's ~2 px void band around each outline
    return _finish(img, rng), mask, objects


def _finish(img, rng):
    """Camera blur and pixel noise, then uint8."""
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.6) + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def part_names(num_classes=20):
    """The labels of the pre-training canvases (multi-label): object body, one head per class."""
    return ["body"] + [f"head_{CLASSES[k]}" for k in range(num_classes)]


def render_part_canvas(rng, size=96, num_classes=20, max_items=3, min_pixels=24):
    """One canvas of the generated pre-training set, the mini-VOC's stand-in for ImageNet.

    Drawn by the same renderers as the mini-VOC images (its own random stream): clutter
    and 0..``max_items`` objects of any class, some reduced to their body (the head cut
    off, as at image borders). Labels are multi-hot, image level only (no pixel labels):
    "body" (any class's outline, any texture and colours) and "head of class k", each
    present when at least ``min_pixels`` of it stay visible. As ImageNet does for VOC,
    this teaches local detectors of object parts against clutter; which head goes with
    which VOC label, and where whole objects lie, is left to the weakly-supervised stage.

    Returns
    -------
    (rgb uint8 ``(size, size, 3)``, labels float32 ``(1 + num_classes,)``)
    """
    hw = (size, size)
    img = _background(hw, rng)
    parts = np.zeros(hw, np.int32)  # 0 clutter, 1 body, 2 + k head of class k (what is visible)
    for _ in range(rng.randint(0, max_items + 1)):
        k = rng.randint(num_classes)
        shape, head, paint = _object(hw, k, rng, rng.uniform(0.5, 0.9))
        if rng.rand() < 0.4:
            shape = shape & ~head
        paint(img, shape)
        parts[shape] = 1
        parts[shape & head] = 2 + k
    labels = np.zeros(1 + num_classes, np.float32)
    counts = np.bincount(parts.ravel(), minlength=2 + num_classes)[1:]
    labels[counts >= min_pixels] = 1
    return _finish(img, rng), labels


def voc_xml(id_, hw, objects):
    """The ``Annotations`` XML text of one image."""
    objs = "".join(
        f"  <object>\n    <name>{CLASSES[k]}</name>\n    <pose>Unspecified</pose>\n"
        f"    <truncated>{int(t)}</truncated>\n    <difficult>{int(d)}</difficult>\n"
        f"    <bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox>\n"
        f"  </object>\n" for k, d, t, b in objects)
    return (f"<annotation>\n  <folder>VOC2012</folder>\n  <filename>{id_}.jpg</filename>\n"
            f"  <size><width>{hw[1]}</width><height>{hw[0]}</height><depth>3</depth></size>\n"
            f"  <segmented>1</segmented>\n{objs}</annotation>\n")


def saliency_map(mask, rng, blur=2.5, noise=8.0):
    """A saliency-detector stand-in: every object (difficult ones included) as a soft, noisy
    gray map, ``uint8`` 0..255 (the format of the saliency PNGs of the "I.+S." rows)."""
    fg = (mask > 0).astype(np.float32)
    sal = cv2.GaussianBlur(fg, (0, 0), blur) * 255.0 + rng.normal(0, noise, fg.shape) * (fg > 0)
    return np.clip(sal, 0, 255).astype(np.uint8)


def check_generator_version(root, remove=None):
    """Raise InputError unless ``root`` was written by this generator version (``minivoc.json``);
    the message tells the user to remove ``remove`` (default ``root``)."""
    import json

    from ..errors import InputError

    path = os.path.join(root, INFO_FILE)
    try:
        with open(path) as f:
            version = json.load(f).get("generator_version")
    except FileNotFoundError:
        version = 1  # written before the info file existed
    except (OSError, ValueError, AttributeError) as e:
        raise InputError(path, f"unreadable ({e})") from None
    if version != GENERATOR_VERSION:
        raise InputError(path, f"mini-VOC drawn by generator version {version}, this package draws version "
                               f"{GENERATOR_VERSION}: remove {remove or root} (or pick another output folder) "
                               "to regenerate")


def make_minivoc(root, n_train=240, n_val=60, seed=0, num_classes=20, min_side=120, max_side=200,
                 progress=False, n_test=0, saliency=True):
    """Write the generated mini-VOC under ``root`` (see the module docstring).

    Parameters
    ----------
    root : str
        Output dataset root (created).
    n_train, n_val, n_test : int
        Number of ``train_aug``, ``val`` and ``test`` images; ``train`` is the first half of
        ``train_aug``. Unlike VOC's, the generated test images have ground truth, so a test
        prediction can be scored locally (and still packed as a VOC submission).
    seed : int
        Everything is a function of it.
    num_classes : int
        Use the first ``num_classes`` VOC classes (1..20); XML names stay VOC names.
    min_side, max_side : int
        Range of the image height and width (drawn independently).
    progress : bool
        Show a tqdm bar.
    saliency : bool
        Also write ``Saliency/<id>.png`` (:func:`saliency_map`) for the saliency seeds.

    Returns
    -------
    dict
        ``images``, ``seconds``, ``class_images`` (per class name), ``multi_class``, ``difficult``.
    """
    if not 1 <= num_classes <= len(CLASSES):
        raise ValueError(f"num_classes must be in 1..{len(CLASSES)}")
    start = time.time()
    ids = [f"syn_{i:06d}" for i in range(n_train + n_val + n_test)]
    train_aug, val, test = ids[:n_train], ids[n_train:n_train + n_val], ids[n_train + n_val:]
    train = train_aug[: (n_train + 1) // 2]
    with_palette = set(train) | set(val)
    stats = {"class_images": dict.fromkeys(CLASSES[:num_classes], 0), "multi_class": 0, "difficult": 0}
    items = enumerate(ids)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(ids), desc="mini-VOC")
    for i, id_ in items:
        rng = np.random.RandomState(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(4))
        img, mask, objects = render_image(rng, num_classes, min_side, max_side)
        with atomic_path(os.path.join(root, "JPEGImages", id_ + ".jpg")) as tmp:
            cv2.imwrite(tmp, img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        save_text(os.path.join(root, "Annotations", id_ + ".xml"), voc_xml(id_, mask.shape, objects))
        write_mask(os.path.join(root, "SegmentationClassAug", id_ + ".png"), mask)
        if id_ in with_palette:
            write_color_mask(os.path.join(root, "SegmentationClass", id_ + ".png"), mask)
        if saliency:
            write_mask(os.path.join(root, "Saliency", id_ + ".png"), saliency_map(mask, rng))
        present = {k for k, d, _, _ in objects if not d}
        stats["multi_class"] += len(present) > 1
        stats["difficult"] += sum(d for _, d, _, _ in objects)
        for k in present:
            stats["class_images"][CLASSES[k]] += 1
    save_json(os.path.join(root, INFO_FILE), dict(generator_version=GENERATOR_VERSION, seed=seed,
                                                  num_classes=num_classes, min_side=min_side, max_side=max_side))
    for name, lst in (("train", train), ("val", val), ("train_aug", train_aug)) + ((("test", test),) if test else ()):
        save_text(os.path.join(root, "ImageSets", "Segmentation", name + ".txt"), "".join(x + "\n" for x in lst))
    stats.update(images=len(ids), seconds=round(time.time() - start, 2))
    return stats
