import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import pytest
from typer.testing import CliRunner

import gee_flood.data.download as download
from gee_flood.cli import app
from gee_flood.data.download import (
    LIST_URL_ENV,
    OBJECT_URL_ENV,
    RemoteObject,
    download_dataset,
    download_objects,
    download_sen1floods11,
    list_objects,
)
from gee_flood.data.sen1floods11 import Sen1Floods11Dataset
from gee_flood.errors import InputError, RemoteError
from tests.fixtures.datasets import write_sen1floods11_fixture

S1 = "v1.1/data/flood_events/HandLabeled/S1Hand/"
SPLITS = "v1.1/splits/flood_handlabeled/"


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class FakeBucket:
    """A Cloud Storage look-alike: JSON listing with pagination, objects with Range support, injectable faults."""

    def __init__(self, objects: dict[str, bytes], page_size: int = 2):
        self.objects = dict(objects)
        self.page_size = page_size
        self.cut = {}  # name -> bytes to send before dropping the connection (once)
        self.corrupt = set()  # names served with one flipped byte (listing keeps the true MD5)
        self.ignore_range = False
        self.status = {}  # name -> HTTP error status to answer with
        self.requests = []  # (kind, name or prefix, Range header or page token)
        self.lock = threading.Lock()
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/storage/v1/b/sen1floods11/o":
                    bucket.serve_listing(self, parse_qs(url.query))
                elif url.path.startswith("/sen1floods11/"):
                    bucket.serve_object(self, unquote(url.path[len("/sen1floods11/") :]))
                else:
                    self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.list_url = f"{base}/storage/v1/b/sen1floods11/o"
        self.object_url = f"{base}/sen1floods11"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def log(self, *entry):
        with self.lock:
            self.requests.append(entry)

    def object_requests(self):
        return [r for r in self.requests if r[0] == "object"]

    def serve_listing(self, handler, query):
        prefix = query.get("prefix", [""])[0]
        start = int(query.get("pageToken", ["0"])[0])
        self.log("list", prefix, start)
        names = sorted(n for n in self.objects if n.startswith(prefix))
        page = names[start : start + self.page_size]
        items = [{"name": n, "size": str(len(self.objects[n])), "md5Hash": md5_b64(self.objects[n])} for n in page]
        payload = {"kind": "storage#objects", "items": items}
        if start + self.page_size < len(names):
            payload["nextPageToken"] = str(start + self.page_size)
        body = json.dumps(payload).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def serve_object(self, handler, name):
        range_header = handler.headers.get("Range")
        self.log("object", name, range_header)
        if name not in self.objects or name in self.status:
            handler.send_error(self.status.get(name, 404))
            return
        data = self.objects[name]
        if name in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        if range_header and not self.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        body = data[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with self.lock:
            cut_at = self.cut.pop(name, None)
        if cut_at is not None:
            handler.wfile.write(body[:cut_at])
            handler.wfile.flush()
            handler.close_connection = True  # the client sees fewer bytes than Content-Length
            return
        handler.wfile.write(body)


def make_objects(count=5, size=40_000, seed=0):
    rng = np.random.default_rng(seed)
    objects = {f"{S1}Ghana_{i}_S1Hand.tif": rng.bytes(size + i) for i in range(count)}
    objects[f"{SPLITS}flood_test_data.csv"] = b"Ghana_0_S1Hand.tif,Ghana_0_LabelHand.tif\n"
    objects["v1.1/data/flood_events/WeaklyLabeled/S1Weak/Ghana_9_S1Weak.tif"] = rng.bytes(1000)
    return objects


def fetch(bucket, dest, part="hand", **kw):
    kw.setdefault("progress", False)
    kw.setdefault("chunk_size", 4096)
    return download_sen1floods11(dest, part, list_url=bucket.list_url, object_url=bucket.object_url, **kw)


def assert_tree(dest: Path, objects, names):
    for name in names:
        path = dest / name
        assert path.is_file(), name
        assert md5_b64(path.read_bytes()) == md5_b64(objects[name])
    assert not list(dest.rglob("*.part"))


def test_listing_follows_pages(tmp_path):
    objects = make_objects(count=5)
    with FakeBucket(objects, page_size=2) as bucket:
        listed = list_objects(S1, list_url=bucket.list_url)
        assert [o.name for o in listed] == sorted(n for n in objects if n.startswith(S1))
        assert [r[2] for r in bucket.requests if r[0] == "list"] == [0, 2, 4]  # three pages
        assert listed[0] == RemoteObject(listed[0].name, len(objects[listed[0].name]), md5_b64(objects[listed[0].name]))


def test_download_part_then_skip_on_rerun(tmp_path):
    objects = make_objects(count=5)
    hand = [n for n in objects if n.startswith((S1, SPLITS))]
    with FakeBucket(objects, page_size=2) as bucket:
        report = fetch(bucket, tmp_path, workers=3)
        assert sorted(report.downloaded) == sorted(hand) and report.skipped == []
        assert report.bytes_received == sum(len(objects[n]) for n in hand)
        assert_tree(tmp_path, objects, hand)
        assert not (tmp_path / "v1.1" / "data" / "flood_events" / "WeaklyLabeled").exists()  # not in part "hand"
        before = len(bucket.object_requests())
        again = fetch(bucket, tmp_path)
        assert sorted(again.skipped) == sorted(hand) and again.downloaded == []
        assert len(bucket.object_requests()) == before  # no object bytes re-downloaded
        assert again.bytes_received == 0


def test_cut_transfer_resumes_with_range_on_rerun(tmp_path):
    objects = make_objects(count=2)
    name = f"{S1}Ghana_1_S1Hand.tif"
    with FakeBucket(objects) as bucket:
        bucket.cut[name] = 15_000
        with pytest.raises(RemoteError, match=r"Ghana_1_S1Hand.tif: transfer interrupted at \d+ of 40001 bytes") as err:
            fetch(bucket, tmp_path, network_retries=0, workers=1)
        assert "run the command again to resume" in str(err.value) and "\n" not in str(err.value)
        final = tmp_path / name
        assert not final.exists()
        # the partial holds the chunks received before the cut (a prefix of the object)
        kept = (tmp_path / (name + ".part")).read_bytes()
        assert 0 < len(kept) <= 15_000 and kept == objects[name][: len(kept)]
        missing = sum(
            len(data) for n, data in objects.items() if n.startswith((S1, SPLITS)) and not (tmp_path / n).exists()
        )
        report = fetch(bucket, tmp_path)
        assert report.resumed == [name]
        assert ("object", name, f"bytes={len(kept)}-") in bucket.requests
        assert md5_b64(final.read_bytes()) == md5_b64(objects[name])
        assert report.bytes_received == missing - len(kept)  # the kept prefix is not fetched again
        assert not (tmp_path / (name + ".part")).exists()


def test_cut_transfer_resumes_within_the_same_run(tmp_path):
    objects = make_objects(count=1)
    name = f"{S1}Ghana_0_S1Hand.tif"
    with FakeBucket(objects) as bucket:
        bucket.cut[name] = 20_000
        report = fetch(bucket, tmp_path, network_retries=1)
        assert report.resumed == [name]
        ranges = [r[2] for r in bucket.object_requests() if r[1] == name]
        assert ranges[0] is None and ranges[1].startswith("bytes=") and len(ranges) == 2
        assert 0 < int(ranges[1][6:-1]) <= 20_000
        assert_tree(tmp_path, objects, [name])


def test_corrupted_object_is_retried_once_then_a_clear_error(tmp_path):
    objects = make_objects(count=2)
    name = f"{S1}Ghana_1_S1Hand.tif"
    with FakeBucket(objects) as bucket:
        bucket.corrupt.add(name)
        with pytest.raises(RemoteError, match=r"gs://sen1floods11/.*Ghana_1_S1Hand.tif: corrupt download \(MD5") as err:
            fetch(bucket, tmp_path, workers=1)
        assert "\n" not in str(err.value)
        assert not (tmp_path / name).exists() and not (tmp_path / (name + ".part")).exists()
        assert [r for r in bucket.object_requests() if r[1] == name] == [("object", name, None)] * 2


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    objects = make_objects(count=1)
    name = f"{S1}Ghana_0_S1Hand.tif"
    partial = tmp_path / (name + ".part")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(objects[name][:1000])
    with FakeBucket(objects) as bucket:
        bucket.ignore_range = True
        report = fetch(bucket, tmp_path)
        assert ("object", name, "bytes=1000-") in bucket.requests and report.resumed == []
        assert_tree(tmp_path, objects, [name])


def test_partial_bigger_than_object_or_stale_final_restarts(tmp_path):
    objects = make_objects(count=2)
    big, stale = f"{S1}Ghana_0_S1Hand.tif", f"{S1}Ghana_1_S1Hand.tif"
    (tmp_path / S1).mkdir(parents=True)
    (tmp_path / (big + ".part")).write_bytes(b"x" * (len(objects[big]) + 10))
    (tmp_path / stale).write_bytes(b"y" * len(objects[stale]))  # right size, wrong content
    with FakeBucket(objects) as bucket:
        fetch(bucket, tmp_path)
        assert ("object", big, None) in bucket.requests and ("object", stale, None) in bucket.requests
        assert_tree(tmp_path, objects, [big, stale])


def test_interrupt_leaves_only_part_files_and_the_rerun_resumes(tmp_path, monkeypatch):
    objects = make_objects(count=1)
    name = f"{S1}Ghana_0_S1Hand.tif"
    calls = {"n": 0}
    real_write = download._write_chunk

    def write_then_interrupt(handle, chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_write(handle, chunk)

    with FakeBucket(objects) as bucket:
        monkeypatch.setattr(download, "_write_chunk", write_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            fetch(bucket, tmp_path, workers=1)
        assert not (tmp_path / name).exists()
        assert (tmp_path / (name + ".part")).stat().st_size == 2 * 4096
        monkeypatch.setattr(download, "_write_chunk", real_write)
        report = fetch(bucket, tmp_path)
        assert report.resumed == [name] and ("object", name, "bytes=8192-") in bucket.requests
        assert_tree(tmp_path, objects, [name])


def test_server_errors_and_empty_objects(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    objects = make_objects(count=2)
    empty = f"{SPLITS}empty.csv"
    objects[empty] = b""
    failing = f"{S1}Ghana_1_S1Hand.tif"
    with FakeBucket(objects) as bucket:
        bucket.status[failing] = 503
        with pytest.raises(RemoteError, match="Ghana_1_S1Hand.tif: HTTP 503") as err:
            fetch(bucket, tmp_path, workers=1)
        assert "\n" not in str(err.value) and not (tmp_path / failing).exists()
        assert len([r for r in bucket.object_requests() if r[1] == failing]) == 5  # urllib3 retried 4 times
        del bucket.status[failing]
        fetch(bucket, tmp_path)
        assert_tree(tmp_path, objects, [failing, empty])


def test_missing_object_and_bad_listing(tmp_path):
    objects = make_objects(count=1)
    with FakeBucket(objects) as bucket:
        ghost = RemoteObject(f"{S1}Ghost_S1Hand.tif", 10, md5_b64(b"0123456789"))
        with pytest.raises(RemoteError, match="Ghost_S1Hand.tif: HTTP 404"):
            download_objects([ghost], tmp_path, object_url=bucket.object_url, progress=False)
        with pytest.raises(RemoteError, match="listing gs://sen1floods11/nothing/.*HTTP 404"):
            list_objects("nothing/", list_url=bucket.object_url + "/nope")
        evil = RemoteObject("../escape.tif", 1, None)
        with pytest.raises(RemoteError, match="refusing object name '../escape.tif'"):
            download_objects([evil], tmp_path, object_url=bucket.object_url, progress=False)
    with pytest.raises(InputError, match="unknown Sen1Floods11 part 'everything'"):
        download_sen1floods11(tmp_path, "everything")


def test_downloaded_tree_opens_with_the_reader(tmp_path):
    fixture = write_sen1floods11_fixture(tmp_path / "src", size=16)
    objects = {p.relative_to(fixture.root).as_posix(): p.read_bytes() for p in fixture.root.rglob("*") if p.is_file()}
    with FakeBucket(objects, page_size=7) as bucket:
        fetch(bucket, tmp_path / "dest", part="hand", chunk_size=1 << 16)
    ds = Sen1Floods11Dataset(tmp_path / "dest", "train")
    assert ds.chip_ids() == fixture.splits["train"]
    np.testing.assert_array_equal(ds[0].modality("s1"), fixture.chips[ds.chip_ids()[0]].s1_db)


def test_cli_download_with_env_urls_and_errors(tmp_path, monkeypatch):
    objects = make_objects(count=3)
    runner = CliRunner()
    with FakeBucket(objects) as bucket:
        monkeypatch.setenv(LIST_URL_ENV, bucket.list_url)
        monkeypatch.setenv(OBJECT_URL_ENV, bucket.object_url)
        result = runner.invoke(
            app, ["data", "download", "--dataset", "sen1floods11", "--out", str(tmp_path), "--part", "splits"]
        )
        assert result.exit_code == 0, result.output
        assert "1 files downloaded" in result.output
        assert_tree(tmp_path, objects, [f"{SPLITS}flood_test_data.csv"])
        result = runner.invoke(
            app,
            ["data", "download", "--dataset", "sen1floods11", "--out", str(tmp_path), "--part", "weak", "--quiet"]
            + ["--list-url", bucket.list_url, "--object-url", bucket.object_url],
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / "v1.1/data/flood_events/WeaklyLabeled/S1Weak/Ghana_9_S1Weak.tif").is_file()
    result = runner.invoke(app, ["data", "download", "--dataset", "ombria", "--out", str(tmp_path)])
    assert result.exit_code == 2  # refused by the CLI: sen1floods11 is the only choice
    assert "Invalid value for '--dataset'" in result.output.strip().splitlines()[-1]
    with pytest.raises(InputError, match="cannot download dataset 'ombria'.*OMBRIA is not hosted"):
        download_dataset("ombria", tmp_path)


def test_crc32c_is_checked_when_the_listing_has_no_md5(tmp_path):
    import google_crc32c

    objects = make_objects(count=1)
    name = f"{S1}Ghana_0_S1Hand.tif"
    crc = base64.b64encode(google_crc32c.Checksum(objects[name]).digest()).decode()
    with FakeBucket(objects) as bucket:
        good = RemoteObject(name, len(objects[name]), None, crc)
        report = download_objects([good], tmp_path / "a", object_url=bucket.object_url, progress=False)
        assert report.downloaded == [name] and (tmp_path / "a" / name).read_bytes() == objects[name]
        bad = RemoteObject(name, len(objects[name]), None, base64.b64encode(b"\0\0\0\0").decode())
        with pytest.raises(RemoteError, match="corrupt download \\(CRC32C"):
            download_objects([bad], tmp_path / "b", object_url=bucket.object_url, progress=False)
