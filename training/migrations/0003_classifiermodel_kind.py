"""Classifier models get a kind (paper CNN or group classifier); one active model per kind."""
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0002_trainingrun_heartbeat'),
    ]

    operations = [
        migrations.AddField(
            model_name='classifiermodel',
            name='kind',
            field=models.CharField(choices=[('paper', "Paper CNN (the paper method's stacks)"), ('group', "Group classifier (the default method's groups)")], default='paper', max_length=16),
        ),
        migrations.RemoveConstraint(
            model_name='classifiermodel',
            name='one_active_classifier',
        ),
        migrations.AddConstraint(
            model_name='classifiermodel',
            constraint=models.UniqueConstraint(condition=Q(is_active=True), fields=('kind', 'is_active'), name='one_active_classifier_per_kind'),
        ),
    ]
