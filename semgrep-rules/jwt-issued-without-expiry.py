from datetime import datetime, timedelta, timezone

import jwt


def issue(user, key):
    # ruleid: GAP802
    return jwt.encode({"sub": str(user.id), "role": user.role}, key, algorithm="HS256")


def issue_from_variable(user, key):
    payload = {"sub": str(user.id), "iat": datetime.now(timezone.utc)}
    # ruleid: GAP802
    return jwt.encode(payload, key, algorithm="HS256")


def issue_ok(user, key):
    now = datetime.now(timezone.utc)
    # ok: GAP802
    return jwt.encode({"sub": str(user.id), "exp": now + timedelta(minutes=15)}, key, algorithm="HS256")


def issue_ok_later(user, key):
    payload = {"sub": str(user.id)}
    payload["exp"] = datetime.now(timezone.utc) + timedelta(minutes=15)
    # ok: GAP802
    return jwt.encode(payload, key, algorithm="HS256")


def issue_opaque(claims, key):
    # ok: GAP802
    return jwt.encode(claims, key, algorithm="HS256")


def issue_annotated_with_splat(ui_token, key):
    claims: dict = {**ui_token, "exp": datetime.now(timezone.utc) + timedelta(hours=8)}
    # ok: GAP802
    return jwt.encode(claims, key, algorithm="HS256")


def issue_annotated(user, key):
    claims: dict = {"sub": str(user.id)}
    # ruleid: GAP802
    return jwt.encode(claims, key, algorithm="HS256")


def issue_inline_splat(ui_token, key, exp):
    # ok: GAP802
    return jwt.encode({"exp": exp, **ui_token}, key, algorithm="HS256")
