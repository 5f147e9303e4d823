"""SLA tables: calendars (shifts, custom holidays), policies (escalation steps), clocks,
events (once per clock and threshold), in-app notifications and escalation runs."""

import apps.sla.models
import django.contrib.postgres.fields
import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('tickets', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SlaCalendar',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('timezone', models.CharField(default='UTC', help_text='An IANA name, e.g. Europe/Warsaw.', max_length=64, verbose_name='time zone')),
                ('always_open', models.BooleanField(default=False, help_text='Clocks run all the time; hours and holidays are ignored.', verbose_name='24x7')),
                ('holiday_country', models.CharField(blank=True, help_text='ISO code such as PL or US; empty for none.', max_length=8, verbose_name='holidays of country')),
                ('holiday_subdivision', models.CharField(blank=True, help_text='Optional, e.g. NY for the state of New York.', max_length=16, verbose_name='subdivision')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated')),
            ],
            options={
                'verbose_name': 'SLA calendar',
                'verbose_name_plural': 'SLA calendars',
                'ordering': ['name', 'pk'],
                'constraints': [models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='sla_calendar_unique_name', violation_error_message='A calendar with this name already exists.')],
            },
        ),
        migrations.CreateModel(
            name='SlaClock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('metric', models.CharField(choices=[('first_response', 'First response'), ('resolution', 'Resolution')], max_length=16, verbose_name='metric')),
                ('target_seconds', models.PositiveIntegerField(verbose_name='target (business seconds)')),
                ('state', models.CharField(choices=[('running', 'Running'), ('paused', 'Paused'), ('met', 'Met'), ('breached', 'Breached'), ('cancelled', 'Cancelled (no SLA applies)')], default='running', max_length=16, verbose_name='state')),
                ('started_at', models.DateTimeField(verbose_name='started')),
                ('paused_at', models.DateTimeField(blank=True, null=True, verbose_name='paused since')),
                ('pauses', models.JSONField(blank=True, default=list, verbose_name='pauses')),
                ('paused_seconds', models.BigIntegerField(default=0, verbose_name='paused business seconds')),
                ('history', models.JSONField(blank=True, default=list, verbose_name='status history')),
                ('due_at', models.DateTimeField(blank=True, null=True, verbose_name='due')),
                ('risk_at', models.DateTimeField(blank=True, null=True, verbose_name='at risk from')),
                ('stopped_at', models.DateTimeField(blank=True, null=True, verbose_name='stopped')),
                ('met_at', models.DateTimeField(blank=True, null=True, verbose_name='met')),
                ('breached_at', models.DateTimeField(blank=True, null=True, verbose_name='breached')),
                ('thresholds', django.contrib.postgres.fields.ArrayField(base_field=models.PositiveSmallIntegerField(), blank=True, default=list, size=None)),
                ('marks', django.contrib.postgres.fields.ArrayField(base_field=models.DateTimeField(null=True), blank=True, default=list, size=None)),
                ('next_mark_at', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated')),
                ('calendar', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='sla.slacalendar')),
                ('ticket', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sla_clocks', to='tickets.ticket')),
            ],
            options={
                'verbose_name': 'SLA clock',
                'verbose_name_plural': 'SLA clocks',
                'ordering': ['ticket_id', 'metric'],
            },
        ),
        migrations.CreateModel(
            name='SlaEscalationStep',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('metric', models.CharField(choices=[('any', 'Any metric'), ('first_response', 'First response'), ('resolution', 'Resolution')], default='any', max_length=16, verbose_name='metric')),
                ('at_percent', models.PositiveSmallIntegerField(help_text='A warning threshold, or 100 for the breach.', verbose_name='at (% of target)')),
                ('action', models.CharField(choices=[('notify_assignee', 'Notify the assignee'), ('notify_team_lead', 'Notify the team lead'), ('reassign_team', 'Reassign to a team'), ('raise_priority', 'Raise the priority one level')], max_length=24, verbose_name='action')),
                ('position', models.PositiveSmallIntegerField(default=0, verbose_name='position')),
                ('team', models.ForeignKey(blank=True, help_text="For 'reassign to a team' only.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.team', verbose_name='team')),
            ],
            options={
                'verbose_name': 'escalation step',
                'verbose_name_plural': 'escalation steps',
                'ordering': ['at_percent', 'position', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='SlaEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('metric', models.CharField(choices=[('first_response', 'First response'), ('resolution', 'Resolution')], max_length=16, verbose_name='metric')),
                ('threshold', models.PositiveSmallIntegerField(verbose_name='threshold (%)')),
                ('kind', models.CharField(choices=[('warning', 'Warning'), ('breach', 'Breach')], max_length=8, verbose_name='kind')),
                ('crossed_at', models.DateTimeField(verbose_name='crossed')),
                ('emitted_at', models.DateTimeField(verbose_name='emitted')),
                ('processed_at', models.DateTimeField(blank=True, null=True, verbose_name='notified and escalated')),
                ('clock', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='sla.slaclock')),
                ('ticket', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sla_events', to='tickets.ticket')),
            ],
            options={
                'verbose_name': 'SLA event',
                'verbose_name_plural': 'SLA events',
                'ordering': ['-crossed_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='SlaEscalation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('notify_assignee', 'Notify the assignee'), ('notify_team_lead', 'Notify the team lead'), ('reassign_team', 'Reassign to a team'), ('raise_priority', 'Raise the priority one level')], max_length=24, verbose_name='action')),
                ('outcome', models.CharField(choices=[('done', 'Done'), ('skipped', 'Skipped (nothing to do)'), ('denied', 'Denied by policy'), ('failed', 'Failed')], max_length=8, verbose_name='outcome')),
                ('detail', models.CharField(blank=True, max_length=300, verbose_name='detail')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                ('step', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='runs', to='sla.slaescalationstep')),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='escalations', to='sla.slaevent')),
            ],
            options={
                'verbose_name': 'SLA escalation',
                'verbose_name_plural': 'SLA escalations',
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='SlaNotification',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject', models.CharField(max_length=200, verbose_name='subject')),
                ('body', models.TextField(blank=True, verbose_name='body')),
                ('emailed', models.BooleanField(default=False, verbose_name='emailed')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                ('read_at', models.DateTimeField(blank=True, null=True, verbose_name='read')),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='sla.slaevent')),
                ('recipient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sla_notifications', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'SLA notification',
                'verbose_name_plural': 'SLA notifications',
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='SlaPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('description', models.TextField(blank=True, verbose_name='description')),
                ('order', models.PositiveIntegerField(default=100, help_text='Lower numbers are tried first.', verbose_name='order')),
                ('active', models.BooleanField(default=True, help_text='Inactive policies are drafts: they apply to no ticket.', verbose_name='active')),
                ('targets', models.JSONField(default=dict, verbose_name='targets (minutes of business time)')),
                ('pause_statuses', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=16), blank=True, default=apps.sla.models._default_pause_statuses, size=None, verbose_name='pause on statuses')),
                ('warning_thresholds', django.contrib.postgres.fields.ArrayField(base_field=models.PositiveSmallIntegerField(), blank=True, default=apps.sla.models._default_thresholds, size=None, verbose_name='warnings at (% of target)')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated')),
                ('calendar', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='policies', to='sla.slacalendar', verbose_name='calendar')),
                ('categories', models.ManyToManyField(blank=True, help_text='Only tickets in these categories or below them; none = any category.', related_name='+', to='tickets.category', verbose_name='categories')),
                ('teams', models.ManyToManyField(blank=True, help_text='Only tickets of these teams; none = any team.', related_name='+', to='accounts.team', verbose_name='teams')),
            ],
            options={
                'verbose_name': 'SLA policy',
                'verbose_name_plural': 'SLA policies',
                'ordering': ['order', 'pk'],
            },
        ),
        migrations.AddField(
            model_name='slaescalationstep',
            name='policy',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='escalations', to='sla.slapolicy'),
        ),
        migrations.AddField(
            model_name='slaclock',
            name='policy',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='clocks', to='sla.slapolicy'),
        ),
        migrations.CreateModel(
            name='SlaCalendarHoliday',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField(verbose_name='date')),
                ('name', models.CharField(blank=True, max_length=100, verbose_name='name')),
                ('calendar', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='extra_holidays', to='sla.slacalendar')),
            ],
            options={
                'verbose_name': 'custom holiday',
                'verbose_name_plural': 'custom holidays',
                'ordering': ['date'],
                'constraints': [models.UniqueConstraint(fields=('calendar', 'date'), name='sla_holiday_unique_date', violation_error_message='This date is already listed.')],
            },
        ),
        migrations.CreateModel(
            name='SlaCalendarShift',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('weekday', models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')], verbose_name='weekday')),
                ('start', models.TimeField(verbose_name='from')),
                ('end', models.TimeField(help_text='Earlier than or equal to the start: the shift ends the next day.', verbose_name='until')),
                ('calendar', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='shifts', to='sla.slacalendar')),
            ],
            options={
                'verbose_name': 'business hours',
                'verbose_name_plural': 'business hours',
                'ordering': ['weekday', 'start', 'pk'],
                'constraints': [models.CheckConstraint(condition=models.Q(('weekday__gte', 0), ('weekday__lte', 6)), name='sla_shift_weekday_0_6')],
            },
        ),
        migrations.AddIndex(
            model_name='slaevent',
            index=models.Index(condition=models.Q(('processed_at__isnull', True)), fields=['emitted_at'], name='sla_event_unprocessed'),
        ),
        migrations.AddIndex(
            model_name='slaevent',
            index=models.Index(fields=['ticket', '-crossed_at'], name='sla_event_ticket_time'),
        ),
        migrations.AddConstraint(
            model_name='slaevent',
            constraint=models.UniqueConstraint(fields=('clock', 'threshold'), name='sla_event_once_per_threshold'),
        ),
        migrations.AddConstraint(
            model_name='slaescalation',
            constraint=models.UniqueConstraint(fields=('event', 'step'), name='sla_escalation_once_per_step'),
        ),
        migrations.AddIndex(
            model_name='slanotification',
            index=models.Index(fields=['recipient', '-created_at'], name='sla_notification_inbox'),
        ),
        migrations.AddConstraint(
            model_name='slanotification',
            constraint=models.UniqueConstraint(fields=('event', 'recipient'), name='sla_notification_once_per_recipient'),
        ),
        migrations.AddConstraint(
            model_name='slapolicy',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='sla_policy_unique_name', violation_error_message='A policy with this name already exists.'),
        ),
        migrations.AddIndex(
            model_name='slaclock',
            index=models.Index(condition=models.Q(('next_mark_at__isnull', False)), fields=['next_mark_at'], name='sla_clock_next_mark'),
        ),
        migrations.AddIndex(
            model_name='slaclock',
            index=models.Index(fields=['policy', 'state'], name='sla_clock_policy_state'),
        ),
        migrations.AddIndex(
            model_name='slaclock',
            index=models.Index(condition=models.Q(('stopped_at__isnull', True)), fields=['due_at'], name='sla_clock_open_due'),
        ),
        migrations.AddConstraint(
            model_name='slaclock',
            constraint=models.UniqueConstraint(fields=('ticket', 'metric'), name='sla_clock_one_per_metric'),
        ),
    ]
