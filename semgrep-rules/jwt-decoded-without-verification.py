import jwt
from jose import jwt as jose_jwt


def user_id_from(token):
    # ruleid: GAP801
    claims = jwt.decode(token, options={"verify_signature": False})
    return claims["sub"]


def current_user_id(token, settings):
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


def claims_from_token_response(token_response):
    id_token = token_response["id_token"]
    # ok: GAP801
    claims = jwt.decode(id_token, options={"verify_signature": False})
    # ok: GAP801
    return claims, jwt.decode(token_response["id_token"], options={"verify_signature": False})


def access_token_claims(token_response):
    # ruleid: GAP801
    return jwt.decode(token_response["access_token"], options={"verify_signature": False})


def backchannel_logout(logout_token, jwks):
    try:
        # ok: GAP801
        issuer = jwt.decode(logout_token, options={"verify_signature": False})["iss"]
    except jwt.PyJWTError:
        return None
    key = jwks.key_for(issuer)
    try:
        return jwt.decode(logout_token, key, algorithms=["RS256"], issuer=issuer)
    except jwt.PyJWTError:
        return None


def peek_then_verify_another(token, other, key):
    # ruleid: GAP801
    claims = jwt.decode(token, options={"verify_signature": False})
    return claims, jwt.decode(other, key, algorithms=["RS256"])


def get_unverified_claims(token):
    # ok: GAP801
    return jwt.decode(token, options={"verify_signature": False}, algorithms=["RS256"])


# ruleid: GAP801
MODULE_CLAIMS = jwt.decode(TOKEN, options={"verify_signature": False})
