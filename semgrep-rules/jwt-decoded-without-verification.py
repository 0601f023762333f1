import jwt
from jose import jwt as jose_jwt


def current_user_id(token, settings):
    # ruleid: GAP801
    claims = jwt.decode(token, options={"verify_signature": False})
    # ruleid: GAP801
    claims = jwt.decode(token, settings.SECRET_KEY)
    # ruleid: GAP801
    claims = jose_jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256", "none"])
    # ok: GAP801
    claims = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    # ok: GAP801
    claims = jwt.decode(token, settings.SECRET_KEY, **settings.JWT_OPTIONS)
    return claims["sub"]


def peek(token):
    options = {"verify_signature": False, "verify_exp": False}
    # ruleid: GAP801
    return jwt.decode(token, options=options)
