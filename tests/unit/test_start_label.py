from yolopress.train import start_label


def test_a_generic_checkpoint_name_keeps_its_folder():
    # a teacher fine-tuned further starts from another stage's model.pt: "model" alone would name nothing
    assert start_label("/x/stages/teacher-6609d532570a0c77/model.pt") == "teacher-6609d532570a0c77/model.pt"
    assert start_label("runs/train/weights/best.pt") == "weights/best.pt"


def test_architectures_and_named_checkpoints_keep_their_stem():
    assert start_label("yolo11n.yaml") == "yolo11n"
    assert start_label("/cache/pretrained/yolo11s-synthpre.pt") == "yolo11s-synthpre"
    assert start_label("model.pt") == "model"  # no folder to add
