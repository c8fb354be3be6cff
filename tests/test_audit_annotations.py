"""Object annotations for the audit: COCO, Pascal VOC, CSV and masks read; malformed files named; the cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import saliencykit as sk
from saliencykit.audit import audit
from saliencykit.audit.annotations import AnnotationError, attach, read_annotations, relative_boxes
from saliencykit.audit.dataset import Dataset, Item
from saliencykit.audit.demo import demo_annotations, demo_dataset
from saliencykit.audit.store import SettingsMismatch
from saliencykit.metrics import insertion_deletion_auc

COCO = {
    "images": [
        {"id": 1, "file_name": "cat/a.jpg"},
        {"id": 2, "file_name": "dog/b.jpg"},
        {"id": 3, "file_name": "c.jpg"},
    ],
    "annotations": [
        {"id": 10, "image_id": 1, "bbox": [10, 20, 30, 40], "category_id": 7},
        {"id": 11, "image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 8},
        {"id": 12, "image_id": 2, "bbox": [1, 2, 3, 4], "category_id": 7},
    ],
    "categories": [{"id": 7, "name": "cat"}, {"id": 8, "name": "collar"}],
}

VOC = """<annotation><folder>x</folder><filename>b.jpg</filename>
<object><name>dog</name><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>50</xmax><ymax>60</ymax></bndbox></object>
<object><name>ball</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></object>
</annotation>"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- formats ------------------------------------------------------------------------------------------------------
def test_coco_json_gives_boxes_in_pixels_with_category_names(tmp_path):
    found = read_annotations(write(tmp_path / "coco.json", json.dumps(COCO)), tmp_path)
    assert found["cat/a.jpg"] == [
        {"box": [10.0, 20.0, 40.0, 60.0], "label": "cat"},
        {"box": [0.0, 0.0, 5.0, 5.0], "label": "collar"},
    ]
    assert found["dog/b.jpg"] == [{"box": [1.0, 2.0, 4.0, 6.0], "label": "cat"}]
    assert found["c.jpg"] == []  # listed without objects: annotated, nothing in it


def test_csv_with_and_without_labels_and_absolute_paths(tmp_path):
    root = tmp_path / "data"
    text = f"path,x0,y0,x1,y1,label\ncat/a.jpg,1,2,3,4,cat\ncat/a.jpg,5,6,7,8,\n{root / 'dog' / 'b.jpg'},0,0,9,9,dog\n"
    found = read_annotations(write(tmp_path / "boxes.csv", text), root)
    assert found["cat/a.jpg"] == [
        {"box": [1.0, 2.0, 3.0, 4.0], "label": "cat"},
        {"box": [5.0, 6.0, 7.0, 8.0], "label": None},
    ]
    assert found["dog/b.jpg"] == [{"box": [0.0, 0.0, 9.0, 9.0], "label": "dog"}]
    plain = read_annotations(write(tmp_path / "plain.csv", "path,x0,y0,x1,y1\nx.png,0,0,1,1\n"), root)
    assert plain == {"x.png": [{"box": [0.0, 0.0, 1.0, 1.0], "label": None}]}


def test_voc_folder_keys_follow_the_xml_paths(tmp_path):
    write(tmp_path / "voc" / "dog" / "b.xml", VOC)
    write(tmp_path / "voc" / "empty.xml", "<annotation><filename>e.png</filename></annotation>")
    found = read_annotations(tmp_path / "voc", tmp_path)
    assert found["dog/b.jpg"] == [
        {"box": [5.0, 6.0, 50.0, 60.0], "label": "dog"},
        {"box": [1.0, 1.0, 2.0, 3.0], "label": "ball"},
    ]
    assert found["empty.png"] == []


def test_mask_folder_gives_bounding_boxes_and_mask_paths(tmp_path):
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 30:50] = 255
    (tmp_path / "masks" / "cat").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "masks" / "cat" / "a.png"), mask)
    cv2.imwrite(str(tmp_path / "masks" / "none.png"), np.zeros((4, 4), np.uint8))
    found = read_annotations(tmp_path / "masks", tmp_path)
    (obj,) = found["cat/a"]
    assert obj["box"] == [30.0, 10.0, 50.0, 20.0] and obj["mask"].endswith("a.png") and obj["label"] is None
    assert found["none"] == []


def test_a_mask_is_read_at_its_image_size_only(tmp_path):
    from saliencykit.audit.annotations import read_masks

    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 30:50] = 1
    cv2.imwrite(str(tmp_path / "a.png"), mask)
    (obj,) = read_annotations(tmp_path, tmp_path)["a"]
    assert read_masks([obj], (40, 60))[obj["mask"]].sum() == 200
    assert read_masks([{"box": [0, 0, 1, 1]}], (40, 60)) == {}  # boxes need no file
    with pytest.raises(AnnotationError, match=r"a.png: the mask is 60 x 40 pixels, the image 120 x 80"):
        read_masks([obj], (80, 120))


def test_names_match_items_by_path_stem_or_unique_file_name():
    items = [
        Item("cat/a.jpg", Path("/d/cat/a.jpg")),
        Item("dog/b.jpg", Path("/d/dog/b.jpg")),
        Item("c.jpg", Path("/d/c.jpg")),
        Item("x/same.jpg", Path("/d/x/same.jpg")),
        Item("y/same.jpg", Path("/d/y/same.jpg")),
    ]
    box = [{"box": [0.0, 0.0, 1.0, 1.0], "label": None}]
    dataset, matched, unmatched = attach(
        Dataset(Path("/d"), "folders", items), {"cat/a": box, "b.jpg": box, "same.jpg": box, "nowhere.jpg": box}
    )
    objects = {item.key: item.objects for item in dataset.items}
    assert objects["cat/a.jpg"] == box and objects["dog/b.jpg"] == box and objects["c.jpg"] is None
    assert objects["x/same.jpg"] is None and objects["y/same.jpg"] is None  # ambiguous: not guessed
    assert matched == 2 and sorted(unmatched) == ["nowhere.jpg", "same.jpg"]
    assert relative_boxes([{"box": [10, 20, 50, 40], "label": "a"}], 100, 80) == [[0.1, 0.25, 0.5, 0.5, "a"]]


# -- malformed files: each error names the file, the entry and what to do -------------------------------------
BAD = [
    ("missing.json", None, "no such annotation file"),
    ("notes.txt", "hello", "not an annotation format"),
    ("broken.json", '{"images": [', r"not valid JSON \(line 1"),
    ("nococo.json", '{"pictures": []}', "not a COCO annotation file .*'images'"),
    ("noid.json", json.dumps({**COCO, "images": [{"file_name": "a.jpg"}]}), r"images\[0\] needs an 'id'"),
    (
        "orphan.json",
        json.dumps({**COCO, "annotations": [{"id": 99, "image_id": 5, "bbox": [0, 0, 1, 1]}]}),
        r"annotation 99 \(annotations\[0\]\): image_id 5 is not in 'images'",
    ),
    (
        "badbox.json",
        json.dumps({**COCO, "annotations": [{"id": 7, "image_id": 1, "bbox": [0, 0, 1]}]}),
        r"annotation 7 .*'bbox' must be \[x, y, width, height\]",
    ),
    (
        "textbox.json",
        json.dumps({**COCO, "annotations": [{"id": 8, "image_id": 1, "bbox": [0, 0, "w", 1]}]}),
        "annotation 8 .*other than numbers",
    ),
    (
        "flat.json",
        json.dumps({**COCO, "annotations": [{"id": 9, "image_id": 1, "bbox": [0, 0, 0, 5]}]}),
        "annotation 9 .*empty or negative",
    ),
    (
        "cat.json",
        json.dumps({**COCO, "annotations": [{"id": 4, "image_id": 1, "bbox": [0, 0, 2, 2], "category_id": 3}]}),
        "annotation 4 .*category_id 3 is not in 'categories'",
    ),
    ("header.csv", "file,left,top,right,bottom\na.jpg,0,0,1,1\n", "line 1: the header is file,left"),
    ("cells.csv", "path,x0,y0,x1,y1\na.jpg,0,0,1\n", "line 2: expected path,x0,y0,x1,y1"),
    ("nan.csv", "path,x0,y0,x1,y1\na.jpg,0,0,1,1\nb.jpg,0,zero,1,1\n", r"line 3 \(b.jpg\): coordinates .* not numbers"),
    ("upside.csv", "path,x0,y0,x1,y1\na.jpg,5,5,1,9\n", r"line 2 \(a.jpg\): box \[5, 5, 1, 9\] is empty"),
    ("negative.csv", "path,x0,y0,x1,y1\na.jpg,-3,0,1,9\n", "line 2 .*negative"),
]


@pytest.mark.parametrize("name, text, message", BAD, ids=[b[0] for b in BAD])
def test_malformed_annotation_files_name_the_file_and_entry(tmp_path, name, text, message):
    path = tmp_path / name if text is None else write(tmp_path / name, text)
    with pytest.raises(AnnotationError, match=message) as info:
        read_annotations(path, tmp_path)
    assert str(path) in str(info.value)


def test_malformed_voc_and_mask_folders_name_the_file(tmp_path):
    bad = write(tmp_path / "voc" / "a.xml", "<annotation><object><name>x</name></object>")
    with pytest.raises(AnnotationError, match=f"{bad}: not a readable Pascal VOC XML"):
        read_annotations(tmp_path / "voc", tmp_path)
    nobox = write(tmp_path / "voc2" / "b.xml", "<annotation><object><name>x</name></object></annotation>")
    with pytest.raises(AnnotationError, match=f"{nobox}: object 1 has no <bndbox>"):
        read_annotations(tmp_path / "voc2", tmp_path)
    partial = write(tmp_path / "voc3" / "c.xml", VOC.replace("<ymax>60</ymax>", ""))
    with pytest.raises(AnnotationError, match=f"{partial}: object 1: <bndbox> lacks"):
        read_annotations(tmp_path / "voc3", tmp_path)
    broken = write(tmp_path / "masks" / "m.png", "not a png")
    with pytest.raises(AnnotationError, match=f"{broken}: not a readable PNG mask"):
        read_annotations(tmp_path / "masks", tmp_path)
    (tmp_path / "nothing").mkdir()
    write(tmp_path / "nothing" / "readme.md", "boxes are elsewhere")
    with pytest.raises(AnnotationError, match="holds no .xml .* or .png"):
        read_annotations(tmp_path / "nothing", tmp_path)


# -- end to end -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moped(tmp_path_factory):
    """Three of the demo's motorcycle photos (a confident hit, a mistake, and one left without a box) and boxes."""
    folder = tmp_path_factory.mktemp("annotated")
    data = folder / "data"
    (data / "moped").mkdir(parents=True)
    demo = demo_dataset(folder / "demo")
    for name in ("motorcycle_blur.jpg", "motorcycle_gray.jpg", "motorcycle_half.jpg"):
        shutil.copy(demo / "moped" / name, data / "moped" / name)
    rows = demo_annotations(folder / "all.csv").read_text().splitlines()
    boxes = write(
        folder / "boxes.csv",
        "\n".join(r for r in rows if r.startswith("path") or r.startswith("moped/") and "motorcycle_half" not in r)
        + "\n",
    )
    return data, boxes


@pytest.mark.slow  # insertion/deletion: 62 model calls per image
def test_annotated_images_get_focus_on_the_object_and_the_others_still_audit(moped, tmp_path):
    data, boxes = moped
    result = audit("demo", data, tmp_path / "out", annotations=boxes, metrics="insertion-deletion,pointing-game")
    rows = {r["key"]: r for r in result.rows()}
    assert result.exit_code == 0 and len(rows) == 3
    plain = rows["moped/motorcycle_half.jpg"]  # no entry: audited as before
    assert (
        plain["objects"] is None and plain["focus"]["object_energy"] is None and plain["focus"]["pointing_hit"] is None
    )
    assert "pointing" not in plain["metrics"] and 0.0 <= plain["metrics"]["insertion"] <= 1.0
    for key, row in rows.items():
        if key == "moped/motorcycle_half.jpg":
            continue
        assert row["objects"][0]["label"] == "motorcycle" and abs(row["objects"][0]["box"][0] - 90) <= 3
        energy = row["focus"]["object_energy"]
        assert 0.5 < energy <= 1.0, (key, energy)  # the motorcycle fills most of the frame, and the map is on it
        assert row["metrics"]["pointing"] in (0.0, 1.0) and row["metrics"]["energy"] > 0.5
        # a mistake that looked at the object comes first; a hit on the object keeps its old case
        wrong = row["pred"] != row["gt"]
        assert (row["case_name"] == "wrong_but_looked_at_object") == wrong, key
    # the per-image metric is the library's insertion/deletion of the top-1 map, on the full photo
    row = rows["moped/motorcycle_blur.jpg"]
    with np.load(result.out / row["raw"]) as raw:
        top1 = raw["maps"][0]
    expected = insertion_deletion_auc(sk.demo.explainer(), sk.read_image(data / row["key"]), top1, row["pred"])
    assert row["metrics"]["insertion"] == pytest.approx(expected.insertion, abs=1e-4)
    assert row["metrics"]["deletion"] == pytest.approx(expected.deletion, abs=1e-4)
    summary = json.loads((result.out / "summary.json").read_text())
    assert summary["annotations"] == {"source": str(boxes.resolve()), "images_with_objects": 2}
    assert summary["settings"]["annotations"]["digest"] and summary["settings"]["metrics"] == [
        "insertion-deletion",
        "pointing-game",
    ]
    assert set(summary["metrics"]["wrong_but_looked_at_object"]) >= {"insertion", "deletion", "pointing", "energy"}
    # the overlays show the box: a black line framed in white at its left edge (x = 90 of 741 px); a blend of
    # jet colours over the photo is never black
    overlay = cv2.imread(str(result.out / rows["moped/motorcycle_gray.jpg"]["maps"][0]["file"])).astype(int)
    x = round(90 * overlay.shape[1] / 741)
    column = overlay[100:200, x - 2 : x + 3].sum(axis=2)
    assert (column.min(axis=1) < 60).all() and (column.max(axis=1) > 600).all()
    far = overlay[100:200, x + 20].sum(axis=1)
    assert far.min() > 60
    # other boxes are other results: the store refuses to mix them
    moved = write(tmp_path / "moved.csv", boxes.read_text().replace(",90.0,90.0,", ",0.0,0.0,"))
    with pytest.raises(SettingsMismatch, match="annotations.digest"):
        audit("demo", data, tmp_path / "out", annotations=moved, metrics="insertion-deletion,pointing-game")


def test_annotation_and_metric_mistakes_fail_before_the_model_loads(moped, tmp_path, monkeypatch):
    from saliencykit import errors
    from saliencykit.audit import api

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(api, "_explainer", no_model)
    data, _ = moped
    with pytest.raises(AnnotationError, match="line 2"):
        audit("demo", data, tmp_path / "out", annotations=write(tmp_path / "b.csv", "path,x0,y0,x1,y1\na.jpg,1\n"))
    with pytest.raises(errors.SaliencyKitError, match="--metrics adcc: .*use saliencykit evaluate"):
        audit("demo", data, tmp_path / "out", metrics="adcc")
    with pytest.raises(errors.SaliencyKitError, match="--metrics speed: the audit runs insertion-deletion"):
        audit("demo", data, tmp_path / "out", metrics=["speed"])
    with pytest.raises(errors.SaliencyKitError, match="annotations=3"):
        audit("demo", data, tmp_path / "out", annotations=3)
    assert not (tmp_path / "out").exists()


def test_cli_takes_annotations_metrics_and_focus_thresholds(moped, tmp_path):
    from typer.testing import CliRunner

    from saliencykit.cli import build_app

    data, boxes = moped
    runner = CliRunner()
    app = build_app()
    shown = runner.invoke(app, ["audit", "--help"], env={"COLUMNS": "300"})
    assert "--annotations" in shown.output and "2 x 31 model calls per image" in shown.output
    bad = runner.invoke(app, ["audit", "demo", str(data), "--out", str(tmp_path / "o"), "--metrics", "speed"])
    assert bad.exit_code == 2 and "--metrics speed" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["audit", "demo", str(data), "--out", str(tmp_path / "o"), "--border", "1.5"])
    assert bad.exit_code == 2 and "border=1.5" in bad.output
    broken = write(tmp_path / "broken.json", "{")
    bad = runner.invoke(app, ["audit", "demo", str(data), "--out", str(tmp_path / "o"), "--annotations", str(broken)])
    assert bad.exit_code == 2 and "broken.json: not valid JSON" in bad.output
    # a threshold that sends every annotated hit to right_for_wrong_reasons
    ok = runner.invoke(
        app,
        ["audit", "demo", str(data), "--out", str(tmp_path / "o"), "--annotations", str(boxes), "--object-energy", "1"],
    )
    assert ok.exit_code == 0, ok.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["thresholds"]["object_energy"] == 1.0
    # motorcycle_blur.jpg is the one confident hit (moped 0.71): now right for the wrong reasons; no mistake
    # has all of its map on the object
    assert summary["cases"]["right_for_wrong_reasons"] == 1 and summary["cases"]["wrong_but_looked_at_object"] == 0


def test_demo_boxes_follow_each_variant_crop_flip_and_resize(tmp_path):
    from saliencykit.labels import imagenet_wnids

    found = read_annotations(demo_annotations(tmp_path / "boxes.csv"), tmp_path)
    cat, coffee = imagenet_wnids()[285], imagenet_wnids()[967]
    assert found[f"{cat}/chelsea.jpg"] == [{"box": [90.0, 20.0, 400.0, 280.0], "label": "cat face"}]
    assert found[f"{cat}/chelsea_half.jpg"][0]["box"] == pytest.approx([45, 10, 200, 140], abs=1)  # resized edges
    assert found[f"{cat}/chelsea_crop.jpg"][0]["box"] == [0.0, 0.0, 220.0, 160.0]  # cropped at (180, 120)
    assert found[f"{coffee}/coffee_flip.jpg"][0]["box"] == [190.0, 15.0, 430.0, 305.0]  # 600 - 410, 600 - 170
    assert found[f"{coffee}/coffee_occluded.jpg"][0]["box"] == [170.0, 15.0, 410.0, 305.0]  # grey is not the box
    assert "astronaut.jpg" not in found and len(found) == 19  # no box for the astronaut: audited without
