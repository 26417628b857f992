"""``{% load benchmark_figures %}{% benchmark_figures as figures %}`` in any template."""
from django import template

from denoiser.benchmark_figures import figures

register = template.Library()


@register.simple_tag
def benchmark_figures() -> dict:
    return figures()


@register.filter
def get_item(mapping, key):
    """``mapping|get_item:"100"``: a dict value whose key is not a valid name."""
    try:
        return mapping.get(str(key))
    except AttributeError:
        return None
