"""The dashboard (issue 11, item 3): the service's figures for staff, as a page with charts
and tables, and as CSV. An administrator sees every case; a facilitator their own."""

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template
from flask import request

from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import DashboardFilterForm
from relay.forms import show_error
from relay.models import Role
from relay.models import utcnow
from relay.services import dashboard
from relay.services.errors import InvalidInput
from relay.views import require_roles
from relay.web import signed_in

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
require_roles(bp, [Role.ADMINISTRATOR, Role.FACILITATOR])


def _filter(data) -> tuple[DashboardFilterForm, dashboard.Filter | None]:
    """The filter from the address (or the export's form): None, with the reason next to
    its field, when it cannot be used; what was typed stays in the form."""
    form = DashboardFilterForm(formdata=data)
    if not form.validate():
        return form, None
    try:
        chosen = dashboard.chosen_filter(
            form.start.data, form.end.data, form.offence.data or "", utcnow().date()
        )
    except InvalidInput as error:
        show_error(form, error, "start")
        return form, None
    if not data.get("start"):
        form.start.data = chosen.start
    if not data.get("end"):
        form.end.data = chosen.end
    return form, chosen


def _page(form: DashboardFilterForm, chosen: dashboard.Filter | None):
    board = dashboard.dashboard(db(), signed_in.actor(), chosen) if chosen else None
    return render_template(
        "dashboard/show.html",
        form=form,
        board=board,
        chart=dashboard.chart_svg,
        action=ActionForm(),
        fewer=dashboard.FEWER,
        withheld=dashboard.WITHHELD,
        offered_label=dashboard.OFFERED_LABEL,
    ), (200 if chosen else 400)


@bp.get("/")
def show():
    return _page(*_filter(request.args))


@bp.post("/export")
def export():
    if not ActionForm().validate_on_submit():
        abort(400)
    form, chosen = _filter(request.form)
    if chosen is None:
        # The page again, with the reason beside the field and what was sent kept.
        return _page(form, None)
    exported = dashboard.export_csv(db(), signed_in.actor(), chosen)
    name = f"relay-dashboard-{chosen.start.isoformat()}-to-{chosen.end.isoformat()}.csv"
    return Response(
        exported,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
