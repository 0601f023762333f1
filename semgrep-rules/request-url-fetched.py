from typing import Annotated, Optional
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import httpx
import requests
from fastapi import Depends, FastAPI
from flask import Blueprint, request

bp = Blueprint("links", __name__)
api = FastAPI()
API_BASE = "https://api.example.com/v1"


@bp.post("/preview")
def preview():
    payload = request.get_json(silent=True) or {}
    url = payload.get("url", "")
    if urlparse(url).scheme not in ("http", "https"):
        return {"error": "invalid url"}, 400
    # ruleid: GAP809
    resp = requests.get(url, timeout=5)
    # ruleid: GAP809
    with urlopen(Request(url, method="HEAD"), timeout=5) as head:
        status = head.status
    # ok: GAP809
    meta = requests.get(f"https://api.example.com/v1/lookup?url={url}", timeout=5)
    return {"status": status, "size": len(resp.content), "meta": meta.json()}


@api.get("/proxy")
async def proxy(target: str):
    async with httpx.AsyncClient(timeout=5) as client:
        # todoruleid: GAP809
        upstream = await client.get(target)
    return upstream.json()


def fetch_feed(feed_url):
    # ok: GAP809
    return requests.get(feed_url, timeout=5)


@bp.route("/avatar/<host>/<name>")
def avatar(host, name):
    url = f"https://{host}/avatars/{name}.png"
    # todoruleid: GAP809
    return requests.get(url, timeout=5).content


@bp.get("/mirror/<path:target>")
def mirror(target):
    # todoruleid: GAP809
    return urlopen(target, timeout=5).read()


@api.get("/users/{user_id}/repos")
async def repos(user_id: str, page: int = 1, client=Depends(object)):
    async with httpx.AsyncClient(timeout=5) as http:
        # ok: GAP809
        listed = await http.get(f"{API_BASE}/users/{user_id}/repos", params={"page": page})
        # ok: GAP809
        first = await http.get(f"https://api.example.com/v1/users/{user_id}")
    # ok: GAP809
    counted = requests.get(page, timeout=5)
    # ok: GAP809
    injected = requests.get(client, timeout=5)
    return listed.json(), first.json(), counted, injected


@api.post("/hooks/{hook_id}/test")
async def test_hook(hook_id: int, callback: Annotated[str, "the URL to call"]):
    # ok: GAP809
    requests.post(hook_id, timeout=5)
    # todoruleid: GAP809
    return requests.post(callback, json={"hook": hook_id}, timeout=5).status_code


BASE_URLS = ["https://a.example.com", "https://b.example.com"]


@api.get("/models/{url_idx}")
async def models(url_idx: Optional[int], name: str):
    url = BASE_URLS[url_idx]
    # ok: GAP809
    listed = requests.get(f"{url}/models", timeout=5)
    # todoruleid: GAP809
    return listed, requests.get(name, timeout=5)


@bp.get("/lookup")
def lookup():
    user_id = request.args["id"]
    # ok: GAP809
    profile = requests.get(f"{API_BASE}/users/{user_id}", timeout=5)
    # ok: GAP809
    mirrored = requests.get(BASE_URLS[int(request.args["mirror"])], timeout=5)
    # ok: GAP809
    picked = requests.get(BASE_URLS[request.args["mirror"]], timeout=5)
    # ruleid: GAP809
    given = requests.get(f"{request.args['base']}/users/{user_id}", timeout=5)
    return profile, mirrored, picked, given
