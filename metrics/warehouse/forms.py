"""Warehouse forms: shape and types only; the services judge hosts, SQL and columns."""

from __future__ import annotations

from django import forms

from metrics.warehouse.models import SslMode, WarehouseKind
from metrics.warehouse.services import AssignmentSourceInput, ConnectionInput, MetricSourceInput


def _columns(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.replace("\n", ",").split(",") if c.strip())


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    # Not "kind": the stylesheet lays out .field--kind as radio cards.
    engine = forms.ChoiceField(choices=WarehouseKind.choices, label="Warehouse")
    host = forms.CharField(
        max_length=253, widget=forms.TextInput(attrs={"placeholder": "warehouse.example.com"})
    )
    port = forms.IntegerField(min_value=1, max_value=65535, initial=5432)
    database = forms.CharField(max_length=63)
    user = forms.CharField(max_length=63, help_text="A user that can only read the tables.")
    password = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    schema = forms.CharField(
        max_length=63,
        initial="gatehouse",
        help_text="Where Gatehouse writes exports (assignments, results).",
    )
    sslmode = forms.ChoiceField(choices=SslMode.choices, initial=SslMode.PREFER, label="SSL mode")
    statement_timeout_seconds = forms.IntegerField(
        min_value=1,
        max_value=3600,
        initial=300,
        label="Statement timeout (seconds)",
        help_text="The warehouse stops any query of ours that runs longer.",
    )

    def __init__(self, *args, editing: bool = False, password_hint: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            hint = f" (now {password_hint})" if password_hint else ""
            self.fields["password"].help_text = f"Leave empty to keep the stored password{hint}."
        else:
            self.fields["password"].required = True

    def connection_input(self) -> ConnectionInput:
        data = self.cleaned_data
        return ConnectionInput(
            name=data["name"],
            kind=data["engine"],
            host=data["host"],
            port=data["port"],
            database=data["database"],
            user=data["user"],
            password=data["password"] or None,
            schema=data["schema"],
            sslmode=data["sslmode"],
            statement_timeout_seconds=data["statement_timeout_seconds"],
        )


class _SourceForm(forms.Form):
    name = forms.CharField(max_length=100)
    connection = forms.TypedChoiceField(coerce=int, label="Warehouse connection")
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, connections=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connection"].choices = [(c.pk, c.name) for c in connections]


class AssignmentSourceForm(_SourceForm):
    sql = forms.CharField(
        label="SQL",
        max_length=20000,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "class": "mono",
                "spellcheck": "false",
                "placeholder": "SELECT user_id, experiment, variant, assigned_at "
                "FROM analytics.assignments",
            }
        ),
        help_text="One SELECT. Each row: a unit assigned to a group of an experiment, and when.",
    )
    unit_type = forms.CharField(
        max_length=100,
        initial="userID",
        label="Unit type",
        help_text="The ID type of the experiments that use it.",
    )
    unit_id_column = forms.CharField(max_length=63, initial="user_id", label="Unit ID column")
    experiment_column = forms.CharField(
        max_length=63, initial="experiment", label="Experiment column"
    )
    group_column = forms.CharField(max_length=63, initial="group_name", label="Group column")
    timestamp_column = forms.CharField(
        max_length=63, initial="assigned_at", label="Timestamp column"
    )

    def source_input(self) -> AssignmentSourceInput:
        data = self.cleaned_data
        return AssignmentSourceInput(
            name=data["name"],
            connection_id=data["connection"],
            description=data["description"],
            sql=data["sql"],
            unit_type=data["unit_type"],
            unit_id_column=data["unit_id_column"],
            experiment_column=data["experiment_column"],
            group_column=data["group_column"],
            timestamp_column=data["timestamp_column"],
        )


class MetricSourceForm(_SourceForm):
    sql = forms.CharField(
        label="SQL",
        max_length=20000,
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "class": "mono",
                "spellcheck": "false",
                "placeholder": "SELECT user_id, ts, amount, country FROM analytics.purchases",
            }
        ),
        help_text="One SELECT, or leave empty and name a table below.",
    )
    table = forms.CharField(
        max_length=127, required=False, label="Or a table", help_text="table or schema.table"
    )
    unit_id_column = forms.CharField(max_length=63, initial="user_id", label="Unit ID column")
    timestamp_column = forms.CharField(max_length=63, initial="ts", label="Timestamp column")
    value_columns = forms.CharField(
        max_length=2000,
        required=False,
        label="Value columns",
        help_text="Numeric columns metrics can sum or average, separated by commas.",
    )
    filter_columns = forms.CharField(
        max_length=2000,
        required=False,
        label="Filter columns",
        help_text="Text columns metrics can filter on, separated by commas.",
    )

    def source_input(self) -> MetricSourceInput:
        data = self.cleaned_data
        return MetricSourceInput(
            name=data["name"],
            connection_id=data["connection"],
            description=data["description"],
            sql=data["sql"],
            table=data["table"],
            unit_id_column=data["unit_id_column"],
            timestamp_column=data["timestamp_column"],
            value_columns=_columns(data["value_columns"]),
            filter_columns=_columns(data["filter_columns"]),
        )
