from django.db import models


class Order(models.Model):
    """An order; ``touched`` counts the tasks that updated it."""

    reference = models.CharField(max_length=64, unique=True)
    touched = models.IntegerField(default=0)
    emailed = models.BooleanField(default=False)
