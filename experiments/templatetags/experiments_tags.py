"""Template helpers of the experiments pages (the design editor's rows)."""

from django import template

register = template.Library()


@register.filter
def layer_default(editor, param) -> str:
    """The layer's default of a parameter row, as text ("" if not a layer parameter)."""
    return editor.layer_default(param)


@register.filter
def cells(group, params) -> list:
    """(index, parameter, value text, errors) of a group's value inputs."""
    return group.cells(params)


@register.filter
def signed_pct(value, digits: int = 1) -> str:
    """0.0523 → "+5.2%"; None → "–"."""
    if value is None:
        return "–"
    return f"{value * 100:+.{int(digits)}f}%"


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.475 → "47.5%"."""
    if value is None:
        return "–"
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def pvalue(value) -> str:
    """p-values as people read them: "< 0.001" below a thousandth, else three decimals."""
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


@register.filter
def measure(value) -> str:
    """A metric's mean with about four significant digits."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"
