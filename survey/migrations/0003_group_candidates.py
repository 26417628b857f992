"""Survey images say what their candidates are: the default method's per-group counts
(new images) or the paper's global k (every image made before this migration)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('survey', '0002_integrity_blinding_exclusion'),
    ]

    operations = [
        # existing images were made from the paper's decomposition
        migrations.AddField(
            model_name='surveyimage',
            name='candidate_method',
            field=models.CharField(choices=[('best', 'Default method, per-group counts'), ('paper', 'Paper method, global k')], default='paper', help_text='What the candidates are: the default method keeping k eigenpatches in every group, or the paper\'s decomposition truncated at k.', max_length=16),
        ),
        migrations.AlterField(
            model_name='surveyimage',
            name='candidate_method',
            field=models.CharField(choices=[('best', 'Default method, per-group counts'), ('paper', 'Paper method, global k')], default='best', help_text='What the candidates are: the default method keeping k eigenpatches in every group, or the paper\'s decomposition truncated at k.', max_length=16),
        ),
    ]
