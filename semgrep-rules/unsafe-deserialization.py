import base64
import json
import pickle

import yaml
from flask import Flask, request

app = Flask(__name__)


@app.post("/jobs")
def submit_job():
    # ruleid: GAP807
    job = pickle.loads(base64.b64decode(request.form["job"]))
    # ruleid: GAP807
    spec = yaml.load(request.data, Loader=yaml.Loader)
    # ok: GAP807
    safe = yaml.load(request.data, Loader=yaml.SafeLoader)
    # ok: GAP807
    body = json.loads(request.data)
    return {"job": str(job), "spec": spec, "safe": safe, "body": body}


def import_view(request):
    # ruleid: GAP807
    rows = yaml.unsafe_load(request.FILES["config"].read())
    return rows


def load_cache(blob):
    # ok: GAP807
    return pickle.loads(blob)
