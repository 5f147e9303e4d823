"""Who may use the desk: signed-in agents and admins of the current tenant.

Anonymous visitors are sent to the sign-in page; requesters (and anyone else) get 403.
Which ticket they may see and what they may do to it is decided further in, by the
tickets selectors (404 for anything not visible, e.g. another tenant's number) and the
policies inside the services.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from apps.accounts import permissions


def agent_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not permissions.is_agent(request.user):
            raise PermissionDenied(_("The desk is for agents."))
        response = view(request, *args, **kwargs)
        # Ticket pages hold internal notes: never kept by shared caches or the back/forward cache of others.
        patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapped
