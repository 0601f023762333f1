from hashlib import md5
import random
import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def create_reset(user):
    # ruleid: GAP804
    reset_code = "".join(random.choice(string.digits) for _ in range(6))
    # ruleid: GAP804
    user.api_key = "%032x" % random.getrandbits(128)
    # ok: GAP804
    user.session_id = secrets.token_urlsafe(32)
    return reset_code


def generate_token(length=32):
    # ruleid: GAP804
    return "".join(random.choices(ALPHABET, k=length))


def retry_delay(attempt):
    # ok: GAP804
    return min(30, 2 ** attempt) + random.uniform(0, 1)


def pick_questions(questions):
    # ok: GAP804
    sample = random.sample(questions, 5)
    return sample


def signed_salt(appid, secret, text):
    # ok: GAP804
    salt = str(random.randint(0, 10000000000))
    return md5((appid + text + salt + secret).encode()).hexdigest(), salt
