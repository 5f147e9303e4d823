from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    """Tenants are invitation-only: people are created by admins, not by sign-up."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
