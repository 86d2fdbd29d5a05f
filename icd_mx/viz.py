"""Preview images: score maps over the image, like the release's training monitor."""
import cv2
import numpy as np


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


def grid(rows, pad=2):
    """Stack a list of rows (lists of equally sized RGB tiles) into one image."""
    lines = []
    for row in rows:
        tiles = []
        for tile in row:
            tiles += [tile, np.full((tile.shape[0], pad, 3), 255, np.uint8)]
        lines += [np.concatenate(tiles[:-1], axis=1)]
    width = max(line.shape[1] for line in lines)
    out = []
    for line in lines:
        line = np.pad(line, ((0, pad), (0, width - line.shape[1]), (0, 0)), constant_values=255)
        out.append(line)
    return np.concatenate(out, axis=0)[:-pad]


def score_preview(rgb, maps, names):
    """One row per class: the image, then each named score map of that class.

    Parameters
    ----------
    rgb : (H, W, 3) uint8
    maps : dict name -> (n_classes, h, w) array, e.g. {"cam": ..., "icd_bu": ..., "icd_td": ...}
    names : list of str, class names of the rows.
    """
    rows = []
    for i, _ in enumerate(names):
        row = [rgb]
        for key, m in maps.items():
            row.append(overlay(rgb, m[i], signed=key != "cam"))
        rows.append(row)
    return grid(rows)
