from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import WardenModelAdmin

from . import services
from .models import Team, TeamMembership, User


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(WardenModelAdmin):
    list_display = ["email", "full_name", "role", "is_active", "date_joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    fields = ["email", "full_name", "role", "is_active", "language", "date_joined", "last_login"]
    readonly_fields = ["date_joined", "last_login"]

    def save_model(self, request, obj, form, change):
        if change and "role" in form.changed_data:
            new_role = obj.role
            obj.role = form.initial.get("role", obj.role)
            services.user_set_role(user=obj, role=new_role, actor=request.user)
            form.changed_data.remove("role")
        if not change:
            obj.is_staff = obj.role == "admin"
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(WardenModelAdmin):
    list_display = ["name", "lead", "member_count"]
    list_select_related = ["lead"]
    search_fields = ["name"]
    autocomplete_fields = ["lead"]
    inlines = [MembershipInline]

    @admin.display(description=_("members"))
    def member_count(self, obj: Team) -> int:
        return obj.member_count

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(member_count=Count("memberships"))
