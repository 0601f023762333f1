import hashlib
import hmac
import os

from flask import abort, request

INTERNAL_SECRET = os.environ["INTERNAL_WEBHOOK_SECRET"].encode()


def verify_internal(body, signature):
    expected = hmac.new(INTERNAL_SECRET, body, hashlib.sha256).hexdigest()
    # ruleid: GAP811
    return expected == signature


def verify_github(body, signature):
    expected = "sha256=" + hmac.new(INTERNAL_SECRET, body, hashlib.sha256).hexdigest()
    # ok: GAP811
    return hmac.compare_digest(expected, signature)


def export_metadata():
    # ruleid: GAP811
    if request.headers.get("X-Admin-Token") != os.environ.get("ADMIN_TOKEN"):
        abort(403)
    # ok: GAP811
    if request.headers.get("X-Admin-Token") == "":
        abort(400)
    token = request.args.get("token")
    # ok: GAP811
    if token is None or len(token) == 32:
        abort(400)


def check(body, header):
    # ruleid: GAP811
    if hashlib.sha256(body).hexdigest() != header:
        abort(401)


class Token:
    def __init__(self, token):
        self.token = token

    def __eq__(self, other):
        # ok: GAP811
        return self.token == other.token


def validate_token_format(token):
    body = token.removeprefix("wt_")
    # ok: GAP811
    if body == token:
        return False
    return True


def auth_scheme(auth_type, value, keys, current_key):
    # ok: GAP811
    scheme = "Bearer" if auth_type == AuthType.bearer_token else "token"
    # ok: GAP811
    if value == PLACEHOLDER_API_KEY:
        return None
    # ok: GAP811
    others = [key for key in keys if key.token != current_key]
    # ruleid: GAP811
    if not [key for key in keys if key.token == value]:
        abort(401)
    # ruleid: GAP811
    if value != AuthType.API_TOKEN:
        abort(401)
    return scheme, others
