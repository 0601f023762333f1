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
