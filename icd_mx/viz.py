"""Pictures a person can read: labelled preview sheets and the training curve.

- :func:`seed_sheet`: image | ground truth | seed label maps, one row per image, with a
  header row naming the columns and a legend of the classes on the sheet;
- :func:`score_sheet`: the per-epoch previews of training, image then each score map
  (CAM, BU, BU+SP, TD) of one present class per row, with a header, the class of each row
  and a legend of the classes and of the two colour scales;
- :func:`curve_figure`: ``metrics.csv`` rows as one panel per loss on its own scale.

Label 255 ("undefined", docs/method.md "Data conventions") is drawn as a grey hatch
(:data:`UNDEFINED`, :data:`HATCH`), unlike the VOC palette's cream, which reads as a class.
"""
import cv2
import numpy as np

from .data.voc import CLASSES, IGNORE, palette

# Neutral greys that no VOC colour comes near (the palette's channels are 0/64/128/192
# and its only grey, car, is 128): the 255 hatch is a light grey with darker stripes.
UNDEFINED = (216, 216, 216)
HATCH = (176, 176, 176)
WHITE = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
SCALE = 0.45
PAD = 2
SCORE_NAMES = {"cam": "CAM", "icd_bu": "BU", "icd_bu_sp": "BU+SP", "icd_td": "TD"}


def heatmap(score, signed=False):
    """Colour a (h, w) score map: jet on [0, max] or, when ``signed``, blue-white-red on [-m, m]."""
    score = np.asarray(score, dtype=np.float32)
    if signed:
        m = max(float(np.abs(score).max()), 1e-5)
        t = np.clip(score / m, -1, 1)
        rgb = np.ones(score.shape + (3,), np.float32)
        rgb[..., 0] -= np.clip(-t, 0, 1)          # negative: blue
        rgb[..., 1] -= np.abs(t)
        rgb[..., 2] -= np.clip(t, 0, 1)           # positive: red
        return (rgb * 255).astype(np.uint8)
    m = max(float(score.max()), 1e-5)
    gray = (np.clip(score / m, 0, 1) * 255).astype(np.uint8)
    return cv2.applyColorMap(gray, cv2.COLORMAP_JET)[..., ::-1].copy()


def overlay(rgb, score, signed=False, alpha=0.5):
    """Blend a heat map of ``score`` (resized to the image) over an RGB uint8 image."""
    h, w = rgb.shape[:2]
    score = cv2.resize(np.asarray(score, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return (alpha * heatmap(score, signed) + (1 - alpha) * rgb).astype(np.uint8)


def colorize(mask):
    """A label mask (0 background, k+1 class k, 255 undefined) as RGB: the VOC palette,
    255 as a diagonal grey hatch."""
    mask = np.asarray(mask)
    rgb = palette()[mask]
    yy, xx = np.mgrid[:mask.shape[0], :mask.shape[1]]
    stripes = (xx + yy) % 6 < 2
    undefined = mask == IGNORE
    rgb[undefined] = UNDEFINED
    rgb[undefined & stripes] = HATCH
    return rgb


def class_name(label):
    """The name of a mask label: ``background``, a VOC class or ``undefined (255)``."""
    if label == IGNORE:
        return "undefined (255)"
    return "background" if label == 0 else CLASSES[label - 1]


def text_tile(text, width, height=18, color=(0, 0, 0), bg=WHITE):
    """``text`` centred on a ``height`` x ``width`` tile (widened to fit the text)."""
    (tw, th), _ = cv2.getTextSize(text, FONT, SCALE, 1)
    tile = np.full((height, max(width, tw + 6), 3), bg, np.uint8)
    org = ((tile.shape[1] - tw) // 2, (height + th) // 2)
    cv2.putText(tile, text, org, FONT, SCALE, color, 1, cv2.LINE_AA)
    return tile


def swatch(label, size=12):
    """A ``size`` square of a label's colour (255: the hatch), outlined in grey."""
    tile = colorize(np.full((size, size), label, np.uint8))
    cv2.rectangle(tile, (0, 0), (size - 1, size - 1), (96, 96, 96), 1)
    return tile


def _key(tile, text, height=18):
    """A legend entry: ``tile`` (any height up to ``height``) then ``text``."""
    label = text_tile(text, 0, height)
    top = (height - tile.shape[0]) // 2
    tile = np.pad(tile, ((top, height - tile.shape[0] - top), (0, 0), (0, 0)), constant_values=255)
    return np.concatenate([tile, label, np.full((height, 8, 3), 255, np.uint8)], axis=1)


def legend(entries, width):
    """Legend entries (``(tile, text)``) laid out left to right, wrapped at ``width``."""
    keys = [_key(tile, text) for tile, text in entries]
    lines, line = [], []
    for key in keys:
        if line and sum(k.shape[1] for k in line) + key.shape[1] > width:
            lines.append(line)
            line = []
        line.append(key)
    lines.append(line)
    out = [np.pad(np.concatenate(ln, axis=1), ((0, 0), (0, max(0, width - sum(k.shape[1] for k in ln))), (0, 0)),
                  constant_values=255) for ln in lines if ln]
    width = max(o.shape[1] for o in out)
    return np.concatenate([np.pad(o, ((0, 0), (0, width - o.shape[1]), (0, 0)), constant_values=255)
                           for o in out], axis=0)


def _cell(tile, h, w):
    return np.pad(tile, ((0, h - tile.shape[0]), (0, w - tile.shape[1]), (0, 0)), constant_values=255)


def table(rows, header, gaps=()):
    """Tiles in aligned columns under a header row of column names.

    ``rows`` is a list of lists of RGB uint8 tiles of any size; each column is as wide as
    its widest tile or name, each row as tall as its tallest tile. ``gaps`` lists the row
    indices after which a wider white gap separates groups (e.g. one image's rows)."""
    heads = [text_tile(name, 0) for name in header]
    widths = [max([heads[j].shape[1]] + [r[j].shape[1] for r in rows]) for j in range(len(header))]

    def line(tiles, h):
        cells = []
        for tile, w in zip(tiles, widths):
            cells += [_cell(tile, h, w), np.full((h, PAD, 3), 255, np.uint8)]
        return np.concatenate(cells[:-1], axis=1)

    out = [line([text_tile(name, w) for name, w in zip(header, widths)], heads[0].shape[0])]
    for i, row in enumerate(rows):
        h = max(t.shape[0] for t in row)
        out += [np.full((PAD, out[0].shape[1], 3), 255, np.uint8), line(row, h)]
        if i in gaps:
            out.append(np.full((3 * PAD, out[0].shape[1], 3), 255, np.uint8))
    return np.concatenate(out, axis=0)


def _sheet(body, entries, title=None):
    """``title`` above, the legend of ``entries`` below ``body``."""
    gap = np.full((6, body.shape[1], 3), 255, np.uint8)
    parts = ([text_tile(title, body.shape[1], 20)] if title else []) + [body, gap, legend(entries, body.shape[1])]
    width = max(p.shape[1] for p in parts)
    return np.concatenate([_cell(p, p.shape[0], width) for p in parts], axis=0)


def seed_sheet(rows, header, title=None):
    """Image | label maps, one row per image, with the column names and a class legend.

    Parameters
    ----------
    rows : list of (rgb (H, W, 3) uint8, [mask (H, W) uint8, ...])
        The image, then its ground truth and seed masks (0 background, k+1 class k, 255 undefined).
    header : list of str
        One name per column: the image's, then each mask's.
    """
    present = set()
    for _, masks in rows:
        for m in masks:
            present.update(int(v) for v in np.unique(m))
    body = table([[rgb] + [colorize(m) for m in masks] for rgb, masks in rows], header)
    return _sheet(body, [(swatch(v), class_name(v)) for v in sorted(present)], title)


def _scale_key(signed, width=40, height=10):
    ramp = np.tile(np.linspace(-1 if signed else 0, 1, width, dtype=np.float32), (height, 1))
    return heatmap(ramp, signed)


def score_sheet(items, title=None):
    """The per-epoch preview: for each image and present class, the image then each score map.

    Parameters
    ----------
    items : list of (rgb (H, W, 3) uint8, maps, classes)
        ``maps``: dict name -> (len(classes), h, w) score maps (``cam``, ``icd_bu``, ...;
        :data:`SCORE_NAMES` gives the column names); ``classes``: the 0-based VOC class of
        each map row. The CAM is drawn in jet on [0, max], the others blue (-), white (0),
        red (+) on [-max|s|, max|s|], each map on its own scale.
    """
    rows, gaps, present = [], [], set()
    keys = list(items[0][1]) if items else []
    for rgb, maps, classes in items:
        for i, c in enumerate(classes):
            tag = _key(swatch(int(c) + 1), CLASSES[int(c)], rgb.shape[0])
            rows.append([tag, rgb] + [overlay(rgb, maps[k][i], signed=k != "cam") for k in keys])
            present.add(int(c) + 1)
        gaps.append(len(rows) - 1)
    body = table(rows, ["class", "image"] + [SCORE_NAMES.get(k, k) for k in keys], gaps)
    entries = [(swatch(v), class_name(v)) for v in sorted(present)]
    if "cam" in keys:
        entries.append((_scale_key(False), "CAM: 0 .. max"))
    if any(k != "cam" for k in keys):
        entries.append((_scale_key(True), "BU / TD: - .. 0 .. +"))
    return _sheet(body, entries, title)


# The curve's panels: (columns, title); other numeric columns get a panel of their own.
# L_bu is negative and unbounded below by design (docs/method.md "Bottom-up"), so it and the
# total are drawn apart from L_cam and L_td, each on its own scale.
PANELS = [
    (["loss_cam"], "L_cam (classification)"),
    (["loss_bu"], "L_bu (bottom-up; negative by design)"),
    (["loss_td"], "L_td (top-down)"),
    (["loss"], "total loss"),
    (["lr"], "learning rate"),
    (["acc"], "image-label accuracy (logit > 0)"),
    (["bu_min", "bu_max"], "BU score range"),
    (["td_weight"], "w_td (TD warm-up)"),
]
NOT_PLOTTED = ("epoch", "iter", "img_s", "task_loss")


def curve_figure(rows, columns):
    """The training curve: one panel per loss and metric of ``rows`` against the iteration.

    ``rows`` are ``metrics.csv`` rows (dicts); ``columns`` their names in order. Returns the
    matplotlib Figure (Agg); dotted lines mark the epoch ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    total = "total: L_cam + L_bu + w_td L_td" if "loss_bu" in columns else "total loss"
    panels = [(cols, total if cols == ["loss"] else title) for cols, title in PANELS
              if any(c in columns for c in cols)]
    used = {c for cols, _ in panels for c in cols}
    panels += [([c], c) for c in columns if c not in used and c not in NOT_PLOTTED]
    ncols = 2 if len(panels) > 3 else 1
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 2.2 * nrows), sharex=True, squeeze=False)
    x = [r["iter"] for r in rows]
    ends = [r["iter"] for r, nxt in zip(rows, rows[1:]) if nxt.get("epoch") != r.get("epoch")]
    for ax, (cols, title) in zip(axes.flat, panels):
        for c in cols:
            ax.plot(x, [r.get(c, float("nan")) for r in rows], lw=1, marker="." if len(x) < 40 else None,
                    label=c if len(cols) > 1 else None)
        for e in ends:
            ax.axvline(e, color="0.6", ls=":", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(cols[0] if len(cols) == 1 else "score", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(cols) > 1:
            ax.legend(fontsize=7)
    for ax in axes.flat[len(panels):]:
        ax.remove()
    for j in range(ncols):  # the lowest panel of each column shows the iterations
        ax = [a for a in axes[:, j] if a in fig.axes][-1]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("iteration", fontsize=8)
    fig.suptitle("training curve (dotted: epoch ends)", fontsize=10)
    fig.tight_layout()
    return fig
