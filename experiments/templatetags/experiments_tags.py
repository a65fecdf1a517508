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
