from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")  # not tried yet
    RUNNING = "running", _("running")  # claimed by a relay run
    DONE = "done", _("delivered")
    FAILED = "failed", _("failed, will retry")
    DEAD = "dead", _("dead-lettered")


# What a relay run may claim (a running delivery only once its lease ran out).
CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.RUNNING)
