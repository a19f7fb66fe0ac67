import pytest

from yolopress.io import atomic_dir, atomic_file, hash_path


def test_atomic_dir_replaces_only_on_success(tmp_path):
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (dest / "a.txt").read_text() == "first"
    with pytest.raises(KeyboardInterrupt), atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("half")
        raise KeyboardInterrupt
    assert (dest / "a.txt").read_text() == "first"  # the old result survives an interruption
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # and no temporary folder is left behind


def test_atomic_file(tmp_path):
    p = tmp_path / "f.json"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(p) as f:
        f.write("new")
        raise RuntimeError
    assert p.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_hash_path_tracks_content_not_label_caches(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    h = hash_path(tmp_path)
    (tmp_path / "labels" / "train.cache").write_bytes(b"ultralytics cache")
    assert hash_path(tmp_path) == h
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.1 0.1\n")
    assert hash_path(tmp_path) != h


def test_atomic_dir_refuses_a_folder_it_did_not_make_before_writing_anything(tmp_path):
    from yolopress.io import MARKER, NotOurs, atomic_dir, hash_path

    mine = tmp_path / "out"
    with atomic_dir(mine) as tmp:
        (tmp / "f.txt").write_text("1")
    assert (mine / MARKER).is_file()
    before = hash_path(mine)
    with atomic_dir(mine) as tmp:  # ours: replaced
        (tmp / "f.txt").write_text("1")
    assert hash_path(mine) == before  # the marker is not part of a folder's content hash

    user = tmp_path / "user"
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    ran = []
    with pytest.raises(NotOurs, match="choose another --out"):
        with atomic_dir(user, what="--out"):
            ran.append(1)
    assert ran == [] and (user / "keep.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".user.*"))
