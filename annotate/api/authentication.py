"""API token authentication with a short per-process cache of token -> user.

DRF's ``TokenAuthentication`` reads the token and its user from the database on every
request; the annotator loop sends two requests per ranking, so that read was a fifth of the
loop's statements. ``CachedTokenAuthentication`` keeps what it read for
``settings.API_TOKEN_CACHE_SECONDS`` (default 5 s, 0 turns the cache off) in the process.

How fast a change takes effect:

- in the process that makes it (deleting or revoking a token, saving or deleting a user,
  e.g. unticking "active" in the admin): at once, signal receivers below drop the entries;
- in other processes (other gunicorn workers, other machines), and for writes that send no
  signals (``QuerySet.update``, raw SQL): within ``API_TOKEN_CACHE_SECONDS``, when the entry
  runs out and the token is read again. A deleted token or an inactive user is refused then.
"""

from __future__ import annotations

from time import monotonic

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

MAX_ENTRIES = 10_000  # tokens cached per process; the whole cache is dropped beyond it

# key -> (monotonic time the entry runs out, user, token). Plain dict operations are atomic
# under the GIL, so gthread workers share it without a lock.
_tokens: dict[str, tuple[float, object, object]] = {}


def token_cache_clear() -> None:
    _tokens.clear()


def token_user(*, key: str) -> tuple[object, object] | None:
    """(user, token) for an API token key, or None if there is no such token.

    Only active users are kept, so a reactivated user is let in at once."""
    from rest_framework.authtoken.models import Token

    now = monotonic()
    cached = _tokens.get(key)
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        _tokens.pop(key, None)
        return None if token is None else (token.user, token)
    seconds = settings.API_TOKEN_CACHE_SECONDS
    if seconds > 0:
        if len(_tokens) >= MAX_ENTRIES:
            _tokens.clear()
        _tokens[key] = (now + seconds, token.user, token)
    return token.user, token


class CachedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's, with the token read at most every few seconds per process."""

    def authenticate_credentials(self, key: str):
        found = token_user(key=key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not found[0].is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return found


def _forget_token(sender, instance, **kwargs) -> None:
    _tokens.pop(instance.key, None)


def _forget_user(sender, instance, **kwargs) -> None:
    for key, (_expires, user, _token) in list(_tokens.items()):
        if user.pk == instance.pk:
            _tokens.pop(key, None)


# Lazy "app_label.Model" senders: this module may be imported before the apps are ready.
post_delete.connect(_forget_token, sender="authtoken.Token", dispatch_uid="rankforge_token_cache_delete")
post_save.connect(_forget_token, sender="authtoken.Token", dispatch_uid="rankforge_token_cache_save")
post_save.connect(_forget_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="rankforge_token_cache_user_save")
post_delete.connect(_forget_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="rankforge_token_cache_user_delete")
