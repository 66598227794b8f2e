from django.apps import AppConfig


class RewardtrainConfig(AppConfig):
    name = "rewardtrain"
    verbose_name = "Reward training"
    default_auto_field = "django.db.models.BigAutoField"
