from django.apps import AppConfig


class PhonesConfig(AppConfig):
    name = "phones"
    verbose_name = "Phones"
    default_auto_field = "django.db.models.BigAutoField"
