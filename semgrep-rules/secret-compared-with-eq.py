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
    # ok: GAP811
    if value != AuthType.API_TOKEN:
        abort(401)
    # ruleid: GAP811
    if value != Config.API_TOKEN:
        abort(401)
    # ruleid: GAP811
    if value != settings.ADMIN_TOKEN:
        abort(401)
    # ruleid: GAP811
    if value != API_KEY:
        abort(401)
    return scheme, others


def kinds_positions_and_flags(errcode, token, stream, from_token, upto_token, secret, should_be_secret, row):
    # ok: GAP811
    if errcode == Codes.UNKNOWN_TOKEN:
        return None
    # ok: GAP811
    if token == SearchToken.Not:
        return None
    # ok: GAP811
    if secret == CENSORED:
        return None
    # ok: GAP811
    if from_token == upto_token:
        return None
    # ok: GAP811
    if stream.last_token == stream.current_token("main"):
        return None
    # ok: GAP811
    if token == stream.next_id - 1:
        return None
    # ok: GAP811
    if should_be_secret == bool(row.encrypted):
        return None
    return token


def acme_and_blobs(txt_record, token, value, blob_hash, version):
    # ok: GAP811
    if txt_record == token:
        return True
    # ok: GAP811
    if hashlib.sha256(value).hexdigest() == blob_hash:
        return True
    # ok: GAP811
    if hashlib.sha256(value).hexdigest() != version.digest:
        return False
    # ok: GAP811
    assert token == value
    actual_digest = hashlib.sha256(value).hexdigest()
    # ok: GAP811
    if version.expected_digest != actual_digest:
        return False
    expected_digest = hmac.new(INTERNAL_SECRET, value, hashlib.sha256).hexdigest()
    # ruleid: GAP811
    return expected_digest == token


def forget(decisions, app_token):
    # ok: GAP811
    return list(filter(lambda x: x.app_token != app_token, decisions))


class ApiKey(Model):
    @classmethod
    def get_by_api_key(cls, api_key):
        # ok: GAP811
        return cls.query.filter(cls.api_key == api_key).one()

    @classmethod
    def active(cls, session, token):
        # ok: GAP811
        return session.execute(select(cls).where(and_(cls.token == token, cls.active))).scalar_one()


def token_revoked(user, payload, claims, token):
    # ok: GAP811
    if user.jwt_token_key != payload["token"]:
        return True
    # ok: GAP811
    if claims.get("token") != user.jwt_token_key:
        return True
    user_jwt_token = payload.get("token")
    # ok: GAP811
    if user.jwt_token_key != user_jwt_token:
        return True
    # ruleid: GAP811
    return request_payload["token"] != user.jwt_token_key


def unchanged(target, new_bytes, signature, body):
    # ok: GAP811
    if hashlib.blake2b(target.read_bytes()).hexdigest() == hashlib.blake2b(new_bytes).hexdigest():
        return True
    # ruleid: GAP811
    return hmac.new(KEY, body, hashlib.sha256).hexdigest() == signature


PENDING_SLACK_BOT_TOKEN = "pending"


def slack_ready(config, request):
    # ok: GAP811
    if config.slack_bot_token == PENDING_SLACK_BOT_TOKEN:
        return False
    # ok: GAP811
    if config.gmail_token != {}:
        return True
    # ruleid: GAP811
    return request.headers["X-Slack-Token"] == config.slack_bot_token
