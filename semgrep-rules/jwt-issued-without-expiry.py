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
