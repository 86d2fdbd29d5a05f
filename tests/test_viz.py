"""Labelled pictures (icd_mx/viz.py): preview sheets with a header row and a class legend,
label 255 as a grey hatch, and the training curve as one panel per loss."""
import numpy as np

from icd_mx.data.voc import palette
from icd_mx.viz import HATCH, UNDEFINED, colorize, curve_figure, score_sheet, seed_sheet

H, W = 40, 50
VOC = palette()[:21]  # background and the 20 classes
CREAM = tuple(palette()[255])


def colours(img):
    return {tuple(int(v) for v in c) for c in img.reshape(-1, 3)}


def test_undefined_is_a_grey_hatch_far_from_every_class_colour():
    mask = np.zeros((H, W), np.uint8)
    mask[10:30, 10:30] = 255
    mask[:5] = 1
    rgb = colorize(mask)
    assert colours(rgb[mask == 255]) == {UNDEFINED, HATCH}
    for grey in (UNDEFINED, HATCH):
        assert np.abs(VOC.astype(int) - grey).sum(axis=1).min() >= 96  # no class colour comes near
    assert (rgb[mask == 1] == VOC[1]).all() and (rgb[mask == 0] == VOC[0]).all()


def test_seed_sheet_has_a_header_row_and_a_class_legend():
    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 256, (H, W, 3)).astype(np.uint8)
    gt = np.zeros((H, W), np.uint8)
    gt[5:20, 5:20] = 3
    gt[20:22] = 255
    seed = np.full((H, W), 255, np.uint8)
    seed[:10] = 15
    header = ["image", "ground truth", "BU"]
    sheet = seed_sheet([(rgb, [gt, seed]), (rgb, [seed, gt])], header)
    body = 18 + 2 * (H + 2)  # the header row, then two rows of tiles after their gaps
    assert sheet.shape[0] >= body + 18  # and a legend below
    assert sheet.shape[1] >= 2 * (W + 2) + 80  # "ground truth" widens its column
    dark = sheet[:18].min(axis=2) < 100  # header text above the first and the last column
    assert dark[:, :W].any() and dark[:, -W:].any() and not (sheet[18:body].min(axis=2) == 255).all()
    found = colours(sheet[body:])  # the legend: one swatch per label on the sheet, 255 included
    for label in (0, 3, 15):
        assert tuple(VOC[label]) in found
    assert {UNDEFINED, HATCH} <= found
    assert tuple(VOC[1]) not in found  # only the classes on the sheet
    assert CREAM not in colours(sheet)  # the palette's 255 colour is never drawn


def test_score_sheet_rows_per_present_class_with_header_and_legend():
    rgb = np.full((H, W, 3), 90, np.uint8)
    ramp = np.linspace(-1, 1, 25, dtype=np.float32).reshape(5, 5)
    items = [(rgb, {"cam": np.stack([np.abs(ramp)] * 2), "icd_bu": np.stack([ramp] * 2),
                    "icd_bu_sp": np.stack([ramp] * 2), "icd_td": np.stack([ramp] * 2)}, [0, 14]),
             (rgb, {k: np.abs(ramp)[None] for k in ("cam", "icd_bu", "icd_bu_sp", "icd_td")}, [6])]
    sheet = score_sheet(items, title="epoch 0")
    assert sheet.shape[0] >= 20 + 18 + 3 * (H + 2) + 18  # title, header, 3 class rows, legend
    assert sheet.shape[1] >= 5 * (W + 2) + 40  # class column, image, CAM, BU, BU+SP, TD
    legend = colours(sheet[20 + 18 + 3 * (H + 2) + 2 * 6:])  # below the title, header and rows
    for label in (1, 15, 7):  # aeroplane, person, car
        assert tuple(VOC[label]) in legend
    assert tuple(VOC[2]) not in legend


def metrics_rows(columns, n=6, per_epoch=3):
    return [dict({c: float(i + 1) for c in columns}, epoch=i // per_epoch, iter=i + 1) for i in range(n)]


def test_curve_has_one_panel_per_loss_on_its_own_scale():
    import matplotlib.pyplot as plt

    icd = ["epoch", "iter", "lr", "loss", "loss_cam", "loss_bu", "loss_td", "acc", "bu_min", "bu_max",
           "td_weight", "task_loss", "img_s"]  # task_loss: a metrics.csv written before it was dropped
    fig = curve_figure(metrics_rows(icd), icd)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 8 and titles[:4] == ["L_cam (classification)", "L_bu (bottom-up; negative by design)",
                                                 "L_td (top-down)", "total: L_cam + L_bu + w_td L_td"]
    assert not any("task_loss" in t or "img_s" in t for t in titles)
    assert all(ax.get_ylabel() for ax in fig.axes) and fig.axes[-1].get_xlabel() == "iteration"
    plt.close(fig)
    seg = ["epoch", "iter", "lr", "loss", "labelled", "img_s"]
    fig = curve_figure(metrics_rows(seg), seg)
    assert [ax.get_title() for ax in fig.axes] == ["total loss", "learning rate", "labelled"]
    plt.close(fig)
