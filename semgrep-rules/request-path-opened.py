import hashlib
import io
import os
import pathlib
from pathlib import Path

from django.http import FileResponse
from fastapi import Depends, FastAPI
from flask import Flask, abort, request, send_file, send_from_directory
from werkzeug.security import safe_join
from werkzeug.utils import secure_filename

app = Flask(__name__)
api = FastAPI()
UPLOAD_DIR = Path("/var/lib/uploads")
THUMB_DIR = "/var/lib/thumbs"
CACHE_DIR = Path("/var/cache/speech")


@app.post("/files")
def upload():
    file = request.files["file"]
    # ruleid: GAP810
    dest_dir = UPLOAD_DIR / request.form.get("folder", "")
    dest_dir.mkdir(parents=True, exist_ok=True)
    file.save(dest_dir / "upload.bin")
    # ok: GAP810
    file.save(os.path.join(UPLOAD_DIR, secure_filename(file.filename)))
    return "ok"


@app.get("/thumbs")
def thumbnail():
    # ruleid: GAP810
    return send_file(os.path.join(THUMB_DIR, request.args["name"]))


@app.get("/static")
def static_file():
    # ok: GAP810
    return send_from_directory(THUMB_DIR, request.args["name"])


@app.get("/pages/<page>")
def page(page):
    # todoruleid: GAP810
    with open(f"templates/pages/{page}.html") as fh:
        return fh.read()


@api.get("/reports/{name}")
async def report(name: str, limit: int = 10, db=Depends(object)):
    # todoruleid: GAP810
    return FileResponse(UPLOAD_DIR / "reports" / name)


@api.get("/stats")
async def stats(limit: int = 10, db=Depends(object)):
    # ok: GAP810
    ratio = limit / 3
    # ok: GAP810
    return open(os.path.join(THUMB_DIR, str(db)))


def export_view(request):
    path = os.path.join("/srv/exports", os.path.basename(request.GET["file"]))
    # ok: GAP810
    return FileResponse(open(path, "rb"))


def download_view(request):
    # ruleid: GAP810
    path = os.path.join("/srv/exports", request.GET["file"])
    # ok: GAP810
    return FileResponse(open(path, "rb"))


async def speech_cache(request):
    body = await request.body()
    name = hashlib.sha256(body).hexdigest()
    # ok: GAP810
    file_path = CACHE_DIR / f"{name}.mp3"
    # ok: GAP810
    return FileResponse(file_path)


@app.route("/avatars/<name>")
def avatar(name):
    # ok: GAP810
    safe = send_file(os.path.join(UPLOAD_DIR, os.path.basename(name)))
    # ok: GAP810
    stored = open(os.path.join(UPLOAD_DIR, secure_filename(name)), "rb")
    # ok: GAP810
    joined = safe_join(THUMB_DIR, name)
    return safe, stored, joined


@app.get("/docs/<path:doc>")
def doc_page(doc):
    # todoruleid: GAP810
    return send_file(Path(THUMB_DIR) / doc)


@api.get("/exports/{name}")
async def export(name: str):
    # ok: GAP810
    target = (UPLOAD_DIR / name).resolve()
    if not target.is_relative_to(UPLOAD_DIR.resolve()):
        return None
    return FileResponse(target)


@api.get("/exports/{export_id}/file")
async def export_by_id(export_id: int, fmt: str = "csv"):
    # ok: GAP810
    by_id = FileResponse(UPLOAD_DIR / f"{export_id}.csv")
    # todoruleid: GAP810
    return by_id, FileResponse(UPLOAD_DIR / f"{export_id}.{fmt}")


@app.get("/legacy/<name>")
def legacy(name):
    # todook: GAP810
    path = os.path.realpath(os.path.join(THUMB_DIR, name))
    if not path.startswith(THUMB_DIR + os.sep):
        return "not found", 404
    return send_file(path)


def helper(name):
    # ok: GAP810
    return open(os.path.join(THUMB_DIR, name))


def contained_view(request):
    # ok: GAP810
    target = (UPLOAD_DIR / request.GET["name"]).resolve()
    if not target.is_relative_to(UPLOAD_DIR.resolve()):
        return None
    return FileResponse(target)


@app.route("/backup/restore", methods=["POST"])
def restore_backup():
    backup_folder = app.config["BACKUP_FOLDER"]
    # ok: GAP810
    path = os.path.realpath(os.path.join(backup_folder, request.json["path"]))
    if not path.startswith(backup_folder) or not os.path.exists(path):
        abort(400)
    return send_file(path)


@app.route("/files/rename", methods=["POST"])
def rename_file():
    the_dir = app.config["STORAGE_DIR"]
    # ok: GAP810
    real_target = os.path.realpath(os.path.join(the_dir, request.form["new_name"]))
    try:
        pathlib.Path(real_target).relative_to(os.path.realpath(the_dir))
    except ValueError:
        abort(401)
    return real_target


@app.route("/files/save", methods=["POST"])
def save_file():
    file_path = request.form["path"]
    Filemanager.check_access_permission(STORAGE_DIR, file_path)
    # ok: GAP810
    full_path = os.path.join(STORAGE_DIR, file_path.lstrip("/"))
    # ruleid: GAP810
    other = os.path.join(STORAGE_DIR, request.form["other"])
    return full_path, other


@app.route("/utility", methods=["POST"])
def set_utility_path():
    data = request.get_json()
    # ok: GAP810
    if pathlib.Path(STORAGE_DIR) in pathlib.Path(data["utility_path"]).parents:
        abort(400)
    # ok: GAP810
    return send_file(io.BytesIO(data["content"].encode()), download_name="export.csv")


@app.route("/report", methods=["POST"])
def open_report():
    name = request.form["name"]
    # ruleid: GAP810
    real = os.path.realpath(os.path.join(REPORTS_DIR, name))
    if real.startswith("/"):
        return "absolute"
    return real


@app.post("/snapshots/compare")
def compare_snapshot():
    payload = request.get_json()
    snapshot_path = pathlib.Path(payload.get("snapshot_path"))
    if not snapshot_path.exists():
        abort(404)
    # ruleid: GAP810
    return snapshot_path.read_bytes()
