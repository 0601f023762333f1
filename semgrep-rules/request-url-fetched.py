from urllib.parse import urlparse
from urllib.request import Request, urlopen

import httpx
import requests
from fastapi import FastAPI
from flask import Blueprint, request

bp = Blueprint("links", __name__)
api = FastAPI()


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
