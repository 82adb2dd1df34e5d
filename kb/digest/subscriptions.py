"""Who receives the digest: opting out and in, and the signed unsubscribe link's token.

The token names the user by id and address and is signed with the app's secret key, so it
works without signing in and cannot be forged or moved to another account. It does not
expire: an unsubscribe link in a year-old digest must still work.
"""

from itsdangerous import BadSignature, URLSafeSerializer

from kb import audit
from kb.models import User

_SALT = "kb.digest.unsubscribe"


def make_token(secret_key, user):
    """The unsubscribe token of one user."""
    return URLSafeSerializer(secret_key, salt=_SALT).dumps({"u": user.id, "e": user.email})


def user_for_token(session, secret_key, token):
    """The user a token was made for, or None when forged, damaged or the user is gone."""
    try:
        data = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = session.get(User, data["u"])
    if user is None or user.email != str(data.get("e", "")).lower():
        return None  # the address changed: the link was for someone else
    return user


def set_opt_out(session, user, opt_out, how="settings"):
    """Stop (opt_out=True) or restart the digest for one user; audited."""
    if user.digest_opt_out != opt_out:
        user.digest_opt_out = opt_out
        action = "digest-unsubscribe" if opt_out else "digest-subscribe"
        audit.record(session, user, action, detail=f"{user.email} ({how})")
    session.flush()
    return user
