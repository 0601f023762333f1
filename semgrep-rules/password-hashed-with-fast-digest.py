import hashlib
import os


def register(username, password):
    # ruleid: GAP803
    digest = hashlib.md5(password.encode()).hexdigest()
    salt = os.urandom(16).hex()
    # ruleid: GAP803
    salted = hashlib.sha256((salt + password).encode("utf-8")).hexdigest()
    # ok: GAP803
    strong = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), 600_000)
    return digest, salted, strong


def hash_password(raw):
    h = hashlib.sha1()
    # ruleid: GAP803
    h.update(raw.encode())
    return h.hexdigest()


def cache_key(html, reset_token):
    # ok: GAP803
    page = hashlib.sha256(html.encode()).hexdigest()
    # ok: GAP803
    token_hash = hashlib.sha256(reset_token.encode()).hexdigest()
    return page, token_hash


def password_breached(password, session):
    # ok: GAP803
    prefix = hashlib.sha1(password.encode()).hexdigest().upper()[:5]
    # ok: GAP803
    lookup = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest()
    return session.get(f"https://api.pwnedpasswords.com/range/{prefix}"), lookup


def legacy_check_password(password, stored):
    # ruleid: GAP803
    return hashlib.sha1(password.encode()).hexdigest() == stored
